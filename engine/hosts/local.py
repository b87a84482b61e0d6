"""Running things on this machine, with asyncio subprocesses and psutil bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from engine.errors import CommandError, HostError, ToolMissingError
from engine.hosts.base import (
    CommandResult,
    Host,
    MemoryInfo,
    ProcessHandle,
    ProcessState,
    ProcessUsage,
)

# Which Debian package provides a program nemu calls: used to turn "not found" into advice.
PACKAGE_OF = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-system-i386": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "mke2fs": "e2fsprogs",
    "dpkg-deb": "dpkg",
    "apt-get": "apt",
    "tshark": "tshark",
    "vde_switch": "vde2",
    "iperf3": "iperf3",
    "ssh": "openssh-client",
    "cpio": "cpio",
}


class LocalHost(Host):
    """This machine. Children are put in their own session so a Ctrl-C does not reach them."""

    def __init__(self, name: str = "local") -> None:
        self.name = name
        self._children: dict[int, asyncio.subprocess.Process] = {}
        self._meters: dict[tuple[int, float], psutil.Process] = {}   # CPU % needs a baseline

    def _resolve(self, argv: Sequence[str]) -> list[str]:
        if not argv:
            raise HostError(f"{self.name}: empty command")
        exe = argv[0]
        if os.sep not in exe and shutil.which(exe) is None:
            raise ToolMissingError(exe, PACKAGE_OF.get(exe, ""), self.name)
        return [str(a) for a in argv]

    async def run(self, argv: Sequence[str], *, input: bytes | None = None,
                  timeout: float | None = None, cwd: Path | None = None,
                  env: Mapping[str, str] | None = None, check: bool = True) -> CommandResult:
        args = self._resolve(argv)
        full_env = {**os.environ, **env} if env else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *args, cwd=cwd, env=full_env,
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
        except OSError as e:
            raise HostError(f"{self.name}: cannot run `{args[0]}`: {e.strerror}") from e
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            if check:
                raise CommandError(args, None, "", self.name) from None
            raise
        assert proc.returncode is not None
        result = CommandResult(tuple(args), proc.returncode, out, err)
        if check and not result.ok:
            raise CommandError(args, proc.returncode, err.decode(errors="replace"), self.name)
        return result

    async def start(self, argv: Sequence[str], *, label: str = "", cwd: Path | None = None,
                    env: Mapping[str, str] | None = None,
                    log_path: Path | None = None) -> ProcessHandle:
        args = self._resolve(argv)
        full_env = {**os.environ, **env} if env else None
        log = open(log_path, "ab") if log_path else None  # noqa: SIM115 - handed to the child
        try:
            proc = await asyncio.create_subprocess_exec(
                *args, cwd=cwd, env=full_env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log or asyncio.subprocess.DEVNULL, stderr=log or asyncio.subprocess.DEVNULL,
                start_new_session=True)
        except OSError as e:
            raise HostError(f"{self.name}: cannot start `{args[0]}`: {e.strerror}") from e
        finally:
            if log:
                log.close()
        self._children[proc.pid] = proc
        try:
            created = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            created = 0.0  # exited already; state() will say so
        return ProcessHandle(self.name, proc.pid, created, tuple(args), label, log_path)

    def _same_process(self, proc: ProcessHandle) -> psutil.Process | None:
        try:
            p = psutil.Process(proc.pid)
            if abs(p.create_time() - proc.create_time) > 0.05 or p.status() == psutil.STATUS_ZOMBIE:
                return None
            return p
        except psutil.Error:
            return None

    def state(self, proc: ProcessHandle) -> ProcessState:
        child = self._children.get(proc.pid)
        if child is not None and child.returncode is not None:
            return ProcessState.KILLED if child.returncode < 0 else ProcessState.EXITED
        if self._same_process(proc) is not None:
            return ProcessState.RUNNING
        return ProcessState.LOST if child is None else ProcessState.EXITED

    def exit_code(self, proc: ProcessHandle) -> int | None:
        """The exit status of a child we started and reaped, else None."""
        child = self._children.get(proc.pid)
        return None if child is None else child.returncode

    async def wait(self, proc: ProcessHandle) -> ProcessState:
        """Wait until that process ends (children are reaped; foreign ones are polled)."""
        child = self._children.get(proc.pid)
        if child is not None:
            await child.wait()
        else:
            while self._same_process(proc) is not None:
                await asyncio.sleep(0.1)
        return self.state(proc)

    async def stop(self, proc: ProcessHandle, *, grace: float = 3.0) -> ProcessState:
        p = self._same_process(proc)
        if p is not None:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.wait(proc), grace)
            except TimeoutError:
                with contextlib.suppress(psutil.Error):
                    p.kill()
                await self.wait(proc)
        child = self._children.get(proc.pid)
        if child is not None and child.returncode is None:
            await child.wait()
        return self.state(proc)

    def which(self, program: str) -> str | None:
        return shutil.which(program)

    def this_process(self, label: str = "") -> ProcessHandle:
        """This very process, as a handle others can check (a controller's identity)."""
        me = psutil.Process(os.getpid())
        return ProcessHandle(self.name, me.pid, me.create_time(), tuple(me.cmdline()), label)

    def usage(self, proc: ProcessHandle) -> ProcessUsage | None:
        key = (proc.pid, proc.create_time)
        p = self._meters.get(key) or self._same_process(proc)
        if p is None:
            self._meters.pop(key, None)
            return None
        self._meters[key] = p
        try:
            return ProcessUsage(p.cpu_percent(None), p.memory_info().rss)
        except psutil.Error:
            self._meters.pop(key, None)
            return None

    async def memory(self) -> MemoryInfo:
        vm = psutil.virtual_memory()
        return MemoryInfo(vm.total, vm.available + psutil.swap_memory().free)
