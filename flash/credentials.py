"""The admin credentials: a salted hash from scrypt, kept as the crypted var ``CMD0/AUTH``.

The password itself is never stored. The record names its KDF and parameters so
that a later change of the defaults keeps old records verifiable:

    scrypt$<n>$<r>$<p>$<user>$<salt hex>$<hash hex>

Salts come from the caller (randomness is injected; the runtime passes
``os.urandom(16)``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from ipgwsim.flash.vars import VarFlags, VarStore

#: The var that holds the admin credentials.
AUTH_VAR = "CMD0/AUTH"
#: scrypt cost of new records: 16 MiB of memory, about 50 ms on a PC.
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**14, 8, 1
DIGEST_SIZE = 32
#: The largest scrypt parameters a stored record may name (bounds the work of a check).
MAX_N, MAX_R, MAX_P = 2**20, 32, 16


class CredentialsError(ValueError):
    """A stored credentials record cannot be read."""


@dataclass(frozen=True)
class AdminCredentials:
    user: str
    salt: bytes
    digest: bytes
    n: int = DEFAULT_N
    r: int = DEFAULT_R
    p: int = DEFAULT_P

    @staticmethod
    def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        return hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=n,
            r=r,
            p=p,
            maxmem=256 * n * r + 2**20,
            dklen=DIGEST_SIZE,
        )

    @classmethod
    def create(
        cls,
        user: str,
        password: str,
        salt: bytes,
        *,
        n: int = DEFAULT_N,
        r: int = DEFAULT_R,
        p: int = DEFAULT_P,
    ) -> AdminCredentials:
        if len(salt) < 8:
            raise ValueError("a salt has at least 8 bytes")
        cls.check_user(user)
        return cls(user, salt, cls._derive(password, salt, n, r, p), n, r, p)

    @staticmethod
    def check_user(user: str) -> None:
        """Raise :class:`ValueError` unless a credentials record can hold ``user``."""
        if not user or "$" in user or "," in user:
            raise ValueError(f"a user name is not empty and has no '$' or ',': {user!r}")

    def verify(self, user: str, password: str) -> bool:
        """Whether ``user`` and ``password`` are these credentials (constant time)."""
        digest = self._derive(password, self.salt, self.n, self.r, self.p)
        return hmac.compare_digest(digest, self.digest) and hmac.compare_digest(
            user.encode("utf-8"), self.user.encode("utf-8")
        )

    def encode(self) -> bytes:
        return (
            f"scrypt${self.n}${self.r}${self.p}${self.user}${self.salt.hex()}${self.digest.hex()}"
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> AdminCredentials:
        """Parse a stored record; :class:`CredentialsError` says what is wrong with it."""
        try:
            fields = raw.decode("utf-8").split("$")
        except UnicodeDecodeError:
            raise CredentialsError("the credentials record is damaged: not UTF-8") from None
        if len(fields) != 7:
            raise CredentialsError(
                f"the credentials record is damaged: {len(fields)} fields, expected 7"
            )
        kdf, n_text, r_text, p_text, user, salt_hex, digest_hex = fields
        if kdf != "scrypt":
            raise CredentialsError(f"unknown key derivation {kdf!r}")
        try:
            n, r, p = int(n_text), int(r_text), int(p_text)
            salt, digest = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
        except ValueError as exc:
            raise CredentialsError(f"the credentials record is damaged: {exc}") from None
        if not (2 <= n <= MAX_N and n & (n - 1) == 0 and 1 <= r <= MAX_R and 1 <= p <= MAX_P):
            raise CredentialsError(
                f"the credentials record is damaged: impossible scrypt parameters n={n} r={r} p={p}"
            )
        if not user or len(salt) < 8 or len(digest) != DIGEST_SIZE:
            raise CredentialsError(
                "the credentials record is damaged: empty user, short salt or wrong hash length"
            )
        return cls(user, salt, digest, n, r, p)


def store_admin(store: VarStore, credentials: AdminCredentials) -> None:
    """Keep ``credentials`` as the crypted var ``CMD0/AUTH``."""
    store.set(AUTH_VAR, credentials.encode(), VarFlags.PERSISTENT | VarFlags.CRYPTED)


def load_admin(store: VarStore) -> AdminCredentials | None:
    """The stored admin credentials, or None (then the profile's defaults apply)."""
    var = store.get(AUTH_VAR)
    return None if var is None else AdminCredentials.decode(var.value)
