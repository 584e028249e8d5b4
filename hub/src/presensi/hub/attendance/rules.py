"""The attendance rules: shifts, which group works which shift on which days, public holidays,
status codes and their bands, deductions. A TOML file (docs/attendance.md), checked whole before
anything is used: every problem is reported with its line, and a file with any is refused.

Indonesian defaults (DEFAULT_RULES): H (hadir), TL1-TL4 late by 1-30, 31-60, 61-90 and over 90
minutes, PSW1-PSW4 the same for leaving early, a missing check-in counted as TL4 and a missing
check-out as PSW4, TK (tanpa keterangan) for a work day without a scan, and the manual I (izin),
S (sakit), C (cuti), DL (dinas luar); each with a deduction percentage, the day's total capped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field

WEEKDAYS = ("senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu")  # date.weekday()
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_CODE = re.compile(r"[A-Z][A-Z0-9]{0,7}")
MANUAL_CODES = ("I", "S", "C", "DL")


class RulesError(ValueError):
    """A rules file that cannot be used; `problems` are 'line N: what' texts."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Shift:
    name: str
    start_min: int  # minutes after local midnight
    end_min: int  # the end; at or before the start: the next day
    grace_min: int  # arriving up to this many minutes after the start is on time
    in_window: tuple[int, int]  # check-in accepted from start+a to start+b minutes
    out_window: tuple[int, int]  # check-out accepted from end+a to end+b minutes

    @property
    def length_min(self) -> int:
        return (self.end_min - self.start_min) % 1440 or 1440

    def span(self) -> tuple[int, int]:
        """Minutes after the work day's midnight from which to which a scan may count."""
        return self.start_min + self.in_window[
            0
        ], self.start_min + self.length_min + self.out_window[1]


@dataclass(frozen=True)
class Group:
    name: str  # the employees CSV's shift_group
    shift: str
    days: frozenset[int]  # weekdays worked, 0 = senin
    holidays_off: bool  # public holidays are days off (office staff), or worked (bus crews)
    timezone: str
    roster: bool = False  # the days and shifts come from the imported roster only
    locations: frozenset[str] = frozenset()  # where its people may scan; empty: anywhere


@dataclass(frozen=True)
class Period:
    """Dates with other hours (Ramadan): from `first` to `last`, each shift named in `shifts`
    is worked as the shift it maps to."""

    name: str
    first: dt.date
    last: dt.date
    shifts: dict[str, str]


@dataclass(frozen=True)
class Signals:
    """When the hub raises an alert about how a badge was used (presensi.hub.attendance.signals)."""

    travel_kmh: float = 80.0  # two points faster than this apart: one badge in two hands?
    travel_min_km: float = 2.0  # points closer than this are never "too far"
    rejected_attempts: int = 3  # this many refused scans of one badge or person ...
    rejected_window_min: int = 10  # ... within this many minutes


@dataclass(frozen=True)
class Band:
    code: str
    from_min: int
    to_min: int | None  # None: and above


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    deduction: float  # percent of the day's allowance


@dataclass(frozen=True)
class Rules:
    timezone: str
    shifts: dict[str, Shift]
    groups: dict[str, Group]
    holidays: dict[dt.date, str]
    codes: dict[str, Code]
    late: tuple[Band, ...]
    early: tuple[Band, ...]
    missing_in: str
    missing_out: str
    absent: str
    present: str
    daily_cap: float
    default_group: str | None = None  # for a shift_group the rules do not name
    corrections_need_approval: bool = True  # a second person approves each correction
    periods: tuple[Period, ...] = ()
    signals: Signals = Signals()
    missed_event: str | None = None  # the code of an event (apel) missed, in the recap
    text: str = field(default="", compare=False)

    def shift_named(self, name: str, day: dt.date) -> Shift:
        """The shift `name` as worked on `day`: another one inside a period that maps it."""
        for period in self.periods:
            if period.first <= day <= period.last and name in period.shifts:
                return self.shifts[period.shifts[name]]
        return self.shifts[name]

    def group_of(self, shift_group: str) -> Group | None:
        found = self.groups.get(shift_group)
        if found is None and self.default_group is not None:
            return self.groups[self.default_group]
        return found

    def band(self, bands: tuple[Band, ...], minutes: int) -> str | None:
        for b in bands:
            if minutes >= b.from_min and (b.to_min is None or minutes <= b.to_min):
                return b.code
        return None

    def deduction(self, codes: tuple[str, ...]) -> float:
        return min(self.daily_cap, sum(self.codes[c].deduction for c in codes))


