"""The employee list: org/employees.csv, imported from a CSV file after validation.

    number,name,unit,shift_group
    EMP-00017,Siti Nurhaliza,Pramudi Koridor I,Pagi

`number` is what the badge carries, so it follows the badge's rule (presensi.protocol.badge):
1-32 letters, digits, '.', '_' or '-'. Numbers are unique, also ignoring case (EMP-1 and emp-1
would be two badges a person cannot tell apart). `name` is required; `unit` and `shift_group`
may be empty. Every problem is reported with its line number; if there is any, nothing is
written. An import replaces the whole list. The file holds personal data: it is written 0600.

`sample_employees(n, seed)` makes a realistic list (Indonesian names, a bus operator's units and
shift groups) for the demo and the benchmarks.
"""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from presensi.device.files import write_atomically
from presensi.provisioning.errors import CsvImportError, ProvisioningError
from presensi.provisioning.locations import (
    by_line,
    decode_csv,
    has_control_characters,
    read_csv_records,
    text_cell,
)
from presensi.provisioning.org import PRIVATE, Org

COLUMNS = ("number", "name", "unit", "shift_group")
# the badge's employee number rule (presensi.protocol.badge, token field "employee number")
EMPLOYEE_NUMBER = re.compile(r"[A-Za-z0-9._-]{1,32}")
TEXT_MAX = 200


@dataclass(frozen=True)
class Employee:
    number: str
    name: str
    unit: str
    shift_group: str


def parse_employees(data: str | bytes, source: str = "employees.csv") -> list[Employee]:
    """Validate an employees CSV; raise CsvImportError listing every problem by line."""
    rows, problems, _ = read_csv_records(decode_csv(data, source), source, COLUMNS)
    employees: list[Employee] = []
    first_line: dict[str, tuple[int, str]] = {}  # casefolded number -> (line, number)
    for line, values in rows:
        where = f"{source} line {line}"
        before = len(problems)
        number = values["number"]
        if not EMPLOYEE_NUMBER.fullmatch(number):
            problems.append(f"{where}: number {number!r} {_number_problem(number)}")
        name = values["name"]
        if not name:
            problems.append(f"{where}: the name is empty. Fix: write the employee's name")
        for field in ("name", "unit", "shift_group"):
            text = values[field]
            if len(text) > TEXT_MAX or has_control_characters(text):
                problems.append(
                    f"{where}: {field} is longer than {TEXT_MAX} characters or has control "
                    "characters. Fix: shorten it to one plain line"
                )
        if len(problems) > before:
            continue
        folded = number.casefold()
        if folded in first_line:
            other_line, other = first_line[folded]
            same = "is" if other == number else f"differs only in case from {other!r},"
            problems.append(
                f"{where}: number {number!r} {same} already on line {other_line}. "
                "Fix: each employee needs their own number; remove or correct one of the lines"
            )
            continue
        first_line[folded] = (line, number)
        employees.append(Employee(number, name, values["unit"], values["shift_group"]))
    if not employees and not problems:
        problems.append(f"{source}: no employees, only the header. Fix: add lines")
    if problems:
        raise CsvImportError(source, by_line(problems))
    return employees


def _number_problem(number: str) -> str:
    if not number:
        return "is empty. Fix: write the employee number printed on the badge"
    if len(number) > 32:
        return f"is {len(number)} characters long. Fix: use at most 32"
    bad = sorted({c for c in number if not EMPLOYEE_NUMBER.fullmatch(c)})
    shown = ", ".join("space" if c == " " else repr(c) for c in bad)
    suggestion = re.sub(r"[^A-Za-z0-9._-]+", "-", number).strip("-")[:32]
    fix = f" (e.g. {suggestion!r})" if suggestion else ""
    return (
        f"has characters a badge cannot carry ({shown}). Fix: use only letters A-Z a-z, "
        f"digits, '.', '_' and '-'{fix}"
    )


