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


# ---- layers inside the engine, the Host seam, the public API, module size -------------------

# Lower layers never import higher ones: the model knows nothing of sessions, sessions nothing
# of the CLI. Same layer may import each other.
LAYERS = {
    "engine.errors": 0, "engine.units": 0,
    "engine.model": 1, "engine.hosts": 1,
    "engine.topofile": 2, "engine.topofile_read": 2, "engine.plan": 2, "engine.examples": 2,
    "engine.qemu": 2, "engine.stats": 2,
    "engine.images": 3, "engine.fabric": 3,
    "engine.session": 4, "engine.runtime": 4,
    "engine.lab": 5, "engine.live_edits": 5, "engine.manager": 5, "engine.console": 5,
    "engine.teaching": 5, "engine.desktop": 3,
    "engine.cli": 6,
}


def engine_imports(path: Path) -> set[str]:
    """The engine modules a file imports (`from engine import units` is engine.units)."""
    import ast
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "engine":
                found.update(f"engine.{a.name}" for a in node.names)
            elif node.module.startswith("engine."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("engine."))
    return found


def layer_of(module: str) -> int:
    top = ".".join(module.split(".")[:2])
    assert top in LAYERS, f"{module}: give its package a layer in LAYERS"
    return LAYERS[top]


def test_engine_layers_only_look_down():
    upward = []
    for path in (REPO / "engine").rglob("*.py"):
        if path.name == "__init__.py" and path.parent.name == "engine":
            continue
        mod = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for target in engine_imports(path):
            if layer_of(target) > layer_of(mod):
                upward.append(f"{mod} imports {target}")
    assert upward == []


def test_psutil_is_used_only_behind_the_host_seam():
    users = {str(p.relative_to(REPO)) for pkg in ("engine", "nemu_gui", "vswitch")
             for p in (REPO / pkg).rglob("*.py") if "psutil" in direct_imports_of(p)}
    assert users <= {"engine/hosts/local.py"}, users


def direct_imports_of(path: Path) -> set[str]:
    import ast
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_the_gui_uses_only_the_engines_public_api():
    from engine import PUBLIC_API
    private = sorted(f"{p.relative_to(REPO)} imports {m}"
                     for p in (REPO / "nemu_gui").rglob("*.py")
                     for m in engine_imports(p) if m not in PUBLIC_API)
    assert private == []
