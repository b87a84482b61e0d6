from vswitch.delay_line import DelayLine


def test_ordered_releases_in_order_and_never_reorders() -> None:
    line = DelayLine()
    assert line.push(1.0, b"a") == 1.0
    assert line.push(0.5, b"b") == 1.0          # raised: no overtaking
    assert line.push(2.0, b"c") == 2.0
    out: list[bytes] = []
    assert line.pop_due(0.9, out) == 0
    assert line.next_due() == 1.0
    assert line.pop_due(1.0, out) == 2
    assert out == [b"a", b"b"]
    assert len(line) == 1
    assert line.pop_due_timed(5.0) == [(2.0, b"c")]
    assert line.next_due() is None


def test_unordered_sorts_by_due_then_arrival() -> None:
    line = DelayLine(ordered=False)
    line.push(2.0, b"a")
    line.push(1.0, b"b")
    line.push(1.0, b"c")
    out: list[bytes] = []
    line.pop_due(10.0, out)
    assert out == [b"b", b"c", b"a"]


def test_drain_returns_entries_in_delivery_order() -> None:
    for ordered in (True, False):
        line = DelayLine(ordered=ordered)
        line.push(3.0, b"x", 1.0, 0.5)
        line.push(4.0, b"y", 2.0, -0.5)
        assert line.queued_bytes() == 2
        assert line.drain() == [(3.0, 1.0, 0.5, b"x"), (4.0, 2.0, -0.5, b"y")]
        assert len(line) == 0
