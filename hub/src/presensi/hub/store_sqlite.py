"""The store's SQLite engine: one file, WAL, synchronous=FULL (an ack is a promise).

Writers take the database lock up front (BEGIN IMMEDIATE), so two hub processes on one file
queue instead of failing half-way; each ingest() commits, and so fsyncs, once.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from presensi.hub.errors import StoreError
from presensi.hub.migrations import Dialect

BUSY_TIMEOUT_S = 30.0


class SqliteDatabase:
    dialect: Dialect = "sqlite"
    for_update = ""  # BEGIN IMMEDIATE already holds the whole database

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = str(path)
        if not create and self.path != ":memory:" and not Path(self.path).is_file():
            raise StoreError(
                f"no hub store at {self.path}. Fix: give the hub's --store (or set "
                "PRESENSI_HUB_STORE); `presensi hub run` makes a new one"
            )
        try:
            if self.path != ":memory:" and create:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,  # SqlStore serialises calls
                timeout=BUSY_TIMEOUT_S,
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the SQLite store {self.path}: {exc}") from exc

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> int:
        try:
            return self._conn.executemany(sql, rows).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise StoreError(f"SQLite store {self.path}: commit failed: {exc}") from exc

    def close(self) -> None:
        self._conn.close()
