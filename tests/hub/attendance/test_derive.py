"""Golden cases of a work day, written out as a table: each row is a group, the day, the punches
(local times at the group's zone) and what the day must come to. Default rules (Indonesian
bands: TL1-TL4, PSW1-PSW4; grace 5 minutes on the bus shifts)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from presensi.hub.attendance.derive import Punch, candidate_days, derive_day
from presensi.hub.attendance.rules import DEFAULT_RULES, parse_rules

RULES = parse_rules(
    DEFAULT_RULES
    + """
[groups.KantorMakassar]
shift = "kantor"
days = ["senin", "selasa", "rabu", "kamis", "jumat"]
holidays_off = true
timezone = "Asia/Makassar"

[shifts.singkat]   # a short shift whose windows overlap from 09:00 to 11:00
start = "08:00"
end = "12:00"
grace_min = 5
in_window = [-60, 180]
out_window = [-180, 120]

[groups.Singkat]
shift = "singkat"
days = ["senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu"]
"""
)


def punch(
    when: str, direction: str, zone: str = "Asia/Jakarta", where: str = "term-mangkang"
) -> Punch:
    local = dt.datetime.fromisoformat(when).replace(tzinfo=zoneinfo.ZoneInfo(zone))
    return Punch(int(local.timestamp() * 1000), direction, where)


# group, work day, punches "YYYY-MM-DD HH:MM[:SS] in|out", codes, minutes late, minutes early
GOLDEN = [
    # a night shift 21:00-05:00 across midnight and the end of a month (and of a year)
    ("Malam", "2026-12-31", ["2026-12-31 20:55 in", "2027-01-01 05:02 out"], ("H",), 0, 0),
    # the grace boundary: 5 minutes after the start is on time, one second more is 6 minutes late
    ("Pagi", "2026-12-07", ["2026-12-07 05:05:00 in", "2026-12-07 13:00 out"], ("H",), 0, 0),
    ("Pagi", "2026-12-07", ["2026-12-07 05:05:01 in", "2026-12-07 13:00 out"], ("TL1",), 6, 0),
    # two check-ins: the first counts
    (
        "Pagi",
        "2026-12-07",
        ["2026-12-07 04:50 in", "2026-12-07 05:20 in", "2026-12-07 13:10 out"],
        ("H",),
        0,
        0,
    ),
    # two check-outs: the last counts
    (
        "Siang",
        "2026-12-07",
        ["2026-12-07 13:00 in", "2026-12-07 19:00 out", "2026-12-07 21:01 out"],
        ("H",),
        0,
        0,
    ),
    # a missing check-out counts as PSW4
    ("Pagi", "2026-12-07", ["2026-12-07 05:00 in"], ("PSW4",), 0, 0),
    # a missing check-in counts as TL4
    ("Pagi", "2026-12-07", ["2026-12-07 13:00 out"], ("TL4",), 0, 0),
    # late 45 and early 70: TL2 and PSW3
    (
        "Pagi",
        "2026-12-07",
        ["2026-12-07 05:45 in", "2026-12-07 11:50 out"],
        ("TL2", "PSW3"),
        45,
        70,
    ),
    # over 90 minutes late, no check-out
    ("Pagi", "2026-12-07", ["2026-12-07 06:40 in"], ("TL4", "PSW4"), 100, 0),
    # an office worker in Makassar (WITA) with the hub in WIB: 07:30 WITA is on time
    (
        "KantorMakassar",
        "2026-12-07",
        ["2026-12-07 07:30 in Asia/Makassar", "2026-12-07 16:00 out Asia/Makassar"],
        ("H",),
        0,
        0,
    ),
    # the same punches read as WIB would be an hour late: the group's zone is what counts
    ("Kantor", "2026-12-07", ["2026-12-07 08:30 in", "2026-12-07 16:00 out"], ("TL2",), 60, 0),
    # a station in auto mode calls the first scan of the local day "in": the night shift's
    # check-out after midnight arrives as "in", and is the check-out (its window says so)
    ("Malam", "2026-12-31", ["2026-12-31 20:55 in", "2027-01-01 05:02 in"], ("H",), 0, 0),
    # checked in at a bus pool, out at a terminal whose station had not seen them that day
    ("Pagi", "2026-12-07", ["2026-12-07 04:58 in", "2026-12-07 13:02 in"], ("H",), 0, 0),
    # an apel in the morning at the station, then the Siang shift's check-in there as "out"
    (
        "Siang",
        "2026-12-07",
        ["2026-12-07 07:00 in", "2026-12-07 12:55 out", "2026-12-07 21:05 out"],
        ("H",),
        0,
        0,
    ),
    # where the two windows overlap (09:00-11:00 here), the station's direction decides
    ("Singkat", "2026-12-07", ["2026-12-07 08:00 in", "2026-12-07 10:30 out"], ("PSW3",), 0, 90),
    ("Singkat", "2026-12-07", ["2026-12-07 08:00 in", "2026-12-07 10:30 in"], ("PSW4",), 0, 0),
    ("Singkat", "2026-12-07", ["2026-12-07 09:30 out", "2026-12-07 12:00 out"], ("TL4",), 0, 0),
    # event scans (a roll call's) are not punches
    ("Pagi", "2026-12-07", ["2026-12-07 05:00 event", "2026-12-07 13:00 out"], ("TL4",), 0, 0),
]


@pytest.mark.parametrize(("group", "day", "punches", "codes", "late", "early"), GOLDEN)
def test_golden_days(
    group: str, day: str, punches: list[str], codes: tuple[str, ...], late: int, early: int
) -> None:
    parsed = []
    for text in punches:
        parts = text.split()
        zone = parts[3] if len(parts) > 3 else RULES.groups[group].timezone
        parsed.append(punch(f"{parts[0]} {parts[1]}", parts[2], zone))
    result = derive_day(RULES, RULES.groups[group], "EMP-00001", dt.date.fromisoformat(day), parsed)
    assert result is not None
    assert (result.codes, result.late_min, result.early_min) == (codes, late, early)
    assert result.deduction == min(3.0, sum(RULES.codes[c].deduction for c in codes))


def test_the_night_shifts_check_out_is_not_the_next_nights_check_in() -> None:
    punches = [
        punch("2026-12-30 21:00", "in"),
        punch("2026-12-31 05:00", "out"),
        punch("2026-12-31 21:10", "in"),
        punch("2027-01-01 05:00", "out"),
    ]
    night = RULES.groups["Malam"]
    first = derive_day(RULES, night, "E", dt.date(2026, 12, 30), punches)
    second = derive_day(RULES, night, "E", dt.date(2026, 12, 31), punches)
    assert first is not None and second is not None
    assert first.codes == ("H",) and second.codes == ("TL1",) and second.late_min == 10
    assert first.last_out_ms == punches[1].at_ms and second.first_in_ms == punches[2].at_ms


def test_days_off_holidays_and_absence() -> None:
    office, crew = RULES.groups["Kantor"], RULES.groups["Pagi"]
    christmas = dt.date(2026, 12, 25)
    punches = [punch("2026-12-25 07:30", "in"), punch("2026-12-25 16:00", "out")]
    assert derive_day(RULES, office, "E", christmas, punches) is None  # a holiday off
    worked = derive_day(RULES, crew, "E", christmas, [punch("2026-12-25 05:00", "in")])
    assert worked is not None  # buses run on holidays
    saturday = dt.date(2026, 12, 5)
    assert derive_day(RULES, office, "E", saturday, [punch("2026-12-05 07:30", "in")]) is None
    assert derive_day(RULES, crew, "E", dt.date(2026, 12, 7), []) is None  # absent: no row


def test_every_punch_belongs_to_one_of_its_candidate_days() -> None:
    for text, zone in [("2026-12-31 23:59", "Asia/Jayapura"), ("2027-01-01 00:01", "Asia/Jakarta")]:
        p = punch(text, "in", zone)
        local_day = dt.datetime.fromtimestamp(p.at_ms / 1000, zoneinfo.ZoneInfo(zone)).date()
        days = candidate_days(p.at_ms)
        assert local_day in days and local_day - dt.timedelta(days=1) in days


@given(st.permutations(list(range(6))), st.sampled_from(["Pagi", "Malam", "Siang"]))
def test_the_same_punches_in_any_order_give_the_same_day(order: list[int], group: str) -> None:
    base = [
        punch("2026-12-07 04:40", "in"),
        punch("2026-12-07 05:30", "in"),
        punch("2026-12-07 12:00", "out"),
        punch("2026-12-07 13:05", "out"),
        punch("2026-12-07 21:20", "in"),
        punch("2026-12-08 04:00", "out"),
    ]
    shuffled = [base[i] for i in order]
    day = dt.date(2026, 12, 7)
    g = RULES.groups[group]
    assert derive_day(RULES, g, "E", day, shuffled) == derive_day(RULES, g, "E", day, base)
