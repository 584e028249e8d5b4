"""Attendance points: the CSV import checks every line (each kind of mistake is reported with its
line number and the fix, nothing written), export round-trips, and the shipped 42-point sample
is valid."""

from __future__ import annotations

import csv
import re
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from presensi.device.config import Ident
from presensi.protocol.cli import main
from presensi.provisioning.errors import CsvImportError, ProvisioningError
from presensi.provisioning.locations import (
    KINDS,
    Location,
    export_locations,
    import_locations,
    load_locations,
    parse_locations,
    read_locations,
    sample_locations,
)
from presensi.provisioning.org import Org

HEADER = "id,name,kind,latitude,longitude,timezone\n"
GOOD = HEADER + (
    "term-terboyo,Terminal Terboyo,terminal,-6.2437,106.8008,Asia/Jakarta\n"
    '"pool-mangkang","Pool Mangkang, Semarang Barat",pool,-6.2462,106.8752,Asia/Jakarta\n'
)


@pytest.fixture
def org(tmp_path: Path) -> Org:
    return Org.init(tmp_path / "org", "Trans Semarang")


def problems(text: str) -> list[str]:
    with pytest.raises(CsvImportError) as caught:
        parse_locations(text, "points.csv")
    return caught.value.problems


def test_a_good_file_parses() -> None:
    assert parse_locations(GOOD) == [
        Location("term-terboyo", "Terminal Terboyo", "terminal", -6.2437, 106.8008, "Asia/Jakarta"),
        Location(
            "pool-mangkang",
            "Pool Mangkang, Semarang Barat",
            "pool",
            -6.2462,
            106.8752,
            "Asia/Jakarta",
        ),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "Terboyo,Terminal Terboyo,terminal,-6.2,106.8,Asia/Jakarta",
            "points.csv line 3: id 'Terboyo' is not a valid location id. Fix: use lowercase "
            "letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit), "
            "e.g. 'terboyo'",
        ),
        ("x1,,pool,-6.2,106.8,Asia/Jakarta", "points.csv line 3: the name is empty"),
        (
            "x1,Somewhere,bus stop,-6.2,106.8,Asia/Jakarta",
            "points.csv line 3: kind 'bus stop' is not known. Fix: use one of office, terminal, "
            "pool, transit_stop, depot, other",
        ),
        (
            "x1,Somewhere,pool,-6;2,106.8,Asia/Jakarta",
            "points.csv line 3: latitude '-6;2' is not a number in decimal degrees",
        ),
        ("x1,Somewhere,pool,-96.2,106.8,Asia/Jakarta", "latitude -96.2 is outside -90..90"),
        ("x1,Somewhere,pool,-6.2,186.8,Asia/Jakarta", "longitude 186.8 is outside -180..180"),
        ("x1,Somewhere,pool,106.8,-6.2,Asia/Jakarta", "look swapped. Fix: exchange them"),
        ("x1,Somewhere,pool,nan,106.8,Asia/Jakarta", "latitude 'nan' is not a number"),
        (
            "x1,Somewhere,pool,-6.2,106.8,Asia/Jakart",
            "points.csv line 3: unknown time zone 'Asia/Jakart'. Fix: use an IANA name",
        ),
        ("x1,Somewhere,pool,-6.2,106.8,WIB", "unknown time zone 'WIB'"),
        ("x1,Somewhere,pool,-6.2,106.8,asia/jakarta", "Fix: write it as 'Asia/Jakarta'"),
        ("x1,Somewhere,pool,-6.2,106.8,", "points.csv line 3: the time zone is empty"),
        ("x1,Somewhere,pool,-6.2,106.8", "points.csv line 3: 5 fields, expected 6"),
        (
            "term-terboyo,Again,terminal,-6.2,106.8,Asia/Jakarta",
            "points.csv line 3: id 'term-terboyo' is already used on line 2",
        ),
    ],
)
def test_each_mistake_is_reported_with_its_line_and_fix(line: str, expected: str) -> None:
    text = HEADER + "term-terboyo,Terminal Terboyo,terminal,-6.2437,106.8008,Asia/Jakarta\n"
    found = problems(text + line + "\n")
    assert len(found) == 1, found
    assert expected in found[0]


def test_every_problem_is_reported_and_lines_count_from_the_header() -> None:
    text = (
        HEADER
        + "\n"  # a blank line still counts
        + 'a1,"A name\nover two lines",pool,-6.2,106.8,Asia/Jakarta\n'  # lines 3-4: refused
        + "B2,Second,pool,-6.2,106.8,Asia/Jakarta\n"
        + "c3,Third,castle,-6.2,106.8,Asia/Jakarta\n"
    )
    found = problems(text)
    assert [p.split(":")[0] for p in found] == [
        "points.csv line 3",
        "points.csv line 5",
        "points.csv line 6",
    ]
    assert "control characters" in found[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        (HEADER, "no attendance points, only the header"),
        ("id,name,kind,lat,lon,timezone\n", "missing latitude, longitude; unknown lat, lon"),
        ('id,name\nx,"unclosed\n', "the header has the wrong columns"),
    ],
)
def test_structural_problems(text: str, expected: str) -> None:
    assert expected in problems(text)[0]


def test_a_spreadsheet_in_indonesian_format_is_read() -> None:
    text = (
        "\ufeffid;name;kind;latitude;longitude;timezone\r\n"
        "halte-balaikota;Halte Balai Kota;Transit Stop;-6,1763;106,8229;Asia/Jakarta\r\n"
        "halte-kota;Halte Kota;halte;-6,1375;106,8138;\r\n"  # empty zone: the org's
    )
    points = parse_locations(text.encode("utf-8"), default_timezone="Asia/Jakarta")
    assert [(p.id, p.kind, p.latitude, p.timezone) for p in points] == [
        ("halte-balaikota", "transit_stop", -6.1763, "Asia/Jakarta"),
        ("halte-kota", "transit_stop", -6.1375, "Asia/Jakarta"),
    ]


