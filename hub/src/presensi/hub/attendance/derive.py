"""One employee's work day from their punches: pure, no database. A work day is the date its
shift starts on (a night shift 21:00-05:00 belongs to the evening's date, its check-out the next
morning included). The check-in is the first accepted "in" punch in the check-in window, the
check-out the last accepted "out" punch in the check-out window; minutes late and early fall in
the rules' bands; a missing punch counts as the rules say (TL4, PSW4 by default).

The same punches in any order give the same day: everything here sorts or takes min/max.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from presensi.hub.attendance.rules import Group, Rules, Shift

MINUTE_MS = 60_000
MANUAL = "manual"  # the location of a time set by hand in a correction


@dataclass(frozen=True)
class Punch:
    at_ms: int  # when it was made (the hub's corrected time if the station's clock was off)
    direction: str  # "in" or "out"
    location: str


@dataclass(frozen=True)
class Day:
    employee: str
    work_date: dt.date
    shift: str
    start_ms: int
    end_ms: int
    window_end_ms: int  # after this no punch can change the day (if every station delivered)
    first_in_ms: int | None
    last_out_ms: int | None
    late_min: int
    early_min: int
    codes: tuple[str, ...]  # ("H",) or e.g. ("TL2", "PSW4")
    deduction: float
    locations: tuple[str, ...]
    flags: tuple[str, ...] = ()  # "elsewhere": a punch at a location not assigned


@dataclass(frozen=True)
class Assignment:
    """The roster's line for one employee's day: the shift worked (None: a day off) and,
    if given, the one location assigned that day."""

    shift: str | None
    location: str | None = None


ELSEWHERE = "elsewhere"


def at_local(day: dt.date, minutes: int, zone: str) -> int:
    """Unix ms of `minutes` after local midnight of `day` (may run into the next days)."""
    return _midnight_ms(day, zone) + minutes * MINUTE_MS


@functools.lru_cache(maxsize=4096)
def _midnight_ms(day: dt.date, zone: str) -> int:
    midnight = dt.datetime.combine(day, dt.time(), zoneinfo.ZoneInfo(zone))
    return int(midnight.timestamp() * 1000)


def shift_on(
    rules: Rules, group: Group, day: dt.date, assigned: Assignment | None = None
) -> Shift | None:
    """The shift worked on `day` by someone of `group` (with the roster's line for the day,
    if any), or None for a day off: a roster's day off, a rostered group's day without a
    line, a day the group does not work, or a public holiday the group has off. Inside a
    period with other hours (Ramadan), the period's shift."""
    if assigned is not None:
        return None if assigned.shift is None else rules.shift_named(assigned.shift, day)
    if group.roster or day.weekday() not in group.days:
        return None
    if group.holidays_off and day in rules.holidays:
        return None
    return rules.shift_named(group.shift, day)


def allowed_locations(group: Group, assigned: Assignment | None) -> frozenset[str]:
    """Where the employee may scan that day; empty: anywhere."""
    if assigned is not None and assigned.location:
        return frozenset({assigned.location})
    return group.locations


@dataclass(frozen=True)
class Windows:
    """Where a work day's punches count: check-in and check-out windows, in unix ms."""

    start_ms: int
    end_ms: int
    check_in: tuple[int, int]
    check_out: tuple[int, int]
    opens_ms: int  # the first moment a punch can count
    closes_ms: int  # after this no punch can change the day


@functools.lru_cache(maxsize=8192)
def windows(shift: Shift, day: dt.date, zone: str) -> Windows:
    start = at_local(day, shift.start_min, zone)
    end = start + shift.length_min * MINUTE_MS
    check_in = (start + shift.in_window[0] * MINUTE_MS, start + shift.in_window[1] * MINUTE_MS)
    check_out = (end + shift.out_window[0] * MINUTE_MS, end + shift.out_window[1] * MINUTE_MS)
    return Windows(
        start,
        end,
        check_in,
        check_out,
        min(check_in[0], check_out[0]),
        max(check_in[1], check_out[1]),
    )


def day_windows(
    rules: Rules, group: Group, day: dt.date, assigned: Assignment | None = None
) -> Windows | None:
    """The windows of the shift worked on `day`; None on a day off."""
    shift = shift_on(rules, group, day, assigned)
    return None if shift is None else windows(shift, day, group.timezone)


@dataclass(frozen=True)
class Counted:
    """What a day's punches come to: the first check-in and last check-out inside their
    windows, and the places of every punch inside a window."""

    first_in_ms: int | None
    last_out_ms: int | None
    locations: frozenset[str]


NOWHERE = (1, 0)  # an empty span of time: no window


@dataclass(frozen=True)
class Beside:
    """The windows of the days either side that can meet this day's: the previous work day's
    check-out window and the next one's check-in window (NOWHERE on a day off). A roster can
    put a night shift before a morning one, whose check-in window opens before the night's
    check-out window closes."""

    previous_out: tuple[int, int] = NOWHERE
    next_in: tuple[int, int] = NOWHERE

    @property
    def spans(self) -> tuple[int, int, int, int]:
        return (*self.previous_out, *self.next_in)

    @classmethod
    def of(cls, previous: Windows | None, following: Windows | None) -> Beside:
        """Between the previous work day's windows and the next one's (None: a day off)."""
        return cls(
            NOWHERE if previous is None else previous.check_out,
            NOWHERE if following is None else following.check_in,
        )


