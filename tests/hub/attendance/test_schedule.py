"""What the rules file does not say: rosters of per-day shifts (rotating bus crews), dates with
other hours (Ramadan), public holidays from a CSV file, and the locations a group may scan at.
Golden cases as tables, then the imports into the hub's store (SQLite and PostgreSQL): checked
whole, line-numbered, nothing half-applied, the days derived again."""

from __future__ import annotations

import datetime as dt

import pytest

from presensi.hub.attendance import days, reports
from presensi.hub.attendance.derive import ELSEWHERE, Assignment, derive_day, shift_on
from presensi.hub.attendance.rules import DEFAULT_RULES, RulesError, parse_rules
from presensi.hub.attendance.schedule import (
    ScheduleError,
    import_holidays,
    import_roster,
    parse_holidays,
    parse_roster,
)
from presensi.hub.people import Person, sync_people
from presensi.hub.places import Place, sync_places
from presensi.hub.store import SqlStore, StationInfo
from presensi.protocol.wire import batch_of

from .factory import at, chain
from .test_derive import punch

RULES = parse_rules(
    DEFAULT_RULES
    + """
[groups.PoolMangkang]
shift = "pagi"
days = ["senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu"]
holidays_off = false
locations = ["pool-mangkang", "term-mangkang"]
"""
)
AWAK = RULES.groups["Awak"]  # rostered: works only the days the roster names
KANTOR = RULES.groups["Kantor"]

# group, day, the roster's line (shift, location) or None, punches, codes (None: no day)
GOLDEN = [
    # a rostered crew member without a line that day is off, whatever they scan
    (AWAK, "2026-12-07", None, ["2026-12-07 05:00 in", "2026-12-07 13:00 out"], None),
    # the roster's shift for the day: a night shift
    (
        AWAK,
        "2026-12-07",
        ("malam", None),
        ["2026-12-07 21:10 in", "2026-12-08 05:00 out"],
        ("TL1",),
    ),
    # the roster's day off
    (AWAK, "2026-12-07", (None, None), ["2026-12-07 05:00 in"], None),
    # a roster line overrides a non-rostered group's shift for that day (a swap)
    (
        KANTOR,
        "2026-12-07",
        ("siang", None),
        ["2026-12-07 13:00 in", "2026-12-07 21:00 out"],
        ("H",),
    ),
    # Ramadan: the office works 08:00-15:00; 08:00 is on time, 15:00 is not early
    (KANTOR, "2027-02-15", None, ["2027-02-15 08:00 in", "2027-02-15 15:00 out"], ("H",)),
    # the same times outside Ramadan: 30 minutes late, an hour early
    (
        KANTOR,
        "2027-03-15",
        None,
        ["2027-03-15 08:00 in", "2027-03-15 15:00 out"],
        ("TL1", "PSW2"),
    ),
    # a roster's shift inside Ramadan is mapped too
    (
        AWAK,
        "2027-02-15",
        ("kantor", None),
        ["2027-02-15 08:00 in", "2027-02-15 15:00 out"],
        ("H",),
    ),
]


@pytest.mark.parametrize(("group", "day", "line", "punches", "codes"), GOLDEN)
def test_golden_rostered_and_ramadan_days(
    group: object, day: str, line: tuple[str | None, str | None] | None, punches: list[str],
    codes: tuple[str, ...] | None,
) -> None:  # fmt: skip
    parsed = [punch(" ".join(p.split()[:2]), p.split()[2]) for p in punches]
    assigned = None if line is None else Assignment(*line)
    result = derive_day(
        RULES,
        group,
        "EMP-00001",
        dt.date.fromisoformat(day),
        parsed,
        assigned,  # type: ignore[arg-type]
    )
    assert (None if result is None else result.codes) == codes


