"""The hub's PostgreSQL goes away under it: its connection terminated by the server, then the
server restarted. The hub reconnects by itself, says it is unhealthy while it cannot commit
(what systemd's watchdog and a health check see), and every scan arrives exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from presensi.demo.mosquitto import Mosquitto
from presensi.demo.postgres import Postgres, postgres_database
from tests.delivery.fleet import Fleet

pytestmark = [pytest.mark.postgres, pytest.mark.mosquitto]

FAST = {"batch_size": 20, "resend_s": 1}


def wait_for(check: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def server() -> Iterator[Postgres]:
    with Postgres(durable=False) as pg:
        yield pg


def test_the_hub_reconnects_after_its_database_goes_away(
    tmp_path: Path, mosquitto: Mosquitto, server: Postgres
) -> None:
    with postgres_database(server.conninfo, prefix="presensi_lost") as url:
        fleet = Fleet(tmp_path, mosquitto.url, store_url=url)
        try:
            stations = fleet.add_stations(2, uplink=FAST)
            hub = fleet.start_hub()
            for s in stations:
                s.start()
                s.scan(5)
            assert fleet.wait_delivered()
            # the server drops the hub's connection
            with psycopg.connect(server.conninfo, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname LIKE 'presensi_lost_%' AND pid <> pg_backend_pid()"
                ).fetchall()
            assert killed
            for s in stations:
                s.scan(5)
            assert fleet.wait_delivered()
            # the server restarts; while it is down the hub says it cannot commit
            server.stop()
            for s in stations:
                s.scan(5)
            assert wait_for(lambda: not hub.healthy(), 30), "the hub did not notice"
            server.start()
            assert wait_for(hub.healthy, 60), "the hub did not find its database again"
            assert fleet.wait_delivered()
            fleet.check_exactly_once()
            database = hub.store.database  # type: ignore[attr-defined]
            assert database.reconnects >= 2
        finally:
            fleet.close()
