"""The organisation's people in the hub's store (SQLite and PostgreSQL): synced from the org
folder, searched by number or name, limited by unit."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner

from presensi.hub.badges import Badge, badges_of, employee_state, sync_badges
from presensi.hub.people import Person, find_people, numbers_in_units, person, sync_people
from presensi.hub.store import SqlStore
from presensi.protocol.cli import main
from presensi.provisioning.org import Org

BUDI = Person("TS-0101", "Budi Santoso", "Pramudi Koridor I", "pagi")
SITI = Person("TS-0102", "Siti Rahayu", "Pramudi Koridor II", "pagi")
AGUS = Person("TS-0207", "Agus Prasetyo", "Teknisi Pool Mangkang", "siang")


def test_sync_adds_changes_and_retires(store: SqlStore) -> None:
    db = store.database
    first = sync_people(db, [BUDI, SITI], 1)
    assert (first.added, first.changed, first.retired) == (2, 0, 0)
    moved = Person(SITI.number, SITI.name, "Petugas Halte", "pagi")
    second = sync_people(db, [moved, AGUS], 2)
    assert (second.added, second.changed, second.retired) == (1, 1, 1)
    assert person(db, SITI.number) == moved
    gone = person(db, BUDI.number)
    assert gone is not None and not gone.active  # kept: his scans still name him
    again = sync_people(db, [moved, AGUS], 3)
    assert (again.added, again.changed, again.retired) == (0, 0, 0)
    back = sync_people(db, [BUDI, moved, AGUS], 4)
    assert (back.added, back.changed) == (0, 1)
    assert person(db, BUDI.number) == BUDI


def test_search_by_number_or_name_within_units(store: SqlStore) -> None:
    db = store.database
    sync_people(db, [BUDI, SITI, AGUS], 1)
    assert [p.number for p in find_people(db, "santoso")] == ["TS-0101"]
    assert [p.number for p in find_people(db, "ts-01")] == ["TS-0101", "TS-0102"]
    assert [p.number for p in find_people(db, "")] == ["TS-0207", "TS-0101", "TS-0102"]  # by name
    assert [p.number for p in find_people(db, "", units=["Pramudi Koridor II"])] == ["TS-0102"]
    assert find_people(db, "%") == []  # LIKE wildcards are text, not patterns: no name has one
    assert numbers_in_units(db, ["Pramudi Koridor I", "Teknisi Pool Mangkang"]) == {
        "TS-0101",
        "TS-0207",
    }


def test_provision_employees_sync_gives_the_hub_the_org_list(
    tmp_path: Path, store_url: str
) -> None:
    org = Org.init(tmp_path / "org", "Trans Semarang")
    csv = tmp_path / "karyawan.csv"
    csv.write_text(
        "number,name,unit,shift_group\n"
        "TS-0101,Budi Santoso,Pramudi Koridor I,pagi\n"
        'TS-0666,"<script>alert(1)</script>",Pramudi Koridor I,pagi\n'
    )
    runner = CliRunner()
    assert (
        runner.invoke(
            main, ["provision", "employees", "import", str(csv), "--org", str(org.path)]
        ).exit_code
        == 0
    )
    done = runner.invoke(
        main, ["provision", "employees", "sync", "--org", str(org.path), "--hub-store", store_url]
    )
    assert done.exit_code == 0, done.output
    assert "2 employees" in done.output and "2 new" in done.output
    from presensi.hub.store import open_store

    hub = open_store(store_url, existing=True)
    try:
        assert isinstance(hub, SqlStore)
        found = person(hub.database, "TS-0666")
        assert found is not None and found.name == "<script>alert(1)</script>"
        assert badges_of(hub.database, ["TS-0101"]) == {}  # no badge issued yet
    finally:
        hub.close()

    # badges issued, one reissued (lost card), one revoked: the next sync carries them
    org_args = ["--org", str(org.path)]
    for args in (
        ["badge", "issue", "--out", str(tmp_path / "kartu.pdf")],
        ["badge", "reissue", "TS-0101", "--reason", "hilang", "--out", str(tmp_path / "g.pdf")],
        ["badge", "revoke", "--employee", "TS-0666", "--reason", "keluar"],
    ):
        done = runner.invoke(main, [*args, *org_args])
        assert done.exit_code == 0, done.output
    sync = ["provision", "employees", "sync", *org_args, "--hub-store", store_url]
    done = runner.invoke(main, sync)
    assert done.exit_code == 0 and "3 badge changes" in done.output, done.output
    hub = open_store(store_url, existing=True)
    try:
        assert isinstance(hub, SqlStore)
        held = badges_of(hub.database, ["TS-0101", "TS-0666"])
        now_s = int(time.time())
        new, old = held["TS-0101"]
        assert (new.state(now_s), old.state(now_s)) == ("aktif", "diganti")
        assert old.replaced_by == new.serial
        (gone,) = held["TS-0666"]
        assert gone.state(now_s) == "dicabut" and gone.revoke_reason == "keluar"
        assert employee_state(held["TS-0666"], now_s) == "dicabut"
        assert employee_state(held["TS-0101"], now_s) == "aktif"
    finally:
        hub.close()
    again = runner.invoke(main, sync)
    assert "0 badge changes" in again.output, again.output


def test_badge_states(store: SqlStore) -> None:
    now = 1_800_000_000
    day = 86_400
    valid = Badge(1, "TS-0101", now - day, now + day, 1)
    assert valid.state(now) == "aktif" and valid.state(now + day) == "kedaluwarsa"
    assert valid.state(now - 2 * day) == "belum_berlaku"
    assert Badge(2, "TS-0101", 0, now + day, 1, revoked_ms=5).state(now) == "dicabut"
    assert Badge(3, "TS-0101", 0, now + day, 1, revoked_ms=5, replaced_by=4).state(now) == "diganti"
    assert employee_state([], now) == "tanpa"
    expired = Badge(5, "TS-0102", 0, now - day, 1)
    revoked = Badge(6, "TS-0102", 0, now + day, 1, revoked_ms=5)
    assert employee_state([revoked, expired], now) == "kedaluwarsa"
    assert sync_badges(store.database, [valid, expired], 1) == 2
    assert sync_badges(store.database, [valid], 2) == 1  # a serial gone from the registry
    assert badges_of(store.database, ["TS-0101", "TS-0102"]) == {"TS-0101": [valid]}


def test_provision_locations_sync_gives_the_hub_the_points(tmp_path: Path, store_url: str) -> None:
    from presensi.hub.places import places
    from presensi.hub.store import open_store
    from presensi.provisioning.locations import import_locations, sample_csv_text

    org = Org.init(tmp_path / "org", "Trans Semarang")
    import_locations(org, sample_csv_text())
    runner = CliRunner()
    args = ["provision", "locations", "sync", "--org", str(org.path), "--hub-store", store_url]
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    assert "42 attendance points" in done.output
    hub = open_store(store_url, existing=True)
    try:
        assert isinstance(hub, SqlStore)
        found = {p.id: p for p in places(hub.database)}
        assert len(found) == 42 and found["kantor-blu"].timezone == "Asia/Jakarta"
        assert -7.2 < found["kantor-blu"].latitude < -6.8  # Semarang
    finally:
        hub.close()
    only_two = "id,name,kind,latitude,longitude,timezone\n"
    only_two += "kantor-blu,Kantor BLU Trans Semarang,office,-6.9839,110.4089,Asia/Jakarta\n"
    only_two += "halte-balaikota,Halte Balai Kota,halte,-6.9845,110.4094,Asia/Jakarta\n"
    import_locations(org, only_two)
    again = runner.invoke(main, args)
    assert (
        again.exit_code == 0
        and "2 attendance points" in again.output
        and "40 no longer" in again.output
    )


def test_search_text_with_like_wildcards_is_matched_as_text(store: SqlStore) -> None:
    db = store.database
    sync_people(db, [BUDI, Person("TS_0999", "Rina 100% Hadir", "Unit_A", "pagi")], 1)
    assert [p.number for p in find_people(db, "_")] == ["TS_0999"]  # not "any one character"
    assert [p.number for p in find_people(db, "100%")] == ["TS_0999"]
    assert find_people(db, "\\") == []
