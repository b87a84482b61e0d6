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


def direct_imports(package: str) -> set[str]:
    """Top-level packages that the modules of `package` import themselves."""
    import ast
    found: set[str] = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_gui_reaches_the_network_only_through_the_engine():
    assert direct_imports("nemu_gui") & {"vswitch", "paramiko", "subprocess", "qemu"} == set()


def test_gui_modules_import_cleanly_in_a_fresh_interpreter():
    assert imported_forbidden("nemu_gui", {"paramiko"}) == ""


def test_only_the_host_seam_starts_processes():
    """STYLE.md: every process start goes through engine.hosts (benchmarks and tests aside)."""
    users = set()
    for pkg in ("engine", "nemu_gui"):
        for path in (REPO / pkg).rglob("*.py"):
            text = path.read_text()
            if "import subprocess" in text or "create_subprocess" in text:
                users.add(str(path.relative_to(REPO)))
    assert users == {"engine/hosts/local.py"}