# where a roster puts a night shift before a day shift, the night's check-out window meets
# the morning's check-in window: there, as where a day's own windows meet, the station's
# direction decides; a time set by hand counts only as what it was set as.
# day, its roster line, the lines of the days before and after, punches
# ("... manual" a time set by hand), codes (None: no day) and minutes late
NEIGHBOURS = [
    # piket malam on Sunday for an office worker, then the office on Monday at 09:40: the
    # night's 05:45 check-out is not Monday's check-in
    (
        KANTOR, "2026-12-07", None, ("malam", None), None,
        ["2026-12-06 20:55 in", "2026-12-07 05:45 out", "2026-12-07 09:40 in",
         "2026-12-07 16:05 out"],
        ("TL4",), 130,
    ),
    (
        KANTOR, "2026-12-06", ("malam", None), None, None,
        ["2026-12-06 20:55 in", "2026-12-07 05:45 out", "2026-12-07 09:40 in",
         "2026-12-07 16:05 out"],
        ("H",), 0,
    ),
    # a crew on nights, then on the morning shift it does not come to: absent, not present
    (
        AWAK, "2026-12-08", ("pagi", None), ("malam", None), None,
        ["2026-12-07 20:58 in", "2026-12-08 05:03 out"],
        None, 0,
    ),
    # the limit: an auto station calls the 05:45 check-out "in" (the first scan of Monday);
    # where the windows meet that makes it Monday's check-in and leaves the night without
    # its check-out (fixed in/out stations avoid it where night duty precedes a day shift)
    (
        KANTOR, "2026-12-06", ("malam", None), None, None,
        ["2026-12-06 20:55 in", "2026-12-07 05:45 in"],
        ("PSW4",), 0,
    ),
    # a check-in set by hand at 12:30, after the check-in window: not a check-out
    (KANTOR, "2026-12-07", None, None, None, ["2026-12-07 12:30 in manual"], None, 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("group", "day", "line", "before", "after", "punches", "codes", "late"), NEIGHBOURS
)
def test_golden_days_beside_another_shift(
    group: object, day: str, line: tuple[str | None, str | None] | None,
    before: tuple[str | None, str | None] | None, after: tuple[str | None, str | None] | None,
    punches: list[str], codes: tuple[str, ...] | None, late: int,
) -> None:  # fmt: skip
    parsed = [
        punch(" ".join(p.split()[:2]), p.split()[2], where=[*p.split(), "term-mangkang"][3])
        for p in punches
    ]
    result = derive_day(
        RULES,
        group,  # type: ignore[arg-type]
        "EMP-00001",
        dt.date.fromisoformat(day),
        parsed,
        None if line is None else Assignment(*line),
        before=None if before is None else Assignment(*before),
        after=None if after is None else Assignment(*after),
    )
    assert (None if result is None else (result.codes, result.late_min)) == (
        None if codes is None else (codes, late)
    )


def test_a_punch_at_a_location_not_assigned_flags_the_day() -> None:
    group = RULES.groups["PoolMangkang"]
    day = dt.date(2026, 12, 7)
    home = [punch("2026-12-07 05:00", "in", where="pool-mangkang")]
    home.append(punch("2026-12-07 13:00", "out", where="term-mangkang"))
    ok = derive_day(RULES, group, "EMP-00001", day, home)
    assert ok is not None and ok.flags == () and ok.codes == ("H",)
    away = [*home[:1], punch("2026-12-07 13:00", "out", where="term-terboyo")]
    flagged = derive_day(RULES, group, "EMP-00001", day, away)
    # it still counts (the person worked), flagged for a person to look at
    assert flagged is not None and flagged.codes == ("H",) and flagged.flags == (ELSEWHERE,)
    # the roster's location for the day replaces the group's
    moved = derive_day(RULES, group, "EMP-00001", day, away, Assignment("pagi", "term-terboyo"))
    assert moved is not None and moved.flags == (ELSEWHERE,)  # 05:00 at pool-mangkang
    there = [punch("2026-12-07 05:00", "in", where="term-terboyo"), away[1]]
    assert (
        derive_day(RULES, group, "EMP-00001", day, there, Assignment("pagi", "term-terboyo")).flags
        == ()
    )  # type: ignore[union-attr]
    # anyone without assigned locations may scan anywhere
    assert derive_day(RULES, RULES.groups["Pagi"], "EMP-00001", day, away).flags == ()  # type: ignore[union-attr]


def test_holidays_and_periods_in_the_rules_file() -> None:
    assert shift_on(RULES, KANTOR, dt.date(2026, 12, 25)) is None  # Natal: the office is off
    assert shift_on(RULES, RULES.groups["Pagi"], dt.date(2026, 12, 25)) is not None  # buses run
    ramadan = shift_on(RULES, KANTOR, dt.date(2027, 2, 8))
    assert ramadan is not None and ramadan.name == "kantor_ramadan"
    after = shift_on(RULES, KANTOR, dt.date(2027, 3, 10))
    assert after is not None and after.name == "kantor"


@pytest.mark.parametrize(
    ("addition", "says"),
    [
        (
            '[periods.x]\nfrom = "2027-01-10"\nto = "2027-01-01"\nshifts = { pagi = "siang" }\n',
            "ends (2027-01-01) before it starts",
        ),
        (
            '[periods.x]\nfrom = "2027-01-01"\nto = "2027-01-10"\nshifts = { pagi = "sore" }\n',
            "names a shift not in [shifts]",
        ),
        (
            '[periods.x]\nfrom = "2027-02-01"\nto = "2027-02-10"\nshifts = { kantor = "pagi" }\n',
            "overlaps period",
        ),
        ('[periods.x]\nfrom = "kemarin"\nto = "2027-02-10"\nshifts = { a = "b" }\n', "a date"),
        ("[signals]\ntravel_kmh = 0\n", "must be a number from 1"),
        ("[signals]\nspeed = 5\n", "is not a signals setting"),
        ('[groups.X]\nshift = "pagi"\nroster = "ya"\n', "must be true or false"),
        ('[groups.X]\nshift = "pagi"\nlocations = "pool"\n', "list of location ids"),
    ],
)
def test_bad_periods_signals_and_groups_are_refused_with_their_line(
    addition: str, says: str
) -> None:
    text = DEFAULT_RULES
    if "[signals]" in addition:  # one [signals] table only: the defaults' goes (and what follows
        text = text[: text.index("\n[signals]") + 1]  # it: codes and bands default if left out)
    with pytest.raises(RulesError) as caught:
        parse_rules(text + addition)
    assert says in str(caught.value)
    assert all(p.startswith("line ") for p in caught.value.problems)


# -- the CSV files -----------------------------------------------------------------------------

EMPLOYEES = ["EMP-00001", "EMP-00002", "EMP-00003"]
PLACES = ["pool-mangkang", "term-mangkang", "term-terboyo"]


def test_a_roster_file_with_errors_is_refused_whole_with_line_numbers() -> None:
    text = (
        "pegawai,tanggal,shift,lokasi\n"
        "EMP-00001,2026-12-07,pagi,pool-mangkang\n"  # fine
        "EMP-09999,2026-12-07,pagi,\n"  # line 3: unknown employee
        "EMP-00002,2026-13-01,pagi,\n"  # line 4: no such date
        "EMP-00002,2026-12-08,sore,\n"  # line 5: unknown shift
        "EMP-00003,2026-12-08,libur,halte-x\n"  # line 6: unknown location
        "EMP-00001,2026-12-07,siang,\n"  # line 7: the same day twice
        "EMP-00001,2026-12-09\n"  # line 8: a cell short
    )
    with pytest.raises(ScheduleError) as caught:
        parse_roster(text, RULES, EMPLOYEES, PLACES)
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in range(3, 9)]
    assert "unknown employee 'EMP-09999'" in problems[0]
    assert "not a date" in problems[1]
    assert "unknown shift 'sore'" in problems[2]
    assert "unknown location 'halte-x'" in problems[3]
    assert "already on line 2" in problems[4]
    for header in ("pegawai,tanggal\n", "pegawai,tanggal,shift,jam\n", ""):
        with pytest.raises(ScheduleError, match="line 1"):
            parse_roster(header, RULES, EMPLOYEES, PLACES)
    with pytest.raises(ScheduleError, match="not UTF-8"):
        parse_roster(b"pegawai,tanggal,shift\n\xff\xfe,2026-12-07,pagi\n", RULES, EMPLOYEES, PLACES)


