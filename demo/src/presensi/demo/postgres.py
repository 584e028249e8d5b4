"""A throwaway PostgreSQL server, for the tests and the hub bench: initdb and pg_ctl from the
installed server binaries (/usr/lib/postgresql/*/bin, or pg_ctl on PATH), with its data, socket
and log in a temporary directory, on a free loopback port.

As root the server runs as the `postgres` system user (PostgreSQL refuses to run as root), with
its temporary directory owned by that user. `durable=True` keeps the server's durability settings
at their defaults (fsync and synchronous_commit on), as the hub bench needs: an ack is a promise on
PostgreSQL as on SQLite (synchronous=FULL). The tests use `durable=False`: durability costs time
there and proves nothing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

from presensi.demo.mosquitto import free_port

PG_SYSTEM_USER = "postgres"
_FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class PostgresError(RuntimeError):
    """The server binaries are missing, or initdb or pg_ctl failed (the message says how)."""


def server_bindir() -> Path | None:
    """The folder of the newest installed server binaries, if any."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


class Postgres:
    """A started throwaway server; `close()` stops it and removes its files."""

    def __init__(self, *, durable: bool = True) -> None:
        bindir = server_bindir()
        if bindir is None:
            raise PostgresError(
                "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin, pg_ctl): "
                "apt-get install postgresql (scripts/bootstrap does)"
            )
        self.base = Path(tempfile.mkdtemp(prefix="presensi-pg-"))
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(PG_SYSTEM_USER)
            except KeyError:
                shutil.rmtree(self.base, ignore_errors=True)
                raise PostgresError(
                    f"running as root and there is no {PG_SYSTEM_USER!r} user to run PostgreSQL"
                ) from None
            os.chown(self.base, user.pw_uid, user.pw_gid)
            self._as_user = (
                ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
                if shutil.which("setpriv")
                else ["runuser", "-u", PG_SYSTEM_USER, "--"]
            )
        self.base.chmod(0o700)
        self.data = self.base / "data"
        self.port = free_port()
        self._pg_ctl = str(bindir / "pg_ctl")
        self._started = False
        try:
            self._run(
                str(bindir / "initdb"),
                *("-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"),
                "--no-sync",
            )
            self._options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base}"
            if not durable:
                self._options += f" {_FAST}"
            self.start()
        except PostgresError:
            self.close()
            raise

    def start(self) -> None:
        """Start the server (again, after stop()), on the same port and data."""
        self._run(
            self._pg_ctl,
            *("-D", str(self.data), "-l", str(self.base / "postgresql.log")),
            *("-o", self._options, "-w", "-t", "60", "start"),
        )
        self._started = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (mode: smart, fast or immediate, as pg_ctl)."""
        if self._started:
            self._run(self._pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop")
            self._started = False

    @property
    def conninfo(self) -> str:
        """A conninfo for the superuser `postgres` (it may create databases)."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, *command: str) -> None:
        try:
            subprocess.run(
                [*self._as_user, *command],
                cwd=self.base,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=True,
                timeout=120,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            raise PostgresError(
                f"{Path(command[0]).name} failed: {exc} {detail.decode(errors='replace')[-300:]}"
            ) from exc

    def close(self) -> None:
        if self._started:
            with contextlib.suppress(PostgresError):
                self._run(self._pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self._started = False
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def postgres_server(given: str | None = None, *, durable: bool = True) -> Iterator[str]:
    """The conninfo of a role that may create databases: `given` if set (a server of the
    caller's), or a throwaway server started here and removed afterwards."""
    if given:
        yield given
        return
    with Postgres(durable=durable) as server:
        yield server.conninfo


@contextlib.contextmanager
def postgres_database(conninfo: str, *, prefix: str = "presensi") -> Iterator[str]:
    """The store URL of a new, empty database on that server; dropped afterwards."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        params = conninfo_to_dict(make_conninfo(conninfo, dbname=name))
        yield "postgresql://?" + urlencode({k: str(v) for k, v in params.items()})
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
