"""The uplink's reconnect pauses are the ones its backoff draws (full jitter from the first
retry on), seen from a broker that drops every connection."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from presensi.device.config import UplinkSection
from presensi.device.uplink import Uplink
from presensi.protocol.backoff import Backoff
from presensi.protocol.keys import SigningKey
from tests.netfaults.dropper import Dropper


def test_the_station_waits_the_drawn_pauses_after_each_drop(tmp_path: Path) -> None:
    with Dropper() as broker:
        settings = UplinkSection(broker=broker.url, reconnect_min_s=0.1, reconnect_max_s=0.6)
        uplink = Uplink(settings, tmp_path / "journal.db", "st-001", SigningKey.generate())
        assert uplink._backoff.first_bound == pytest.approx(0.2)
        uplink._backoff = Backoff(0.1, 0.6, random.Random(11))
        expected = Backoff(0.1, 0.6, random.Random(11))
        pauses = [expected.next() for _ in range(6)]
        uplink.start()
        try:
            seen = broker.wait(7, 20)
        finally:
            uplink.stop()
    # each pause plus the uplink's loop tick (50 ms) and a connection's set-up
    for drawn, gap in zip(pauses, seen, strict=True):
        assert drawn - 0.02 <= gap <= drawn + 0.2, (pauses, seen)
