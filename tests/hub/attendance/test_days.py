"""Attendance derived in the hub's store as scans are ingested (SQLite and PostgreSQL): marks
written by ingest, days derived from every scan of the employee, the same days whatever the
order the stations' batches arrive in, a rule change followed by a recompute."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from presensi.device.testbed import sample_record
from presensi.hub.attendance import days
from presensi.hub.attendance.derive import Punch, derive_day
from presensi.hub.attendance.rules import DEFAULT_RULES
from presensi.hub.people import Person, sync_people
from presensi.hub.store import SqlStore, StationInfo
from presensi.protocol.reasons import Outcome
from presensi.protocol.record import ScanRecord
from presensi.protocol.wire import batch_of

from .factory import WIB, at, chain

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


def stored_rows(store: SqlStore) -> set[tuple[object, ...]]:
    rows = store.database.execute(
        "SELECT employee, work_date, shift, first_in_ms, last_out_ms, codes, locations, flags "
        "FROM attendance_days"
    )
    return {tuple(r) for r in rows}


PEOPLE = [
    Person("EMP-00001", "Budi Santoso", "Pramudi (driver)", "Pagi"),
    Person("EMP-00002", "Siti Rahayu", "Pramudi (driver)", "Siang"),
    Person("EMP-00003", "Agus Prasetyo", "Teknik", "Malam"),
]


def emptied(open_stores: object) -> SqlStore:
    """The test's store, emptied of what an earlier example left (Hypothesis runs many), with
    PEOPLE and one station."""
    store: SqlStore = open_stores()  # type: ignore[operator]
    store.migrate()
    for table in ("attendance_days", "attendance_dirty", "scans", "journals"):
        store.database.execute(f"DELETE FROM {table}")
    sync_people(store.database, PEOPLE, 1)
    store.register_station(StationInfo("st-term-mangkang-01", bytes(32), "term-mangkang"))
    return store


PUNCH = st.tuples(
    st.sampled_from([p.number for p in PEOPLE]),
    st.integers(0, 3 * 24 * 60 - 1),  # minutes after 2026-12-06 00:00 WIB
    st.sampled_from(["in", "out"]),
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(punches=st.lists(PUNCH, min_size=1, max_size=14), pieces=st.integers(1, 5))
def test_deriving_only_the_days_new_punches_meet_equals_a_full_recompute(
    open_stores: object, punches: list[tuple[str, int, str]], pieces: int
) -> None:
    """Marks made by new punches derive only the work days whose windows meet them; after
    any arrival of any punches (morning, evening and night shifts, days either side of UTC
    midnight), the days are the ones a recompute of every day from every scan gives."""
    store = emptied(open_stores)
    base = dt.datetime(2026, 12, 6, tzinfo=WIB)
    records = chain(
        "st-term-mangkang-01",
        [
            (e, (base + dt.timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M"), d)
            for e, m, d in punches
        ],
    )
    size = -(-len(records) // pieces)
    for k in range(0, len(records), size):
        store.ingest([batch_of(records[0].station, records[0].journal, records[: k + size])], k)
        while store.derive_attendance(2):
            pass
    incremental = stored_rows(store)
    store.database.execute("DELETE FROM attendance_days")
    days.mark_range(store.database, dt.date(2026, 12, 5), dt.date(2026, 12, 9))
    while store.derive_attendance():
        pass
    assert incremental == stored_rows(store)


def stamped_a_day_behind(true_in: int) -> ScanRecord:
    """EMP-00001's check-in at `true_in`, stamped 30 hours behind by a station that booted
    offline (no synced clock): the first record of its journal."""
    return sample_record(
        "st-term-mangkang-01", 1, employee="EMP-00001", serial=1, direction="in",
        wall_ms=true_in - 30 * 3_600_000, mono_ns=1_000 * 10**9, clock_synced=False,
        clock_last_sync_ms=None, location="term-mangkang",
    )  # fmt: skip


def test_a_time_the_hub_corrects_later_moves_the_punch_to_its_day(store: SqlStore) -> None:
    """A station that booted offline stamps a check-in with a clock 30 hours behind; the
    hub corrects the time when a synced scan of the same boot (someone else's) arrives, and
    the day follows: derived again although no new scan of the employee came."""
    prepared(store)
    true_in, true_out = at("2026-12-07 04:55"), at("2026-12-07 13:05")
    first = stamped_a_day_behind(true_in)
    second = sample_record(
        "st-term-mangkang-01", 2, first.digest(), employee="EMP-00002", serial=2,
        direction="out", wall_ms=true_out, mono_ns=(1_000 * 10**9) + (true_out - true_in) * 10**6,
        clock_synced=True, clock_last_sync_ms=true_out, location="term-mangkang",
    )  # fmt: skip
    store.ingest([batch_of(first.station, first.journal, [first])], 1)
    while store.derive_attendance():
        pass
    assert ("EMP-00001", "2026-12-07") not in results(store)  # 22:55 two days before: no window
    store.ingest([batch_of(first.station, first.journal, [first, second])], 2)
    while store.derive_attendance():
        pass
    assert results(store)[("EMP-00001", "2026-12-07")] == ("PSW4",)  # on time, no check-out
    day = days.stored_days(store.database, dt.date(2026, 12, 7), dt.date(2026, 12, 7))[0]
    assert (day.employee, day.first_in_ms, day.late_min) == ("EMP-00001", true_in, 0)


START_H = {"EMP-00001": 5, "EMP-00002": 13, "EMP-00003": 21}  # Pagi, Siang, Malam
NEAR_SHIFTS = st.builds(
    lambda e, day, end, d, off: (e, day * 1440 + START_H[e] * 60 + 480 * end + off, d),
    st.sampled_from(list(START_H)),
    st.integers(0, 2),
    st.integers(0, 1),  # around the start or the end
    # either direction anywhere: a station in auto mode gives "in" to a night shift's
    # check-out after midnight (the window decides, attendance/derive.py: count_punches)
    st.sampled_from(["in", "out"]),
    st.integers(-200, 260),  # around the shift's start or end: often several in one window
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(punches=st.lists(st.one_of(NEAR_SHIFTS, PUNCH), min_size=1, max_size=16))
def test_the_days_the_database_counts_are_the_ones_the_rules_give(
    open_stores: object, punches: list[tuple[str, int, str]]
) -> None:
    """The store counts each day's punches in SQL; the pure rules (derive_day, over the same
    punches in Python) give the same days, field for field."""
    store = emptied(open_stores)
    base = dt.datetime(2026, 12, 6, tzinfo=WIB)
    when = [(e, base + dt.timedelta(minutes=m), d) for e, m, d in punches]
    records = chain(
        "st-term-mangkang-01", [(e, t.strftime("%Y-%m-%d %H:%M"), d) for e, t, d in when]
    )
    store.ingest([batch_of(records[0].station, records[0].journal, records)], 1)
    while store.derive_attendance():
        pass
    stored = days.stored_days(store.database, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    rules = days.default_rules()
    expected = []
    for person in PEOPLE:
        theirs = [
            Punch(int(t.timestamp() * 1000), d, "term-mangkang")
            for e, t, d in when
            if e == person.number
        ]
        for offset in range(-1, 5):
            day = dt.date(2026, 12, 6) + dt.timedelta(days=offset)
            found = derive_day(rules, rules.groups[person.shift_group], person.number, day, theirs)
            if found is not None:
                expected.append(found)
    assert stored == sorted(expected, key=lambda d: (d.employee, d.work_date))


def test_many_days_at_once_are_all_written(store: SqlStore) -> None:
    """A derivation hands the database its days in batches (200 a statement on SQLite, arrays
    on PostgreSQL): 200 days exactly, and 451, are all there, once each."""
    for count in (200, 451):
        for table in ("attendance_days", "attendance_dirty", "scans", "journals", "employees"):
            store.database.execute(f"DELETE FROM {table}")
        people = [Person(f"EMP-{n:05d}", f"Pegawai {n}", "Teknik", "Pagi") for n in range(count)]
        sync_people(store.database, people, 1)
        station = f"st-pool-banyumanik-{count:02d}"
        store.register_station(StationInfo(station, bytes(32), "pool-banyumanik"))
        records = chain(station, [(p.number, "2026-12-07 05:10", "in") for p in people])
        store.ingest([batch_of(station, records[0].journal, records)], 1)
        assert store.derive_attendance(1000) == count
        found = days.stored_days(store.database, dt.date(2026, 12, 7), dt.date(2026, 12, 7))
        assert sorted(d.employee for d in found) == [p.number for p in people]
        assert {d.codes for d in found} == {("TL1", "PSW4")}  # 10 min late, no check-out yet


@contextlib.contextmanager
def two_workers(postgres_url: str) -> Iterator[tuple[SqlStore, SqlStore]]:
    """Two hub workers' stores on one PostgreSQL database; the first has ingested MANGKANG,
    whose days wait to be derived; the second holds the derivation's lock, as a worker
    half-way through deriving does, for as long as its transaction lasts."""
    from presensi.hub.store import open_store

    first, second = open_store(postgres_url), open_store(postgres_url)
    try:
        assert isinstance(first, SqlStore) and isinstance(second, SqlStore)
        first.migrate()
        prepared(first)
        first.ingest([batch_of(MANGKANG[0].station, MANGKANG[0].journal, MANGKANG)], 1)
        yield first, second
    finally:
        first.close()
        second.close()


def test_hub_workers_on_postgresql_derive_one_at_a_time(postgres_url: str) -> None:
    """Two hub workers share one PostgreSQL store: a derivation waits while another holds the
    derivation's lock (so neither removes a mark the other's scans raised anew, nor writes an
    older day over a newer one), then goes on."""
    with two_workers(postgres_url) as (first, second):
        done = threading.Event()
        with second.database.transaction():  # the other worker, half-way through deriving
            second.database.execute("SELECT pg_advisory_xact_lock(?)", (days._PG_DERIVE_LOCK,))
            worker = threading.Thread(
                target=lambda: (first.derive_attendance(), done.set()), daemon=True
            )
            worker.start()
            assert not done.wait(1.0)  # waits for the lock
        assert done.wait(30)  # ... and derives once it is free
        worker.join(5)
        assert results(first) != {}


def test_the_hub_ingest_does_not_wait_for_another_worker_deriving(postgres_url: str) -> None:
    """The hub's ingest derives without waiting (wait=False): while another worker holds the
    derivation's lock it derives nothing at once and leaves the marks to that worker, rather
    than holding its own ingest (and the acks) up; once the lock is free it derives."""
    with two_workers(postgres_url) as (first, second):
        waiting = first.database.execute("SELECT COUNT(*) FROM attendance_dirty")[0][0]
        assert waiting > 0
        with second.database.transaction():  # the other worker, half-way through deriving
            second.database.execute("SELECT pg_advisory_xact_lock(?)", (days._PG_DERIVE_LOCK,))
            done: list[int] = []
            worker = threading.Thread(
                target=lambda: done.append(first.derive_attendance(wait=False)), daemon=True
            )
            worker.start()
            worker.join(5)  # (waiting would last as long as the other worker's transaction)
            assert done == [0]
            assert first.database.execute("SELECT COUNT(*) FROM attendance_dirty")[0][0] == waiting
        worker.join(30)
        assert first.derive_attendance(wait=False) == waiting
        assert results(first) != {}


def ingest_a_check_in_stamped_a_day_behind(store: SqlStore) -> int:
    """A check-in stamped 30 hours behind by a station that booted offline, which the hub
    corrects by the next record's synced clock; its true time."""
    prepared(store)
    true_in = at("2026-12-07 04:55")
    first = stamped_a_day_behind(true_in)
    second = sample_record(
        "st-term-mangkang-01", 2, first.digest(), employee="EMP-00002", serial=2,
        direction="in", wall_ms=true_in + 60_000, mono_ns=1_060 * 10**9, clock_synced=True,
        clock_last_sync_ms=true_in, location="term-mangkang",
    )  # fmt: skip
    store.ingest([batch_of(first.station, first.journal, [first, second])], 1)
    while store.derive_attendance():
        pass
    assert ("EMP-00001", "2026-12-07") in results(store)
    return true_in


