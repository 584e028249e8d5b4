"""Attendance points: the org's locations.csv, imported from and exported to a CSV file.

    id,name,kind,latitude,longitude,timezone
    term-terboyo,Terminal Terboyo,terminal,-6.243700,106.800800,Asia/Jakarta

An id is what a station's config names in `station.location` (lowercase letters, digits, ".",
"_", "-"; at most 64 characters). kind is one of KINDS; latitude and longitude are decimal
degrees (WGS 84); timezone is an IANA name (empty: the organisation's). A file saved by a
spreadsheet set to Indonesian (";" between fields, "," as the decimal mark) is read too.

An import checks every line and reports every problem with its line number and the fix; if
there is any, nothing is written. An import replaces the whole list.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from presensi.device.files import write_atomically
from presensi.provisioning.errors import CsvImportError, ProvisioningError
from presensi.provisioning.org import PUBLIC, Org, timezone_fix, valid_timezone

COLUMNS = ("id", "name", "kind", "latitude", "longitude", "timezone")
KINDS = ("office", "terminal", "pool", "transit_stop", "depot", "other")
_KIND_ALIASES = {"halte": "transit_stop", "kantor": "office", "depo": "depot"}
LOCATION_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # the station config's Ident
_DEGREES = re.compile(r"[+-]?\d{1,3}(\.\d{1,12})?")
NAME_MAX = 200
SAMPLE = "locations-sample.csv"


@dataclass(frozen=True)
class Location:
    id: str
    name: str
    kind: str
    latitude: float
    longitude: float
    timezone: str


# -- reading CSV (shared with employees.py) --------------------------------------------------

# A cell that starts with one of these is a formula to a spreadsheet (=cmd|..., @SUM(...),
# =HYPERLINK(...)): written out with a leading ' so it stays text, and read back without it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """A text value for a CSV cell a spreadsheet will open: never a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def cell_text(cell: str) -> str:
    """What text_cell() wrote, as it was (a ' that guarded a formula comes off)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


def decode_csv(data: str | bytes, source: str) -> str:
    """The text of a CSV file: UTF-8, with or without a byte order mark."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvImportError(
            source,
            [
                f"{source} line {line}: not UTF-8 text (byte {exc.start}). Fix: save the file "
                "as 'CSV UTF-8' in the spreadsheet"
            ],
        ) from None


def read_csv_records(
    text: str, source: str, columns: Sequence[str]
) -> tuple[list[tuple[int, dict[str, str]]], list[str], str]:
    """The data rows of a CSV with exactly `columns` (any order) as (line number, values),
    the problems found in its structure, and the delimiter (',' or ';')."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    expected = ",".join(columns)
    problems: list[str] = []
    rows: list[tuple[int, dict[str, str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    end = 0
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip().lower() for f in fields]
                missing = [c for c in columns if c not in header]
                unknown = [h for h in header if h not in columns]
                doubled = sorted({h for h in header if header.count(h) > 1})
                if missing or unknown or doubled:
                    what = "; ".join(
                        part
                        for part in (
                            f"missing {', '.join(missing)}" if missing else "",
                            f"unknown {', '.join(unknown)}" if unknown else "",
                            f"repeated {', '.join(doubled)}" if doubled else "",
                        )
                        if part
                    )
                    problems.append(
                        f"{source} line {start}: the header has the wrong columns ({what}). "
                        f"Fix: make the first line {expected}"
                    )
                    return [], problems, delimiter
                continue
            if len(fields) != len(header):
                problems.append(
                    f"{source} line {start}: {len(fields)} fields, expected {len(header)} "
                    f"({expected}). Fix: put text containing '{delimiter}' in double quotes"
                )
                continue
            cells = {h: cell_text(f.strip()) for h, f in zip(header, fields, strict=True)}
            rows.append((start, cells))
    except csv.Error as exc:
        problems.append(
            f"{source} line {reader.line_num}: not valid CSV ({exc}). Fix: check the quotes"
        )
    if header is None:
        problems.append(f"{source}: the file is empty. Fix: start with the header {expected}")
    return rows, problems, delimiter


_LINE = re.compile(r" line (\d+):")


def by_line(problems: list[str]) -> list[str]:
    """Problems in file order (structural ones are found before the values are checked)."""

    def line(problem: str) -> int:
        match = _LINE.search(problem)
        return int(match.group(1)) if match else 0

    return sorted(problems, key=line)


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


def slug(text: str) -> str:
    """A suggestion for an id: lowercase, other characters replaced by '-'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9._-]+", "-", folded).strip("-._")[:64]


# -- locations --------------------------------------------------------------------------------


def parse_locations(
    data: str | bytes, source: str = "locations.csv", *, default_timezone: str | None = None
) -> list[Location]:
    """Validate a locations CSV; raise CsvImportError listing every problem by line."""
    rows, problems, delimiter = read_csv_records(decode_csv(data, source), source, COLUMNS)
    locations: list[Location] = []
    first_line: dict[str, int] = {}
    for line, values in rows:
        where = f"{source} line {line}"
        found = _location(where, values, delimiter, default_timezone, problems)
        ident = values["id"]
        if ident in first_line:
            problems.append(
                f"{where}: id {ident!r} is already used on line {first_line[ident]}. "
                "Fix: give each attendance point its own id"
            )
            continue
        first_line[ident] = line
        if found is not None:
            locations.append(found)
    if not locations and not problems:
        problems.append(f"{source}: no attendance points, only the header. Fix: add lines")
    if problems:
        raise CsvImportError(source, by_line(problems))
    return locations


