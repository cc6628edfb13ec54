"""Who broke the rules: our caller or the peer."""

from __future__ import annotations


class ProtocolError(Exception):
    """A conversation cannot go on as asked."""


class LocalProtocolError(ProtocolError):
    """Our own side (the caller of a sans-I/O object) broke the rules."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow; ``str()`` says what."""
