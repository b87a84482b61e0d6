"""QEMU's stream framing: each frame preceded by its length, 4 bytes big-endian.

This is what ``-netdev stream`` and ``-netdev socket`` (TCP) speak, and what vswitch trunks use
after their handshake. The decoder turns whatever one read returned into a list of whole frames
(one batch), keeping a partial frame for the next read; the encoder builds one buffer for one
write. A length above 65 535 means the byte stream is not this framing (or lost sync): the
connection must be dropped. Lengths 0..13 cannot be Ethernet frames: they are skipped and counted
as invalid, framing stays in sync. Trunks use the zero-length record as their heartbeat: a decoder
with `empty_ok` skips those without counting them.
"""

from __future__ import annotations

import struct

MIN_FRAME = 14
MAX_FRAME = 65535

_LEN = struct.Struct(">I")
_unpack = _LEN.unpack_from
_pack = _LEN.pack


class FramingError(Exception):
    """The stream does not carry length-prefixed frames (length out of range)."""


class StreamDecoder:
    __slots__ = ("_buf", "empty_ok")

    def __init__(self) -> None:
        self._buf = b""
        self.empty_ok = False      # zero-length records are heartbeats (trunks), not errors

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held for the next read."""
        return len(self._buf)

    def feed(self, data: bytes, out: list[bytes]) -> int:
        """Append every whole frame in `data` to `out`; returns how many were too short.

        Raises FramingError on a length > 65 535; frames before it are already in `out`.
        """
        if self._buf:
            data = self._buf + data
        i = 0
        n = len(data)
        bad = 0
        while n - i >= 4:
            (ln,) = _unpack(data, i)
            if ln > MAX_FRAME:
                self._buf = b""
                raise FramingError(f"frame length {ln} > {MAX_FRAME}")
            j = i + 4 + ln
            if j > n:
                break
            if ln < MIN_FRAME:
                if ln or not self.empty_ok:
                    bad += 1
            else:
                out.append(data[i + 4:j])
            i = j
        self._buf = data[i:] if i < n else b""
        return bad


def encode(frames: list[bytes]) -> bytes:
    """One buffer holding every frame with its length prefix (one write for a batch)."""
    if len(frames) == 1:
        f = frames[0]
        return _pack(len(f)) + f
    parts: list[bytes] = []
    append = parts.append
    for f in frames:
        append(_pack(len(f)))
        append(f)
    return b"".join(parts)
