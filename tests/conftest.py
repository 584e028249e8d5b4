"""Shared fixtures: real Mosquitto brokers (tests/brokers.py) and a real PostgreSQL server.

PostgreSQL is the server given in PRESENSI_TEST_POSTGRES (a libpq conninfo or URI of a role
that may CREATE DATABASE), or else a throwaway server started once per test session from the
installed binaries (pg_ctl on PATH, `pg_config --bindir`, or /usr/lib/postgresql/*/bin).
Each test gets its own new database, dropped afterwards.

Why not pytest-postgresql's `postgresql_proc` factory as is: it puts the data directory under
pytest's base temp directory, and when the tests run as root (CI containers) that is
/tmp/pytest-of-root, mode 0700. PostgreSQL refuses to run initdb or the server as root, and the
`postgres` user it must run as cannot enter that directory. So we build the same thing from
pytest-postgresql's own `PostgreSQLExecutor`, with a data directory of our own under /tmp owned
by the user the server runs as; as root, pg_ctl is called through a two-line wrapper script
that drops to the `postgres` system user (setpriv, which execs in place, so pg_ctl keeps the
process id and process group the executor expects; runuser where setpriv is missing).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.brokers import Mosquitto, mosquitto_available

MosquittoFactory = Callable[..., Mosquitto]

PG_ENV = "PRESENSI_TEST_POSTGRES"
PG_SYSTEM_USER = "postgres"


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
    without an ACL; with one, see the max_queued_messages note in tests/brokers.py)."""
    return mosquitto_factory(persistence=True, max_queued_messages=0, allow_anonymous=True)


# -- PostgreSQL ------------------------------------------------------------------------------


def _find_pg_ctl() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return found
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if bindir and Path(bindir, "pg_ctl").is_file():
            return str(Path(bindir, "pg_ctl"))
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    return str(candidates[-1]) if candidates else None


def _pg_ctl_as_server_user(pg_ctl: str, datadir_parent: Path) -> str:
    """Running as root: a wrapper that runs pg_ctl as the `postgres` system user."""
    try:
        user = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        pytest.fail(f"tests run as root and there is no {PG_SYSTEM_USER!r} user to run PostgreSQL")
    os.chown(datadir_parent, user.pw_uid, user.pw_gid)
    datadir_parent.chmod(0o700)
    # the wrapper lives in a root-owned directory: the server user must not be able to edit it
    wrapper = Path(tempfile.mkdtemp(prefix="presensi-pgctl-")) / "pg_ctl"
    drop = (
        f"setpriv --reuid={PG_SYSTEM_USER} --regid={PG_SYSTEM_USER} --init-groups --"
        if shutil.which("setpriv")
        else f"runuser -u {PG_SYSTEM_USER} --"
    )
    wrapper.write_text(f'#!/bin/sh\nexec {drop} {shlex.quote(pg_ctl)} "$@"\n')
    wrapper.chmod(0o700)
    return str(wrapper)


@pytest.fixture(scope="session")
def postgres_conninfo() -> Iterator[str]:
    """A conninfo for a PostgreSQL role that may create databases."""
    given = os.environ.get(PG_ENV)
    if given:
        yield given
        return
    pg_ctl = _find_pg_ctl()
    if pg_ctl is None:
        pytest.fail(
            f"no PostgreSQL server binaries (scripts/bootstrap installs them); or set {PG_ENV}"
        )
    from port_for import get_port
    from pytest_postgresql.executors import PostgreSQLExecutor

    base = Path(tempfile.mkdtemp(prefix="presensi-pg-"))
    executable = _pg_ctl_as_server_user(pg_ctl, base) if os.geteuid() == 0 else pg_ctl
    port = get_port(None)
    assert port is not None
    executor = PostgreSQLExecutor(
        executable=executable,
        host="127.0.0.1",
        port=port,
        datadir=str(base / "data"),
        unixsocketdir=str(base),
        logfile=str(base / "postgresql.log"),
        startparams="-w",
        dbname="presensi",
        user="postgres",
        # a throwaway server: durability costs time and proves nothing here
        postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
    )
    executor.start()
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)
        if executable != pg_ctl:
            shutil.rmtree(Path(executable).parent, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_conninfo: str) -> Iterator[str]:
    """A URL of a new, empty database; dropped after the test."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"presensi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_conninfo, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(make_conninfo(postgres_conninfo, dbname=name))
    yield "postgresql://?" + urlencode({key: str(value) for key, value in params.items()})
    with psycopg.connect(postgres_conninfo, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
