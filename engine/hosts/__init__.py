"""The one seam through which nemu starts processes, runs commands and copies files.

`LocalHost` runs things on this machine; an SSH host (later) does the same over paramiko.
Nothing else in nemu calls `subprocess` or `paramiko` directly.
"""

from engine.hosts.base import CommandResult, Host, ProcessHandle, ProcessState
from engine.hosts.local import LocalHost

__all__ = ["CommandResult", "Host", "LocalHost", "ProcessHandle", "ProcessState"]
