"""A physical machine nodes can be placed on, reached over SSH ("local" is implicit)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import TopologyError
from engine.model.node import NAME_RE


@dataclass(frozen=True)
class Machine:
    """A physical machine nodes can be placed on, reached over SSH ("local" is implicit)."""

    name: str
    address: str
    user: str = ""
    port: int = 22
    key: str = ""          # path of a private key; empty = the SSH agent / default keys

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name) or self.name == "local":
            raise TopologyError(f"machine name {self.name!r} must be a plain name other than "
                                "'local'", "name")
        if not self.address:
            raise TopologyError("a machine needs an address", "address")
        if not 1 <= self.port <= 65535:
            raise TopologyError(f"port {self.port} must be between 1 and 65535", "port")
