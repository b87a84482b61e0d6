"""Background jobs in a guest: a server or relay started and left running, by PID.

The guest images carry busybox's `setsid` but no `nohup` or `pkill`, and the guest agent waits
for a command's output pipes to close, so a plain `cmd &` either blocks the call or dies with
it. A job is started by a small shell script run through the agent: the command runs in a new
session (its own process group, detached from the agent), with stdin from /dev/null and its
output in `/run/nemu/jobs/<pid>.out`; `<pid>.cmd` records the command. Killing a job signals
its process group (TERM, then KILL), and only PIDs that have a record here: nothing is ever
killed by name. /run is a tmpfs: records end with the guest's boot, as the jobs do.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import SessionError

JOBS_DIR = "/run/nemu/jobs"

# $1 is the command as recorded, the rest the job's argv. `setsid` run by a non-interactive
# shell's `&` is no group leader, so it calls setsid() itself and execs: $! is the job's PID.
_START = f"""t=$1; shift; d={JOBS_DIR}; mkdir -p $d
setsid "$@" </dev/null >$d/new.$$ 2>&1 &
p=$!
mv $d/new.$$ $d/$p.out
printf '%s\\n' "$t" >$d/$p.cmd
echo $p
"""

_LIST = f"""cd {JOBS_DIR} 2>/dev/null || exit 0
for f in *.cmd; do
  [ -e "$f" ] || continue
  p=${{f%.cmd}}
  if [ -d /proc/$p ] && [ "$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null)" != Z ]; then s=running
  else s=exited; fi
  printf '%s %s %s\\n' "$p" "$s" "$(cat "$f")"
done
"""

# Signal the group, wait up to 3 s, then KILL it. Only a PID with a record is touched.
_KILL = f"""p=$1; [ -e {JOBS_DIR}/$p.cmd ] || {{ echo "no job $p" >&2; exit 3; }}
kill -TERM -$p 2>/dev/null || kill -TERM $p 2>/dev/null
i=0; while [ -d /proc/$p ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done
[ -d /proc/$p ] && kill -KILL -$p 2>/dev/null
rm -f {JOBS_DIR}/$p.cmd
exit 0
"""


@dataclass(frozen=True)
class GuestJob:
    """A command left running in a guest."""

    node: str
    pid: int
    command: str
    running: bool = True

    @property
    def output(self) -> str:
        """The file in the guest that holds its stdout and stderr."""
        return f"{JOBS_DIR}/{self.pid}.out"


def start_argv(command: str | Sequence[str]) -> tuple[list[str], str]:
    """The agent's argv that starts `command` as a job (a string is a shell command line),
    and the command as recorded."""
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    if not argv:
        raise SessionError("give a command to start")
    text = command if isinstance(command, str) else shlex.join(argv)
    return ["/bin/sh", "-c", _START, "job", text, *argv], text


def list_argv() -> list[str]:
    return ["/bin/sh", "-c", _LIST]


def kill_argv(pid: int) -> list[str]:
    return ["/bin/sh", "-c", _KILL, "kill", str(pid)]


def parse_list(node: str, text: str) -> list[GuestJob]:
    jobs = []
    for line in text.splitlines():
        pid, _, rest = line.partition(" ")
        state, _, command = rest.partition(" ")
        if pid.isdigit():
            jobs.append(GuestJob(node, int(pid), command, state == "running"))
    return jobs
