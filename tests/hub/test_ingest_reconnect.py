"""The hub's reconnects to the broker: full jitter (its own draws, not paho's fixed doubling)
and a cap low enough that it is back within 10 s of a broker's return."""

from __future__ import annotations

import random
from pathlib import Path

from presensi.hub import ingest as ingest_module
from presensi.hub.ingest import Ingest
from presensi.hub.store import open_store
from presensi.protocol.backoff import Backoff
from tests.netfaults.dropper import Dropper


def test_the_hub_waits_the_drawn_pauses_after_each_drop(tmp_path: Path) -> None:
    assert ingest_module.RECONNECT_MAX_S <= 10.0
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    store.migrate()
    with Dropper() as broker:
        ingest = Ingest(store, broker.url)
        assert ingest._backoff.first_bound == 2 * ingest_module.RECONNECT_MIN_S
        assert ingest._backoff.max_s == ingest_module.RECONNECT_MAX_S
        ingest._backoff = Backoff(0.1, 0.6, random.Random(5))
        expected = Backoff(0.1, 0.6, random.Random(5))
        pauses = [expected.next() for _ in range(6)]
        ingest.start()
        try:
            seen = broker.wait(7, 20)
        finally:
            ingest.stop()
            store.close()
    # paho sleeps the pause (in steps of at most 1 s) and connects again
    for drawn, gap in zip(pauses, seen, strict=True):
        assert drawn - 0.02 <= gap <= drawn + 0.2, (pauses, seen)


def test_a_refused_connection_also_draws_the_next_pause(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    store.migrate()
    ingest = Ingest(store, "mqtt://127.0.0.1:1")
    ingest._backoff = Backoff(1.0, 10.0, random.Random(9))
    ingest._on_connect_fail(None, None)
    first = ingest.next_reconnect_pause
    ingest._on_connect_fail(None, None)
    assert 0 <= first <= 2.0 and 0 <= ingest.next_reconnect_pause <= 4.0
    assert first == Backoff(1.0, 10.0, random.Random(9)).next()
    store.close()
