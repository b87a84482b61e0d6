"""Socket addresses as written in control requests: ``unix:/path``, ``tcp:host:port``,
``udp:host:port`` (IPv6 hosts in brackets: ``tcp:[::1]:5000``). Port 0 asks the OS for a free
port; the reply to ``add_port`` then carries the actual one."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from vswitch.errors import RequestError


@dataclass(frozen=True, slots=True)
class Address:
    kind: str            # "unix", "tcp" or "udp"
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.kind}:{host}:{self.port}"

    @property
    def sockaddr(self) -> Any:
        return self.path if self.kind == "unix" else (self.host, self.port)

    @property
    def family(self) -> int:
        if self.kind == "unix":
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def with_sockname(self, name: Any) -> Address:
        """The same address with the port the OS actually bound."""
        if self.kind == "unix" or not isinstance(name, tuple):
            return self
        return Address(self.kind, self.host, int(name[1]))


def parse_address(v: Any, field: str, kinds: tuple[str, ...]) -> Address:
    if not isinstance(v, str) or ":" not in v:
        raise RequestError(field, f"must be a string like {kinds[0]}:..., got {v!r}")
    kind, rest = v.split(":", 1)
    if kind not in kinds:
        raise RequestError(field, f"address type must be one of {', '.join(kinds)}, got {kind!r}")
    if kind == "unix":
        if not rest or "\0" in rest or len(rest.encode()) > 107:
            raise RequestError(field, "unix socket path must be 1..107 bytes")
        return Address("unix", path=rest)
    if rest.startswith("["):
        host, sep, port_s = rest[1:].partition("]:")
    else:
        host, sep, port_s = rest.rpartition(":")
    if not sep or not host:
        raise RequestError(field, f"must be {kind}:host:port, got {v!r}")
    try:
        port = int(port_s)
    except ValueError:
        raise RequestError(field, f"port must be a number, got {port_s!r}") from None
    if not 0 <= port <= 65535:
        raise RequestError(field, f"port must be 0..65535, got {port}")
    return Address(kind, host, port)
