"""The store's PostgreSQL engine, for several hub workers sharing one database.

psycopg is imported only when a PostgreSQL store is opened (`pip install 'presensi[postgres]'`).
The connection runs in autocommit mode; `transaction()` opens an explicit transaction and the
store locks each station row it advances (SELECT ... FOR UPDATE). psycopg prepares statements
used repeatedly on its own and sends executemany() rows in one pipeline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from presensi.hub.errors import StoreError
from presensi.hub.migrations import Dialect

if TYPE_CHECKING:
    import psycopg


class PostgresDatabase:
    dialect: Dialect = "postgres"
    for_update = " FOR UPDATE"

    def __init__(self, conninfo: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError(
                "a PostgreSQL store needs psycopg: pip install 'presensi[postgres]'"
            ) from exc
        self._error: type[Exception] = psycopg.Error
        self._queries: dict[str, str] = {}
        try:
            self._conn: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(
                conninfo, autocommit=True
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the PostgreSQL store: {exc}") from exc

    def _query(self, sql: str) -> str:
        query = self._queries.get(sql)
        if query is None:
            # the store's SQL has no literal '?' or '%': placeholders are the only ones
            query = self._queries[sql] = sql.replace("?", "%s")
        return query

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            cursor = self._conn.execute(self._query(sql), params)
            return cursor.fetchall() if cursor.description is not None else []
        except self._error as exc:
            raise StoreError(f"PostgreSQL store: {exc}") from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> int:
        try:
            with self._conn.cursor() as cursor:
                cursor.executemany(self._query(sql), rows)
                return cursor.rowcount
        except self._error as exc:
            raise StoreError(f"PostgreSQL store: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self._conn.transaction():
                yield
        except self._error as exc:
            raise StoreError(f"PostgreSQL store: {exc}") from exc

    def close(self) -> None:
        self._conn.close()
