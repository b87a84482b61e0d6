"""The shaper on a fake clock (times passed in) and a scripted random source: exact results."""

from __future__ import annotations

import pytest

from vswitch.errors import ParamError
from vswitch.params import LinkParams
from vswitch.shaper import Shaper

MS = 1_000_000  # ns


def frame(n: int, fill: int = 0) -> bytes:
    return bytes([fill]) * n


def drain(s: Shaper, until: float) -> list[bytes]:
    out: list[bytes] = []
    s.pop_due(until, out)
    return out


def test_neutral_is_passthrough() -> None:
    s = Shaper()
    assert s.passthrough
    assert Shaper(LinkParams(mtu=1500)).passthrough      # MTU is checked on the fast path
    s.set_params(LinkParams(delay=1), 0.0)
    assert not s.passthrough


def test_serialisation_then_propagation() -> None:
    # 8000 bit/s: a 100-byte frame takes 0.1 s on the wire, then 0.5 s of propagation.
    s = Shaper(LinkParams(bandwidth=8000, delay=500 * MS))
    s.offer(frame(100), 0.0)
    s.offer(frame(100), 0.0)
    assert s.next_due() == pytest.approx(0.6)
    assert drain(s, 0.59) == []
    assert len(drain(s, 0.6)) == 1
    assert s.next_due() == pytest.approx(0.7)
    assert s.backlog(0.05) == (2, 200)
    assert s.backlog(0.15) == (1, 100)


def test_overhead_counts_for_rate_only() -> None:
    s = Shaper(LinkParams(bandwidth=8000, overhead=24))
    s.offer(frame(76), 1.0)
    assert s.next_due() == pytest.approx(1.1)


def test_tokens_committed_only_for_accepted_frames() -> None:
    # Queue of 2 frames: offering 5 at once keeps 2, and the 3 dropped cost no wire time.
    s = Shaper(LinkParams(bandwidth=8000, queue=2))
    for _ in range(5):
        s.offer(frame(100), 0.0)
    assert s.counters.drop_queue == 3
    s.offer(frame(100), 0.2)  # the backlog is empty again at 0.2 s
    out: list[tuple[float, bytes]] = s.pop_due_timed(10.0)
    assert [round(t, 6) for t, _ in out] == [0.1, 0.2, 0.3]


def test_queue_bytes_limit() -> None:
    s = Shaper(LinkParams(bandwidth=8000, queue_bytes=250))
    for _ in range(3):
        s.offer(frame(100), 0.0)
    assert s.counters.drop_queue == 1
    assert s.backlog(0.0) == (2, 200)


def test_mtu_on_payload_and_vlan_tag() -> None:
    s = Shaper(LinkParams(mtu=100))
    s.offer(frame(114), 0.0)
    s.offer(frame(115), 0.0)
    tagged = bytes(12) + b"\x81\x00" + bytes(104)   # 118 bytes, payload 100 after the tag
    s.offer(tagged, 0.0)
    assert s.counters.drop_mtu == 1
    assert len(drain(s, 0.0)) == 2


def test_down_drops_and_counts() -> None:
    s = Shaper(LinkParams(delay=10 * MS))
    s.offer(frame(60), 0.0)
    s.set_params(LinkParams(up=False), 0.001)
    assert s.counters.drop_down == 1          # lost on the wire
    s.offer(frame(60), 0.002)
    assert s.counters.drop_down == 2
    assert drain(s, 1.0) == []


def test_loss_uses_one_draw_per_frame(fake_rng) -> None:
    rng = fake_rng([0.05, 0.5, 0.09999])
    s = Shaper(LinkParams(loss=0.1), rng=rng)
    for _ in range(3):
        s.offer(frame(60), 0.0)
    assert s.counters.drop_loss == 2
    assert len(drain(s, 0.0)) == 1


def test_ber_drop_probability_of_any_bit_error(fake_rng) -> None:
    # 1 - (1 - 1e-3) ** 80 = 0.07686...
    rng = fake_rng([0.0768, 0.0770])
    s = Shaper(LinkParams(ber=1e-3), rng=rng)
    s.offer(frame(10), 0.0)
    s.offer(frame(10), 0.0)
    assert s.counters.drop_ber == 1
    assert len(drain(s, 0.0)) == 1


def test_ber_flip_mode_flips_geometrically_spaced_bits(fake_rng) -> None:
    # ber 0.5: skip = floor(ln(1-u)/ln(0.5)); u=0 -> 0 (bit 0), u=0.75 -> 2 (bit 3), u=.99 -> 6
    rng = fake_rng([0.0, 0.75, 0.99])
    s = Shaper(LinkParams(ber=0.5, ber_mode="flip"), rng=rng)
    s.offer(bytes(1), 0.0)
    assert drain(s, 0.0) == [bytes([0b1001_0000])]
    assert s.counters.corrupted == 1


def test_ber_mode_corrupt_is_flip(fake_rng) -> None:
    """The issue's name for the bit-flip mode is accepted and stored as flip; flip still works."""
    p = LinkParams().updated({"ber": 0.5, "ber_mode": "corrupt"})
    assert p.ber_mode == "flip" and p.to_json()["ber_mode"] == "flip"
    assert LinkParams().updated({"ber_mode": "flip"}).ber_mode == "flip"
    assert LinkParams(ber_mode="flip").updated({"ber_mode": "drop"}).ber_mode == "drop"
    s = Shaper(p, rng=fake_rng([0.0, 0.75, 0.99]))
    s.offer(bytes(1), 0.0)
    assert drain(s, 0.0) == [bytes([0b1001_0000])]      # delivered damaged, not dropped
    assert s.counters.corrupted == 1 and s.counters.drop_ber == 0


