"""Events on the hub's store (SQLite and PostgreSQL): golden cases of who came, written out as
tables (the late threshold, one person at two stations of one venue, walk-ins, izin, an open
event), a weekly series with one date cancelled, and bad input refused whole: an overlap on the
same stations, an empty window, unknown stations, units and participants."""

from __future__ import annotations

import datetime as dt

import pytest

from presensi.hub.events import model, results
from presensi.hub.people import Person, sync_people
from presensi.hub.store import SqlStore, StationInfo
from presensi.protocol.wire import batch_of
from tests.hub.attendance.factory import at, chain

STATIONS = ("st-balaikota-01", "st-balaikota-02")


def prepared(store: SqlStore) -> None:
    sync_people(
        store.database,
        [
            Person("ASN-001", "Budi Santoso", "Dinas Perhubungan", "Kantor"),
            Person("ASN-002", "Siti Rahayu", "Dinas Perhubungan", "Kantor"),
            Person("ASN-003", "Agus Prasetyo", "Dinas Perhubungan", "Kantor"),
            Person("ASN-004", "Dewi Lestari", "Bappeda", "Kantor"),
            Person("ASN-005", "Rudi Hartono", "Bappeda", "Kantor"),
            Person("ASN-006", "Wahyu Nugroho", "Dinas Kesehatan", "Kantor"),
        ],
        1,
    )
    for station in (*STATIONS, "st-kantor-blu-01"):
        store.register_station(StationInfo(station, bytes(32), station[3:-3]))


