"""The store's PostgreSQL engine, for several hub workers sharing one database.

psycopg is imported only when a PostgreSQL store is opened (`pip install 'presensi[postgres]'`).
The connection runs in autocommit mode; `transaction()` opens an explicit transaction and the
store locks each journal's rows it advances (SELECT ... FOR UPDATE). psycopg prepares statements
used repeatedly on its own and sends executemany() rows in one pipeline. A connection the server
closed (a restart, pg_terminate_backend, a network cut) is made again at the next call, never
in the middle of a transaction: that transaction fails whole, and the stations resend.
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
        self._psycopg = psycopg
        self._conninfo = conninfo
        self._queries: dict[str, str] = {}
        self.reconnects = 0
        self._in_transaction = False
        self._conn: psycopg.Connection[tuple[Any, ...]] = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            conn: psycopg.Connection[tuple[Any, ...]] = self._psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=10
            )
        except self._psycopg.Error as exc:
            # libpq's message runs over lines ("...Connection refused\n\tIs the server
            # running..."): one line, so that a command fails with one line
            why = " ".join(str(exc).split())
            raise StoreError(f"cannot connect to the PostgreSQL store: {why}") from exc
        # the hub's statements are short: compiling one (JIT, on from PostgreSQL 12 for any
        # statement the planner thinks dear) took longer than running it, 0.3-0.8 s
        conn.execute("SET jit = off")
        return conn

    def _live(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The connection, made again if the server closed it (a restart, a terminated
        backend, a network cut): the next call after a failure tries again."""
        if self._conn.closed or self._conn.broken:
            with contextlib.suppress(self._error):
                self._conn.close()
            self._conn = self._connect()
            self.reconnects += 1
        return self._conn

    def _query(self, sql: str) -> str:
        query = self._queries.get(sql)
        if query is None:
            # the store's SQL has no literal '?' or '%': placeholders are the only ones
            query = self._queries[sql] = sql.replace("?", "%s")
        return query

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        conn = self._conn if self._in_transaction else self._live()
        try:
            return self._run(conn, sql, params)
        except self._error as exc:
            # a read on a connection the server dropped while it sat idle (a restart): the
            # first use finds out; a read is safe to try once more on a new connection
            if self._in_transaction or not conn.broken or not _is_read(sql):
                raise StoreError(f"PostgreSQL store: {exc}") from exc
        try:
            return self._run(self._live(), sql, params)
        except self._error as exc:
            raise StoreError(f"PostgreSQL store: {exc}") from exc

    def _run(
        self, conn: psycopg.Connection[tuple[Any, ...]], sql: str, params: Sequence[object]
    ) -> list[tuple[Any, ...]]:
        cursor = conn.execute(self._query(sql), params)
        return cursor.fetchall() if cursor.description is not None else []

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> int:
        conn = self._conn if self._in_transaction else self._live()
        try:
            with conn.cursor() as cursor:
                cursor.executemany(self._query(sql), rows)
                return cursor.rowcount
        except self._error as exc:
            raise StoreError(f"PostgreSQL store: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self._live()
        self._in_transaction = True  # never reconnect half-way: the transaction would split
        try:
            with conn.transaction():
                yield
        except self._error as exc:
            raise StoreError(f"PostgreSQL store: {exc}") from exc
        finally:
            self._in_transaction = False

    def close(self) -> None:
        self._conn.close()


def _is_read(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"
