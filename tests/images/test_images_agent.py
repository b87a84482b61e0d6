"""The guest agent client against a fake qemu-ga speaking the real wire protocol."""

import asyncio
import base64
import json
from pathlib import Path

import pytest

from engine.images.guest_agent import GuestAgent, GuestAgentError


class FakeQGA:
    """Enough of qemu-ga: sync-delimited (with junk before), exec, files, shutdown."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {"/etc/hostname": b"fake\n"}
        self.handles: dict[int, tuple[str, bytearray, int]] = {}
        self.polls = 0
        self.shutdown: str | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'{"return": "stale reply from an earlier client"}\n')
        while line := await reader.readline():
            msg = json.loads(line.lstrip(b"\xff"))
            cmd, args = msg["execute"], msg.get("arguments", {})
            if cmd == "guest-shutdown":
                self.shutdown = args.get("mode")
                continue
            reply = self.handle(cmd, args)
            prefix = b"\xff" if cmd == "guest-sync-delimited" else b""
            writer.write(prefix + json.dumps(reply).encode() + b"\n")
            await writer.drain()
        writer.close()

    def handle(self, cmd: str, args: dict) -> dict:
        if cmd == "guest-sync-delimited":
            return {"return": args["id"]}
        if cmd == "guest-ping":
            return {"return": {}}
        if cmd == "guest-exec":
            if args["path"] == "/nonexistent":
                return {"error": {"class": "GenericError", "desc": "Failed to execute child"}}
            return {"return": {"pid": 42}}
        if cmd == "guest-exec-status":
            self.polls += 1
            if self.polls < 3:
                return {"return": {"exited": False}}
            return {"return": {"exited": True, "exitcode": 3,
                               "out-data": base64.b64encode(b"out").decode(),
                               "err-data": base64.b64encode(b"err").decode()}}
        if cmd == "guest-file-open":
            h = len(self.handles) + 1
            data = bytearray() if args["mode"] == "w" else bytearray(self.files[args["path"]])
            self.handles[h] = (args["path"], data, 0)
            return {"return": h}
        if cmd == "guest-file-read":
            path, data, pos = self.handles[args["handle"]]
            piece = bytes(data[pos:pos + args["count"]])
            self.handles[args["handle"]] = (path, data, pos + len(piece))
            return {"return": {"count": len(piece), "buf-b64": base64.b64encode(piece).decode(),
                               "eof": pos + len(piece) >= len(data)}}
        if cmd == "guest-file-write":
            path, data, pos = self.handles[args["handle"]]
            data += base64.b64decode(args["buf-b64"])
            return {"return": {"count": 0, "eof": False}}
        if cmd in ("guest-file-flush", "guest-file-close"):
            if cmd == "guest-file-close":
                path, data, _ = self.handles.pop(args["handle"])
                self.files[path] = bytes(data)
            return {"return": {}}
        return {"error": {"class": "CommandNotFound", "desc": f"{cmd} not found"}}


def test_agent_client_round_trip(tmp_path: Path):
    async def main() -> None:
        fake = FakeQGA()
        sock = tmp_path / "qga.sock"
        server = await asyncio.start_unix_server(fake.serve, path=str(sock))
        agent = GuestAgent(sock, "n1")
        async with server:
            await agent.connect(timeout=5)
            await agent.ping()
            res = await agent.exec("exit 3")
            assert (res.exitcode, res.stdout, res.stderr, res.ok) == (3, b"out", b"err", False)
            fake.polls = 0
            with pytest.raises(GuestAgentError, match="status 3: err"):
                await agent.exec(["/bin/false"], check=True)
            with pytest.raises(GuestAgentError, match="Failed to execute"):
                await agent.exec(["/nonexistent"])
            assert await agent.read_file("/etc/hostname") == b"fake\n"
            big = bytes(range(256)) * 500
            await agent.write_file("/tmp/big", big, chunk=10000)
            assert fake.files["/tmp/big"] == big
            assert await agent.read_file("/tmp/big", chunk=7000) == big
            with pytest.raises(GuestAgentError, match="not found"):
                await agent.call("guest-nope")
            await agent.shutdown("reboot")
            assert not agent.connected
            await asyncio.sleep(0.05)
            assert fake.shutdown == "reboot"
    asyncio.run(main())


def test_connect_gives_up_with_a_clear_error(tmp_path: Path):
    agent = GuestAgent(tmp_path / "absent.sock", "n9")
    with pytest.raises(GuestAgentError, match=r"n9: guest agent .* did not answer"):
        asyncio.run(agent.connect(timeout=0.3))


def test_a_connection_that_stays_silent_is_reopened(tmp_path: Path, monkeypatch):
    """At boot the first connection may never be answered; a fresh one is."""
    import engine.images.guest_agent as ga
    monkeypatch.setattr(ga, "REOPEN_AFTER", 0.4)
    fake = FakeQGA()
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:                 # swallow everything, answer nothing
            while await reader.read(4096):
                pass
            writer.close()
            return
        await fake.serve(reader, writer)

    async def main() -> float:
        server = await asyncio.start_unix_server(serve, str(tmp_path / "qga.sock"))
        async with server:
            agent = GuestAgent(tmp_path / "qga.sock", "n1")
            took = await agent.connect(timeout=10, attempt=0.1)
            await agent.close()
            return took
    took = asyncio.run(main())
    assert connections == 2 and 0.4 <= took < 5
