"""The ceremony bench, small: real stations, a real Mosquitto and the hub in its own process;
everyone counted once, the repeats at a second station not counted, the figures there."""

from __future__ import annotations

import pytest

from presensi.demo.event_bench import run

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


def test_the_ceremony_bench_counts_everyone_once() -> None:
    r = run(people=60, stations=2, seconds=3.0)
    assert r["delivered"] is True
    assert (r["counted"], r["expected"]) == (60, 60)
    assert r["repeats_not_counted"] == 6  # every tenth person scanned again elsewhere
    assert r["scans"] == 66
    delays = r["board_delay_ms"]
    assert 0 < delays["p50"] <= delays["p95"] <= delays["p99"] <= delays["max"]
    assert r["board_compute_ms"]["median"] > 0
