"""Every unit nemu reads, its canonical form, and every documented refusal."""

import math

import pytest

from engine import units
from engine.errors import UnitError


@pytest.mark.parametrize(("text", "bps"), [
    ("10Mbit", 10_000_000), ("1.25Mbit/s", 1_250_000), ("100kbit", 100_000),
    ("100kbps", 100_000), ("100Kbit", 100_000), ("1Gbit", 10**9), ("2.5Gbit/s", 2_500_000_000),
    ("1Tbit", 10**12), ("500bit", 500), ("64b/s", 64), ("2MB/s", 16_000_000), ("1kBps", 8_000),
    ("10 Mbit", 10_000_000), (" 3Mbit ", 3_000_000), ("1e6bit", 1_000_000),
])
def test_bandwidth_parses(text, bps):
    assert units.parse_bandwidth(text) == bps


@pytest.mark.parametrize("text", ["unlimited", "none", None, "Unlimited"])
def test_bandwidth_unlimited(text):
    assert units.parse_bandwidth(text) is None


@pytest.mark.parametrize(("text", "why"), [
    ("10", "needs a unit"), ("-5Mbit", "must be >= 0"), ("10Mbitz", "unknown unit"),
    ("fast", "cannot read"), ("2Tbit", "1 Tbit/s"), ("0", "would carry nothing"),
    ("0.5bit", "would carry nothing"), ("1.0000001bit", "whole number"), (True, "expected"),
    ([1], "expected a quantity"), ("nan", "cannot read"), ("inf Mbit", "cannot read"),
])
def test_bandwidth_refuses(text, why):
    with pytest.raises(UnitError, match=why):
        units.parse_bandwidth(text, "bw")


@pytest.mark.parametrize("bps", [1, 500, 1500, 64_000, 1_250_000, 10**7, 10**9, 2_500_000_000,
                                 123_456_789, 10**12])
def test_bandwidth_round_trips(bps):
    assert units.parse_bandwidth(units.format_bandwidth(bps)) == bps


def test_bandwidth_canonical_text():
    assert units.format_bandwidth(10_000_000) == "10Mbit"
    assert units.format_bandwidth(1_250_000) == "1.25Mbit"
    assert units.format_bandwidth(None) == "unlimited"


@pytest.mark.parametrize(("text", "ns"), [
    ("20ms", 20_000_000), ("1.5s", 1_500_000_000), ("250us", 250_000), ("250µs", 250_000),
    ("250μs", 250_000),
    ("7ns", 7), ("0", 0), (0, 0), ("0ms", 0), ("2min", 120 * 10**9), ("0.1ms", 100_000),
])
def test_duration_parses(text, ns):
    assert units.parse_duration(text) == ns


@pytest.mark.parametrize(("text", "why"), [
    ("20", "needs a unit"), ("-5ms", "must be >= 0"), ("5 fortnights", "unknown unit"),
    ("2h", "unknown unit"), ("61min", "one-hour"), (20, "needs a unit"),
])
def test_duration_refuses(text, why):
    with pytest.raises(UnitError, match=why):
        units.parse_duration(text)


@pytest.mark.parametrize("ns", [0, 1, 999, 1000, 250_000, 20_000_000, 1_500_000_000, 123_457])
def test_duration_round_trips(ns):
    assert units.parse_duration(units.format_duration(ns)) == ns


@pytest.mark.parametrize(("text", "share"), [("0.1%", 0.001), ("100%", 1.0), ("0%", 0.0),
                                            (0, 0.0), ("12.5 %", 0.125)])
def test_percent_parses_as_a_share(text, share):
    assert units.parse_share(text) == share


@pytest.mark.parametrize("text", ["0.1%", "1%", "1.1%", "12.5%", "33.3%", "100%", "0.001%"])
def test_shares_read_back_as_written(text):
    assert units.format_share(units.parse_share(text)) == text


@pytest.mark.parametrize(("text", "why"), [("0.1", "needs a '%'"), ("101%", "between 0%"),
                                          ("-1%", "between 0%"), ("5ms", "unknown unit")])
def test_percent_refuses(text, why):
    with pytest.raises(UnitError, match=why):
        units.parse_share(text)


@pytest.mark.parametrize(("text", "p"), [("1e-6", 1e-6), (1e-6, 1e-6), ("0", 0.0),
                                        ("0.5", 0.5), ("1E-9", 1e-9)])
def test_probability_parses(text, p):
    assert units.parse_probability(text) == p


@pytest.mark.parametrize(("text", "why"), [("1e-6%", "takes no unit"), ("2", "between 0 and 1"),
                                          ("-1e-6", "between 0 and 1")])
def test_probability_refuses(text, why):
    with pytest.raises(UnitError, match=why):
        units.parse_probability(text)


