"""Hub fixtures: a fresh store per test over each engine, SQLite and PostgreSQL.

PostgreSQL comes from the `postgres_url` fixture in tests/conftest.py (a new database per test on
a throwaway server, or on the server given in PRESENSI_TEST_POSTGRES).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from presensi.hub.store import SqlStore, open_store

OpenStore = Callable[[], SqlStore]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"  # sqlite:////tmp/...: an absolute path
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def open_stores(store_url: str) -> Iterator[OpenStore]:
    """Opens more stores on the test's database (as more hub workers would); closes them all."""
    opened: list[SqlStore] = []

    def open_one() -> SqlStore:
        store = open_store(store_url)
        assert isinstance(store, SqlStore)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_stores: OpenStore) -> SqlStore:
    """A migrated store on a fresh database."""
    opened = open_stores()
    opened.migrate()
    return opened