def test_a_holiday_file_with_errors_is_refused_whole() -> None:
    good = parse_holidays("tanggal,nama\n2027-01-01,Tahun Baru\n2027-03-20,Idul Fitri\n")
    assert good == {dt.date(2027, 1, 1): "Tahun Baru", dt.date(2027, 3, 20): "Idul Fitri"}
    with pytest.raises(ScheduleError) as caught:
        parse_holidays(
            "tanggal,nama\n2027-01-01,Tahun Baru\n1 Januari,x\n2027-01-01,lagi\n2027-05-01,\n"
        )
    assert [p.split(":")[0] for p in caught.value.problems] == ["line 3", "line 4", "line 5"]


# -- in the store --------------------------------------------------------------------------------


def _prepared(store: SqlStore) -> None:
    db = store.database
    sync_people(
        db,
        [
            Person("EMP-00001", "Budi Santoso", "Pramudi Koridor I", "Awak"),
            Person("EMP-00002", "Siti Rahayu", "Kantor BLU", "Kantor"),
        ],
        1,
    )
    sync_places(
        db,
        [
            Place(
                "term-mangkang", "Terminal Mangkang", "terminal", -6.9728, 110.2966, "Asia/Jakarta"
            ),
            Place("pool-mangkang", "Pool Mangkang", "pool", -6.9708, 110.299, "Asia/Jakarta"),
        ],
        1,
    )
    store.register_station(StationInfo("st-term-mangkang-01", bytes(32), "term-mangkang"))


