"""Reconnect pauses (presensi.protocol.backoff): full jitter from the first retry on."""

from __future__ import annotations

import random
import statistics

import pytest

from presensi.protocol.backoff import Backoff


def test_the_bound_doubles_from_twice_the_minimum_to_the_cap() -> None:
    backoff = Backoff(1.0, 20.0, random.Random(1))
    bounds = []
    for _ in range(8):
        bounds.append(backoff.bound)
        backoff.next()
    assert bounds == [2.0, 4.0, 8.0, 16.0, 20.0, 20.0, 20.0, 20.0]
    backoff.reset()
    assert backoff.bound == 2.0


def test_a_seeded_sequence_is_uniform_under_each_bound() -> None:
    rng = random.Random(42)
    expected = [rng.uniform(0, b) for b in (2.0, 4.0, 8.0, 16.0, 20.0, 20.0)]
    backoff = Backoff(1.0, 20.0, random.Random(42))
    assert [backoff.next() for _ in range(6)] == expected
    assert all(0 <= p <= b for p, b in zip(expected, (2, 4, 8, 16, 20, 20), strict=True))


def test_the_first_retry_of_a_fleet_is_spread_not_one_instant() -> None:
    """1,000 stations dropped at once by a broker restart: their first retries spread over
    [0, 2 * min] (the old rule gave every one of them exactly +1 s)."""
    rng = random.Random(7)
    firsts = [Backoff(1.0, 20.0, rng).next() for _ in range(1000)]
    assert min(firsts) < 0.05 and max(firsts) > 1.95
    assert statistics.pstdev(firsts) == pytest.approx(2 / 12**0.5, rel=0.1)  # uniform(0, 2)
    per_tenth = [sum(1 for f in firsts if i / 10 <= f < (i + 1) / 10) for i in range(20)]
    assert max(per_tenth) < 90  # about 50 in each tenth of a second, never all in one


def test_after_a_long_outage_every_pause_is_within_the_cap() -> None:
    backoff = Backoff(1.0, 20.0, random.Random(3))
    pauses = [backoff.next() for _ in range(500)]
    assert max(pauses) <= 20.0
    assert statistics.mean(pauses[10:]) == pytest.approx(10.0, rel=0.15)


def test_a_minimum_above_half_the_cap_starts_at_the_cap() -> None:
    assert Backoff(15.0, 20.0).first_bound == 20.0
    with pytest.raises(ValueError):
        Backoff(0, 1)
