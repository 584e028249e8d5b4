"""Console fixtures: a migrated store (SQLite, and PostgreSQL where a test asks for both) with
one user of each role, and a logged-in Starlette test client."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from presensi.hub.console import accounts
from presensi.hub.console.app import make_app
from presensi.hub.console.core import ConsoleConfig
from presensi.hub.console.data import ConsoleData
from presensi.hub.store import SqlStore, open_store

PASSWORD = "sandi-uji-yang-panjang"
ROLES = {"admin": "admin", "operator": "operator", "viewer": "viewer"}
SECRET = "s" * 48


@pytest.fixture
def console_store(tmp_path: Path) -> Iterator[tuple[str, SqlStore]]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    store.migrate()
    data = ConsoleData(store.database)
    for name, role in ROLES.items():
        data.add_user(name, role, accounts.hash_password(PASSWORD), units=(), now_ms=1)
    yield url, store
    store.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def log_in(client: TestClient, name: str, password: str = PASSWORD, next_: str = "/") -> object:
    token = csrf_of(client.get("/masuk").text)
    return client.post(
        "/masuk",
        data={"csrf": token, "user": name, "password": password, "next": next_},
        follow_redirects=False,
    )


@pytest.fixture
def make_client(console_store: tuple[str, SqlStore]) -> Iterator[Callable[..., TestClient]]:
    url, _ = console_store
    opened: list[TestClient] = []

    def make(user: str | None = None) -> TestClient:
        client = TestClient(make_app(ConsoleConfig(url, SECRET, cache_s=0)))
        client.__enter__()
        opened.append(client)
        if user is not None:
            done = log_in(client, user)
            assert done.status_code == 303, done.text  # type: ignore[attr-defined]
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
