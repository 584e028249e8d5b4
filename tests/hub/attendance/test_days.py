"""Attendance derived in the hub's store as scans are ingested (SQLite and PostgreSQL): marks
written by ingest, days derived from every scan of the employee, the same days whatever the
order the stations' batches arrive in, a rule change followed by a recompute."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from presensi.hub.attendance import days
from presensi.hub.attendance.rules import DEFAULT_RULES
from presensi.hub.people import Person, sync_people
from presensi.hub.store import SqlStore, StationInfo
from presensi.protocol.reasons import Outcome
from presensi.protocol.wire import batch_of

from .factory import chain

MANGKANG = chain(
    "st-term-mangkang-01",
    [
        ("EMP-00001", "2026-12-07 04:58", "in"),
        ("EMP-00002", "2026-12-07 05:40", "in"),
        ("EMP-00003", "2026-12-07 21:00", "in"),  # a night shift
        ("EMP-00001", "2026-12-07 13:02", "out"),
    ],
)
TERBOYO = chain(
    "st-term-terboyo-01",
    [
        ("EMP-00002", "2026-12-07 12:10", "out"),  # left at another point
        ("EMP-00003", "2026-12-08 05:01", "out"),
    ],
)


def prepared(store: SqlStore) -> None:
    sync_people(
        store.database,
        [
            Person("EMP-00001", "Budi Santoso", "Pramudi (driver)", "Pagi"),
            Person("EMP-00002", "Siti Rahayu", "Pramudi (driver)", "Pagi"),
            Person("EMP-00003", "Agus Prasetyo", "Teknik", "Malam"),
        ],
        1,
    )
    for station in ("st-term-mangkang-01", "st-term-terboyo-01"):
        store.register_station(StationInfo(station, bytes(32), station[3:-3]))


def results(store: SqlStore) -> dict[tuple[str, str], tuple[str, ...]]:
    found = days.stored_days(store.database, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    return {(d.employee, d.work_date.isoformat()): d.codes for d in found}


EXPECTED = {
    ("EMP-00001", "2026-12-07"): ("H",),
    ("EMP-00002", "2026-12-07"): ("TL2", "PSW2"),  # 40 late, 50 early
    ("EMP-00003", "2026-12-07"): ("H",),  # the night of the 7th, out on the 8th
}


def test_ingest_marks_and_the_derivation_writes_the_days(store: SqlStore) -> None:
    prepared(store)
    for records in (MANGKANG, TERBOYO):
        store.ingest([batch_of(records[0].station, records[0].journal, records)], 1)
    waiting = store.database.execute("SELECT COUNT(*) FROM attendance_dirty")[0][0]
    assert waiting == 5  # (employee, UTC day): 04:58 WIB is the day before in UTC
    while store.derive_attendance(2):
        pass
    assert results(store) == EXPECTED
    assert store.database.execute("SELECT COUNT(*) FROM attendance_dirty")[0][0] == 0
    # rejected and duplicate scans are not punches (a refused one is looked at, for the
    # cheating signals, and changes no day)
    refused = chain(
        "st-term-mangkang-02", [("EMP-00001", "2026-12-08 05:00", "in")], Outcome.REJECTED
    )
    store.register_station(StationInfo("st-term-mangkang-02", bytes(32), "term-mangkang"))
    store.ingest([batch_of(refused[0].station, refused[0].journal, refused)], 2)
    assert store.derive_attendance() == 1 and results(store) == EXPECTED


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(range(6)), cut=st.integers(1, 3))
def test_the_same_scans_in_any_order_of_arrival_give_the_same_days(
    open_stores: object, order: list[int], cut: int
) -> None:
    store = open_stores()  # type: ignore[operator]
    store.migrate()
    store.database.execute("DELETE FROM attendance_days")
    store.database.execute("DELETE FROM attendance_dirty")
    store.database.execute("DELETE FROM scans")
    store.database.execute("DELETE FROM journals")
    prepared(store)
    # each station's records in pieces, the pieces of both stations interleaved in any order
    pieces = [MANGKANG[:cut], MANGKANG[cut:], TERBOYO[:1], TERBOYO[1:], [], []]
    for i in order:
        piece = pieces[i]
        if piece:
            store.ingest([batch_of(piece[0].station, piece[0].journal, piece)], i)
            store.derive_attendance(1)  # derivation interleaved with ingest
    while store.derive_attendance():
        pass
    assert results(store) == EXPECTED


def test_a_rule_change_then_a_recompute(store: SqlStore) -> None:
    prepared(store)
    for records in (MANGKANG, TERBOYO):
        store.ingest([batch_of(records[0].station, records[0].journal, records)], 1)
    while store.derive_attendance():
        pass
    assert results(store)[("EMP-00002", "2026-12-07")] == ("TL2", "PSW2")
    # the morning shift starts at 06:00 from now on
    text = DEFAULT_RULES.replace('start = "05:00"', 'start = "06:00"', 1)
    text = text.replace('end = "13:00"', 'end = "12:00"', 1)
    assert days.load_rules(store.database, text, "admin", 5) == 1
    assert results(store)[("EMP-00002", "2026-12-07")] == ("TL2", "PSW2")  # not yet
    assert days.mark_range(store.database, dt.date(2026, 12, 1), dt.date(2026, 12, 31)) >= 3
    while store.derive_attendance():
        pass
    after = results(store)
    assert after[("EMP-00002", "2026-12-07")] == ("H",)
    assert after[("EMP-00001", "2026-12-07")] == ("H",)
    rows = store.database.execute("SELECT DISTINCT rules_version FROM attendance_days")
    assert rows == [(1,)]