def employees_csv(employees: Sequence[Employee]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in employees:
        writer.writerow([text_cell(v) for v in (e.number, e.name, e.unit, e.shift_group)])
    return out.getvalue()


def read_employees(path: Path) -> list[Employee]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProvisioningError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    return parse_employees(data, path.name)


def import_employees(org: Org, source: Path | str | bytes) -> list[Employee]:
    """Validate an employees CSV (a path, or the file's content) and make it the org's list
    (org/employees.csv, 0600). Nothing is written if any line is wrong."""
    employees = read_employees(source) if isinstance(source, Path) else parse_employees(source)
    write_atomically(org.employees_path, employees_csv(employees), mode=PRIVATE)
    return employees


def load_employees(org: Org) -> list[Employee]:
    """The org's employees (org/employees.csv)."""
    if not org.employees_path.exists():
        raise ProvisioningError(
            f"{org.path}: no employees yet. Fix: `presensi provision employees import FILE`"
        )
    return read_employees(org.employees_path)


# -- a realistic sample ----------------------------------------------------------------------

# first names, and second names (Javanese, Sundanese, Batak family names, Balinese, ...)
_MALE = (  # noqa: SIM905 (compact word lists)
    "Agus Ahmad Andi Arif Bambang Budi Dedi Denny Dimas Eko Fajar Hadi Hendra Heru Imam Indra "
    "Joko Lukman Muhammad Nanang Nur Rahmat Rizky Rudi Slamet Sugeng Sutrisno Taufik Teguh "
    "Wahyu Yusuf Yudi Bayu Ilham Gilang Aditya Dwi Hari Asep Ujang Dadang Made Putu Ketut Wayan "
    "Yohanes Fransiskus Samuel Daniel Irfan Ridwan Firman Haris Jajang Mulyadi Suparman"
).split()
_FEMALE = (  # noqa: SIM905
    "Siti Sri Dewi Ayu Rina Nur Fitri Lestari Wulan Indah Ratna Yuni Putri Diah Endang Kartika "
    "Maya Novita Rahayu Sari Tuti Wati Yanti Anisa Dian Intan Mega Nining Ratih Suryani Eka "
    "Nurul Aisyah Desi Lina Ani Fransiska Maria Kadek Komang Yeni Susi Astuti"
).split()
_MALE_LAST = (  # noqa: SIM905
    "Saputra Santoso Wijaya Pratama Hidayat Setiawan Kurniawan Susanto Gunawan Nugroho Wibowo "
    "Hakim Rahman Kusuma Permana Firmansyah Maulana Syahputra Ramadhan Wahyudi Suharto "
    "Prasetyo Suryadi Hartono Sulistyo Effendi Lesmana Halim Hermawan Sudirman Supriyadi"
).split()
_FEMALE_LAST = (  # noqa: SIM905
    "Handayani Rahmawati Puspita Anggraini Safitri Wulandari Kusumawati Pertiwi Utami Lestari "
    "Maharani Permatasari Susanti Fitriani Ningsih Rahayu Sulistyowati Oktaviani Purnamasari"
).split()
_FAMILY = (  # noqa: SIM905 (Batak family names: the same for men and women)
    "Siregar Nasution Lubis Harahap Simanjuntak Sitompul Situmorang Tampubolon Manurung "
    "Pardede Hutapea Sinaga Hasibuan Purba Ginting Tarigan Sembiring Pangaribuan Sihombing"
).split()
# Trans Semarang's kinds of staff: (unit, share of the staff, shift groups it works in).
# Crews (pramudi: drivers; pramugara/pramugari: conductors) per corridor, in early, day and night
# shifts; mechanics at the bus pools; office divisions of the BLU UPTD on office hours (Kantor).
_CORRIDORS = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII")
_POOLS = ("Mangkang", "Terboyo", "Penggaron", "Banyumanik")
_CREW = ("Pagi", "Siang", "Malam")
_UNITS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    *((f"Pramudi Koridor {c}", 0.50 / len(_CORRIDORS), _CREW) for c in _CORRIDORS),
    *((f"Pramugara/i Koridor {c}", 0.22 / len(_CORRIDORS), _CREW) for c in _CORRIDORS),
    *((f"Mekanik Pool {p}", 0.10 / len(_POOLS), _CREW) for p in _POOLS),
    ("Kantor BLU - Operasional", 0.05, ("Kantor",)),
    ("Kantor BLU - Keuangan", 0.02, ("Kantor",)),
    ("Kantor BLU - Umum dan Kepegawaian", 0.03, ("Kantor",)),
    ("Keamanan dan Petugas Halte", 0.08, _CREW),
)
_FEMALE_SHARE = {"Pramudi": 0.12, "Pramugara/i": 0.55, "Mekanik": 0.05}  # else about 0.45


def sample_employees(n: int = 810, seed: int = 0) -> list[Employee]:
    """`n` employees of a city bus operator (Trans Semarang's kinds of staff), the same list
    for the same seed: numbers EMP-00001.., Indonesian names, units (drivers and conductors per
    corridor, mechanics per pool, office divisions) and shift groups (Pagi, Siang, Malam for
    crews and mechanics, Kantor for the office)."""
    if n < 0:
        raise ValueError("n must not be negative")
    rng = random.Random(seed)
    units = [unit for unit, _, _ in _UNITS]
    weights = [share for _, share, _ in _UNITS]
    shifts = {unit: groups for unit, _, groups in _UNITS}
    employees = []
    for i in range(1, n + 1):
        unit = rng.choices(units, weights)[0]
        female = rng.random() < _FEMALE_SHARE.get(unit.split()[0], 0.45)
        firsts = _FEMALE if female else _MALE
        lasts = (_FEMALE_LAST if female else _MALE_LAST) + _FAMILY
        shape = rng.choices(("first", "first last", "first middle last"), (0.2, 0.65, 0.15))[0]
        words = [rng.choice(firsts)]
        if shape == "first middle last":  # "Muhammad Rizky Pratama", "Siti Nur Aisyah Lubis"
            words.append(rng.choice([f for f in firsts if f != words[0]]))
        if shape != "first":
            words.append(rng.choice(lasts))
        name = " ".join(words)
        employees.append(Employee(f"EMP-{i:05d}", name, unit, rng.choice(shifts[unit])))
    return employees


def sync_to_hub(org: Org, hub_store_url: str) -> tuple[int, int, int, int, int]:
    """Give the hub's store the org's employees and badges (for its console): (listed, added,
    changed, no longer listed, badges changed). The org folder stays the source of truth."""
    import time

    from presensi.hub.badges import Badge, sync_badges
    from presensi.hub.people import Person, sync_people
    from presensi.provisioning.badges import Registry
    from presensi.provisioning.hub_store import hub_store

    people = [Person(e.number, e.name, e.unit, e.shift_group) for e in load_employees(org)]
    badges: list[Badge] = []
    if org.badges_db.exists():
        with Registry.of(org) as registry:
            badges = [
                Badge(
                    r.serial,
                    r.employee,
                    r.valid_from,
                    r.valid_until,
                    r.issued_ms,
                    r.revoked_ms,
                    r.revoke_reason,
                    r.replaced_by,
                )
                for r in registry.all()
            ]
    now = time.time_ns() // 1_000_000
    with hub_store(hub_store_url) as store:
        done = sync_people(store.database, people, now)
        badges_changed = sync_badges(store.database, badges, now)
    return len(people), done.added, done.changed, done.retired, badges_changed
