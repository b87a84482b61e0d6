"""The on-disk home of a session: topology, per-node disks and config, logs, PIDs.

Layout (all under one directory, so a session can be listed, archived and re-attached):

    <root>/topology.yaml       what is being run
    <root>/state.json          process records (PID + start time), written atomically
    <root>/nodes/<node>/       overlay disk, config drive, console log
    <root>/logs/               one log per process
    <sockets>/                 unix sockets, in a short per-session directory under /tmp
                               (AF_UNIX paths are limited to 107 bytes); <root>/sockets links to it
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import NemuError
from engine.topofile import write_atomic

SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
OWNER_FILE = "owner"     # in a socket folder: the root of the session it belongs to


def sessions_root() -> Path:
    """$NEMU_SESSIONS, else $XDG_STATE_HOME/nemu/sessions, else ~/.local/state/nemu/sessions."""
    env = os.environ.get("NEMU_SESSIONS")
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "nemu" / "sessions"


@dataclass(frozen=True)
class SessionDir:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def topology_path(self) -> Path:
        return self.root / "topology.yaml"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def sockets(self) -> Path:
        uid = os.getuid()
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"nemu-{uid}" / digest

    def node_dir(self, node: str) -> Path:
        return self.root / "nodes" / node

    def socket(self, *parts: str) -> Path:
        path = self.sockets.joinpath(*parts)
        if len(str(path)) > 100:
            raise NemuError(f"socket path {path} is too long for a unix socket")
        return path

    def prepare(self) -> None:
        """Create the directories (idempotent), private to the user: guests' disks and
        configurations (keys, user data) are nobody else's business."""
        for d in (self.root, self.logs, self.root / "nodes"):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            d.chmod(0o700)
        self.sockets.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sockets.parent.chmod(0o700)
        owner = self.sockets / OWNER_FILE
        if not owner.exists():
            owner.write_text(str(self.root.resolve()))
        link = self.root / "sockets"
        if not link.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.sockets)

    def make_private(self, top: Path | None = None) -> None:
        """Folders 0700 and files 0600 throughout the session, or its folder `top` (what
        QEMU and qemu-img made with the default umask included); sockets are left alone."""
        for dirpath, dirnames, filenames in os.walk(top or self.root):
            with contextlib.suppress(OSError):
                os.chmod(dirpath, 0o700)
            for name in filenames:
                path = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    if not os.path.islink(path):
                        os.chmod(path, 0o600)
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]

    def remove_sockets(self) -> None:
        """Remove this session's socket folder (once nothing of it runs)."""
        shutil.rmtree(self.sockets, ignore_errors=True)

    def read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise NemuError(f"{self.state_path}: unreadable session state ({e})") from None
        if not isinstance(data, dict):
            raise NemuError(f"{self.state_path}: unreadable session state (not an object)")
        return data

    def write_state(self, state: dict[str, Any]) -> None:
        state = {**state, "updated": time.time()}
        write_atomic(self.state_path, json.dumps(state, indent=1).encode(), backup=False)


def create_session_dir(name: str | None = None, base: Path | None = None) -> SessionDir:
    """A new, empty session directory; `name` gets -2, -3... if taken."""
    base = base or sessions_root()
    stem = name or time.strftime("session-%Y%m%d-%H%M%S")
    if not SESSION_NAME_RE.match(stem):
        raise NemuError(f"session name {stem!r} must be letters, digits, '_', '-', '.'")
    base.mkdir(parents=True, exist_ok=True)
    candidate, n = stem, 1
    while True:
        try:
            (base / candidate).mkdir()
            break
        except FileExistsError:
            n += 1
            candidate = f"{stem}-{n}"
    sd = SessionDir(base / candidate)
    sd.prepare()
    return sd


def find_session(name_or_path: str, base: Path | None = None) -> SessionDir:
    p = Path(name_or_path)
    if p.is_dir() and (p / "topology.yaml").exists():
        return SessionDir(p.resolve())
    candidate = (base or sessions_root()) / name_or_path
    if candidate.is_dir():
        return SessionDir(candidate)
    raise NemuError(f"no session named {name_or_path!r} in {base or sessions_root()}")


def list_sessions(base: Path | None = None) -> list[SessionDir]:
    base = base or sessions_root()
    if not base.is_dir():
        return []
    return sorted((SessionDir(p) for p in base.iterdir()
                   if p.is_dir() and (p / "topology.yaml").exists()), key=lambda s: s.name)


def running_sessions(base: Path | None = None) -> list[SessionDir]:
    """Sessions whose last controller left them up (or starting): ones to attach to."""
    return [s for s in list_sessions(base) if s.read_state().get("status") in ("up", "starting")]


def sockets_base() -> Path:
    """The folder holding every session's socket folder of this user."""
    return Path(tempfile.gettempdir()) / f"nemu-{os.getuid()}"


def sweep_socket_dirs(keep: frozenset[Path] = frozenset()) -> list[Path]:
    """Remove socket folders left behind by sessions that are down, deleted or gone (left
    up, but none of their processes runs), whatever folder their sessions live in; return
    those removed. `keep`: session roots known to be running. A folder without an owner
    record (made by an older nemu) goes only when it is empty."""
    from engine.hosts import LocalHost
    from engine.session.registry import session_runs

    removed: list[Path] = []
    base = sockets_base()
    if not base.is_dir():
        return removed
    for d in base.iterdir():
        if not d.is_dir() or d.is_symlink():
            continue
        try:
            owner = Path((d / OWNER_FILE).read_text().strip())
        except OSError:
            with contextlib.suppress(OSError):
                d.rmdir()                  # empty: nothing to lose
                removed.append(d)
            continue
        if owner in keep:
            continue
        sdir = SessionDir(owner)
        alive = sdir.topology_path.exists() and sdir.sockets == d and (
            _starting(sdir) or session_runs(sdir, {"local": LocalHost()}))
        if not alive:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _starting(sdir: SessionDir, within: float = 600.0) -> bool:
    """A session being started right now (by another nemu), whose processes may not exist
    yet: its sockets must stay."""
    with contextlib.suppress(NemuError):
        state = sdir.read_state()
        return state.get("status") == "starting" and \
            time.time() - float(state.get("updated", 0)) < within
    return False
