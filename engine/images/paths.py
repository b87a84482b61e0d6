"""Where image recipes live and where built images and downloaded packages are cached.

Recipes are data files in the repository's `images/` directory (override with
`NEMU_IMAGES_DIR`). Downloaded `.deb`s and built images live under the user's cache directory:
`$XDG_CACHE_HOME/nemu` (default `~/.cache/nemu`), or `NEMU_CACHE_DIR` when set.
"""

from __future__ import annotations

import os
from pathlib import Path


def recipes_dir() -> Path:
    """The directory holding `<name>.yaml` recipes and the `guest/` files they copy in."""
    env = os.environ.get("NEMU_IMAGES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "images"


def cache_dir() -> Path:
    """The root of nemu's cache (created on demand by the callers that write to it)."""
    env = os.environ.get("NEMU_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "nemu"


def debs_dir() -> Path:
    """Downloaded Debian packages, shared by every recipe."""
    return cache_dir() / "debs"


def images_dir() -> Path:
    """Built images, one directory per recipe name and hash."""
    return cache_dir() / "images"


def apt_dir(debian_arch: str) -> Path:
    """apt's own state and cache for a foreign architecture (the system's apt stays untouched)."""
    return cache_dir() / "apt" / debian_arch
