"""A guard against a PySide6 bug that would crash the designer after a few thousand Qt calls.

PySide6-Essentials 6.12.0 built for the stable ABI returns ``None`` from every void method
without taking a reference to it. From Python 3.12 on, ``None`` is immortal and nothing
happens; on Python 3.11 each such call drops ``None``'s reference count by one, and after some
thousands of calls (moving a node makes dozens) the interpreter aborts with "none_dealloc:
deallocating None".

`protect_none()` measures whether the installed PySide6 has the leak and, only then, gives
``None`` a reference count so large that it can never reach zero (``None`` is never freed
anyway, so the extra count costs nothing). The real fix is a PySide6 without the bug or
Python >= 3.12; docs/gui.md says so. Call it once, after the QApplication exists.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject

HEADROOM = 1 << 60
_PROBE_CALLS = 64


def none_leak_per_call() -> float:
    """How many references to None one void PySide6 call drops (0 when healthy)."""
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        probe.setObjectName("probe")
    return (before - sys.getrefcount(None)) / _PROBE_CALLS


def protect_none() -> bool:
    """Top up None's reference count when this PySide6 leaks it; True if it did."""
    if sys.version_info >= (3, 12) or none_leak_per_call() < 0.5:
        return False
    refcnt = ctypes.c_ssize_t.from_address(id(None))   # ob_refcnt is PyObject's first field
    if refcnt.value != sys.getrefcount(None) - 1 and refcnt.value != sys.getrefcount(None):
        return False                                     # an unusual layout: leave it alone
    if refcnt.value < HEADROOM:
        refcnt.value += HEADROOM
    return True
