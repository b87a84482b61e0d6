"""vswitch benchmarks: frame blast, shaping accuracy, delay accuracy, memory per link.

Run: ``.venv/bin/python benchmarks/vswitch_bench.py`` (about 3 minutes; ``--quick`` for ~1).
Prints markdown tables. Every peer is measured in the same run, on the same machine:

* ``nemu link`` / ``nemu switch``: the real ``nemu-vswitch`` process (``python -m vswitch``),
  unix stream ports (QEMU's ``-netdev stream`` framing);
* ``naive relay``: an asyncio relay writing one frame per ``write`` call (the design the
  measurements in notes/measurements.md warn about), started from this file;
* ``vde_switch``: Debian vde2's switch, fed through two ``vde_plug`` processes (stdin/stdout,
  2-byte length framing), which is how it is reached without QEMU.

The load generator is this process: a sender thread writes pre-built buffers as fast as the
path accepts them, a receiver thread counts bytes. Frame rates are medians of `--repeats` runs.
Only loopback / unix sockets are used; every process started is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vswitch.client import SyncVSwitchClient  # noqa: E402

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
MAC_C = bytes.fromhex("020000000003")


def frame(size: int, dst: bytes = MAC_B, src: bytes = MAC_A, fill: bytes = b"\x00") -> bytes:
    return dst + src + b"\x08\x00" + fill * (size - 14)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# -- processes under test ---------------------------------------------------------------------

class Procs:
    """Every process this benchmark starts, stopped by PID on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(argv, **kw)  # type: ignore[call-overload]
        self.procs.append(p)
        return p

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()


