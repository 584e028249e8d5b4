"""Several hub workers share the load through an MQTT shared subscription ($share/hub/...) and
one PostgreSQL database: every scan is still stored exactly once. Real Mosquitto, real
PostgreSQL (tests/conftest.py), real stations (tests/delivery/fleet.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from presensi.demo.mosquitto import Mosquitto
from tests.delivery.fleet import Fleet

FAST: dict[str, float] = {"batch_size": 50, "resend_s": 2}


@pytest.fixture
def fleet(tmp_path: Path, mosquitto: Mosquitto, postgres_url: str) -> Iterator[Fleet]:
    f = Fleet(tmp_path, mosquitto.url, store_url=postgres_url)
    yield f
    f.close()


def test_two_hub_workers_share_the_scans_exactly_once(fleet: Fleet) -> None:
    stations = fleet.add_stations(4, uplink=FAST)
    workers = [fleet.start_hub(client_id=f"hub-worker-{i}", share_group="hub") for i in range(2)]
    for s in stations:
        s.start()
    for _ in range(6):  # 4 stations x 300 scans, interleaved as a morning peak would be
        for s in stations:
            s.scan(50)
    assert fleet.wait_delivered(timeout=60)
    fleet.check_exactly_once()

    batches = [w.ingest.stats.batches for w in workers]
    assert all(n > 0 for n in batches), f"a worker ingested nothing: {batches}"
    # shared, not copied: each batch a station sent went to one worker only
    sent = 0
    for s in stations:
        assert s.station is not None and s.station.uplink is not None
        sent += s.station.uplink.state.batches_sent
    assert sum(batches) == sent, (batches, sent)
    inserted = sum(w.ingest.stats.records_inserted for w in workers)
    assert inserted == 4 * 300, inserted  # each record inserted by exactly one worker
    store = fleet.store()
    try:
        assert store.rejects() == []  # no conflicting duplicate, no chain break
    finally:
        store.close()
