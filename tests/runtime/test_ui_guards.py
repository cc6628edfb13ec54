"""The UI port's Host and Origin checks (``runtime/apiserver.py``), as pure functions:
which addresses, names and ports a panel bound to HOST:PORT takes."""

from __future__ import annotations

import pytest

from ipgwsim.runtime.apiserver import host_allowed, origin_refusal

P = 8088


@pytest.mark.parametrize(
    ("bound", "header", "taken"),
    [
        # The address bound, with its port; IPv6 only in brackets.
        ("127.0.0.1", f"127.0.0.1:{P}", True),
        ("127.0.0.1", f"127.0.0.2:{P}", False),
        ("127.0.0.1", f"127.0.0.1:{P + 1}", False),
        ("::1", f"[::1]:{P}", True),
        ("::1", f"::1:{P}", False),
        ("::1", "::1", False),
        ("127.0.0.1", f"[::1]:{P}", False),
        # localhost: on loopback (either family) and on every address, never elsewhere.
        ("127.0.0.1", f"localhost:{P}", True),
        ("127.0.0.1", f"LocalHost:{P}", True),
        ("::1", f"localhost:{P}", True),
        ("0.0.0.0", f"localhost:{P}", True),
        ("10.0.0.5", f"localhost:{P}", False),
        # A DNS name is what a rebinding page sends.
        ("127.0.0.1", f"attacker.example:{P}", False),
        ("0.0.0.0", f"attacker.example:{P}", False),
        # Bound to every address: any IP address, with the port.
        ("0.0.0.0", f"10.1.2.3:{P}", True),
        ("0.0.0.0", f"127.0.0.1:{P}", True),
        ("0.0.0.0", f"10.1.2.3:{P + 1}", False),
        ("::", f"[fe80::1]:{P}", True),
        ("::", f"192.0.2.7:{P}", True),
        # Nothing at all.
        ("127.0.0.1", "", False),
        ("127.0.0.1", None, False),
    ],
)
def test_host_header(bound: str, header: str | None, taken: bool) -> None:
    assert host_allowed(header, bound, P) is taken


def test_a_missing_port_is_80() -> None:
    """A browser leaves ``:80`` out of an http:// URL: taken only when the port served is 80."""
    assert host_allowed("127.0.0.1", "127.0.0.1", 80)
    assert host_allowed("localhost", "127.0.0.1", 80)
    assert host_allowed("[::1]", "::1", 80)
    assert host_allowed("10.9.8.7", "0.0.0.0", 80)
    assert not host_allowed("127.0.0.1", "127.0.0.1", P)
    assert not host_allowed("localhost", "127.0.0.1", P)
    assert not host_allowed("[::1]", "::1", P)
    assert origin_refusal("http://127.0.0.1", "127.0.0.1", 80) is None
    assert origin_refusal("http://localhost", "127.0.0.1", 80) is None
    assert origin_refusal("http://127.0.0.1", "127.0.0.1", P) == (
        "a page of http://127.0.0.1 may not use this panel (only pages served by "
        f"http://127.0.0.1:{P} may)"
    )


def test_origin() -> None:
    assert origin_refusal(f"http://127.0.0.1:{P}", "127.0.0.1", P) is None
    assert origin_refusal(f"http://localhost:{P}", "127.0.0.1", P) is None
    assert origin_refusal(f"http://[::1]:{P}", "::1", P) is None
    assert origin_refusal(f"http://10.1.2.3:{P}", "0.0.0.0", P) is None
    # Another site's page.
    assert origin_refusal("http://attacker.example", "127.0.0.1", P) == (
        "a page of http://attacker.example may not use this panel (only pages served by "
        f"http://127.0.0.1:{P} may)"
    )
    assert origin_refusal("null", "::1", P) == (
        f"a page of null may not use this panel (only pages served by http://[::1]:{P} may)"
    )
    # The panel speaks plain HTTP: a page over HTTPS is not one of its own, even at its
    # address (a TLS proxy in front of it is not supported).
    assert origin_refusal(f"https://127.0.0.1:{P}", "127.0.0.1", P) == (
        f"a page of https://127.0.0.1:{P} may not use this panel: the panel speaks plain "
        f"HTTP, only pages served by http://127.0.0.1:{P} may"
    )
