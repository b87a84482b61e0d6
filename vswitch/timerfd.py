"""A Linux timerfd on CLOCK_MONOTONIC, through libc with ctypes (Python has no binding before
3.13): a file descriptor that becomes readable at an absolute `time.monotonic()` instant.

Why: an event loop's own timers have a millisecond grain (asyncio's epoll timeout is rounded up
to whole milliseconds; uvloop rounds a delay to the nearest millisecond and runs one under half
a millisecond at once). The kernel wakes a poller on a timerfd within tens of microseconds, so
the vswitch's delay line and shaper can release frames when they are due, whichever loop runs
them, without spinning. `available()` is False where there is no timerfd (not Linux): the
vswitch then falls back to the loop's timers.

Lifecycle: TimerFd() -> arm(at) / disarm() ... -> drain() when readable -> close().
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = 0o4000
TFD_CLOEXEC = 0o2000000
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _ITimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int,
                                         ctypes.POINTER(_ITimerspec),
                                         ctypes.POINTER(_ITimerspec)]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


def available() -> bool:
    if _LIBC is None:
        return False
    try:
        TimerFd().close()
    except OSError:
        return False
    return True


class TimerFd:
    def __init__(self) -> None:
        if _LIBC is None:
            raise OSError("timerfd is not available here")
        fd = _LIBC.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_create: {os.strerror(err)}")
        self.fd: int = fd
        self._spec = _ITimerspec()          # reused: arming allocates nothing

    def fileno(self) -> int:
        return self.fd

    def arm(self, at: float) -> None:
        """Become readable at monotonic time `at` (a time already past: at once)."""
        assert _LIBC is not None
        frac, sec = math.modf(max(at, 1e-9))
        value = self._spec.it_value
        value.tv_sec = int(sec)
        value.tv_nsec = max(1, int(frac * 1e9))    # 0/0 would disarm it
        if _LIBC.timerfd_settime(self.fd, TFD_TIMER_ABSTIME, self._spec, None) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")

    def disarm(self) -> None:
        assert _LIBC is not None
        value = self._spec.it_value
        value.tv_sec = value.tv_nsec = 0
        _LIBC.timerfd_settime(self.fd, 0, self._spec, None)

    def drain(self) -> int:
        """Read the expiry count (0 if it had not expired: a stale wake-up)."""
        try:
            return int.from_bytes(os.read(self.fd, 8), "little")
        except BlockingIOError:
            return 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