def test_a_revocation_rederives_the_day_a_corrected_scan_counts_on(store: SqlStore) -> None:
    """The badge of a check-in the hub corrected turns out revoked before it: the day it
    counted on loses it."""
    true_in = ingest_a_check_in_stamped_a_day_behind(store)
    from presensi.hub.attendance.marks import mark_revoked

    with store.database.transaction():
        store.database.execute(
            "INSERT INTO badges (serial, employee, valid_from_s, valid_until_s, issued_ms, "
            "updated_ms, revoked_ms) VALUES (1, 'EMP-00001', 0, 4000000000, 0, 0, ?)",
            (true_in - 3_600_000,),  # revoked an hour before the (true) check-in
        )
        mark_revoked(store.database, [1])
    while store.derive_attendance():
        pass
    assert ("EMP-00001", "2026-12-07") not in results(store)


def test_a_recompute_rederives_the_day_a_corrected_scan_counts_on(store: SqlStore) -> None:
    """`attendance recompute` of the true day picks the scan by the hub's corrected time: the
    station's own stamp (a day earlier) is outside the range recomputed."""
    ingest_a_check_in_stamped_a_day_behind(store)
    store.database.execute("DELETE FROM attendance_days")  # as if a rule change wiped them
    days.mark_range(store.database, dt.date(2026, 12, 7), dt.date(2026, 12, 7))
    while store.derive_attendance():
        pass
    assert ("EMP-00001", "2026-12-07") in results(store)


