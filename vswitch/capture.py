"""Packet capture of a port in libpcap format (Ethernet link type), to a file or a FIFO.

A capture records both directions as seen on the port's wire: frames received from the peer
(before any shaping) and frames handed to the peer (after shaping). Records are buffered and
written at most every `FLUSH_INTERVAL` seconds or every 256 KiB, so capturing costs one memory
copy per frame (the kernel's) and no extra system call per batch.

A FIFO (``mkfifo``) lets a live reader follow the capture: ``wireshark -k -i /path/fifo``, or
``cat fifo | wireshark -k -i -``. The FIFO is written without blocking: when the reader is slower
than the link, records beyond `MAX_BACKLOG` buffered bytes are dropped (counted in `dropped`)
rather than slowing the link.

Lifecycle: `open()` (writes the pcap header) -> `add()` many times -> `close()`.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import time
from collections.abc import Callable

from vswitch.errors import RequestError

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_REC = struct.Struct("<IIII")
FLUSH_BYTES = 1 << 18
MAX_BACKLOG = 1 << 22
FLUSH_INTERVAL = 0.1
JOIN_MAX = 256          # frames up to this size are copied into one record block per burst
IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
NO_READER = "no process is reading the FIFO"   # the error text callers may wait on


class Capture:
    def __init__(self, path: str, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self.wall = wall
        self.fd = -1
        self.is_fifo = False
        self.parts: list[bytes] = []
        self.buffered = 0
        self.pending = b""         # a partial write to a FIFO
        self.frames = 0
        self.dropped = 0
        self.broken = False

    def open(self) -> None:
        try:
            st = os.stat(self.path)
            self.is_fifo = stat.S_ISFIFO(st.st_mode)
        except FileNotFoundError:
            self.is_fifo = False
        except OSError as exc:
            raise RequestError("file", f"cannot open {self.path}: {exc.strerror}") from None
        flags = os.O_WRONLY | os.O_CLOEXEC
        flags |= os.O_NONBLOCK if self.is_fifo else os.O_CREAT | os.O_TRUNC
        try:
            self.fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            msg = NO_READER if exc.errno == errno.ENXIO else exc.strerror
            raise RequestError("file", f"cannot open {self.path}: {msg}") from None
        self.parts = [PCAP_HEADER]
        self.buffered = len(PCAP_HEADER)
        self.flush()

    def add(self, frames: list[bytes]) -> None:
        if self.broken:
            return
        if self.buffered > MAX_BACKLOG:
            self.dropped += len(frames)
            return
        t = self.wall()
        sec = int(t)
        usec = int((t - sec) * 1e6)
        parts = self.parts
        append = parts.append
        pack = _REC.pack
        n = len(frames[0]) if frames else 0
        if 0 < n <= JOIN_MAX and len(set(map(len, frames))) == 1:
            # a burst of small frames of one size: the records in one C call (for big frames
            # the copy would cost more than the per-frame appends it saves)
            hdr = pack(sec, usec, n, n)
            append(hdr)
            append(hdr.join(frames))
            self.buffered += (n + 16) * len(frames)
        else:
            last = -1
            hdr = b""
            for f in frames:         # one record header per run of equal-length frames
                n = len(f)
                if n != last:
                    hdr = pack(sec, usec, n, n)
                    last = n
                append(hdr)
                append(f)
            self.buffered += sum(map(len, frames)) + 16 * len(frames)
        self.frames += len(frames)
        if self.buffered >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered with writev (no joining copy), stopping at a full FIFO."""
        if self.fd < 0 or self.broken or not (self.parts or self.pending):
            return
        parts = self.parts
        self.parts = []
        if self.pending:
            parts.insert(0, self.pending)
            self.pending = b""
        for i in range(0, len(parts), IOV_MAX):
            chunk = parts[i:i + IOV_MAX]
            want = sum(map(len, chunk))
            try:
                n = os.writev(self.fd, chunk)
            except BlockingIOError:
                n = 0
            except OSError:
                self.broken = True    # reader went away (EPIPE) or disk full: stop quietly
                self.buffered = 0
                return
            if n < want:              # a FIFO whose reader lags: keep the rest for later
                self.pending = b"".join(chunk)[n:] + b"".join(parts[i + IOV_MAX:])
                self.buffered = len(self.pending)
                return
        self.buffered = 0

    def close(self) -> None:
        if self.fd >= 0:
            if not self.is_fifo:
                while (self.parts or self.pending) and not self.broken:
                    before = self.buffered
                    self.flush()
                    if self.buffered and self.buffered == before:
                        break
            else:
                self.flush()
            os.close(self.fd)
            self.fd = -1

    def stats(self) -> dict[str, object]:
        return {"file": self.path, "frames": self.frames, "dropped": self.dropped,
                "broken": self.broken}
