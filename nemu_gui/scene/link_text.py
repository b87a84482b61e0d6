"""The words a link label shows: a short summary of its parameters, or its live rates."""

from __future__ import annotations

from engine import units
from engine.model import DirectionParams, Link


def params_summary(p: DirectionParams) -> str:
    """'10Mbit 10ms', '1Mbit 0.1% loss', '' for a perfect wire; 'down' when the link is down."""
    parts: list[str] = []
    if not p.up:
        return "down"
    if p.bandwidth is not None:
        parts.append(units.format_bandwidth(p.bandwidth))
    if p.delay:
        d = units.format_duration(p.delay)
        if p.jitter:
            d += f"±{units.format_duration(p.jitter)}"
        parts.append(d)
    if p.loss:
        parts.append(f"{units.format_share(p.loss)} loss")
    if p.ber:
        parts.append(f"BER {units.format_probability(p.ber)}")
    return " ".join(parts)


def link_summary(link: Link, a_is_left: bool = True) -> str:
    """One line for both directions; asymmetric links show 'left→right ▶ ◀ right→left'."""
    a, b = params_summary(link.a.params), params_summary(link.b.params)
    if a == b:
        return a
    left, right = (a, b) if a_is_left else (b, a)
    return f"{left or 'perfect'} ▶ ◀ {right or 'perfect'}"


def rates_text(tx_bps: float, rx_bps: float, a_is_left: bool = True) -> str:
    """Live rates: what flows rightwards, then what flows leftwards (the ui.md label)."""
    right, left = (tx_bps, rx_bps) if a_is_left else (rx_bps, tx_bps)
    return f"{units.format_rate(right)} ▶ ◀ {units.format_rate(left)}"


def link_tooltip(link: Link) -> str:
    rows = [f"<b>{link.name}</b>: {link.a.label} — {link.b.label}"]
    for end, other in ((link.a, link.b), (link.b, link.a)):
        text = end.params.to_text()
        detail = ", ".join(f"{k} {v}" for k, v in text.items()) or "perfect wire"
        rows.append(f"{end.node} → {other.node}: {detail}")
    return "<br>".join(rows)
