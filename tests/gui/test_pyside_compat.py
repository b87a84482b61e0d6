"""The guard against PySide6 6.12.0's None leak keeps a long session alive."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject

from nemu_gui.pyside_compat import none_leak_per_call, protect_none


def test_many_void_calls_do_not_kill_the_interpreter(qapp) -> None:
    protect_none()
    obj = QObject()
    for _ in range(20_000):                 # more than None's natural reference count
        obj.setObjectName("x")
    assert sys.getrefcount(None) > 1000


def test_the_probe_measures_the_leak(qapp) -> None:
    leak = none_leak_per_call()
    assert leak == 0 or (sys.version_info < (3, 12) and 0.5 <= leak <= 1.5)