def beside(
    rules: Rules,
    group: Group,
    day: dt.date,
    before: Assignment | None = None,
    after: Assignment | None = None,
) -> Beside:
    """The neighbouring days' windows (`before`, `after`: their roster lines, if any)."""
    return Beside.of(
        day_windows(rules, group, day - dt.timedelta(days=1), before),
        day_windows(rules, group, day + dt.timedelta(days=1), after),
    )


def count_punches(w: Windows, punches: Iterable[Punch], near: Beside = Beside()) -> Counted | None:
    """The punches inside the day's windows; None if there is none. Where a punch falls
    decides what it is: in the check-in window an arrival, in the check-out window a
    departure, whatever direction the station gave it; only where two windows meet (the day's
    own two, or its check-in window and the previous day's check-out window, or its check-out
    window and the next day's check-in window) does the station's direction decide. A station
    in `auto` mode guesses: the first scan of the employee's local day there is "in", so a
    night shift's check-out after midnight, or a check-out at another station than the
    check-in, arrives as "in". Times set by hand (location "manual") and event scans are not
    guesses: a manual time counts only as what it was set as; an event scan is no punch."""
    ins, outs = [], []
    for p in punches:
        if _arrival(w, near, p):
            ins.append(p)
        elif _departure(w, near, p):
            outs.append(p)
    if not ins and not outs:
        return None
    return Counted(
        min((p.at_ms for p in ins), default=None),
        max((p.at_ms for p in outs), default=None),
        frozenset(p.location for p in (*ins, *outs)),
    )


def _inside(span: tuple[int, int], at_ms: int) -> bool:
    return span[0] <= at_ms <= span[1]


def _arrival(w: Windows, near: Beside, p: Punch) -> bool:
    return _counts_as("in", p, w.check_in, (w.check_out, near.previous_out))


def _departure(w: Windows, near: Beside, p: Punch) -> bool:
    return _counts_as("out", p, w.check_out, (w.check_in, near.next_in))


def _counts_as(
    direction: str, p: Punch, window: tuple[int, int], others: tuple[tuple[int, int], ...]
) -> bool:
    """Whether `p` is a `direction` punch of `window`: inside it, and either given that
    direction, or a station's guess of the other one that falls in none of the `others`
    (the windows where the other direction counts)."""
    if not _inside(window, p.at_ms):
        return False
    if p.direction == direction:
        return True
    guessed = p.direction in ("in", "out") and p.location != MANUAL
    return guessed and not any(_inside(other, p.at_ms) for other in others)


def derive_day(
    rules: Rules,
    group: Group,
    employee: str,
    day: dt.date,
    punches: Iterable[Punch],
    assigned: Assignment | None = None,
    *,
    before: Assignment | None = None,
    after: Assignment | None = None,
) -> Day | None:
    """The employee's result for `day`; None on a day off or with no punch in the windows
    (an absence: reports count it, as TK or provisional, from the calendar). `assigned`,
    `before`, `after`: the roster's lines for the day and the days either side, if any."""
    shift = shift_on(rules, group, day, assigned)
    if shift is None:
        return None
    w = windows(shift, day, group.timezone)
    counted = count_punches(w, punches, beside(rules, group, day, before, after))
    return None if counted is None else judge(rules, group, employee, day, shift, counted, assigned)


def judge(
    rules: Rules,
    group: Group,
    employee: str,
    day: dt.date,
    shift: Shift,
    counted: Counted,
    assigned: Assignment | None = None,
) -> Day:
    """The day's codes, minutes and flags from what its punches came to."""
    w = windows(shift, day, group.timezone)
    start, end = w.start_ms, w.end_ms
    first_in, last_out = counted.first_in_ms, counted.last_out_ms
    codes: list[str] = []
    late = early = 0
    if first_in is None:
        codes.append(rules.missing_in)
    else:
        late = _minutes_after(first_in, start)
        if late <= shift.grace_min:
            late = 0
        band = rules.band(rules.late, late) if late else None
        if band:
            codes.append(band)
    if last_out is None:
        codes.append(rules.missing_out)
    else:
        early = _minutes_after(end, last_out)
        band = rules.band(rules.early, early) if early else None
        if band:
            codes.append(band)
    final = tuple(codes) or (rules.present,)
    used = sorted(counted.locations)
    allowed = allowed_locations(group, assigned)
    stray = allowed and any(loc not in allowed and loc != MANUAL for loc in used)
    return Day(
        employee,
        day,
        shift.name,
        start,
        end,
        w.closes_ms,
        first_in,
        last_out,
        late,
        early,
        final,
        rules.deduction(final),
        tuple(used),
        (ELSEWHERE,) if stray else (),
    )


def _minutes_after(later: int, earlier: int) -> int:
    """Whole minutes `later` is after `earlier`, rounded up (07:30:01 is 1 minute late)."""
    return max(0, math.ceil((later - earlier) / MINUTE_MS))


def candidate_days(at_ms: int) -> list[dt.date]:
    """The work days a punch at `at_ms` could belong to, in any zone of Indonesia (UTC+7 to
    +9) and with any shift whose windows span under 24 hours: its UTC date and the days either
    side."""
    utc = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC).date()
    return [utc - dt.timedelta(days=1), utc, utc + dt.timedelta(days=1)]
