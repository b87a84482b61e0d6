"""Links join an interface of one node to an interface of another.

Each end carries the parameters of the frames it *sends*, so a link is fully asymmetric
(an ADSL line is `a: {bandwidth: 1Mbit}` and `b: {bandwidth: 8Mbit}`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from engine.model.params import PERFECT, DirectionParams

End = Literal["a", "b"]


@dataclass(frozen=True)
class Endpoint:
    node: str
    iface: str
    params: DirectionParams = field(default=PERFECT)

    @property
    def label(self) -> str:
        return f"{self.node}.{self.iface}"


@dataclass(frozen=True)
class Link:
    name: str
    a: Endpoint
    b: Endpoint

    def end(self, which: End) -> Endpoint:
        return self.a if which == "a" else self.b

    def with_params(self, which: End | Literal["both"], params: DirectionParams) -> Link:
        a = replace(self.a, params=params) if which in ("a", "both") else self.a
        b = replace(self.b, params=params) if which in ("b", "both") else self.b
        return replace(self, a=a, b=b)

    def touches(self, node: str) -> bool:
        return node in (self.a.node, self.b.node)

    def other(self, node: str) -> Endpoint:
        return self.b if self.a.node == node else self.a
