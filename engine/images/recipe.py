"""Image recipes: which Debian packages, kernel modules and guest files make an image.

A recipe is `images/<name>.yaml`. `inherits: other` starts from another recipe: lists are
appended to the parent's, mappings merged key by key, scalars replaced. The recipe's hash covers
the merged recipe, every guest file it copies in and `BUILD_FORMAT`, so an unchanged recipe maps to
the same cached image and any change to it builds a new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import NemuError
from engine.images.paths import recipes_dir

# Bump when the builder changes what it produces from the same recipe.
BUILD_FORMAT = 7
INITRAMFS_INIT = "initramfs/init"   # in the recipes directory: the initramfs's /init
# Guest architectures (QEMU's names) an image can be built for, and Debian's name of each.
DEBIAN_ARCH = {"x86_64": "amd64", "i386": "i386"}
DEFAULT_ARCH = "x86_64"


class RecipeError(NemuError):
    """A recipe that is missing or malformed; names the file and the field."""


@dataclass(frozen=True)
class Recipe:
    """One merged recipe. Paths in `guest_files` are relative to `root` (the recipes directory)."""

    name: str
    description: str
    kernel_package: str
    boot_modules: tuple[str, ...]
    modules: tuple[str, ...]
    packages: tuple[str, ...]
    exclude: tuple[str, ...]
    prune: tuple[str, ...]
    guest_files: tuple[str, ...]
    extra_mb: int
    memory_mb: int
    checks: tuple[str, ...]
    root: Path
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    arch: str = DEFAULT_ARCH        # the guest's architecture (QEMU's name: x86_64, i386)

    @property
    def debian_arch(self) -> str:
        """Debian's name of the architecture whose packages the image is made of."""
        return DEBIAN_ARCH[self.arch]

    def guest_dirs(self) -> list[Path]:
        return [self.root / d for d in self.guest_files]

    def hash(self) -> str:
        """A short digest of everything that determines the built image."""
        h = hashlib.sha256()
        h.update(json.dumps({"format": BUILD_FORMAT, "recipe": self.raw},
                            sort_keys=True).encode())
        for d in self.guest_dirs():
            for p in sorted(d.rglob("*")):
                rel = p.relative_to(d).as_posix()
                if p.is_symlink():
                    h.update(f"L {rel} {p.readlink()}\n".encode())
                elif p.is_file():
                    h.update(f"F {rel} {'x' if p.stat().st_mode & 0o100 else '-'}\n".encode())
                    h.update(hashlib.sha256(p.read_bytes()).digest())
        init = self.root / INITRAMFS_INIT       # every image's first process, built in too
        if init.is_file():
            h.update(b"init\n" + hashlib.sha256(init.read_bytes()).digest())
        return h.hexdigest()[:16]


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(parent)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, list) and isinstance(value, list):
            out[key] = old + [v for v in value if v not in old]
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def _load_raw(name: str, root: Path, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    path = root / f"{name}.yaml"
    if name in seen:
        raise RecipeError(f"{path}: `inherits` loops through {' -> '.join((*seen, name))}")
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        known = ", ".join(available_recipes(root))
        if not known:      # an installed copy without the source tree's images/ folder
            raise RecipeError(f"no image recipe named {name!r}: {root} holds no recipes (they "
                              "are the images/ folder of a nemu source tree; point "
                              "NEMU_IMAGES_DIR at one)") from None
        raise RecipeError(f"no image recipe named {name!r} in {root} (known: {known})") from None
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of fields")
    parent = data.pop("inherits", None)
    data["name"] = name
    if parent:
        data = _merge(_load_raw(str(parent), root, (*seen, name)), data)
        data["name"] = name
    return data


def _strs(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecipeError(f"{where}: `{key}` must be a list of strings")
    return tuple(value)


def _int(data: dict[str, Any], key: str, default: int, where: str) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or value < 0:
        raise RecipeError(f"{where}: `{key}` must be a non-negative integer, not {value!r}")
    return value


def load_recipe(name: str, root: Path | None = None) -> Recipe:
    """Load and merge `<root>/<name>.yaml` (default root: `recipes_dir()`)."""
    root = root or recipes_dir()
    data = _load_raw(name, root)
    where = str(root / f"{name}.yaml")
    arch = data.get("arch", DEFAULT_ARCH)
    if arch not in DEBIAN_ARCH:
        raise RecipeError(f"{where}: `arch` must be one of {', '.join(DEBIAN_ARCH)}, not {arch!r}")
    kernel = data.get("kernel") or {}
    if not isinstance(kernel, dict) or not isinstance(kernel.get("package"), str):
        raise RecipeError(f"{where}: `kernel.package` (a Debian kernel package) is required")
    return Recipe(
        name=name,
        description=str(data.get("description", "")),
        kernel_package=kernel["package"],
        boot_modules=_strs(kernel, "boot_modules", where + ": kernel"),
        modules=_strs(kernel, "modules", where + ": kernel"),
        packages=_strs(data, "packages", where),
        exclude=_strs(data, "exclude", where),
        prune=_strs(data, "prune", where),
        guest_files=_strs(data, "guest_files", where),
        extra_mb=_int(data, "extra_mb", 64, where),
        memory_mb=_int(data, "memory_mb", 128, where),
        checks=_strs(data, "checks", where),
        root=root,
        raw=data,
        arch=arch,
    )


def available_recipes(root: Path | None = None) -> list[str]:
    """Names of the recipes in the recipes directory."""
    root = root or recipes_dir()
    return sorted(p.stem for p in root.glob("*.yaml"))
