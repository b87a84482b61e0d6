"""The control socket through the client, every error path, and the real CLI process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from vswitch.client import SyncVSwitchClient, VSwitchClient
from vswitch.control import MAX_LINE, ControlServer
from vswitch.errors import RequestError
from vswitch.runtime import VSwitch


async def serve(sock_dir: str, token: str | None = None) -> tuple[VSwitch, ControlServer, str]:
    vs = VSwitch()
    await vs.start()
    ctl = ControlServer(vs, token)
    path = os.path.join(sock_dir, "ctl.sock")
    await ctl.listen_unix(path)
    return vs, ctl, "unix:" + path


async def raw_exchange(address: str, lines: list[bytes]) -> list[dict[str, Any]]:
    """Send raw lines, read one reply per line."""
    r, w = await asyncio.open_unix_connection(address.split(":", 1)[1], limit=1 << 22)
    out = []
    for line in lines:
        w.write(line)
        await w.drain()
        out.append(json.loads(await asyncio.wait_for(r.readline(), 5)))
    w.close()
    return out


def test_full_session_through_client(arun, tmp_sock_dir, peer_cls, eth) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        vs, ctl, addr = await serve(tmp_sock_dir)
        assert oct(os.stat(addr[5:]).st_mode & 0o777) == "0o600"
        c = await VSwitchClient.connect(addr)
        assert (await c.hello())["protocol"] == 1
        await c.add_device("l1", "link")
        ports = {}
        for n in "ab":
            res = await c.add_port("l1", n, {"type": "stream", "mode": "listen",
                                             "address": "tcp:127.0.0.1:0"},
                                   params={"both": {"queue": 50}, "out": {"mtu": 1500}})
            assert res["params"]["out"]["mtu"] == 1500 and res["params"]["in"]["queue"] == 50
            ports[n] = res["transport"]["address"]
        listing = await c.list()
        assert [p["name"] for p in listing["devices"][0]["ports"]] == ["a", "b"]
        # atomic: one bad field, nothing changes
        with pytest.raises(RequestError) as e:
            await c.set_params("l1", "a", "both", {"delay": 1000, "loss": 7})
        assert e.value.field == "params.loss"
        assert vs.devices["l1"].ports["a"].ingress.params.delay == 0
        res = await c.set_params("l1", "a", "in", {"delay": 2_000_000, "loss": 0.0})
        assert res["in"]["delay"] == 2_000_000 and res["out"]["delay"] == 0
        pa = await peer_cls.connect(ports["a"])
        pb = await peer_cls.connect(ports["b"])
        sub = await c.subscribe(20)
        await asyncio.sleep(0.1)
        await pa.send([eth(2, 1)] * 3)
        await pb.recv(3)
        while True:
            ev = await asyncio.wait_for(sub.get(), 5)
            if ev["devices"]["l1"]["b"]["out"]["frames"] == 3:
                break
        assert set(ev) == {"event", "subscription", "t", "wall", "devices"}
        cnt = (await c.counters("l1", "a"))["devices"]["l1"]["a"]["in"]
        assert cnt["frames"] == 3 and cnt["bytes"] == 180 and cnt["drops"]["loss"] == 0
        await sub.cancel()
        with pytest.raises(RequestError) as e:
            await c.call("unsubscribe", subscription=sub.id)
        assert e.value.field == "subscription"
        await c.remove_port("l1", "b")
        await c.remove_device("l1")
        assert (await c.list())["devices"] == []
        await c.close()
        await ctl.close()
        await vs.stop()
    arun(body)


def test_invalid_requests_name_the_field(arun, tmp_sock_dir) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        vs, ctl, addr = await serve(tmp_sock_dir)
        vs.add_device("s", "switch")
        replies = await raw_exchange(addr, [
            b"this is not json\n",
            b"[1, 2]\n",
            b'{"id": 3, "cmd": "fly"}\n',
            b'{"id": 4, "cmd": "list", "extra": 1}\n',
            b'{"id": 5, "cmd": "add_device", "name": "s", "type": "hub"}\n',
            b'{"id": 6, "cmd": "add_device", "name": "bad name!", "type": "hub"}\n',
            b'{"id": 7, "cmd": "add_port", "device": "s", "port": "p", "transport": '
            b'{"type": "stream", "mode": "listen", "address": "tcp:127.0.0.1:99999"}}\n',
            b'{"id": 8, "cmd": "add_port", "device": "nope", "port": "p"}\n',
            b'{"id": 9, "cmd": "set_params", "device": "s", "port": "p"}\n',
            b'{"id": 10, "cmd": "subscribe", "hz": 0}\n',
            b"x" * (MAX_LINE + 10) + b"\n",
            b'{"id": 12, "cmd": "add_port", "device": "s", "port": "p", "vlan": {"mode": "x"},'
            b' "transport": {"type": "dgram", "local": "udp:127.0.0.1:0"}}\n',
            b'{"id": 13, "cmd": "hello"}\n',
        ])
        fields = [r.get("error", {}).get("field") for r in replies]
        assert fields == ["", "", "cmd", "extra", "name", "name", "transport.address", "device",
                          "port", "hz", "", "vlan.mode", None]
        assert replies[-1]["ok"] and replies[2]["id"] == 3
        assert vs.devices["s"].ports == {}           # nothing changed
        await ctl.close()
        await vs.stop()
    arun(body)


def test_tcp_control_needs_the_token(arun, tmp_sock_dir, caplog) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        vs = VSwitch()
        await vs.start()
        ctl = ControlServer(vs, token="s3cret")
        a = await ctl.listen_tcp("127.0.0.1", 0)
        with pytest.raises(RequestError) as e:
            await VSwitchClient.connect(str(a), token="wrong")
        assert e.value.field == "token"
        assert sum("wrong token" in r.message for r in caplog.records) == 1
        r, w = await asyncio.open_connection(a.host, a.port)
        w.write(b'{"id": 1, "cmd": "list"}\n')
        reply = json.loads(await r.readline())
        assert reply["error"]["field"] == "cmd" and await r.read() == b""   # closed
        w.close()
        c = await VSwitchClient.connect(str(a), token="s3cret")
        assert (await c.list())["devices"] == []
        await c.close()
        await ctl.close()
        await vs.stop()
    arun(body)


def test_cli_process(tmp_sock_dir, peer_cls, eth, arun) -> None:  # type: ignore[no-untyped-def]
    ctl = os.path.join(tmp_sock_dir, "ctl")
    pa, pb = os.path.join(tmp_sock_dir, "a"), os.path.join(tmp_sock_dir, "b")
    tokfile = os.path.join(tmp_sock_dir, "token")
    with open(tokfile, "w") as f:
        f.write("tok\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vswitch", "--control", ctl, "--control-tcp", "127.0.0.1:0",
         "--token-file", tokfile, "--link", "l1", "listen:unix:" + pa, "listen:unix:" + pb,
         "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["ready"] and ready["pid"] == proc.pid

        async def traffic() -> None:
            a = await peer_cls.connect("unix:" + pa)
            b = await peer_cls.connect("unix:" + pb)
            await asyncio.sleep(0.05)
            await a.send([eth(2, 1)])
            assert await b.recv(1) == [eth(2, 1)]
            a.close()
            b.close()
        arun(traffic)
        with SyncVSwitchClient(ready["control_tcp"], token="tok") as c:
            cnt = c.call("counters")
            assert cnt["devices"]["l1"]["b"]["out"]["frames"] == 1
            with pytest.raises(RequestError):
                c.call("remove_device", name="zz")
            c.call("shutdown")
        assert proc.wait(10) == 0
        assert not os.path.exists(ctl) and not os.path.exists(pa)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_cli_help_and_bad_args() -> None:
    out = subprocess.run([sys.executable, "-m", "vswitch", "--help"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "--control" in out.stdout and "trunk-listen" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "vswitch", "--control", "/nonexistent/dir/x",
                          "--log-level", "error"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2


def test_bad_lines_are_logged_once(arun, tmp_sock_dir, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Bad JSON and unknown commands each get an error reply every time, but only one log line
    per kind, over every connection: a looping client cannot flood the log. The next line
    logged (here after the interval is lowered) counts the ones left out."""
    async def body() -> None:
        vs, ctl, addr = await serve(tmp_sock_dir)
        bad = [b"this is not json\n", b"[1, 2]\n", b'{"id": 3, "cmd": "fly"}\n',
               b'{"id": 4, "cmd": "' + b'x' * 5000 + b'"}\n']
        for _ in range(2):                              # two connections, each line twice
            replies = await raw_exchange(addr, bad * 2)
            assert [r["ok"] for r in replies] == [False] * 8
            assert [r["error"]["field"] for r in replies] == ["", "", "cmd", "cmd"] * 2
        msgs = [r.getMessage() for r in caplog.records if r.name == "vswitch"]
        assert sum("not JSON" in m or "not a JSON object" in m for m in msgs) == 1, msgs
        unknown = [m for m in msgs if "unknown command" in m]
        assert len(unknown) == 1 and "'fly'" in unknown[0], msgs
        monkeypatch.setattr("vswitch.control.BAD_REQUEST_LOG_EVERY", 0.0)
        await raw_exchange(addr, [b'{"cmd": "dance"}\n'])
        unknown = [r.getMessage() for r in caplog.records if "unknown command" in r.getMessage()]
        assert len(unknown) == 2 and "'dance'" in unknown[1]
        assert "7 more of these not logged" in unknown[1]
        assert all(len(m) < 300 for m in unknown)      # a huge command name is cut short
        await ctl.close()
        await vs.stop()
    arun(body)
