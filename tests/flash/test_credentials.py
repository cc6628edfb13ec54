"""The admin credentials: scrypt hash in the crypted var CMD0/AUTH, never the password."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.flash.credentials import (
    AUTH_VAR,
    DEFAULT_N,
    DEFAULT_P,
    DEFAULT_R,
    DIGEST_SIZE,
    AdminCredentials,
    CredentialsError,
    load_admin,
    store_admin,
)
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import Partition, PartitionTable
from ipgwsim.flash.vars import VarFlags, VarStore
from ipgwsim.hw_profiles import find_profile

PROFILE = find_profile("IP6000")
SALT = bytes(range(16))
#: Small scrypt parameters: the tests check the logic, not the cost.
FAST = {"n": 2**4, "r": 1, "p": 1}
PASSWORD = "ip6000"


def fast(user: str = "admin", password: str = PASSWORD, salt: bytes = SALT) -> AdminCredentials:
    return AdminCredentials.create(user, password, salt, n=2**4, r=1, p=1)


def vars_partition() -> Partition:
    return PartitionTable(NorFlash(PROFILE.flash), PROFILE)["vars"]


def test_verify_right_and_wrong() -> None:
    creds = fast()
    assert creds.verify("admin", PASSWORD)
    assert not creds.verify("admin", "ip6001")
    assert not creds.verify("admin", "")
    assert not creds.verify("Admin", PASSWORD)
    assert not creds.verify("root", PASSWORD)
    assert not creds.verify("admin", PASSWORD + " ")


def test_create_keeps_parameters_and_no_password() -> None:
    creds = fast()
    assert (creds.n, creds.r, creds.p) == (2**4, 1, 1)
    assert creds.salt == SALT
    assert len(creds.digest) == DIGEST_SIZE
    assert PASSWORD.encode() not in creds.encode()


def test_salt_changes_the_digest() -> None:
    a, b = fast(salt=b"A" * 16), fast(salt=b"B" * 16)
    assert a.digest != b.digest
    assert a.verify("admin", PASSWORD)
    assert b.verify("admin", PASSWORD)


def test_default_parameters() -> None:
    """The one test with the shipped scrypt cost."""
    creds = AdminCredentials.create("admin", PASSWORD, SALT)
    assert (creds.n, creds.r, creds.p) == (DEFAULT_N, DEFAULT_R, DEFAULT_P) == (2**14, 8, 1)
    assert creds.encode().startswith(b"scrypt$16384$8$1$admin$")
    again = AdminCredentials.decode(creds.encode())
    assert again == creds
    assert again.verify("admin", PASSWORD)
    assert not again.verify("admin", "wrong")


@pytest.mark.parametrize(
    ("user", "salt", "problem"),
    [
        ("", SALT, "user name"),
        ("ad$min", SALT, "user name"),
        ("ad,min", SALT, "user name"),
        ("admin", b"1234567", "salt"),
    ],
)
def test_create_refuses_bad_input(user: str, salt: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        AdminCredentials.create(user, PASSWORD, salt, **FAST)


def test_encode_golden() -> None:
    creds = AdminCredentials("admin", b"\x01\x02" * 4, b"\xab" * 32, 16, 1, 1)
    assert creds.encode() == b"scrypt$16$1$1$admin$0102010201020102$" + b"ab" * 32
    assert AdminCredentials.decode(creds.encode()) == creds


USERS = st.text(min_size=1, max_size=40).filter(lambda u: "$" not in u)


@given(
    user=USERS,
    salt=st.binary(min_size=8, max_size=64),
    digest=st.binary(min_size=32, max_size=32),
    n=st.sampled_from([2**k for k in range(1, 21)]),
    r=st.integers(1, 32),
    p=st.integers(1, 16),
)
def test_encode_decode_round_trip(
    *, user: str, salt: bytes, digest: bytes, n: int, r: int, p: int
) -> None:
    creds = AdminCredentials(user, salt, digest, n, r, p)
    assert AdminCredentials.decode(creds.encode()) == creds


def test_decoded_record_still_verifies() -> None:
    creds = fast()
    again = AdminCredentials.decode(creds.encode())
    assert again.verify("admin", PASSWORD)
    assert not again.verify("admin", "nope")


GOOD = fast().encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "damaged"),
        (b"scrypt$16$1$1", "damaged"),
        (GOOD + b"$extra", "damaged"),
        (GOOD.replace(b"scrypt$", b"bcrypt$"), "unknown key derivation 'bcrypt'"),
        (GOOD.replace(b"scrypt$16$", b"scrypt$sixteen$"), "damaged"),
        (GOOD[:-1] + b"g", "damaged"),  # not hex
        (GOOD[:-1], "damaged"),  # odd number of hex digits
        (b"\xff" + GOOD[1:], "damaged"),  # not UTF-8
    ],
)
def test_decode_of_damaged_records(raw: bytes, message: str) -> None:
    with pytest.raises(CredentialsError, match=message) as caught:
        AdminCredentials.decode(raw)
    assert "\n" not in str(caught.value)
    if message == "damaged":
        assert str(caught.value).startswith("the credentials record is damaged: ")


def test_decode_refuses_impossible_scrypt_parameters() -> None:
    raw = GOOD.replace(b"scrypt$16$", b"scrypt$3$")
    with pytest.raises(CredentialsError, match="impossible scrypt parameters n=3 r=1 p=1"):
        AdminCredentials.decode(raw)


def test_decode_refuses_a_wrong_hash_length() -> None:
    raw = GOOD[:-2]
    with pytest.raises(CredentialsError, match="wrong hash length"):
        AdminCredentials.decode(raw)


# -------------------- in the vars region ----------------------------------------------


def test_store_admin_makes_a_crypted_var_without_the_password() -> None:
    store = VarStore(vars_partition())
    creds = fast(password="s3cret-pa55")
    store_admin(store, creds)
    var = store.get(AUTH_VAR)
    assert var is not None
    assert var.name == "CMD0/AUTH"
    assert VarFlags.CRYPTED in var.flags
    assert VarFlags.PERSISTENT in var.flags
    assert var.flags.letters() == "pc"
    assert var.value == creds.encode()
    assert b"s3cret-pa55" not in var.value
    assert b"s3cret-pa55" not in store.log.partition.read_all()


def test_load_admin_without_a_record_is_none() -> None:
    assert load_admin(VarStore(vars_partition())) is None


def test_store_and_load_admin() -> None:
    store = VarStore(vars_partition())
    creds = fast()
    store_admin(store, creds)
    loaded = load_admin(store)
    assert loaded is not None
    assert loaded == creds
    assert loaded.verify("admin", PASSWORD)


def test_admin_survives_a_remount_and_a_change() -> None:
    partition = vars_partition()
    store = VarStore(partition)
    store.set("UPDATE/PROT", b"1")
    store_admin(store, fast())
    changed = fast(password="new password", salt=b"S" * 16)
    store_admin(store, changed)

    remounted = VarStore(PartitionTable(partition.flash, PROFILE)["vars"])
    loaded = load_admin(remounted)
    assert loaded is not None
    assert loaded == changed
    assert loaded.verify("admin", "new password")
    assert not loaded.verify("admin", PASSWORD)
    var = remounted.get(AUTH_VAR)
    assert var is not None
    assert VarFlags.CRYPTED in var.flags
    assert remounted.get("UPDATE/PROT") is not None


def test_damaged_stored_record_raises_credentials_error() -> None:
    store = VarStore(vars_partition())
    store.set(AUTH_VAR, b"scrypt$16$1$1$admin", VarFlags.PERSISTENT | VarFlags.CRYPTED)
    with pytest.raises(CredentialsError, match="damaged"):
        load_admin(store)
