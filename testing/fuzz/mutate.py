"""Byte-wise mutation of valid messages, as a Hypothesis strategy.

``mutated(seeds)`` draws a valid message from ``seeds`` and applies one to four of the
mutations a coverage-guided fuzzer makes: flip a bit, set a byte to an interesting value,
insert or delete a run of bytes, duplicate a run, truncate, or splice in random bytes.
``hostile(seeds)`` mixes those with unstructured bytes and the valid messages themselves.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["hostile", "mutated"]

#: Byte values parsers get wrong most often.
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x0D, 0x20, 0x25, 0x3A, 0x3B, 0x22)
#: Longest unstructured input drawn.
MAX_RANDOM = 2048


@st.composite
def _mutate(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4), label="mutations")):
        size = len(data)
        where = draw(st.integers(0, size), label="at")
        kind = draw(
            st.sampled_from(["flip", "set", "insert", "delete", "repeat", "truncate", "splice"])
        )
        if kind == "flip" and size:
            at = min(where, size - 1)
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and size:
            at = min(where, size - 1)
            data[at] = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            data[where : where + draw(st.integers(1, 64))] = b""
        elif kind == "repeat" and size:
            run = bytes(data[where : where + draw(st.integers(1, 64))])
            data[where:where] = run * draw(st.integers(1, 16))
        elif kind == "truncate":
            del data[where:]
        elif kind == "splice":
            end = where + draw(st.integers(0, 64))
            data[where:end] = draw(st.binary(max_size=64))
    return bytes(data)


def mutated(seeds: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A valid message from ``seeds`` with one to four byte-wise mutations."""
    return seeds.flatmap(_mutate)


def hostile(seeds: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Mutated messages (most), valid ones, and unstructured bytes."""
    return st.one_of(mutated(seeds), seeds, st.binary(max_size=MAX_RANDOM))