def test_not_utf8_is_explained() -> None:
    data = (HEADER + "x1,Caf\xe9,pool,-6.2,106.8,Asia/Jakarta\n").encode("latin-1")
    with pytest.raises(CsvImportError, match=r"line 2: not UTF-8 text.*CSV UTF-8"):
        parse_locations(data)


def test_import_export_round_trip_and_nothing_written_on_error(org: Org, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(GOOD, encoding="utf-8")
    imported = import_locations(org, source)
    assert load_locations(org) == imported
    out = tmp_path / "out.csv"
    assert export_locations(org, out) == imported
    assert read_locations(out) == imported
    assert import_locations(org, out) == imported

    before = org.locations_path.read_bytes()
    source.write_text(GOOD + "bad id,X,pool,-6.2,106.8,Asia/Jakarta\n", encoding="utf-8")
    with pytest.raises(CsvImportError, match=r"in\.csv line 4"):
        import_locations(org, source)
    assert org.locations_path.read_bytes() == before


def test_load_without_locations_says_how_to_get_them(org: Org) -> None:
    with pytest.raises(ProvisioningError, match="locations import FILE"):
        load_locations(org)


def test_the_sample_has_42_valid_points_of_the_semarang_bus_operator() -> None:
    points = sample_locations()
    assert len(points) == 42
    assert len({p.id for p in points}) == 42
    kinds = {p.kind for p in points}
    assert {"office", "terminal", "pool", "transit_stop"} <= kinds <= set(KINDS)
    assert all(p.timezone == "Asia/Jakarta" for p in points)
    # Semarang and its edges (Mangkang, Ungaran): about 6.94-7.15 S, 110.29-110.50 E
    assert all(-7.15 < p.latitude < -6.94 and 110.29 < p.longitude < 110.50 for p in points)
    assert {"term-terboyo", "term-penggaron", "pool-mangkang"} <= {p.id for p in points}
    # every id is usable as a station's location (the config's Ident pattern)
    pattern = typing.get_args(Ident)[1].pattern
    assert all(re.fullmatch(pattern, p.id) for p in points)


def test_cli_sample_export_and_import(org: Org, tmp_path: Path) -> None:
    runner = CliRunner()
    sample = runner.invoke(main, ["provision", "locations", "sample", "--org", str(org.path)])
    assert sample.exit_code == 0, sample.output
    assert "42 attendance points" in sample.output
    out = tmp_path / "points.csv"
    exported = runner.invoke(
        main, ["provision", "locations", "export", str(out), "--org", str(org.path)]
    )
    assert exported.exit_code == 0, exported.output
    assert read_locations(out) == sample_locations()
    stdout = runner.invoke(main, ["provision", "locations", "export", "-", "--org", str(org.path)])
    assert stdout.output == out.read_text()

    out.write_text(
        out.read_text() + "dup,Pool,pool,-6.2,106.8,Asia/Jakarta\nkantor-blu,X,y,1,2,UTC\n"
    )
    bad = runner.invoke(
        main, ["provision", "locations", "import", str(out), "--org", str(org.path)]
    )
    assert bad.exit_code == 2
    assert "points.csv: 2 problems, nothing imported" in bad.output
    assert "points.csv line 45: id 'kantor-blu' is already used on line 2" in bad.output
    assert "line 45: kind 'y' is not known" in bad.output
    assert len(load_locations(org)) == 42


def test_an_export_never_writes_a_formula_cell_and_reads_back_as_text(
    org: Org, tmp_path: Path
) -> None:
    """Names a spreadsheet would run as formulas (issue 9, item 7) are kept as text on import;
    the export writes them with a leading ' (a text cell to a spreadsheet) and reads back as they
    were. Coordinates are the only cells that may start with '-': they are plain decimal numbers
    (checked on import), which a spreadsheet reads as a number, never a formula."""
    hostile = ["=cmd|' /C calc'!A0", "@SUM(1)", "+1", "-1", '=HYPERLINK("http://x.test","a")']
    rows = "".join(
        f'halte-{i},"{name.replace(chr(34), chr(34) * 2)}",transit_stop,-6.98,110.41,Asia/Jakarta\n'
        for i, name in enumerate(hostile)
    )
    source = tmp_path / "hostile.csv"
    source.write_text(HEADER + rows, encoding="utf-8")
    runner = CliRunner()
    imported = runner.invoke(
        main, ["provision", "locations", "import", str(source), "--org", str(org.path)]
    )
    assert imported.exit_code == 0, imported.output
    assert [loc.name for loc in load_locations(org)] == hostile  # kept as typed
    out = tmp_path / "export.csv"
    exported = runner.invoke(
        main, ["provision", "locations", "export", str(out), "--org", str(org.path)]
    )
    assert exported.exit_code == 0, exported.output
    number = re.compile(r"-?\d+(\.\d+)?")
    with out.open(newline="", encoding="utf-8") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    for cell in cells:
        if number.fullmatch(cell):
            continue
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    names = [row[1] for row in csv.reader(out.read_text(encoding="utf-8").splitlines()[1:])]
    assert names == ["'" + name for name in hostile]  # each a text cell
    assert [loc.name for loc in read_locations(out)] == hostile  # and read back as it was