def apel(**changes: object) -> model.Plan:
    base = model.Plan(
        id="apel-senin",
        name="Apel pagi Senin",
        kind="apel",
        day=dt.date(2026, 12, 7),
        start=dt.time(7, 0),
        late=dt.time(7, 30),
        end=dt.time(8, 0),
        venue="Halaman Balai Kota Semarang",
        stations=STATIONS,
        units=("Dinas Perhubungan", "Bappeda"),
        walk_ins=True,
    )
    return model.Plan(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def scan(store: SqlStore, station: str, scans: list[tuple[str, str]]) -> None:
    records = chain(station, [(e, when, "event") for e, when in scans])
    store.ingest([batch_of(station, records[0].journal, records)], 1)


def test_who_came_golden_cases(store: SqlStore) -> None:
    prepared(store)
    db = store.database
    model.add_events(db, model.plan_events(db, apel()), "admin", 1)
    model.excuse(db, "apel-senin", "ASN-005", "cuti melahirkan istri", "admin", 2)
    scan(
        store,
        STATIONS[0],
        [
            ("ASN-001", "2026-12-07 06:58"),  # before the window: not this station's event
            ("ASN-001", "2026-12-07 07:10"),  # on time
            ("ASN-002", "2026-12-07 07:30"),  # exactly on the late threshold: on time
            ("ASN-006", "2026-12-07 07:20"),  # not expected: a walk-in
            ("ASN-001", "2026-12-07 07:40"),  # a repeat: recorded, not counted again
        ],
    )
    scan(
        store,
        STATIONS[1],
        [
            ("ASN-002", "2026-12-07 07:05"),  # the same person at the venue's other station
            ("ASN-004", "2026-12-07 07:30:01"),  # a second after the threshold: late
            ("ASN-003", "2026-12-07 08:01"),  # after the window: not counted
        ],
    )
    event = model.get(db, "apel-senin")
    assert event is not None and not event.open
    board = results.board(db, event, at("2026-12-07 09:00"))
    got = {a.number: (a.status, a.counted) for a in board.attendees}
    assert got == {
        "ASN-001": ("hadir", True),
        "ASN-002": ("hadir", True),  # her earlier scan, at the other station, counts
        "ASN-003": ("tidak_hadir", False),
        "ASN-004": ("terlambat", True),
        "ASN-005": ("izin", False),
        "ASN-006": ("hadir", True),  # a walk-in, counted: the event counts walk-ins
    }
    first_of_siti = next(a for a in board.attendees if a.number == "ASN-002")
    assert (first_of_siti.station, first_of_siti.at_ms) == (STATIONS[1], at("2026-12-07 07:05"))
    # y: the 5 expected and the walk-in who counts, so that "Hadir x / y" never reads 7 / 5
    assert (board.present, board.expected, board.late, board.excused, board.walk_ins) == (
        4,
        6,
        1,
        1,
        1,
    )
    assert board.repeats == 2  # ASN-001 at 07:40, ASN-002's second scan
    assert board.units == [
        ("Bappeda", 1, 2),
        ("Dinas Kesehatan", 1, 0),
        ("Dinas Perhubungan", 2, 3),
    ]
    assert [a.number for a in board.latest] == ["ASN-004", "ASN-006", "ASN-001", "ASN-002"]
    assert [a.number for a in board.missing()] == ["ASN-003"]
    assert [a.number for a in board.missing("Bappeda")] == []
    # while the event runs, the missing are "belum", not "tidak hadir"
    during = results.board(db, event, at("2026-12-07 07:45"))
    assert {a.number: a.status for a in during.attendees}["ASN-003"] == "belum"


def test_walk_ins_not_counted_and_an_open_event(store: SqlStore) -> None:
    prepared(store)
    db = store.database
    model.add_events(db, model.plan_events(db, apel(walk_ins=False)), "admin", 1)
    scan(store, STATIONS[0], [("ASN-006", "2026-12-07 07:20"), ("ASN-001", "2026-12-07 07:21")])
    event = model.get(db, "apel-senin")
    assert event is not None
    closed = results.board(db, event, at("2026-12-07 09:00"))
    walk_in = next(a for a in closed.attendees if a.number == "ASN-006")
    assert (walk_in.expected, walk_in.counted, closed.present, closed.expected) == (
        False,
        False,
        1,
        5,
    )
    # an open meeting: whoever comes, each counted once
    rapat = apel(
        id="rapat-koordinasi",
        kind="rapat",
        day=dt.date(2026, 12, 8),
        units=(),
        stations=("st-kantor-blu-01",),
        venue="kantor-blu",
    )
    model.add_events(db, model.plan_events(db, rapat), "admin", 1)
    scan(
        store,
        "st-kantor-blu-01",
        [("ASN-004", "2026-12-08 07:05"), ("ASN-006", "2026-12-08 07:45")],
    )
    meeting = model.get(db, "rapat-koordinasi")
    assert meeting is not None and meeting.open
    board = results.board(db, meeting, at("2026-12-08 09:00"))
    assert (board.present, board.expected, board.late) == (2, 2, 1)


def test_izin_only_for_someone_the_event_expects(store: SqlStore) -> None:
    prepared(store)
    db = store.database
    model.add_events(db, model.plan_events(db, apel()), "admin", 1)
    rapat = apel(id="rapat-koordinasi", kind="rapat", units=(), day=dt.date(2026, 12, 8))
    model.add_events(db, model.plan_events(db, rapat), "admin", 1)
    with pytest.raises(model.EventError, match="ASN-006 is not expected at apel-senin"):
        model.excuse(db, "apel-senin", "ASN-006", "dinas luar", "admin", 2)  # Dinas Kesehatan
    with pytest.raises(model.EventError, match="expects no one in particular"):
        model.excuse(db, "rapat-koordinasi", "ASN-001", "sakit", "admin", 2)
    refused = "SELECT COUNT(*) FROM event_excused"
    assert db.execute(refused)[0][0] == 0  # nothing stored, nothing audited
    assert not db.execute("SELECT 1 FROM audit WHERE action = 'event.excuse'")
    model.excuse(db, "apel-senin", "ASN-005", "sakit", "admin", 2)  # Bappeda: expected
    assert db.execute(refused)[0][0] == 1


def test_a_weekly_series_with_one_date_cancelled(store: SqlStore) -> None:
    prepared(store)
    db = store.database
    made = model.plan_events(db, apel(repeat_until=dt.date(2026, 12, 28)))
    assert [e.id for e in made] == [
        "apel-senin-2026-12-07",
        "apel-senin-2026-12-14",
        "apel-senin-2026-12-21",
        "apel-senin-2026-12-28",
    ]
    model.add_events(db, made, "admin", 1)
    model.cancel(db, "apel-senin-2026-12-21", "admin", 2)
    found = model.between(db, at("2026-12-01 00:00"), at("2027-01-01 00:00"), cancelled=False)
    assert [e.id for e in found] == [
        "apel-senin-2026-12-07",
        "apel-senin-2026-12-14",
        "apel-senin-2026-12-28",
    ]
    assert all(e.series == "apel-senin" for e in found)
    with pytest.raises(model.EventError, match="cancelled already"):
        model.cancel(db, "apel-senin-2026-12-21", "admin", 3)
    # the cancelled date frees its stations for another event
    other = apel(id="upacara-hari-ibu", kind="upacara", day=dt.date(2026, 12, 21))
    model.add_events(db, model.plan_events(db, other), "admin", 4)


def test_bad_events_are_refused_whole(store: SqlStore) -> None:
    prepared(store)
    db = store.database
    model.add_events(db, model.plan_events(db, apel()), "admin", 1)
    with pytest.raises(model.EventError, match="overlaps event 'apel-senin' on station"):
        model.plan_events(
            db, apel(id="rapat-pagi", start=dt.time(7, 45), late=dt.time(8, 0), end=dt.time(9, 0))
        )
    with pytest.raises(model.EventError) as caught:
        model.plan_events(
            db,
            apel(
                id="Apel Besar!",
                kind="pesta",
                start=dt.time(9, 0),
                end=dt.time(8, 0),
                stations=("st-nowhere",),
                units=("Dinas Pariwisata",),
            ),
        )
    for says in (
        "id 'Apel Besar!'",
        "kind 'pesta'",
        "window is empty",
        "unknown station",
        "unknown unit",
    ):
        assert says in str(caught.value)
    assert [e.id for e in model.between(db, 0, 2**62)] == ["apel-senin"]  # nothing else stored
    known, unknown = model.parse_participants(
        "pegawai\nASN-001\nASN-009\n\nASN-004,Dewi\nXX-1\n", {"ASN-001", "ASN-004"}
    )
    assert (known, unknown) == (["ASN-001", "ASN-004"], ["ASN-009", "XX-1"])


def test_moving_the_window_after_it_started_recomputes_with_an_audit_entry(store: SqlStore) -> None:
    prepared(store)
    db = store.database
    model.add_events(db, model.plan_events(db, apel()), "admin", 1)
    scan(store, STATIONS[0], [("ASN-001", "2026-12-07 07:35")])
    event = model.get(db, "apel-senin")
    assert event is not None
    before = results.board(db, event, at("2026-12-07 07:50"))
    assert {a.number: a.status for a in before.attendees}["ASN-001"] == "terlambat"
    moved = model.change_window(
        db,
        "apel-senin",
        start=None,
        late=dt.time(7, 45),
        end=None,
        by="admin",
        now_ms=at("2026-12-07 07:50"),
    )
    after = results.board(db, moved, at("2026-12-07 07:50"))
    assert {a.number: a.status for a in after.attendees}["ASN-001"] == "hadir"
    trail = db.execute("SELECT action, detail FROM audit WHERE action = 'event.window'")
    assert [tuple(r) for r in trail] == [
        ("event.window", "07:00 07:30 08:00 -> 07:00 07:45 08:00 (after it started)")
    ]
    with pytest.raises(model.EventError, match="outside the window"):
        model.change_window(
            db, "apel-senin", start=None, late=dt.time(9, 0), end=None, by="a", now_ms=1
        )


def test_a_missed_apel_counts_in_the_monthly_recap(store: SqlStore) -> None:
    from presensi.hub.attendance import days, reports

    prepared(store)
    db = store.database
    model.add_events(db, model.plan_events(db, apel(repeat_until=dt.date(2026, 12, 14))), "a", 1)
    model.excuse(db, "apel-senin-2026-12-07", "ASN-005", "sakit", "admin", 2)
    scan(store, STATIONS[0], [("ASN-001", "2026-12-07 07:10"), ("ASN-002", "2026-12-07 07:50")])
    _, rules = days.RulesInForce().get(db)
    assert rules.missed_event == "TA"
    persons = reports.people(db)
    # after the first apel only (the second is still to come): one missed each, not counted
    # for who came (late or not) or was excused, nor for who was not expected
    lines = reports.recap(
        db, rules, dt.date(2026, 12, 1), dt.date(2026, 12, 31), persons, at("2026-12-10 12:00")
    )
    missed = {line.person.number: line.counts.get("TA", 0) for line in lines}
    assert missed == {
        "ASN-001": 0, "ASN-002": 0, "ASN-003": 1, "ASN-004": 1, "ASN-005": 0, "ASN-006": 0,
    }  # fmt: skip
    agus = next(line for line in lines if line.person.number == "ASN-003")
    assert agus.deduction >= rules.codes["TA"].deduction
    # both apel over: two missed for who came to neither
    later = reports.recap(
        db, rules, dt.date(2026, 12, 1), dt.date(2026, 12, 31), persons, at("2026-12-20 12:00")
    )
    assert {line.person.number: line.counts.get("TA", 0) for line in later}["ASN-003"] == 2