def test_probability_round_trips():
    for p in (0.0, 1e-6, 3.3e-7, 0.5):
        assert units.parse_probability(units.format_probability(p)) == p


@pytest.mark.parametrize(("text", "n"), [("1500", 1500), (1500, 1500), ("64KiB", 65536),
                                        ("64kB", 64000), ("1MiB", 2**20), ("2MB", 2_000_000),
                                        ("10B", 10)])
def test_size_parses(text, n):
    assert units.parse_size(text) == n


@pytest.mark.parametrize(("text", "why"), [("1.5B", "whole number"), ("-1", "must be >= 0"),
                                          ("3 parsecs", "unknown unit")])
def test_size_refuses(text, why):
    with pytest.raises(UnitError, match=why):
        units.parse_size(text)


@pytest.mark.parametrize(("text", "mib"), [("128M", 128), ("128MiB", 128), ("1G", 1024),
                                          ("2GiB", 2048), (256, 256), ("96MB", 96)])
def test_memory_parses(text, mib):
    assert units.parse_memory(text) == mib


@pytest.mark.parametrize(("text", "why"), [("8M", "at least 16M"), ("1.5M", "whole number"),
                                          ("128K", "unknown unit"), ("2048G", "above 1 TiB")])
def test_memory_refuses(text, why):
    with pytest.raises(UnitError, match=why):
        units.parse_memory(text)


def test_memory_round_trips():
    for mib in (16, 96, 128, 1024, 1536, 4096):
        assert units.parse_memory(units.format_memory(mib)) == mib


def test_live_rate_display_adapts_units():
    assert units.format_rate(0) == "0 b/s"
    assert units.format_rate(950) == "950 b/s"
    assert units.format_rate(9_800_000) == "9.8 Mb/s"
    assert units.format_rate(123_456) == "123 kb/s"
    assert units.format_rate(2.5e9) == "2.5 Gb/s"
    assert not math.isnan(float(units.format_rate(1e12).split()[0]))


@pytest.mark.parametrize(("text", "n"), [
    ("2k", 2000), ("2K", 2000), ("2kB", 2000), ("2KB", 2000), ("2M", 2 * 10**6), ("2GB", 2 * 10**9),
    ("1TB", 10**12), ("64Ki", 65536), ("64ki", 65536), ("64kiB", 65536), ("64KiB", 65536),
    ("3MiB", 3 * 2**20), ("3Mi", 3 * 2**20), ("1GiB", 2**30), ("1TiB", 2**40), ("1.1kB", 1100),
    ("0.5KiB", 512), ("64 KiB", 65536), (0, 0),
])
def test_every_size_suffix_parses_in_either_case_of_k(text, n):
    assert units.parse_size(text) == n


@pytest.mark.parametrize(("text", "why"), [
    ("64kb", r"a size is in bytes.*did you mean 'kB'"),
    ("64Kb", r"did you mean 'kB'"),
    ("2Mb", r"did you mean 'MB'"),
    ("2mB", r"did you mean 'MB'"),
    ("2MIB", r"did you mean 'MiB'"),
    ("2mib", r"did you mean 'MiB'"),
    ("2KIB", r"did you mean 'KiB'"),
    ("2PB", r"unknown unit 'PB'.*KiB, MiB, GiB, TiB"),
    ("2iB", "unknown unit 'iB'"),
    ("1e308KiB", "above the 1 PiB limit"), ("2000TiB", "above the 1 PiB limit"),
])
def test_size_refuses_unknown_suffixes_clearly(text, why):
    with pytest.raises(UnitError, match=why):
        units.parse_size(text, "queue_bytes")


ODD_INPUTS = ["", " ", "\t", "1e999", "-1e999", "1e308", "1e-999", "nan", "NaN", "inf", "-0",
              "-0.0", "+0", "1..2", ".", "-", "e5", "1e", "0x10", "1_000", "٣", "１", "٣ms",
              "１Mbit", "1\u00a0ms", "μs", "1μs", "%", "1%%", "1 2", "--1", "1e999KiB",
              "1.7e308TiB", "1.7e308G", "1e308min", "1e308TB/s", "1.7e308%",
              10**400, -(10**400), 2**64, -1, -0.0, 1e308, -1e308, float("nan"), float("inf"),
              True, False, None, [], {}, b"1", object()]
PARSERS = [units.parse_bandwidth, units.parse_duration, units.parse_share,
           units.parse_probability, units.parse_size, units.parse_memory]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("text", ODD_INPUTS, ids=lambda v: repr(v)[:24])
def test_odd_input_is_a_unit_error_never_a_crash(parse, text):
    """Whatever a file holds, a parser answers with a value or a UnitError (no traceback)."""
    try:
        parse(text, "here")
    except UnitError as e:
        assert str(e).startswith("here: ")