def set_by_hand(store: SqlStore, asked_at: str, **times: int) -> None:
    """EMP-00001's 7 Dec, times set by hand: asked by an operator at `asked_at`, approved by
    the unit head five minutes later, then derived."""
    from presensi.hub.attendance import corrections

    db = store.database
    _, rules = days.RulesInForce().get(db)
    asked = corrections.request(
        db, rules, employee="EMP-00001", work_date=dt.date(2026, 12, 7), by="operator",
        reason="lupa presensi", now_ms=at(asked_at), **times,  # type: ignore[arg-type]
    )  # fmt: skip
    decided = at(asked_at) + 5 * 60_000
    corrections.decide(db, asked.id, "approved", "kepala-unit", decided)
    while store.derive_attendance():
        pass


def test_a_time_set_by_hand_counts_only_as_what_it_was_set_as(store: SqlStore) -> None:
    """A check-in set by hand at 13:30 for the Pagi shift (05:00-13:00) falls in the
    check-out window only: unlike a station's guess, it does not become the check-out. A
    check-out set by hand at 13:05 does count."""
    prepared(store)
    set_by_hand(store, "2026-12-07 14:00", check_in_ms=at("2026-12-07 13:30"))
    assert ("EMP-00001", "2026-12-07") not in results(store)
    set_by_hand(store, "2026-12-07 14:10", check_out_ms=at("2026-12-07 13:05"))
    assert results(store)[("EMP-00001", "2026-12-07")] == ("TL4",)  # no check-in, on time out


