"""The package boundaries of docs/architecture.md, checked in fresh interpreters."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHECK = """
import importlib, pkgutil, sys
pkg = importlib.import_module({pkg!r})
for m in pkgutil.walk_packages(pkg.__path__, {pkg!r} + '.'):
    if m.name.endswith('__main__'):
        continue
    importlib.import_module(m.name)
bad = sorted(n for n in sys.modules if n.split('.')[0] in {forbidden!r})
print(','.join(bad))
"""


def imported_forbidden(pkg: str, forbidden: set[str]) -> str:
    code = CHECK.format(pkg=pkg, forbidden=forbidden)
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       check=True)
    return r.stdout.strip()


def test_engine_never_imports_qt():
    assert imported_forbidden("engine", {"PySide6", "nemu_gui"}) == ""


def test_vswitch_imports_neither_engine_nor_qt():
    assert imported_forbidden("vswitch", {"PySide6", "engine", "nemu_gui", "paramiko",
                                          "networkx", "yaml"}) == ""


def test_gui_uses_only_the_engine_public_api_and_imports_cleanly():
    assert imported_forbidden("nemu_gui", {"paramiko", "vswitch"}) == ""
