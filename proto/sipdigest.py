"""Digest authentication (RFC 2617) for a SIP user agent: reading a challenge from
``WWW-Authenticate`` / ``Proxy-Authenticate`` and computing the ``Authorization`` that
answers it.

Pure functions and frozen records, no state; the header grammar is
:mod:`ipgwsim.proto.sipheaders`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ipgwsim.proto.sipheaders import TOKEN, MalformedSip, split_list, unquote_string

__all__ = [
    "DigestChallenge",
    "authorization",
    "digest_response",
    "parse_auth_params",
    "parse_challenge",
]


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """``Digest realm="x", nonce="y"`` → ``("Digest", {"realm": "x", "nonce": "y"})``."""
    scheme, _, rest = value.strip().partition(" ")
    if not TOKEN.fullmatch(scheme):
        raise MalformedSip(f"bad authentication header {value!r}")
    params: dict[str, str] = {}
    for part in split_list(rest):
        if not part:
            continue
        name, eq, val = part.partition("=")
        if not eq or not TOKEN.fullmatch(name.strip()):
            raise MalformedSip(f"bad authentication parameter {part!r}")
        params[name.strip().lower()] = unquote_string(val)
    return scheme, params


@dataclass(frozen=True)
class DigestChallenge:
    """A ``WWW-Authenticate`` or ``Proxy-Authenticate`` digest challenge."""

    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    stale: bool = False

    @property
    def supported(self) -> bool:
        """Whether :func:`authorization` can answer it (MD5 or MD5-sess)."""
        return self.algorithm.upper() in ("MD5", "MD5-SESS")


def parse_challenge(value: str) -> DigestChallenge:
    scheme, params = parse_auth_params(value)
    if scheme.lower() != "digest":
        raise MalformedSip(f"not a digest challenge: {value!r}")
    if "realm" not in params or "nonce" not in params:
        raise MalformedSip(f"digest challenge without realm or nonce: {value!r}")
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return DigestChallenge(
        params["realm"],
        params["nonce"],
        params.get("opaque"),
        params.get("algorithm", "MD5"),
        qop,
        params.get("stale", "").lower() == "true",
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def digest_response(
    *,
    username: str,
    password: str,
    realm: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    algorithm: str = "MD5",
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 2617 3.2.2.1): with ``qop`` (``auth``, ``auth-int``) it
    covers ``nc`` and ``cnonce``; without, it is RFC 2069's ``MD5(HA1:nonce:HA2)``."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    if algorithm.upper() == "MD5-SESS":
        ha1 = _md5(f"{ha1}:{nonce}:{cnonce}")
    elif algorithm.upper() != "MD5":
        raise ValueError(f"digest algorithm {algorithm} is not supported")
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + hashlib.md5(body, usedforsecurity=False).hexdigest()
    ha2 = _md5(a2)
    if qop is None:
        return _md5(f"{ha1}:{nonce}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def authorization(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nc: int = 1,
) -> str:
    """The ``Authorization`` (or ``Proxy-Authorization``) value answering ``challenge``.

    ``qop=auth`` when the challenge offers it, no qop when it offers none (RFC 2069
    compatibility); a challenge offering only ``auth-int`` is answered with it (an empty
    body: REGISTER carries none).
    """
    qop: str | None = None
    if "auth" in challenge.qop:
        qop = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    count = f"{nc:08x}"
    response = digest_response(
        username=username,
        password=password,
        realm=challenge.realm,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=count,
        cnonce=cnonce,
        algorithm=challenge.algorithm,
    )
    fields = [
        f'username="{username}"',
        f'realm="{challenge.realm}"',
        f'nonce="{challenge.nonce}"',
        f'uri="{uri}"',
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if challenge.opaque is not None:
        fields.append(f'opaque="{challenge.opaque}"')
    if qop is not None:
        fields += [f"qop={qop}", f"nc={count}", f'cnonce="{cnonce}"']
    return "Digest " + ", ".join(fields)
