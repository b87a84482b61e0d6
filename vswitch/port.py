"""A device port: two shaped directions between a transport and a device.

::

    transport --receive()--> [ingress shaper] --device.forward()--> other ports' send()
    transport <--flush()---- [egress shaper]  <--send()-------------- device

Directions are named from the device's side of the wire: ``in`` is what the port receives from
its peer (a QEMU NIC, another vswitch), ``out`` is what it sends to the peer. A frame crossing a
device passes its source port's ``in`` shaper and then the destination port's ``out`` shaper.

The port is pure logic: time comes in as `now` arguments, and the two things it cannot do alone
are asked of an injected `Scheduler` (call `pump` at a time; call `flush` soon). While both
shapers are neutral (the default), frames skip them entirely and a whole read's batch of frames
goes through the device as one list: that is the fast path.

Lifecycle: created detached (no sink: frames to send are counted as ``down`` drops) -> a
transport attaches a sink when its peer connects and detaches it when the peer goes -> removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from vswitch.counters import DirCounters
from vswitch.params import LinkParams
from vswitch.shaper import Shaper

if TYPE_CHECKING:
    from vswitch.devices import Device
    from vswitch.switch_fabric import VlanConfig


class Scheduler(Protocol):
    def wake(self, port: Port, at: float) -> None:
        """Call ``port.pump`` at (or a little after) monotonic time `at`."""

    def output_ready(self, port: Port) -> None:
        """Call ``port.flush`` soon (once per event-loop iteration is enough)."""


class FrameSink(Protocol):
    def write_frames(self, frames: list[bytes]) -> bool:
        """Send a batch to the peer; False when the peer is not keeping up (batch dropped)."""


class FrameTap(Protocol):
    def add(self, frames: list[bytes]) -> None:
        """Record frames seen on the wire (a capture)."""


class Port:
    __slots__ = ("__weakref__", "capture", "cin", "cout", "device", "egress", "info", "ingress",
                 "name", "out", "sched", "sink", "timer_at", "vlan")

    def __init__(self, name: str, device: Device, sched: Scheduler,
                 in_params: LinkParams | None = None, out_params: LinkParams | None = None,
                 vlan: VlanConfig | None = None) -> None:
        self.name = name
        self.device = device
        self.sched = sched
        self.cin = DirCounters()
        self.cout = DirCounters()
        self.ingress = Shaper(in_params, self.cin)
        self.egress = Shaper(out_params, self.cout)
        self.out: list[bytes] = []
        self.sink: FrameSink | None = None
        self.capture: FrameTap | None = None
        self.vlan = vlan
        self.timer_at: float | None = None     # owned by the scheduler
        self.info: dict[str, Any] = {}         # transport description, for listings

    @property
    def path(self) -> str:
        return f"{self.device.name}/{self.name}"

    # -- data path ----------------------------------------------------------------------------

    def receive(self, frames: list[bytes], now: float) -> None:
        """Frames arrived from the peer (already checked to be 14..65535 bytes)."""
        c = self.cin
        n = len(frames)
        nb = sum(map(len, frames))
        c.offered_frames += n
        c.offered_bytes += nb
        c.last_change = now
        if self.capture is not None:
            self.capture.add(frames)
        sh = self.ingress
        if sh.passthrough:
            lim = sh.mtu_frame
            if lim is not None and max(map(len, frames)) > lim:
                frames = sh.filter_mtu(frames, now)
                if not frames:
                    return
                n = len(frames)
                nb = sum(map(len, frames))
            c.frames += n
            c.bytes += nb
            self.device.forward(self, frames, now)
        else:
            offer = sh.offer
            for f in frames:
                offer(f, now)
            self._arm()

    def send(self, frames: list[bytes], now: float) -> None:
        """Frames from the device, to go out to the peer."""
        c = self.cout
        c.offered_frames += len(frames)
        c.offered_bytes += sum(map(len, frames))
        c.last_change = now
        sh = self.egress
        if sh.passthrough:
            lim = sh.mtu_frame
            if lim is not None and max(map(len, frames)) > lim:
                frames = sh.filter_mtu(frames, now)
                if not frames:
                    return
            if not self.out:
                self.sched.output_ready(self)
            self.out.extend(frames)
        else:
            offer = sh.offer
            for f in frames:
                offer(f, now)
            self._arm()

    def pump(self, until: float) -> float | None:
        """Move every frame due by `until` onwards; returns the next due time, if any."""
        ing = self.ingress
        nd = ing.next_due()
        if nd is not None and nd <= until:
            c = self.cin
            entries = ing.pop_due_timed(until)
            c.frames += len(entries)
            c.bytes += sum(len(f) for _, f in entries)
            dev = self.device
            if dev.egress_passthrough(self):
                # nothing downstream looks at arrival times: one batch, one forward
                dev.forward(self, [f for _, f in entries], entries[-1][0])
            else:
                for due, f in entries:      # exact arrival time for each shaped egress
                    dev.forward(self, [f], due)
        eg = self.egress
        nd = eg.next_due()
        if nd is not None and nd <= until:
            was_empty = not self.out
            if eg.pop_due(until, self.out) and was_empty:
                self.sched.output_ready(self)
        return self.next_due()

    def next_due(self) -> float | None:
        a = self.ingress.next_due()
        b = self.egress.next_due()
        if a is None:
            return b
        return a if b is None or a < b else b

    def _arm(self) -> None:
        nd = self.next_due()
        if nd is not None:
            self.sched.wake(self, nd)

    def flush(self, now: float) -> None:
        """Hand the frames ready to go to the transport in one batch."""
        frames = self.out
        if not frames:
            return
        self.out = []
        c = self.cout
        c.last_change = now
        sink = self.sink
        if sink is None:
            c.drop_down += len(frames)
        elif sink.write_frames(frames):
            c.frames += len(frames)
            c.bytes += sum(map(len, frames))
            if self.capture is not None:
                self.capture.add(frames)
        else:
            c.drop_queue += len(frames)

    # -- control ------------------------------------------------------------------------------

    def set_params(self, direction: str, params: LinkParams, now: float) -> None:
        (self.ingress if direction == "in" else self.egress).set_params(params, now)
        self._arm()

    def counters(self, now: float) -> dict[str, Any]:
        qf, qb = self.ingress.backlog(now)
        res_in = self.cin.snapshot(qf, qb)
        qf, qb = self.egress.backlog(now)
        res_out = self.cout.snapshot(qf + len(self.out), qb + sum(map(len, self.out)))
        return {"in": res_in, "out": res_out}
