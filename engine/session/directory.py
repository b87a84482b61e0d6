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
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import NemuError
from engine.topofile import write_atomic

SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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
        """Create the directories (idempotent)."""
        for d in (self.root, self.logs, self.root / "nodes"):
            d.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sockets.parent.chmod(0o700)
        link = self.root / "sockets"
        if not link.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.sockets)

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
