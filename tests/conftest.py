"""Shared fixtures: real Mosquitto brokers and a real PostgreSQL server, both started by
presensi.demo (mosquitto.py, postgres.py), the same code the hub bench uses.

PostgreSQL is the server given in PRESENSI_TEST_POSTGRES (a libpq conninfo or URI of a role
that may CREATE DATABASE), or else a throwaway server started once per test session from the
installed binaries. Each test gets its own new database, dropped afterwards.

The server runs as the `postgres` system user when the tests run as root (PostgreSQL refuses
root), with its files in a temporary directory that user owns; pytest-postgresql's executor
could not do that with pytest's own (root-only) temporary directory.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from presensi.demo.mosquitto import Mosquitto, mosquitto_available
from presensi.demo.postgres import PostgresError, postgres_database, postgres_server

MosquittoFactory = Callable[..., Mosquitto]

PG_ENV = "PRESENSI_TEST_POSTGRES"
MOSQUITTO_FIXTURES = {"mosquitto", "mosquitto_factory"}
POSTGRES_FIXTURES = {"postgres_url", "postgres_conninfo"}


# -- markers: `-m "not mosquitto"` or `-m "not postgres"` leave out the tests that need one -------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use a service fixture (a store parametrized to "postgres" included);
    tests that start a broker themselves carry the marker in their module."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if names & MOSQUITTO_FIXTURES:
            item.add_marker(pytest.mark.mosquitto)
        if names & POSTGRES_FIXTURES or params.get("store_url") == "postgres":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(autouse=True)
def _services_are_marked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Fails a test that started a Mosquitto without the `mosquitto` marker, so the markers stay
    true as tests change."""
    started: list[Mosquitto] = []
    start_once = Mosquitto._start_once

    def spy(self: Mosquitto) -> None:
        started.append(self)
        start_once(self)

    monkeypatch.setattr(Mosquitto, "_start_once", spy)
    yield
    if started and request.node.get_closest_marker("mosquitto") is None:
        pytest.fail("this test starts Mosquitto: mark it (pytestmark = pytest.mark.mosquitto)")


# -- a worker thread that logged an exception fails the test ---------------------------------


class _ThreadErrors(logging.Handler):
    """Collects records that carry an exception (logger.exception, exc_info=True) logged off
    the main thread. A rejected input logged as an error without a traceback is handled: it
    does not count."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        return record.exc_info is not None and record.thread != threading.main_thread().ident

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _no_thread_logged_an_exception(request: pytest.FixtureRequest) -> Iterator[None]:
    """Home Assistant's rule: an exception that a worker thread (uplink, ingest, scan loop,
    broker) only logged fails the test during which it happened. A test that provokes one on
    purpose says so: @pytest.mark.thread_errors("why")."""
    handler = _ThreadErrors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    if handler.records and request.node.get_closest_marker("thread_errors") is None:
        lines = [f"{r.threadName} {r.name}: {r.getMessage()}" for r in handler.records[:5]]
        pytest.fail("a worker thread logged an error:\n  " + "\n  ".join(lines))


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    """Make and start real mosquitto brokers: `mosquitto_factory(**Mosquitto options)`;
    `start=False` returns one not yet started. Every broker made is killed at teardown."""
    if not mosquitto_available():
        pytest.fail("no mosquitto binary: run scripts/bootstrap (apt-get install mosquitto)")
    made: list[Mosquitto] = []
    counter = itertools.count(1)

    def make(*, start: bool = True, **options: Any) -> Mosquitto:
        options.setdefault("workdir", tmp_path / f"mosquitto-{next(counter)}")
        broker = Mosquitto(**options)
        made.append(broker)
        return broker.start() if start else broker

    try:
        yield make
    finally:
        for broker in made:
            broker.close()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A started mosquitto: anonymous, persistence on, no limit on queued messages (fine
    without an ACL; with one, see the max_queued_messages note in presensi.demo.mosquitto)."""
    return mosquitto_factory(persistence=True, max_queued_messages=0, allow_anonymous=True)


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_conninfo() -> Iterator[str]:
    """A conninfo for a PostgreSQL role that may create databases: PRESENSI_TEST_POSTGRES, or a
    throwaway server started once per test session (per xdist worker)."""
    try:
        with postgres_server(os.environ.get(PG_ENV), durable=False) as conninfo:
            yield conninfo
    except PostgresError as exc:
        pytest.fail(f"{exc}; or set {PG_ENV} to a server of yours")


@pytest.fixture
def postgres_url(postgres_conninfo: str) -> Iterator[str]:
    """A URL of a new, empty database; dropped after the test."""
    with postgres_database(postgres_conninfo, prefix="presensi_test") as url:
        yield url
