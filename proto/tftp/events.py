"""What a transfer tells its owner, through :meth:`Transfer.next_event`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OptionsNegotiated:
    """The transfer's parameters are settled; emitted once by every transfer.

    ``options`` holds the granted options by lower-case name (empty for a
    plain RFC 1350 transfer).
    """

    options: dict[str, str]
    blksize: int
    windowsize: int


@dataclass(frozen=True)
class FallbackToPlain:
    """The server refused the options; the client asks again without them."""

    reason: str


@dataclass(frozen=True)
class Progress:
    """Bytes confirmed so far (sender: acknowledged; receiver: received).

    Emitted at most once per acknowledged window; undrained Progress events
    merge into one, which reports the state when it is drained.
    """

    done: int
    total: int | None


@dataclass(frozen=True)
class UploadComplete:
    """ServerWrite only: the last block arrived; the owner must accept or refuse."""

    data: bytes


@dataclass(frozen=True)
class TransferComplete:
    """The last block is confirmed. ``data`` is the file of a read, None for a write.

    The side that sent the final ACK dallies after this; ``finished`` follows.
    """

    data: bytes | None


@dataclass(frozen=True)
class TransferFailed:
    """The transfer ended without success.

    ``error_code`` is the code of the ERROR sent or received (None after a
    timeout); ``by_peer`` is True when the peer sent the ERROR.
    """

    reason: str
    error_code: int | None
    by_peer: bool


TransferEvent = (
    OptionsNegotiated
    | FallbackToPlain
    | Progress
    | UploadComplete
    | TransferComplete
    | TransferFailed
)
