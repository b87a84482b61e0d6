"""The project's own error types: each says what is wrong and where.

OS and library errors are translated into these at the boundary (file loading, process
starts, SSH), so callers and the GUI can show one clear message without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class NemuError(Exception):
    """Base of every error nemu raises on purpose."""


class UnitError(NemuError, ValueError):
    """A quantity string ("10Mbit", "20ms", "0.1%") that cannot be parsed or is out of range."""


class TopologyError(NemuError):
    """A topology that is malformed or inconsistent.

    `where` is a path inside the description (``links[3].a.delay``); `source` is the file, if any.
    """

    def __init__(self, message: str, where: str = "", source: str = "") -> None:
        self.message = message
        self.where = where
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        place = ": ".join(p for p in (self.source, self.where) if p)
        return f"{place}: {self.message}" if place else self.message

    def located(self, source: str) -> TopologyError:
        """The same error, naming the file it came from."""
        return type(self)(self.message, self.where, source)


class TopologyErrors(TopologyError):
    """Several topology errors found at once (validation reports them all, not just the first)."""

    def __init__(self, errors: Sequence[TopologyError], source: str = "") -> None:
        self.errors = [e.located(source) if source else e for e in errors]
        self.source = source
        self.where = ""
        self.message = "\n".join(str(e) for e in self.errors)
        Exception.__init__(self, self.message)

    def located(self, source: str) -> TopologyErrors:
        return TopologyErrors(self.errors, source)


class LockedError(TopologyError):
    """An edit of what a teaching lab locks (a node, a link, a link parameter)."""


class LinkParamError(TopologyError):
    """An impossible link parameter, e.g. ``link h1-r1: delay "-5ms" must be >= 0``."""


class HostError(NemuError):
    """A machine (local or over SSH) that could not do what was asked."""


class CommandError(HostError):
    """A command that failed: carries its argv, exit status and the end of its stderr."""

    def __init__(self, argv: Sequence[str], returncode: int | None, stderr: str = "",
                 host: str = "local") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.host = host
        tail = stderr.strip().splitlines()[-5:]
        status = "timed out" if returncode is None else f"exited with status {returncode}"
        detail = ("\n  " + "\n  ".join(tail)) if tail else ""
        super().__init__(f"{host}: `{' '.join(self.argv)}` {status}{detail}")


class ToolMissingError(HostError):
    """A program nemu needs is not installed; says which package provides it."""

    def __init__(self, tool: str, package: str = "", host: str = "local") -> None:
        self.tool = tool
        self.package = package
        hint = f" (install the Debian package `{package}`)" if package else ""
        super().__init__(f"{host}: `{tool}` is not installed{hint}")


class SessionError(NemuError):
    """A session operation that cannot be done; names the node or link."""