def test_a_recompute_rederives_a_day_made_of_times_set_by_hand(store: SqlStore) -> None:
    """A day whose punches are all set by hand is derived again by a recompute after a rule
    change, like any other."""
    prepared(store)
    db = store.database
    times = {"check_in_ms": at("2026-12-07 05:20"), "check_out_ms": at("2026-12-07 13:00")}
    set_by_hand(store, "2026-12-07 14:00", **times)
    assert results(store)[("EMP-00001", "2026-12-07")] == ("TL1",)  # 20 minutes late
    later = DEFAULT_RULES.replace('start = "05:00"', 'start = "05:30"', 1)  # pagi starts later
    days.load_rules(db, later, "admin", at("2026-12-08 08:00"))
    days.mark_range(db, dt.date(2026, 12, 7), dt.date(2026, 12, 7))
    while store.derive_attendance():
        pass
    assert results(store)[("EMP-00001", "2026-12-07")] == ("H",)


def test_the_hr_checkins_say_in_and_out_as_the_hub_counted_them(store: SqlStore) -> None:
    """The Frappe export's log_type: a night shift at a station in auto mode (both scans
    "in", the second being the first of its local day) goes out as IN then OUT; an apel's
    scan is no punch and is left out."""
    from presensi.hub.attendance import reports

    prepared(store)
    scans = chain(
        "st-term-mangkang-01",
        [
            ("EMP-00003", "2026-12-07 07:30", "event"),  # the morning's apel
            ("EMP-00003", "2026-12-07 20:55", "in"),
            ("EMP-00003", "2026-12-08 05:03", "in"),  # the check-out, as the station guessed
        ],
    )
    store.ingest([batch_of(scans[0].station, scans[0].journal, scans)], 1)
    while store.derive_attendance():
        pass
    assert results(store)[("EMP-00003", "2026-12-07")] == ("H",)
    made = reports.checkins(store.database, at("2026-12-07 00:00"), at("2026-12-09 00:00"))
    assert [(c.at_ms, c.direction) for c in made] == [
        (at("2026-12-07 20:55"), "in"),
        (at("2026-12-08 05:03"), "out"),
    ]
    # any range an API caller asks for: an answer, never an overflow (found by schemathesis)
    assert reports.checkins(store.database, 253_402_300_800_000, 0) == []
    assert len(reports.checkins(store.database, -(2**62), 2**62)) == 2