DEFAULT_RULES = """\
# Aturan kehadiran (attendance rules). Times are local to each group's zone.
timezone = "Asia/Jakarta"
daily_cap = 3.0          # a day's deductions together, at most (percent)
default_group = "Pagi"   # for an employee whose shift_group is not below
corrections_need_approval = true   # a correction applies once a second person approves it

[shifts.pagi]
start = "05:00"
end = "13:00"
grace_min = 5
in_window = [-120, 240]   # minutes around the start when a check-in counts
out_window = [-240, 240]  # and around the end, for the check-out

[shifts.siang]
start = "13:00"
end = "21:00"
grace_min = 5
in_window = [-120, 240]
out_window = [-240, 240]

[shifts.malam]
start = "21:00"
end = "05:00"             # the next morning: the day is the one the shift starts on
grace_min = 5
in_window = [-120, 240]
out_window = [-240, 240]

[shifts.kantor]
start = "07:30"
end = "16:00"
grace_min = 0
in_window = [-120, 240]
out_window = [-240, 240]

[shifts.kantor_ramadan]   # office hours in Ramadan (see [periods])
start = "08:00"
end = "15:00"
grace_min = 0
in_window = [-120, 240]
out_window = [-240, 240]

[groups.Pagi]
shift = "pagi"
days = ["senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu"]
holidays_off = false      # buses run on holidays

[groups.Siang]
shift = "siang"
days = ["senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu"]
holidays_off = false

[groups.Malam]
shift = "malam"
days = ["senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu"]
holidays_off = false

[groups.Kantor]
shift = "kantor"
days = ["senin", "selasa", "rabu", "kamis", "jumat"]
holidays_off = true

[groups.Awak]             # rotating bus crews: their days and shifts come from the roster
shift = "pagi"            # (a shift is still named: the one a roster line may leave out)
roster = true             # presensi hub attendance roster import roster.csv
holidays_off = false
# locations = ["pool-mangkang", "term-mangkang"]   # where its people may scan (else: anywhere)

# Dates with other hours: inside the period each shift on the left is worked as the one on
# the right (the group keeps its days).
[periods.ramadan-1448]
from = "2027-02-08"
to = "2027-03-09"
shifts = { kantor = "kantor_ramadan" }

# Public holidays: here, or a year's list from a CSV file (tanggal,nama) with
# presensi hub attendance holidays import libur-2027.csv
[holidays]
2026-12-25 = "Hari Raya Natal"
2027-01-01 = "Tahun Baru 2027 Masehi"

# When the hub raises an alert about how a badge was used
[signals]
travel_kmh = 80           # scans at two points further apart than this speed allows
travel_min_km = 2         # points closer than this are never too far apart
rejected_attempts = 3     # this many refused scans of one badge or person ...
rejected_window_min = 10  # ... within these minutes

[codes]
H = { name = "Hadir", deduction = 0.0 }
TL1 = { name = "Terlambat 1-30 menit", deduction = 0.5 }
TL2 = { name = "Terlambat 31-60 menit", deduction = 1.0 }
TL3 = { name = "Terlambat 61-90 menit", deduction = 1.25 }
TL4 = { name = "Terlambat > 90 menit atau tidak absen masuk", deduction = 1.5 }
PSW1 = { name = "Pulang sebelum waktunya 1-30 menit", deduction = 0.5 }
PSW2 = { name = "Pulang sebelum waktunya 31-60 menit", deduction = 1.0 }
PSW3 = { name = "Pulang sebelum waktunya 61-90 menit", deduction = 1.25 }
PSW4 = { name = "Pulang sebelum waktunya > 90 menit atau tidak absen pulang", deduction = 1.5 }
TK = { name = "Tanpa keterangan", deduction = 3.0 }
I = { name = "Izin", deduction = 0.0 }
S = { name = "Sakit", deduction = 0.0 }
C = { name = "Cuti", deduction = 0.0 }
DL = { name = "Dinas luar", deduction = 0.0 }
TA = { name = "Tidak mengikuti apel/upacara", deduction = 0.5 }

[bands]
late = [["TL1", 1, 30], ["TL2", 31, 60], ["TL3", 61, 90], ["TL4", 91]]
early = [["PSW1", 1, 30], ["PSW2", 31, 60], ["PSW3", 61, 90], ["PSW4", 91]]
missing_in = "TL4"
missing_out = "PSW4"
missed_event = "TA"       # an event (apel, upacara) expected at and missed without izin
absent = "TK"
present = "H"
"""