def test_an_imported_roster_decides_the_crews_days(store: SqlStore) -> None:
    _prepared(store)
    db = store.database
    scans = chain(
        "st-term-mangkang-01",
        [
            ("EMP-00001", "2026-12-07 20:55", "in"),  # the roster says malam on the 7th
            ("EMP-00001", "2026-12-08 05:01", "out"),
        ],
    )
    store.ingest([batch_of(scans[0].station, scans[0].journal, scans)], at("2026-12-08 06:00"))
    days.derive_all(db, days.RulesInForce())
    # no roster yet: a rostered crew member's scans make no day
    assert days.stored_days(db, dt.date(2026, 12, 1), dt.date(2026, 12, 31)) == []
    roster_text = (
        "pegawai,tanggal,shift\nEMP-00001,2026-12-07,malam\nEMP-00001,2026-12-08,libur\n"
        "EMP-00001,2026-12-09,pagi\n"
    )
    _, rules_now = days.RulesInForce().get(db)
    lines = parse_roster(roster_text, rules_now, ["EMP-00001", "EMP-00002"], ["term-mangkang"])
    assert import_roster(db, lines, "admin", at("2026-12-08 07:00")) == 3
    days.derive_all(db, days.RulesInForce())
    found = days.stored_days(db, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert [(d.work_date.isoformat(), d.shift, d.codes) for d in found] == [
        ("2026-12-07", "malam", ("H",))
    ]
    # the reports: the 8th is off, the 9th a work day without a scan (absent), the 10th not
    # on the roster (off)
    [person] = [p for p in reports.people(db) if p.number == "EMP-00001"]
    now = at("2026-12-11 12:00")
    rules_now = days.RulesInForce().get(db)[1]
    states = {}
    for d in (8, 9, 10):
        line, _ = reports.daily(db, rules_now, dt.date(2026, 12, d), [person], now)
        states[d] = line[0].state
    assert states == {8: "libur", 9: "absen", 10: "libur"}
    trail = db.execute("SELECT action, detail FROM audit WHERE action = 'attendance.roster'")
    assert [tuple(r) for r in trail] == [("attendance.roster", "3 lines")]


def test_a_night_on_the_roster_before_an_office_day(store: SqlStore) -> None:
    """The database says what derive_day says (NEIGHBOURS above): the night's check-out at
    05:45, inside Monday's check-in window, stays the night's."""
    _prepared(store)
    db = store.database
    _, rules_now = days.RulesInForce().get(db)
    lines = parse_roster(
        "pegawai,tanggal,shift\nEMP-00002,2026-12-06,malam\n", rules_now, ["EMP-00002"], []
    )
    import_roster(db, lines, "admin", at("2026-12-06 12:00"))
    gate_in = chain(
        "st-term-mangkang-01",
        [("EMP-00002", "2026-12-06 20:55", "in"), ("EMP-00002", "2026-12-07 09:40", "in")],
    )
    gate_out = chain(
        "st-term-mangkang-02",
        [("EMP-00002", "2026-12-07 05:45", "out"), ("EMP-00002", "2026-12-07 16:05", "out")],
    )
    for scans in (gate_in, gate_out):
        store.ingest([batch_of(scans[0].station, scans[0].journal, scans)], at("2026-12-07 17:00"))
    days.derive_all(db, days.RulesInForce())
    found = days.stored_days(db, dt.date(2026, 12, 1), dt.date(2026, 12, 31), "EMP-00002")
    assert [(d.work_date.isoformat(), d.shift, d.codes, d.late_min) for d in found] == [
        ("2026-12-06", "malam", ("H",), 0),
        ("2026-12-07", "kantor", ("TL4",), 130),
    ]


def test_imported_holidays_count_beside_the_rules_files(store: SqlStore) -> None:
    _prepared(store)
    db = store.database
    office = [p for p in reports.people(db) if p.number == "EMP-00002"]
    scans = chain("st-term-mangkang-01", [("EMP-00002", "2027-03-19 07:30", "in")])
    store.ingest([batch_of(scans[0].station, scans[0].journal, scans)], at("2027-03-19 08:00"))
    days.derive_all(db, days.RulesInForce())
    now = at("2027-03-25 12:00")

    def state(day: dt.date) -> str:
        lines, _ = reports.daily(db, days.RulesInForce().get(db)[1], day, office, now)
        return lines[0].state

    assert state(dt.date(2027, 3, 20)) == "libur"  # a Saturday
    assert state(dt.date(2027, 3, 22)) == "absen"  # a Monday
    added, removed = import_holidays(
        db,
        parse_holidays("tanggal,nama\n2027-03-19,Cuti bersama\n2027-03-22,Idul Fitri\n"),
        "admin",
        1,
    )
    assert (added, removed) == (2, 0)
    assert days.derive_all(db, days.RulesInForce()) >= 1  # the 19th had a scan: derived again
    assert state(dt.date(2027, 3, 22)) == "libur"
    # the scan on a holiday the office has off makes no work day
    assert days.stored_days(db, dt.date(2027, 3, 19), dt.date(2027, 3, 19)) == []
    rules_now = days.RulesInForce().get(db)[1]
    assert rules_now.holidays[dt.date(2026, 12, 25)] == "Hari Raya Natal"  # the file's stay
    # a new list for 2027 replaces that year's imported ones
    assert import_holidays(db, parse_holidays("tanggal,nama\n2027-03-22,Idul Fitri\n"), "a", 2) == (
        0,
        1,
    )
    days.derive_all(db, days.RulesInForce())
    assert [
        d.work_date for d in days.stored_days(db, dt.date(2027, 3, 19), dt.date(2027, 3, 19))
    ] == [dt.date(2027, 3, 19)]


def test_a_correction_reads_the_time_on_the_rostered_shift(store: SqlStore) -> None:
    """A crew member on the roster's night shift whose check-out was missed: "05:00" is the
    next morning (the night shift's end), not the morning of the day (the group's shift)."""
    from presensi.hub.console.data import ConsoleData

    _prepared(store)
    db = store.database
    _, rules_now = days.RulesInForce().get(db)
    lines = parse_roster(
        "pegawai,tanggal,shift\nEMP-00001,2026-12-07,malam\n", rules_now, ["EMP-00001"], []
    )
    import_roster(db, lines, "admin", 1)
    made = ConsoleData(db).attendance_correct(
        employee="EMP-00001",
        day=dt.date(2026, 12, 7),
        by="operator",
        reason="pemindai pool mati",
        code=None,
        check_in=None,
        check_out="05:00",
        attachment="",
        now_ms=at("2026-12-08 08:00"),
    )
    assert made.check_out_ms == at("2026-12-08 05:00")
    # 00:30 as a check-in of that night is the next day's 00:30, inside its check-in window
    late = ConsoleData(db).attendance_correct(
        employee="EMP-00001", day=dt.date(2026, 12, 7), by="operator", reason="lupa",
        code=None, check_in="00:30", check_out=None, attachment="", now_ms=at("2026-12-08 08:00"),
    )  # fmt: skip
    assert late.check_in_ms == at("2026-12-08 00:30")


def test_a_time_set_by_hand_outside_the_shifts_window_is_refused(store: SqlStore) -> None:
    """An office worker's check-in "12:30" is after the check-in window (05:30-11:30) closes:
    refused, naming the window (it would count as nothing), and nothing is stored."""
    from presensi.hub.attendance.corrections import CorrectionError
    from presensi.hub.console.data import ConsoleData

    _prepared(store)
    db = store.database
    refused = "12:30 is outside the shift's check-in window 05:30-11:30"
    with pytest.raises(CorrectionError, match=refused) as info:
        ConsoleData(db).attendance_correct(
            employee="EMP-00002", day=dt.date(2026, 12, 7), by="operator", reason="lupa",
            code=None, check_in="12:30", check_out=None, attachment="",
            now_ms=at("2026-12-07 13:00"),
        )  # fmt: skip
    assert info.value.key == "in_outside"
    assert db.execute("SELECT COUNT(*) FROM attendance_corrections")[0][0] == 0
    with pytest.raises(
        CorrectionError, match="09:00 is outside the shift's check-out window 12:00-20:00"
    ):
        ConsoleData(db).attendance_correct(
            employee="EMP-00002", day=dt.date(2026, 12, 7), by="operator", reason="lupa",
            code=None, check_in=None, check_out="09:00", attachment="",
            now_ms=at("2026-12-07 13:00"),
        )  # fmt: skip