def wait_path(path: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear")
        time.sleep(0.01)


def unix_connect(path: str) -> socket.socket:
    wait_path(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(200):
        try:
            s.connect(path)
            return s
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"cannot connect {path}")


@dataclass
class Path2:
    """A running path under test: write frames into `send`, read them from `recv`."""

    send: Callable[[bytes], None]
    recv_into: Callable[[bytearray], int]
    hdr: int                         # framing bytes per frame
    pid: int
    close: Callable[[], None]


@contextmanager
def nemu_path(tmp: str, kind: str, procs: Procs, capture: str | None = None,
              loop: str = "auto") -> Iterator[tuple[Path2, str]]:
    ctl = os.path.join(tmp, f"{kind}.ctl")
    socks = [os.path.join(tmp, f"{kind}{i}") for i in range(3 if kind == "switch" else 2)]
    argv = [sys.executable, "-m", "vswitch", "--control", ctl, "--log-level", "error",
            "--event-loop", loop, f"--{kind}", kind, *("listen:unix:" + s for s in socks)]
    p = procs.start(argv, stdout=subprocess.PIPE, cwd=str(ROOT))
    assert p.stdout is not None
    json.loads(p.stdout.readline())
    conns = [unix_connect(s) for s in socks]
    if kind == "switch":   # let the switch learn B and C, so A's frames are unicast to B
        for c, m in ((conns[1], MAC_B), (conns[2], MAC_C)):
            f = frame(60, b"\xff" * 6, m)
            c.sendall(struct.pack(">I", len(f)) + f)
        time.sleep(0.2)
        drain(conns[0])
    if capture is not None:
        with SyncVSwitchClient("unix:" + ctl) as client:
            client.call("capture_start", device=kind, port="a", file=capture)
    try:
        yield Path2(conns[0].sendall, conns[1].recv_into, 4, p.pid, lambda: None), ctl
    finally:
        for c in conns:
            c.close()
        p.terminate()
        p.wait(10)


def drain(s: socket.socket) -> None:
    s.setblocking(False)
    try:
        while s.recv(1 << 16):
            pass
    except BlockingIOError:
        pass
    s.setblocking(True)


@contextmanager
def naive_path(tmp: str, procs: Procs) -> Iterator[Path2]:
    a, b = os.path.join(tmp, "na"), os.path.join(tmp, "nb")
    p = procs.start([sys.executable, __file__, "--naive-relay", a, b])
    ca, cb = unix_connect(a), unix_connect(b)
    time.sleep(0.1)
    try:
        yield Path2(ca.sendall, cb.recv_into, 4, p.pid, lambda: None)
    finally:
        ca.close()
        cb.close()
        p.terminate()
        p.wait(10)


@contextmanager
def vde_path(tmp: str, procs: Procs) -> Iterator[Path2]:
    d = os.path.join(tmp, "vde")
    sw = procs.start(["vde_switch", "-s", d], stdin=subprocess.PIPE,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_path(os.path.join(d, "ctl"))
    pa = procs.start(["vde_plug", d], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    pb = procs.start(["vde_plug", d], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL)
    assert pa.stdin is not None and pb.stdout is not None and pb.stdin is not None
    # B announces itself so the switch learns it
    f = frame(60, b"\xff" * 6, MAC_B)
    pb.stdin.write(struct.pack(">H", len(f)) + f)
    pb.stdin.flush()
    time.sleep(0.3)
    wfd, rfd = pa.stdin.fileno(), pb.stdout.fileno()

    def send(buf: bytes) -> None:
        mv = memoryview(buf)
        while mv:
            mv = mv[os.write(wfd, mv):]

    try:
        yield Path2(send, lambda b: os.readv(rfd, [b]), 2, sw.pid, lambda: None)
    finally:
        for p in (pa, pb, sw):
            p.terminate()
            p.wait(10)


# -- measurements -----------------------------------------------------------------------------

def blast(path: Path2, size: int, duration: float, warmup: float = 0.4) -> float:
    """Frames/s delivered while the sender saturates the path."""
    f = frame(size)
    rec = (struct.pack(">I", size) if path.hdr == 4 else struct.pack(">H", size)) + f
    buf = rec * max(1, (1 << 18) // len(rec))
    stop = threading.Event()
    counts: list[tuple[float, int]] = []

    def sender() -> None:
        try:
            while not stop.is_set():
                path.send(buf)
        except OSError:
            pass

    def receiver() -> None:
        total = 0
        rb = bytearray(1 << 20)
        t_end = time.monotonic() + warmup + duration + 0.2
        while time.monotonic() < t_end:
            n = path.recv_into(rb)
            if n <= 0:
                break
            total += n
            counts.append((time.monotonic(), total))

    ts = threading.Thread(target=sender, daemon=True)
    tr = threading.Thread(target=receiver, daemon=True)
    t0 = time.monotonic()
    tr.start()
    ts.start()
    tr.join()
    stop.set()
    a = next(((t, n) for t, n in counts if t >= t0 + warmup), None)
    b = next(((t, n) for t, n in reversed(counts) if t <= t0 + warmup + duration), None)
    if a is None or b is None or b[0] <= a[0]:
        return 0.0
    return (b[1] - a[1]) / len(rec) / (b[0] - a[0])


def paced_rate(path: Path2, size: int, rate_bps: float, duration: float,
               windows: int = 3) -> list[float]:
    """Send at 1.2x `rate_bps` for `duration`; return the received bit rate of each window."""
    f = frame(size)
    rec = struct.pack(">I", size) + f
    per_s = rate_bps * 1.2 / 8 / size
    stop = threading.Event()
    stamps: list[tuple[float, int]] = []

    def sender() -> None:
        start = time.monotonic()
        sent = 0
        while not stop.is_set():
            due = int((time.monotonic() - start) * per_s) + 1 - sent
            if due > 0:
                try:
                    path.send(rec * due)
                except OSError:
                    return
                sent += due
            time.sleep(0.001)

    def receiver() -> None:
        total = 0
        rb = bytearray(1 << 20)
        t_end = time.monotonic() + duration
        while time.monotonic() < t_end:
            n = path.recv_into(rb)
            if n <= 0:
                break
            total += n
            stamps.append((time.monotonic(), total))

    ts = threading.Thread(target=sender, daemon=True)
    tr = threading.Thread(target=receiver, daemon=True)
    tr.start()
    ts.start()
    tr.join()
    stop.set()
    ts.join()
    if not stamps:
        return [0.0]
    t_first = stamps[0][0] + 0.5
    span = (stamps[-1][0] - t_first) / windows
    res = []
    for w in range(windows):
        lo, hi = t_first + w * span, t_first + (w + 1) * span
        pts = [(t, n) for t, n in stamps if lo <= t <= hi]
        if len(pts) < 2:
            continue
        res.append((pts[-1][1] - pts[0][1]) / len(rec) * size * 8 / (pts[-1][0] - pts[0][0]))
    return res


def delay_errors(path: Path2, delay_s: float, duration: float,
                 interval: float = 0.002) -> list[float]:
    """One-way latency minus the configured delay, for frames sent every `interval`."""
    errs: list[float] = []
    stop = threading.Event()

    def sender() -> None:
        while not stop.is_set():
            f = frame(60, fill=b"\x00")
            f = f[:14] + struct.pack(">q", time.monotonic_ns()) + f[22:]
            try:
                path.send(struct.pack(">I", len(f)) + f)
            except OSError:
                return
            time.sleep(interval)

    def receiver() -> None:
        buf = b""
        rb = bytearray(1 << 16)
        t_end = time.monotonic() + duration + delay_s
        while time.monotonic() < t_end:
            n = path.recv_into(rb)
            if n <= 0:
                break
            now = time.monotonic_ns()
            buf += bytes(rb[:n])
            while len(buf) >= 64:
                (sent,) = struct.unpack_from(">q", buf, 18)
                errs.append((now - sent) / 1e9 - delay_s)
                buf = buf[64:]

    ts = threading.Thread(target=sender, daemon=True)
    tr = threading.Thread(target=receiver, daemon=True)
    tr.start()
    ts.start()
    tr.join()
    stop.set()
    ts.join()
    return errs[10:]   # skip the first frames (connection warm-up)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


# -- the naive per-frame relay (a peer) -------------------------------------------------------

def run_naive_relay(a: str, b: str) -> None:
    async def main() -> None:
        peers: dict[str, asyncio.Transport] = {}

        class P(asyncio.Protocol):
            def __init__(self, me: str, other: str) -> None:
                self.me, self.other, self.buf = me, other, b""

            def connection_made(self, t: asyncio.BaseTransport) -> None:
                peers[self.me] = t  # type: ignore[assignment]

            def data_received(self, data: bytes) -> None:
                buf = self.buf + data
                i = 0
                out = peers.get(self.other)
                while len(buf) - i >= 4:
                    (n,) = struct.unpack_from(">I", buf, i)
                    if len(buf) - i - 4 < n:
                        break
                    if out is not None:
                        out.write(buf[i:i + 4 + n])       # one write per frame
                    i += 4 + n
                self.buf = buf[i:]

        loop = asyncio.get_running_loop()
        await loop.create_unix_server(lambda: P("a", "b"), a)
        await loop.create_unix_server(lambda: P("b", "a"), b)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- main -------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs (about 1 minute)")
    ap.add_argument("--only", choices=["blast", "shaping", "delay", "memory"], action="append")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-relay", nargs=2, metavar=("A", "B"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.naive_relay:
        run_naive_relay(*args.naive_relay)
        return
    only = set(args.only or ["blast", "shaping", "delay", "memory"])
    dur = 1.0 if args.quick else 2.0
    reps = 1 if args.quick else args.repeats
    procs = Procs()
    print(f"# vswitch benchmark ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"Python {sys.version.split()[0]})\n")
    try:
        with tempfile.TemporaryDirectory(prefix="vsb-") as tmp:
            if "blast" in only:
                bench_blast(tmp, procs, dur, reps)
            if "shaping" in only:
                bench_shaping(tmp, procs, 2.0 if args.quick else 4.0)
            if "delay" in only:
                bench_delay(tmp, procs, 1.5 if args.quick else 3.0)
            if "memory" in only:
                bench_memory(tmp, procs, 50 if args.quick else 200)
    finally:
        procs.stop_all()


def bench_blast(tmp: str, procs: Procs, dur: float, reps: int) -> None:
    print("## Frame blast (unshaped, one hop; frames/s delivered, median of "
          f"{reps} x {dur:g} s)\n")
    targets: list[tuple[str, Callable[[], object]]] = [
        ("nemu link", lambda: nemu_path(tmp, "link", procs)),
        ("nemu switch", lambda: nemu_path(tmp, "switch", procs)),
        ("nemu link + capture", lambda: nemu_path(tmp, "link", procs, capture="/dev/null")),
        ("nemu link, asyncio loop", lambda: nemu_path(tmp, "link", procs, loop="asyncio")),
        ("naive relay", lambda: naive_path(tmp, procs)),
        ("vde_switch", lambda: vde_path(tmp, procs)),
    ]
    sizes = (64, 512, 1500)
    res: dict[tuple[str, int], float] = {}
    for name, make in targets:
        for size in sizes:
            runs = []
            for _ in range(reps):
                with make() as ctx:  # type: ignore[attr-defined]
                    path = ctx[0] if isinstance(ctx, tuple) else ctx
                    runs.append(blast(path, size, dur))
            res[name, size] = statistics.median(runs)
    print("(`+ capture`: port a captured to /dev/null, i.e. the vswitch's whole cost of "
          "capturing without the disk's; `asyncio loop`: `--event-loop asyncio`, the others "
          "run on uvloop when it is installed)\n")
    print("| path | size B | frames/s | Mbit/s | vs naive relay | vs vde_switch |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, _ in targets:
        for size in sizes:
            fps = res[name, size]
            naive = res["naive relay", size]
            vde = res["vde_switch", size]
            print(f"| {name} | {size} | {fps:,.0f} | {fps * size * 8 / 1e6:,.0f} | "
                  f"{fps / naive if naive else 0:.2f}x | {fps / vde if vde else 0:.2f}x |")
    print()
    ratios = ", ".join(f"{size} B {res['nemu link + capture', size] / res['nemu link', size]:.2f}"
                       for size in sizes if res["nemu link", size])
    print(f"Capture keeps this share of the link's frame rate: {ratios} (target >= 0.90)\n")


def bench_shaping(tmp: str, procs: Procs, dur: float) -> None:
    print(f"## Shaping accuracy (1500 B frames offered at 1.2x the rate, {dur:g} s, "
          "3 windows)\n")
    print("| configured | achieved (median window) | achieved / configured | worst window "
          "| vswitch CPU |")
    print("|---:|---:|---:|---:|---:|")
    pcap = os.path.join(tmp, "shaped.pcap")
    achieved: dict[tuple[int, bool], float] = {}
    for mbit, captured in ((1, False), (10, False), (100, False), (1000, False),
                           (100, True), (1000, True)):
        with nemu_path(tmp, "link", procs, capture=pcap if captured else None) as (path, ctl):
            with SyncVSwitchClient("unix:" + ctl) as c:
                c.call("set_params", device="link", port="a", direction="in",
                       params={"bandwidth": mbit * 10**6})
            c0, t0 = cpu_seconds(path.pid), time.monotonic()
            wins = paced_rate(path, 1500, mbit * 1e6, dur + (2.0 if mbit == 1 else 0.0))
            cpu = (cpu_seconds(path.pid) - c0) / (time.monotonic() - t0)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pcap)
        med = statistics.median(wins)
        achieved[mbit, captured] = med
        worst = max(wins, key=lambda w: abs(w / (mbit * 1e6) - 1))
        label = f"{mbit} Mbit/s" + (" + capture to a file" if captured else "")
        print(f"| {label} | {med / 1e6:.3f} Mbit/s | {med / (mbit * 1e6):.4f} | "
              f"{worst / (mbit * 1e6):.4f} | {cpu:.0%} |")
    shares = ", ".join(f"{m} Mbit/s {achieved[m, True] / achieved[m, False]:.3f}"
                       for m in (100, 1000))
    print(f"\nCapture to a pcap file keeps this share of a shaped link's rate: {shares} "
          "(target >= 0.90)\n")


def bench_delay(tmp: str, procs: Procs, dur: float) -> None:
    print(f"## Delay accuracy (60 B frames every 2 ms for {dur:g} s; error = one-way latency "
          "- configured delay, includes the socket hops)\n")
    print("| configured | frames | median error | p99 error | max error "
          "| median error - baseline |")
    print("|---:|---:|---:|---:|---:|---:|")
    baseline = 0.0
    for ms in (0, 1, 10, 100, 500):
        with nemu_path(tmp, "link", procs) as (path, ctl):
            if ms:
                with SyncVSwitchClient("unix:" + ctl) as c:
                    c.call("set_params", device="link", port="a", direction="in",
                           params={"delay": ms * 1_000_000})
            errs = delay_errors(path, ms / 1000, dur)
        label = f"{ms} ms" if ms else "0 (baseline)"
        med = statistics.median(errs)
        baseline = baseline if ms else med
        print(f"| {label} | {len(errs)} | {med * 1e3:+.3f} ms | "
              f"{pct(errs, 0.99) * 1e3:+.3f} ms | {max(errs) * 1e3:+.3f} ms | "
              f"{(med - baseline) * 1e3:+.3f} ms |")
    print("\nThe last column is the emulated delay's own error: the socket hops every frame "
          "takes anyway (the baseline) taken out.\n")


def bench_memory(tmp: str, procs: Procs, n: int) -> None:
    print(f"## Memory (RSS of the vswitch process, {n} extra links)\n")
    ctl = os.path.join(tmp, "mem.ctl")
    p = procs.start([sys.executable, "-m", "vswitch", "--control", ctl, "--log-level",
                     "error"], stdout=subprocess.PIPE, cwd=str(ROOT))
    assert p.stdout is not None
    json.loads(p.stdout.readline())
    conns: list[socket.socket] = []
    try:
        with SyncVSwitchClient("unix:" + ctl) as c:
            c.call("add_device", name="warm", type="link")
            base = rss_kib(p.pid)
            for i in range(n):
                c.call("add_device", name=f"l{i}", type="link")
                for side in "ab":
                    c.call("add_port", device=f"l{i}", port=side,
                           transport={"type": "stream", "mode": "listen",
                                      "address": f"unix:{tmp}/m{i}{side}"})
            idle = rss_kib(p.pid)
            f = frame(1500)
            rec = struct.pack(">I", len(f)) + f
            for i in range(n):
                a = unix_connect(f"{tmp}/m{i}a")
                b = unix_connect(f"{tmp}/m{i}b")
                conns += [a, b]
                a.sendall(rec * 10)
            time.sleep(0.5)
            for s in conns[1::2]:
                drain(s)
            used = rss_kib(p.pid)
            c.call("set_params", device="l0", port="a", direction="in",
                   params={"delay": 1000})
    finally:
        for s in conns:
            s.close()
        p.terminate()
        p.wait(10)
    print("| state | RSS total | per extra link |")
    print("|---|---:|---:|")
    print(f"| 1 link | {base / 1024:.1f} MiB | |")
    print(f"| +{n} links, listening | {idle / 1024:.1f} MiB | "
          f"{(idle - base) / n:.1f} KiB |")
    print(f"| +{n} links, both peers connected, traffic passed | {used / 1024:.1f} MiB | "
          f"{(used - base) / n:.1f} KiB |")
    print()


if __name__ == "__main__":
    main()