def _location(
    where: str,
    values: dict[str, str],
    delimiter: str,
    default_timezone: str | None,
    problems: list[str],
) -> Location | None:
    before = len(problems)
    ident = values["id"]
    if not LOCATION_ID.fullmatch(ident):
        suggestion = slug(ident)
        fix = f"e.g. {suggestion!r}" if suggestion else "e.g. 'term-terboyo'"
        problems.append(
            f"{where}: id {ident!r} is not a valid location id. Fix: use lowercase letters, "
            f"digits, '.', '_' and '-' (at most 64, starting with a letter or digit), {fix}"
        )
    name = values["name"]
    if not name:
        problems.append(f"{where}: the name is empty. Fix: write the point's name")
    elif len(name) > NAME_MAX or has_control_characters(name):
        problems.append(
            f"{where}: name is longer than {NAME_MAX} characters or has control characters. "
            "Fix: shorten it to one plain line"
        )
    kind = re.sub(r"[\s-]+", "_", values["kind"].lower())
    kind = _KIND_ALIASES.get(kind, kind)
    if kind not in KINDS:
        problems.append(
            f"{where}: kind {values['kind']!r} is not known. Fix: use one of {', '.join(KINDS)}"
        )
    latitude = _degrees(where, "latitude", values["latitude"], delimiter, problems)
    longitude = _degrees(where, "longitude", values["longitude"], delimiter, problems)
    if latitude is not None and longitude is not None:
        if abs(latitude) > 90 and abs(latitude) <= 180 and abs(longitude) <= 90:
            problems.append(
                f"{where}: latitude {values['latitude']} and longitude {values['longitude']} "
                "look swapped. Fix: exchange them (Semarang is about -7.0, 110.4)"
            )
        else:
            for field, value, limit in (("latitude", latitude, 90), ("longitude", longitude, 180)):
                if not -limit <= value <= limit:
                    problems.append(
                        f"{where}: {field} {values[field]} is outside -{limit}..{limit}. "
                        "Fix: check the coordinates (Semarang is about -7.0, 110.4)"
                    )
    timezone = values["timezone"] or default_timezone or ""
    if not timezone:
        problems.append(
            f"{where}: the time zone is empty. Fix: write an IANA name such as 'Asia/Jakarta'"
        )
    elif not valid_timezone(timezone):
        problems.append(f"{where}: unknown time zone {timezone!r}. Fix: {timezone_fix(timezone)}")
    if len(problems) > before or latitude is None or longitude is None:
        return None
    return Location(ident, name, kind, latitude, longitude, timezone)


def _degrees(
    where: str, field: str, text: str, delimiter: str, problems: list[str]
) -> float | None:
    raw = text.replace(",", ".") if delimiter == ";" else text
    if not _DEGREES.fullmatch(raw):
        problems.append(
            f"{where}: {field} {text!r} is not a number in decimal degrees. Fix: write it like "
            f"{'-6.2088' if field == 'latitude' else '106.8456'} (a dot as the decimal mark)"
        )
        return None
    return float(raw)


def locations_csv(locations: Sequence[Location]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for loc in locations:
        writer.writerow(
            [
                text_cell(loc.id),
                text_cell(loc.name),
                loc.kind,
                repr(loc.latitude),
                repr(loc.longitude),
                loc.timezone,
            ]
        )
    return out.getvalue()


def read_locations(path: Path, *, default_timezone: str | None = None) -> list[Location]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProvisioningError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    return parse_locations(data, path.name, default_timezone=default_timezone)


def import_locations(org: Org, source: Path | str | bytes) -> list[Location]:
    """Validate a locations CSV (a path, or the file's content) and make it the org's list
    (org/locations.csv). Nothing is written if any line is wrong."""
    if isinstance(source, Path):
        locations = read_locations(source, default_timezone=org.timezone)
    else:
        locations = parse_locations(source, default_timezone=org.timezone)
    write_atomically(org.locations_path, locations_csv(locations), mode=PUBLIC)
    return locations


def load_locations(org: Org) -> list[Location]:
    """The org's attendance points (org/locations.csv)."""
    if not org.locations_path.exists():
        raise ProvisioningError(
            f"{org.path}: no attendance points yet. Fix: `presensi provision locations import "
            "FILE` (or `... locations sample` for the demo's 42 points)"
        )
    return read_locations(org.locations_path, default_timezone=org.timezone)


def find_location(org: Org, location_id: str) -> Location:
    locations = load_locations(org)
    for location in locations:
        if location.id == location_id:
            return location
    close = [loc.id for loc in locations if location_id in loc.id or loc.id in location_id]
    hint = f" (did you mean {', '.join(close[:5])}?)" if close else ""
    raise ProvisioningError(
        f"no attendance point {location_id!r} in {org.locations_path}{hint}. Fix: use an id "
        "from `presensi provision locations export -`, or import the point first"
    )


def export_locations(org: Org, target: Path) -> list[Location]:
    """Write the org's attendance points to `target` as CSV."""
    locations = load_locations(org)
    write_atomically(target, locations_csv(locations), mode=PUBLIC)
    return locations


def sample_csv_text() -> str:
    """The shipped sample: the 42 attendance points of Trans Semarang (offices, terminals,
    pools, halte; coordinates approximate)."""
    return resources.files("presensi.provisioning").joinpath("data", SAMPLE).read_text("utf-8")


def sample_locations() -> list[Location]:
    return parse_locations(sample_csv_text(), SAMPLE)


def sync_to_hub(org: Org, hub_store_url: str) -> tuple[int, int]:
    """Give the hub's store the org's attendance points (for its console): (points, removed)."""
    import time

    from presensi.hub.places import Place, sync_places
    from presensi.provisioning.hub_store import hub_store

    points = [
        Place(p.id, p.name, p.kind, p.latitude, p.longitude, p.timezone)
        for p in load_locations(org)
    ]
    with hub_store(hub_store_url) as store:
        return sync_places(store.database, points, time.time_ns() // 1_000_000)
