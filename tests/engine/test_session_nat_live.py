"""A slirp NAT in a running session: the machine behind it is reached through a port forward."""

from __future__ import annotations

import socket
import time

import pytest

from engine.model import Interface, Node, NodeKind, Topology
from engine.session.session import Session

pytestmark = pytest.mark.qemu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_port_forward_reaches_the_machine_behind_the_nat(engine, tmp_path):
    port = free_port()
    t = Topology(name="natlab")
    t.add_node(Node("nat", NodeKind.SLIRP, [Interface("nat0")],
                    forwards=[f"tcp:{port}:h1:5555"]))
    t.add_node(Node("h1", NodeKind.HOST, [Interface("eth0")]))
    t.connect("h1", "nat")
    s = Session.create(t, base=tmp_path)
    try:
        engine.run(s.up())
        assert str(s.plans["h1"].addresses["eth0"]) == "10.0.2.15/24"
        r = engine.run(s.node("h1").run("ip route; ping -c 1 -W 3 10.0.2.2"))
        assert r.exitcode == 0 and "default via 10.0.2.2" in r.stdout.decode()
        engine.run(s.node("h1").run(
            "setsid sh -c 'echo hello-from-h1 | nc -l -N 5555' >/dev/null 2>&1 &"))
        got = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"hello" not in got:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=3) as c:
                    got = c.recv(100)
            except OSError:
                time.sleep(0.3)
        assert got.strip() == b"hello-from-h1"
    finally:
        engine.run(s.down())


def test_a_host_behind_a_router_reaches_outside_through_the_nat(engine, tmp_path):
    """h1 - r1 - nat: the router masquerades toward the NAT, so h1 reaches a server on this
    machine's loopback (the NAT's 10.0.2.2), as in the star example."""
    import socketserver
    import threading

    class Hello(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(b"hello-from-outside\n")

    server = socketserver.TCPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    t = Topology(name="behind")
    t.add_node(Node("nat", NodeKind.SLIRP, [Interface("nat0")]))
    t.add_node(Node("r1", NodeKind.ROUTER))
    t.add_node(Node("h1", NodeKind.HOST))
    t.connect("r1", "nat")
    t.connect("h1", "r1")
    s = Session.create(t, base=tmp_path)
    try:
        engine.run(s.up())
        assert s.plans["r1"].masquerade == ["eth0"]
        r = engine.run(s.node("h1").run(f"nc -w 5 10.0.2.2 {port} </dev/null"))
        assert r.stdout.strip() == b"hello-from-outside", r.stdout + r.stderr
    finally:
        engine.run(s.down())
        server.shutdown()
        server.server_close()
