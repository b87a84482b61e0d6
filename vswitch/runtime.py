"""The running vswitch: devices, their ports and transports, on one asyncio event loop.

`VSwitch` is the API the control socket calls (and tests call directly). It is also the ports'
`Scheduler`:

* **timers**: a port asks to be pumped at its next due time. On Linux one timerfd
  (`vswitch.timerfd`) is armed for the earliest due time of all ports (a heap), and the loop
  wakes within tens of microseconds of it, whichever loop it is; when it fires, every port due
  within ``SLACK`` is pumped. Elsewhere (or ``timer="loop"``) we arm one loop timer per port at
  ``due - LEAD`` and, when it fires, send everything due within ``SLACK``. asyncio's loop sleeps
  in whole milliseconds (epoll), so a timer fires 0..1 ms after it was set for: arming half a
  millisecond early centres the error on zero (about +/- 0.5 ms) instead of always being late
  (uvloop's timers are late by less, so its lead is smaller: `UVLOOP_LEAD`; but it runs a
  timer under half a millisecond at once, so its shortest wait is `UVLOOP_MIN_WAIT`),
  and sending frames due within the slack means a wake-up never finds "too early" work, so the
  loop never spins. See measurements.md: waking exactly per frame costs 33-89 % CPU.
* **batching**: ports with frames ready are flushed once per loop iteration (``call_soon``), so
  all frames produced by all reads of one iteration leave a port in one write.

Lifecycle: NEW --start()--> RUNNING --stop()--> STOPPED (every port's transport stopped, every
capture closed). Changes made while RUNNING (devices, ports, parameters) take effect at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from vswitch.capture import FLUSH_INTERVAL, Capture
from vswitch.devices import Device, Switch, make_device
from vswitch.errors import RequestError, TransportError
from vswitch.params import LinkParams
from vswitch.port import Port
from vswitch.switch_fabric import VlanConfig
from vswitch.timerfd import TimerFd
from vswitch.timerfd import available as timerfd_available
from vswitch.transports import Transport, TransportSpec, make_transport

log = logging.getLogger("vswitch")

SLACK = 0.0005
LEAD = 0.0005          # asyncio: a timer fires 0.2-2 ms late, median 0.7 (epoll's whole ms)
UVLOOP_LEAD = 0.0002   # uvloop: -0.35..+0.7 ms, median +0.18 (measured on the 2-core machine)
# uvloop rounds a timer's delay to whole milliseconds and runs one under 0.5 ms at once: a port
# due in 0.3 ms would re-arm itself immediately, over and over (a shaped 100 Mbit/s link spun
# a whole core). Its shortest wait is therefore one that rounds to 1 ms.
UVLOOP_MIN_WAIT = 0.0006
TIMERFD_LEAD = 0.00005  # a timerfd wake-up reaches Python ~50 us after it expires
TIMERS = ("auto", "timerfd", "loop")
NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
DIRECTIONS = ("in", "out", "both")


def check_name(v: Any, field: str) -> str:
    if not isinstance(v, str) or not NAME_RE.match(v):
        raise RequestError(field, "must be 1..64 characters of A-Z a-z 0-9 _ . : -")
    return v


class VSwitch:
    def __init__(self, slack: float = SLACK, lead: float | None = None,
                 timer: str = "auto") -> None:
        if timer not in TIMERS:
            raise ValueError(f"timer must be one of {', '.join(TIMERS)}")
        self.slack = slack
        self.timer_kind = timer       # auto: a timerfd where Linux has one, else loop timers
        self.lead = lead              # None: the measured one for the running loop (start())
        self.min_wait = 0.0           # a positive timer delay is at least this (uvloop: 1 ms)
        self.devices: dict[str, Device] = {}
        self.transports: dict[Port, Transport] = {}
        self.captures: dict[Port, Capture] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handles: dict[Port, asyncio.TimerHandle] = {}
        self._timerfd: TimerFd | None = None
        self._due: list[tuple[float, int, Port]] = []   # heap of (due, seq, port); stale kept
        self._seq = itertools.count()
        self._armed: float | None = None                 # when the timerfd fires next
        self._dirty: list[Port] = []
        self._flush_pending = False
        self._tick_task: asyncio.Task[None] | None = None
        self.clock: Callable[[], float] = time.monotonic
        self.stopped = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # time.monotonic, not loop.time(): uvloop's is libuv's millisecond clock, cached per
        # loop iteration, which would stamp frames up to a millisecond early
        self.clock = time.monotonic
        uv = type(self._loop).__module__.startswith("uvloop")
        if self.timer_kind == "timerfd" or (self.timer_kind == "auto" and timerfd_available()):
            self._timerfd = TimerFd()
            self._loop.add_reader(self._timerfd.fileno(), self._on_timerfd)
            self.timer_kind = "timerfd"
        else:
            self.timer_kind = "loop"
        if self.lead is None:
            self.lead = TIMERFD_LEAD if self._timerfd else UVLOOP_LEAD if uv else LEAD
        self.min_wait = UVLOOP_MIN_WAIT if uv and not self._timerfd else 0.0
        self._tick_task = self._loop.create_task(self._ticker())

    async def stop(self) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        for name in list(self.devices):
            await self.remove_device(name)
        if self._timerfd is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._timerfd.fileno())
            self._timerfd.close()
            self._timerfd = None
        self.stopped.set()

    async def _ticker(self) -> None:
        last_dev_tick = 0.0
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            for cap in self.captures.values():
                cap.flush()
            now = self.clock()
            if now - last_dev_tick >= 1.0:
                last_dev_tick = now
                for dev in self.devices.values():
                    dev.tick(now)

    # -- scheduler (called by ports) ----------------------------------------------------------

    def wake(self, port: Port, at: float) -> None:
        cur = port.timer_at
        if cur is not None and cur <= at:
            return
        port.timer_at = at
        assert self._loop is not None and self.lead is not None
        if self._timerfd is not None:
            heapq.heappush(self._due, (at, next(self._seq), port))
            if self._armed is None or at < self._armed:
                self._armed = at
                self._timerfd.arm(at - self.lead)
            return
        h = self._handles.pop(port, None)
        if h is not None:
            h.cancel()
        # relative to our clock (loop.time() may be another, coarser one: uvloop)
        delay = at - self.lead - self.clock()
        if 0 < delay < self.min_wait:
            delay = self.min_wait
        self._handles[port] = self._loop.call_later(delay, self._pump, port)

    def _on_timerfd(self) -> None:
        """Pump every port due within the slack, then arm for the next due time. Heap entries
        a port no longer waits for (woken earlier since, pumped, removed) are skipped."""
        assert self._timerfd is not None
        self._timerfd.drain()
        self._armed = None
        due = self._due
        limit = self.clock() + self.slack
        while due and due[0][0] <= limit:
            at, _, port = heapq.heappop(due)
            if port.timer_at != at:
                continue
            port.timer_at = None
            nd = port.pump(limit)
            if nd is not None:
                self.wake(port, nd)
        while due and due[0][2].timer_at != due[0][0]:
            heapq.heappop(due)
        if due and (self._armed is None or due[0][0] < self._armed):
            self._armed = due[0][0]
            self._timerfd.arm(self._armed - (self.lead or 0.0))

    def _pump(self, port: Port) -> None:
        port.timer_at = None
        self._handles.pop(port, None)
        nd = port.pump(self.clock() + self.slack)
        if nd is not None:
            self.wake(port, nd)

    def output_ready(self, port: Port) -> None:
        self._dirty.append(port)
        if not self._flush_pending:
            self._flush_pending = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        dirty, self._dirty = self._dirty, []
        now = self.clock()
        for p in dirty:
            p.flush(now)

    # -- devices and ports --------------------------------------------------------------------

    def device(self, name: Any, field: str = "device") -> Device:
        dev = self.devices.get(name) if isinstance(name, str) else None
        if dev is None:
            raise RequestError(field, f"no device {name!r}")
        return dev

    def port(self, device: Any, port: Any) -> Port:
        dev = self.device(device)
        p = dev.ports.get(port) if isinstance(port, str) else None
        if p is None:
            raise RequestError("port", f"device {dev.name} has no port {port!r}")
        return p

    def add_device(self, name: Any, kind: Any, options: Any = None) -> dict[str, Any]:
        check_name(name, "name")
        if name in self.devices:
            raise RequestError("name", f"a device {name} already exists")
        if options is not None and not isinstance(options, dict):
            raise RequestError("options", "must be an object")
        dev = make_device(kind, name, options)
        self.devices[name] = dev
        log.info("device %s (%s) added", name, dev.kind)
        return self.describe_device(dev)

    async def remove_device(self, name: Any) -> None:
        dev = self.device(name, "name")
        for pname in list(dev.ports):
            await self.remove_port(dev.name, pname)
        del self.devices[dev.name]
        log.info("device %s removed", dev.name)

    async def add_port(self, device: Any, name: Any, transport: Any,
                       params: Any = None, vlan: Any = None) -> dict[str, Any]:
        """Validate everything first; then create, attach and start. On a bind failure the port
        is removed again: either the port exists and runs, or nothing changed."""
        dev = self.device(device)
        check_name(name, "port")
        if name in dev.ports:
            raise RequestError("port", f"device {dev.name} already has a port {name}")
        if dev.max_ports is not None and len(dev.ports) >= dev.max_ports:
            raise RequestError("port", f"a {dev.kind} has at most {dev.max_ports} ports")
        spec = TransportSpec.from_json(transport)
        pin, pout = _params_pair(params, LinkParams(), LinkParams())
        vcfg = VlanConfig.from_json(vlan)
        if vcfg is not None and not isinstance(dev, Switch):
            raise RequestError("vlan", "only switch ports have VLANs")
        port = Port(name, dev, self, pin, pout, vcfg)
        tr = make_transport(port, spec, self.clock)
        dev.attach(port)
        try:
            await tr.start()
        except TransportError as exc:
            dev.detach(port)
            raise RequestError("transport.address", str(exc)) from None
        self.transports[port] = tr
        port.info = tr.describe()
        log.info("port %s added (%s)", port.path, port.info)
        return self.describe_port(port)

    async def remove_port(self, device: Any, name: Any) -> None:
        port = self.port(device, name)
        tr = self.transports.pop(port, None)
        if tr is not None:
            await tr.stop()
        self.stop_capture(port.device.name, port.name, missing_ok=True)
        h = self._handles.pop(port, None)
        if h is not None:
            h.cancel()
        port.timer_at = None             # its timerfd heap entries are skipped from now on
        port.device.detach(port)
        port.sink = None
        log.info("port %s removed", port.path)

    def set_params(self, device: Any, port: Any, direction: Any,
                   params: Any) -> dict[str, Any]:
        """Atomic: every field is checked before anything changes."""
        p = self.port(device, port)
        if direction not in DIRECTIONS:
            raise RequestError("direction", "must be in, out or both")
        if not isinstance(params, dict):
            raise RequestError("params", "must be an object of parameters")
        new_in = p.ingress.params.updated(params, "params.") if direction != "out" else None
        new_out = p.egress.params.updated(params, "params.") if direction != "in" else None
        now = self.clock()
        if new_in is not None:
            p.set_params("in", new_in, now)
        if new_out is not None:
            p.set_params("out", new_out, now)
        return {"in": p.ingress.params.to_json(), "out": p.egress.params.to_json()}

    def set_vlan(self, device: Any, port: Any, vlan: Any) -> dict[str, Any]:
        p = self.port(device, port)
        cfg = VlanConfig.from_json(vlan)
        dev = p.device
        if not isinstance(dev, Switch):
            raise RequestError("device", "only switch ports have VLANs")
        p.vlan = cfg
        dev._update_mode()
        return self.describe_port(p)

    # -- captures -----------------------------------------------------------------------------

    def start_capture(self, device: Any, port: Any, file: Any) -> dict[str, object]:
        p = self.port(device, port)
        if not isinstance(file, str) or not file:
            raise RequestError("file", "must be a path")
        if p in self.captures:
            raise RequestError("port", f"port {p.path} is already being captured")
        cap = Capture(file)
        cap.open()
        self.captures[p] = cap
        p.capture = cap
        log.info("port %s: capture to %s started", p.path, file)
        return cap.stats()

    def stop_capture(self, device: Any, port: Any, missing_ok: bool = False) -> dict[str, object]:
        p = self.port(device, port)
        cap = self.captures.pop(p, None)
        if cap is None:
            if missing_ok:
                return {}
            raise RequestError("port", f"port {p.path} is not being captured")
        p.capture = None
        cap.close()
        log.info("port %s: capture stopped (%d frames)", p.path, cap.frames)
        return cap.stats()

    # -- reading ------------------------------------------------------------------------------

    def describe_port(self, p: Port) -> dict[str, Any]:
        tr = self.transports.get(p)
        return {"name": p.name, "transport": tr.describe() if tr else p.info,
                "params": {"in": p.ingress.params.to_json(), "out": p.egress.params.to_json()},
                "vlan": p.vlan.to_json() if p.vlan else None,
                "capture": self.captures[p].stats() if p in self.captures else None}

    def describe_device(self, dev: Device) -> dict[str, Any]:
        return {"name": dev.name, "type": dev.kind, "options": dev.options(),
                "ports": [self.describe_port(p) for p in dev.ports.values()]}

    def list(self) -> dict[str, Any]:
        return {"devices": [self.describe_device(d) for d in self.devices.values()]}

    def counters(self, device: Any = None, port: Any = None) -> dict[str, Any]:
        """Cumulative counters, with the monotonic time `t` they were read at (seconds)."""
        now = self.clock()
        devs = list(self.devices.values()) if device is None else [self.device(device)]
        out: dict[str, Any] = {}
        for d in devs:
            if port is not None:
                p = self.port(d.name, port)
                out[d.name] = {p.name: p.counters(now)}
            else:
                out[d.name] = {p.name: p.counters(now) for p in d.ports.values()}
        return {"t": now, "wall": time.time(), "devices": out}

    def mac_table(self, device: Any) -> dict[str, Any]:
        dev = self.device(device)
        if not isinstance(dev, Switch):
            raise RequestError("device", f"{dev.name} is a {dev.kind}, not a switch")
        now = self.clock()
        rows = []
        for key, p, age in dev.table.entries(now):
            vid, m = key if isinstance(key, tuple) else (None, key)
            rows.append({"mac": ":".join(f"{b:02x}" for b in m), "vlan": vid, "port": p.name,
                         "age": round(age, 3)})
        return {"entries": rows}


def _params_pair(v: Any, base_in: LinkParams,
                 base_out: LinkParams) -> tuple[LinkParams, LinkParams]:
    """``{"in": {...}, "out": {...}, "both": {...}}`` -> (in, out) parameters."""
    if v is None:
        return base_in, base_out
    if not isinstance(v, dict):
        raise RequestError("params", "must be an object with in, out and/or both")
    extra = sorted(set(v) - {"in", "out", "both"})
    if extra:
        raise RequestError(f"params.{extra[0]}", "must be in, out or both")
    both = v.get("both", {})
    pin = base_in.updated(both, "params.both.").updated(v.get("in", {}), "params.in.")
    pout = base_out.updated(both, "params.both.").updated(v.get("out", {}), "params.out.")
    return pin, pout
