"""The console while its PostgreSQL goes away: every page answers 503 with a clear banner (no
stack trace, no 500), /sehat says so, and once the server is back the same console process
serves again by itself, the login session still valid."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from presensi.demo.postgres import Postgres, postgres_database
from presensi.hub.console import accounts
from presensi.hub.console.app import make_app
from presensi.hub.console.core import ConsoleConfig
from presensi.hub.console.data import ConsoleData
from presensi.hub.store import SqlStore, open_store

from .conftest import PASSWORD, SECRET, log_in

pytestmark = pytest.mark.postgres

PAGES = ["/", "/stasiun", "/stasiun/st-halte-01", "/langsung", "/pegawai", "/peringatan"]


@pytest.fixture
def server() -> Iterator[Postgres]:
    with Postgres(durable=False) as pg:
        yield pg


def test_the_console_survives_its_database_restarting(server: Postgres) -> None:
    with postgres_database(server.conninfo, prefix="presensi_console") as url:
        store = open_store(url)
        assert isinstance(store, SqlStore)
        store.migrate()
        ConsoleData(store.database).add_user(
            "operator", "operator", accounts.hash_password(PASSWORD), units=(), now_ms=1
        )
        store.close()
        with TestClient(make_app(ConsoleConfig(url, SECRET, cache_s=0))) as client:
            assert log_in(client, "operator").status_code == 303  # type: ignore[attr-defined]
            assert all(client.get(p).status_code in (200, 404) for p in PAGES)

            server.stop()
            for path in PAGES:
                down = client.get(path)
                assert down.status_code == 503, (path, down.status_code)
                assert "tidak dapat dihubungi" in down.text and "Traceback" not in down.text
            assert client.get("/sehat").status_code == 503
            api = client.get("/api/v1/stations", headers={"Authorization": "Bearer not-a-token"})
            assert api.status_code in (401, 503) and "Traceback" not in api.text

            server.start()
            back = client.get("/stasiun")
            assert back.status_code == 200 and "tidak dapat dihubungi" not in back.text
            assert client.get("/sehat").json() == {"store": "ok"}