def test_corrupt_flips_exactly_one_bit(fake_rng) -> None:
    rng = fake_rng([0.1, 0.5])   # corrupt? yes; position 0.5 * 16 = bit 8
    s = Shaper(LinkParams(corrupt=0.2), rng=rng)
    s.offer(bytes(2), 0.0)
    assert drain(s, 0.0) == [b"\x00\x80"]


def test_duplicate_follows_original(fake_rng) -> None:
    rng = fake_rng([0.01, 0.9])
    s = Shaper(LinkParams(duplicate=0.5), rng=rng)
    s.offer(b"a" * 20, 0.0)
    s.offer(b"b" * 20, 0.0)
    assert drain(s, 0.0) == [b"a" * 20, b"a" * 20, b"b" * 20]
    assert s.counters.duplicated == 1


def test_jitter_without_reordering(fake_rng) -> None:
    # delay 10 ms +/- 4 ms: u = 2*r - 1
    rng = fake_rng([1.0, 0.0])   # +4 ms, then -4 ms (would overtake)
    s = Shaper(LinkParams(delay=10 * MS, jitter=4 * MS), rng=rng)
    s.offer(b"a" * 20, 0.0)
    s.offer(b"b" * 20, 0.001)
    out = s.pop_due_timed(1.0)
    assert [(round(t, 6), f[:1]) for t, f in out] == [(0.014, b"a"), (0.014, b"b")]


def test_jitter_with_reorder(fake_rng) -> None:
    rng = fake_rng([1.0, 0.0])
    s = Shaper(LinkParams(delay=10 * MS, jitter=4 * MS, reorder=True), rng=rng)
    s.offer(b"a" * 20, 0.0)
    s.offer(b"b" * 20, 0.001)
    out = s.pop_due_timed(1.0)
    assert [(round(t, 6), f[:1]) for t, f in out] == [(0.007, b"b"), (0.014, b"a")]


def test_jitter_never_before_serialisation_end(fake_rng) -> None:
    rng = fake_rng([0.0])
    s = Shaper(LinkParams(delay=1 * MS, jitter=5 * MS), rng=rng)
    s.offer(b"a" * 20, 2.0)
    assert s.next_due() == 2.0


def test_seed_makes_runs_reproducible() -> None:
    def run() -> list[bytes]:
        s = Shaper(LinkParams(loss=0.3, jitter=MS, delay=2 * MS, seed=42))
        for i in range(200):
            s.offer(bytes([i]) * 20, i * 1e-4)
        return drain(s, 10.0)
    a, b = run(), run()
    assert a == b and 100 < len(a) < 200


def test_set_params_retimes_backlog_exactly() -> None:
    # Two 100-byte frames at 8000 bit/s: finish at 0.1 and 0.2. At t=0.05 the rate doubles:
    # the remaining 0.05 s of bits take 0.025 s, the second frame 0.05 s more.
    s = Shaper(LinkParams(bandwidth=8000))
    s.offer(frame(100), 0.0)
    s.offer(frame(100), 0.0)
    s.set_params(LinkParams(bandwidth=16000), 0.05)
    assert [round(t, 6) for t, _ in s.pop_due_timed(1.0)] == [0.075, 0.125]
    s.offer(frame(100), 0.125)
    assert s.next_due() == pytest.approx(0.175)


def test_set_params_keeps_frames_on_the_wire_with_new_delay() -> None:
    s = Shaper(LinkParams(delay=100 * MS))
    s.offer(b"a" * 20, 0.0)
    s.offer(b"b" * 20, 0.05)
    s.set_params(LinkParams(delay=20 * MS), 0.06)
    # a was due at 0.1 -> 0.02 (already past: delivered at the change time); b -> 0.07
    assert [(round(t, 6), f[:1]) for t, f in s.pop_due_timed(1.0)] == [(0.06, b"a"),
                                                                        (0.07, b"b")]
    assert s.passthrough is False
    s.set_params(LinkParams(), 2.0)
    assert s.passthrough


def test_set_params_to_unlimited_releases_backlog_now() -> None:
    s = Shaper(LinkParams(bandwidth=8000))
    for _ in range(3):
        s.offer(frame(100), 0.0)
    s.set_params(LinkParams(), 0.15)   # the first frame, due at 0.1, is sent at the change
    assert [round(t, 6) for t, _ in s.pop_due_timed(1.0)] == [0.15, 0.15, 0.15]
    assert s.backlog(0.15) == (0, 0)


def test_params_validation_names_field() -> None:
    p = LinkParams()
    with pytest.raises(ParamError) as e:
        p.updated({"delay": -1}, "params.")
    assert e.value.field == "params.delay"
    with pytest.raises(ParamError) as e:
        p.updated({"loss": 1.5})
    assert e.value.field == "loss"
    with pytest.raises(ParamError) as e:
        p.updated({"bogus": 1})
    assert e.value.field == "bogus"
    with pytest.raises(ParamError):
        p.updated({"up": 1})
    with pytest.raises(ParamError):
        p.updated({"queue": True})
    with pytest.raises(ParamError) as e:
        p.updated({"ber_mode": "scramble"})
    assert e.value.field == "ber_mode"
    with pytest.raises(ParamError):
        p.updated({"ber_mode": 1})
    q = p.updated({"bandwidth": 0, "mtu": 1500, "delay": 5})
    assert q.bandwidth is None and q.mtu == 1500 and q.delay == 5
    assert not q.neutral