def _line_of(text: str, *path: str) -> int:
    """The line (1-based) where the key at `path` is written, as near as can be told: its
    table's header, then the key inside it; 1 when it cannot be found."""
    lines = text.splitlines()
    table_at, depth = 0, 0
    for n in range(len(path), 0, -1):
        header = re.compile(r"\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, path[:n])) + r"\s*\]")
        found = next((i for i, line in enumerate(lines) if header.match(line)), None)
        if found is not None:
            table_at, depth = found, n
            break
    if depth == len(path):
        return table_at + 1
    key = re.compile(r"\s*\"?" + re.escape(path[depth]) + r"\"?\s*=")
    for i in range(table_at + (1 if depth else 0), len(lines)):
        if depth and i > table_at and lines[i].lstrip().startswith("["):
            break
        if key.match(lines[i]):
            return i + 1
    return table_at + 1


def parse_rules(text: str) -> Rules:
    """Rules from the TOML `text`; RulesError naming every problem with its line."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError([f"{exc}"]) from None
    defaults = tomllib.loads(DEFAULT_RULES)
    for table in ("codes", "bands"):  # a file may leave out the codes and bands: the defaults
        raw.setdefault(table, defaults[table])
    return _Checker(text, raw).rules()


class _Checker:
    def __init__(self, text: str, raw: dict[str, object]) -> None:
        self.text, self.raw = text, raw
        self.problems: list[str] = []

    def bad(self, what: str, *path: str) -> None:
        self.problems.append(f"line {_line_of(self.text, *path)}: {'.'.join(path)}: {what}")

    def table(self, name: str) -> dict[str, object]:
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            self.bad("must be a table", name)
            return {}
        return value

    def time(self, value: object, *path: str) -> int:
        if isinstance(value, str) and (m := _TIME.fullmatch(value)):
            return int(m.group(1)) * 60 + int(m.group(2))
        self.bad(f'must be a time "HH:MM", not {value!r}', *path)
        return 0

    def number(self, value: object, low: float, high: float, *path: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            self.bad(f"must be a number from {low:g} to {high:g}, not {value!r}", *path)
            return low
        return float(value)

    def window(self, value: object, *path: str) -> tuple[int, int]:
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            low, high = int(value[0]), int(value[1])
            if low >= high:
                self.bad(f"is empty: {low} is not before {high}", *path)
            return low, high
        self.bad(f"must be [minutes from, minutes to], not {value!r}", *path)
        return 0, 1

    def zone(self, value: object, *path: str) -> str:
        try:
            zoneinfo.ZoneInfo(str(value))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.bad(f"unknown time zone {value!r} (e.g. Asia/Jakarta, Asia/Makassar)", *path)
            return "Asia/Jakarta"
        return str(value)

    def rules(self) -> Rules:
        known = {"timezone", "daily_cap", "default_group", "shifts", "groups", "holidays"}
        known |= {"corrections_need_approval", "periods", "signals"}
        for key in set(self.raw) - known - {"codes", "bands"}:
            self.bad("is not a rule this file may set", key)
        timezone = self.zone(self.raw.get("timezone", "Asia/Jakarta"), "timezone")
        shifts = {name: self.shift(name, v) for name, v in self.table("shifts").items()}
        if not shifts:
            self.bad("at least one shift is needed", "shifts")
        groups = {
            name: self.group(name, v, shifts, timezone) for name, v in self.table("groups").items()
        }
        default = self.raw.get("default_group")
        if default is not None and default not in groups:
            self.bad(f"names no group below: {default!r}", "default_group")
        holidays: dict[dt.date, str] = {}
        for day, name in self.table("holidays").items():
            try:
                holidays[dt.date.fromisoformat(str(day))] = str(name)
            except ValueError:
                self.bad("is not a date YYYY-MM-DD", "holidays", str(day))
        codes = self.codes()
        bands = self.table("bands")
        late = self.bands(bands.get("late"), codes, "late")
        early = self.bands(bands.get("early"), codes, "early")
        named = {}
        for key in ("missing_in", "missing_out", "absent", "present"):
            value = bands.get(key)
            if not isinstance(value, str) or value not in codes:
                shown = "missing" if value is None else f"not {value!r}"
                self.bad(f"must name a code of [codes], {shown}", "bands", key)
            named[key] = str(value)
        missed = bands.get("missed_event")
        if missed is not None and (not isinstance(missed, str) or missed not in codes):
            self.bad(f"must name a code of [codes], not {missed!r}", "bands", "missed_event")
        for code in MANUAL_CODES:
            if code not in codes:
                self.bad(f"the manual code {code} must be defined", "codes")
        periods = self.periods(shifts)
        signals = self.signals()
        cap = self.number(self.raw.get("daily_cap", 3.0), 0, 100, "daily_cap")
        approval = self.raw.get("corrections_need_approval", True)
        if not isinstance(approval, bool):
            self.bad("must be true or false", "corrections_need_approval")
        if self.problems:
            raise RulesError(self.problems)
        return Rules(
            timezone,
            shifts,
            groups,
            holidays,
            codes,
            late,
            early,
            named["missing_in"],
            named["missing_out"],
            named["absent"],
            named["present"],
            cap,
            None if default is None else str(default),
            bool(approval),
            periods,
            signals,
            None if missed is None else str(missed),
            self.text,
        )

    def periods(self, shifts: dict[str, Shift]) -> tuple[Period, ...]:
        out: list[Period] = []
        for name, value in self.table("periods").items():
            path = ("periods", name)
            if not isinstance(value, dict):
                self.bad("must be a table", *path)
                continue
            for key in set(value) - {"from", "to", "shifts"}:
                self.bad("is not a period setting", *path, key)
            first, last = (
                self.date(value.get("from"), *path, "from"),
                self.date(value.get("to"), *path, "to"),
            )
            if first and last and last < first:
                self.bad(f"ends ({last}) before it starts ({first})", *path)
            mapping = value.get("shifts")
            if not isinstance(mapping, dict) or not mapping:
                self.bad('must map shifts, as { kantor = "kantor_ramadan" }', *path, "shifts")
                continue
            for old, new in mapping.items():
                if old not in shifts or new not in shifts:
                    self.bad(f"names a shift not in [shifts]: {old!r} = {new!r}", *path, "shifts")
            if first and last:
                for other in out:
                    both = set(other.shifts) & set(mapping)
                    if both and first <= other.last and other.first <= last:
                        self.bad(
                            f"overlaps period {other.name!r} for {', '.join(sorted(both))}", *path
                        )
                out.append(Period(name, first, last, {str(k): str(v) for k, v in mapping.items()}))
        return tuple(out)

    def date(self, value: object, *path: str) -> dt.date | None:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.bad(f"must be a date YYYY-MM-DD, not {value!r}", *path)
            return None

    def signals(self) -> Signals:
        value = self.table("signals")
        for key in set(value) - {f.name for f in dataclasses.fields(Signals)}:
            self.bad("is not a signals setting", "signals", key)
        base = Signals()
        return Signals(
            self.number(value.get("travel_kmh", base.travel_kmh), 1, 2000, "signals", "travel_kmh"),
            self.number(
                value.get("travel_min_km", base.travel_min_km), 0, 1000, "signals", "travel_min_km"
            ),
            int(
                self.number(
                    value.get("rejected_attempts", base.rejected_attempts),
                    2,
                    1000,
                    "signals",
                    "rejected_attempts",
                )
            ),
            int(
                self.number(
                    value.get("rejected_window_min", base.rejected_window_min),
                    1,
                    1440,
                    "signals",
                    "rejected_window_min",
                )
            ),
        )

    def shift(self, name: str, value: object) -> Shift:
        path = ("shifts", name)
        if not isinstance(value, dict):
            self.bad("must be a table", *path)
            return Shift(name, 0, 60, 0, (0, 1), (0, 1))
        for key in set(value) - {"start", "end", "grace_min", "in_window", "out_window"}:
            self.bad("is not a shift setting", *path, key)
        start = self.time(value.get("start"), *path, "start")
        end = self.time(value.get("end"), *path, "end")
        grace = int(self.number(value.get("grace_min", 0), 0, 240, *path, "grace_min"))
        in_w = self.window(value.get("in_window", [-120, 240]), *path, "in_window")
        out_w = self.window(value.get("out_window", [-240, 240]), *path, "out_window")
        shift = Shift(name, start, end, grace, in_w, out_w)
        first, last = shift.span()
        if last - first >= 1440:
            self.bad(
                f"its windows span {last - first} minutes: a scan could count for two days "
                "(the span from the check-in window's start to the check-out window's end must "
                "be under 24 hours)",
                *path,
            )
        if not in_w[0] <= grace <= in_w[1]:
            self.bad("the grace minutes fall outside the check-in window", *path, "grace_min")
        return shift

    def group(self, name: str, value: object, shifts: dict[str, Shift], zone: str) -> Group:
        path = ("groups", name)
        if not isinstance(value, dict):
            self.bad("must be a table", *path)
            return Group(name, "", frozenset(), True, zone)
        for key in set(value) - {
            "shift",
            "days",
            "holidays_off",
            "timezone",
            "roster",
            "locations",
        }:
            self.bad("is not a group setting", *path, key)
        shift = value.get("shift")
        if shift not in shifts:
            self.bad(f"names no shift of [shifts]: {shift!r}", *path, "shift")
        days = value.get("days", list(WEEKDAYS[:5]))
        if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
            self.bad(f"must be a list of {', '.join(WEEKDAYS)}", *path, "days")
            days = []
        off = value.get("holidays_off", True)
        if not isinstance(off, bool):
            self.bad("must be true or false", *path, "holidays_off")
        timezone = self.zone(value.get("timezone", zone), *path, "timezone")
        roster = value.get("roster", False)
        if not isinstance(roster, bool):
            self.bad("must be true or false", *path, "roster")
        places = value.get("locations", [])
        if not isinstance(places, list) or not all(isinstance(p, str) and p for p in places):
            self.bad("must be a list of location ids", *path, "locations")
            places = []
        return Group(
            name,
            str(shift),
            frozenset(WEEKDAYS.index(d) for d in days),
            bool(off),
            timezone,
            bool(roster),
            frozenset(places),
        )

    def codes(self) -> dict[str, Code]:
        codes: dict[str, Code] = {}
        for code, value in self.table("codes").items():
            path = ("codes", code)
            if not _CODE.fullmatch(code):
                self.bad("a code is 1-8 capital letters or digits, starting with a letter", *path)
            if not isinstance(value, dict) or not isinstance(value.get("name"), str):
                self.bad('must be { name = "...", deduction = N }', *path)
                continue
            deduction = self.number(value.get("deduction", 0.0), 0, 100, *path, "deduction")
            codes[code] = Code(code, str(value["name"]), deduction)
        return codes

    def bands(self, value: object, codes: dict[str, Code], key: str) -> tuple[Band, ...]:
        path = ("bands", key)
        if not isinstance(value, list) or not value:
            self.bad('must be a list of ["CODE", from, to] (the last may leave out "to")', *path)
            return ()
        out: list[Band] = []
        expected_from = 1
        for n, item in enumerate(value):
            ok = (
                isinstance(item, list)
                and len(item) in (2, 3)
                and isinstance(item[0], str)
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item[1:])
            )
            if not ok:
                self.bad(f'band {n + 1} must be ["CODE", from, to], not {item!r}', *path)
                return ()
            code, low = str(item[0]), int(item[1])
            high = int(item[2]) if len(item) == 3 else None
            if code not in codes:
                self.bad(f"band {n + 1} names no code of [codes]: {code!r}", *path)
            if low != expected_from:
                self.bad(
                    f"band {n + 1} starts at {low}, not {expected_from}: no gap, no overlap", *path
                )
            if high is None and n != len(value) - 1:
                self.bad(f"band {n + 1} is open-ended but not the last", *path)
            if high is not None and high < low:
                self.bad(f"band {n + 1} is empty: {low} to {high}", *path)
            out.append(Band(code, low, high))
            expected_from = (high or low) + 1
        return tuple(out)


def default_rules() -> Rules:
    return parse_rules(DEFAULT_RULES)
