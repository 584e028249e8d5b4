"""The hand-carried path: `presensi station export` on a station, `presensi hub import` on the
hub, both through the real command line (click's CliRunner) on a real station folder and a
real SQLite store. Importing is idempotent with itself and with MQTT delivery, and refuses
whatever the station's registered key did not sign."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from presensi.device.journal import Journal
from presensi.device.testbed import T0_MS as T0
from presensi.device.testbed import StationFolder, create, sample_draft
from presensi.hub.store import StationInfo, Store, open_store
from presensi.protocol.cli import main
from presensi.protocol.export import write_export
from presensi.protocol.keys import SigningKey, load_signing_key, raw_public, save_signing_key
from presensi.protocol.record import GENESIS, ScanRecord
from presensi.protocol.wire import batch_of


@dataclass
class Station:
    id: str
    folder: StationFolder
    records: list[ScanRecord]

    @property
    def key(self) -> SigningKey:
        return load_signing_key(self.folder.folder / "station.key")


def make_station(tmp_path: Path, sid: str, n: int) -> Station:
    """A station folder whose journal holds n scans, none of them acked."""
    folder = create(tmp_path / sid, station=sid, employees=3)
    journal = Journal(folder.journal_path, sid, min_free_bytes=0)
    try:
        records = [journal.append(sample_draft(i)) for i in range(1, n + 1)]
    finally:
        journal.close()
    return Station(sid, folder, records)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def export(station: Station, out: Path, *extra: str) -> Path:
    result = run(
        "station", "export", "--config", str(station.folder.config_path), "--out", str(out), *extra
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    return out


def hub_import(store_url: str, *files: Path) -> Result:
    return run("hub", "import", *map(str, files), "--store", store_url)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub' / 'hub.db'}"  # sqlite:////tmp/...: an absolute path


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """The hub's store, open beside the CLI's (SQLite WAL: both see each other's commits)."""
    opened = open_store(store_url)
    opened.migrate()
    yield opened
    opened.close()


def register(store: Store, station: Station) -> None:
    """Enroll the station in the hub with the key its folder holds now."""
    store.register_station(StationInfo(station.id, raw_public(station.key.public), "pool-test"))


@pytest.fixture
def station(tmp_path: Path) -> Station:
    return make_station(tmp_path, "st-010", 120)


# -- what lands ----------------------------------------------------------------------------


def test_exported_records_land_in_the_hub(
    tmp_path: Path, station: Station, store: Store, store_url: str
) -> None:
    register(store, station)
    path = export(station, tmp_path / "st-010.jsonl")
    result = hub_import(store_url, path)
    assert result.exit_code == 0, result.output
    assert f"{path}: 120 new, 0 already known; st-010 committed up to 120" in result.output
    assert store.scans(station.id) == station.records
    assert store.committed_upto(station.id) == 120
    assert store.rejects() == []


def test_importing_twice_inserts_nothing_new(
    tmp_path: Path, station: Station, store: Store, store_url: str
) -> None:
    register(store, station)
    path = export(station, tmp_path / "st-010.jsonl")
    assert hub_import(store_url, path).exit_code == 0
    again = hub_import(store_url, path)
    assert again.exit_code == 0, again.output
    assert "0 new, 120 already known; st-010 committed up to 120" in again.output
    assert store.count_scans() == 120
    assert store.scans(station.id) == station.records


def test_records_that_already_arrived_over_mqtt_are_not_imported_again(
    tmp_path: Path, station: Station, store: Store, store_url: str
) -> None:
    register(store, station)
    # the hub got 1..80 as batches before the station went offline for good
    store.ingest(
        [
            batch_of(station.id, station.records[0].journal, station.records[:50]),
            batch_of(station.id, station.records[0].journal, station.records[50:80]),
        ],
        T0,
    )
    path = export(station, tmp_path / "st-010.jsonl")  # nothing was acked: all 120 exported
    result = hub_import(store_url, path)
    assert result.exit_code == 0, result.output
    assert "40 new, 80 already known; st-010 committed up to 120" in result.output
    assert store.scans(station.id) == station.records
    # and the other way round: the batches arrive after the import, and are absorbed
    outcome = store.ingest([batch_of(station.id, station.records[0].journal, station.records)], T0)
    assert (outcome.inserted, outcome.duplicates, outcome.committed) == (0, 120, {station.id: 120})
    assert store.count_scans() == 120


def test_an_export_of_a_range_fills_a_gap(
    tmp_path: Path, station: Station, store: Store, store_url: str
) -> None:
    register(store, station)
    store.ingest(
        [
            batch_of(station.id, station.records[0].journal, station.records[:30]),
            batch_of(station.id, station.records[0].journal, station.records[60:]),
        ],
        T0,
    )
    assert store.committed_upto(station.id) == 30
    path = export(station, tmp_path / "gap.jsonl", "--from", "31", "--to", "60")
    result = hub_import(store_url, path)
    assert result.exit_code == 0, result.output
    assert "30 new, 0 already known; st-010 committed up to 120" in result.output
    assert store.scans(station.id) == station.records


# -- what is refused -------------------------------------------------------------------------


SIGNATURE_MISMATCH = "export signature does not match the station's key"
NO_SIGNATURE = "not an export file: no valid signature line"


def refused(result: Result, path: Path, why: str) -> None:
    assert result.exit_code == 1, result.output
    assert f"{path}: refused: " in result.output
    assert why in result.output, result.output


def test_an_export_signed_by_another_key_is_refused(
    tmp_path: Path, station: Station, store: Store, store_url: str
) -> None:
    register(store, station)  # the hub knows the station's enrolled key ...
    key_file = station.folder.folder / "station.key"
    key_file.unlink()
    save_signing_key(key_file, SigningKey.generate())  # ... but the station was re-keyed
    path = export(station, tmp_path / "st-010.jsonl")
    result = hub_import(store_url, path)
    refused(result, path, SIGNATURE_MISMATCH)
    assert store.count_scans() == 0


def test_an_export_of_another_station_is_no_way_in(
    tmp_path: Path, station: Station, store: Store, store_url: str
) -> None:
    """An export signed by station B, whose header then claims station A."""
    other = make_station(tmp_path, "st-011", 5)
    register(store, station)
    register(store, other)
    path = export(other, tmp_path / "st-011.jsonl")
    forged = path.read_bytes().replace(b'"station":"st-011"', b'"station":"st-010"', 1)
    assert forged != path.read_bytes()
    path.write_bytes(forged)
    refused(hub_import(store_url, path), path, SIGNATURE_MISMATCH)
    assert store.count_scans() == 0


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ("an edited record", SIGNATURE_MISMATCH),
        ("a record left out", SIGNATURE_MISMATCH),
        ("a record added twice", SIGNATURE_MISMATCH),
        ("cut short", NO_SIGNATURE),
        ("no signature", NO_SIGNATURE),
        ("not JSON", "not an export file"),
    ],
)
def test_a_tampered_file_is_refused(
    tmp_path: Path, station: Station, store: Store, store_url: str, tamper: str, why: str
) -> None:
    register(store, station)
    path = export(station, tmp_path / "st-010.jsonl")
    lines = path.read_bytes().split(b"\n")  # header, 120 records, signature, ""
    assert len(lines) == 123
    if tamper == "an edited record":
        edited = json.loads(lines[5])
        edited["employee"] = "EMP-99999"  # someone who was not there
        lines[5] = json.dumps(edited, sort_keys=True, separators=(",", ":")).encode()
    elif tamper == "a record left out":
        del lines[40]
    elif tamper == "a record added twice":
        lines.insert(40, lines[40])
    elif tamper == "cut short":
        lines = lines[:60]
    elif tamper == "no signature":
        del lines[-2]
    else:
        lines = [b"%PDF-1.4 not an export", b"\x00\xff"]
    path.write_bytes(b"\n".join(lines))
    refused(hub_import(store_url, path), path, why)
    assert store.count_scans() == 0


def test_a_signed_export_with_a_hole_in_its_chain_is_refused(
    tmp_path: Path, station: Station, store: Store, store_url: str
) -> None:
    """Signed by the right key, but not a whole piece of the journal (a station bug)."""
    register(store, station)
    holed = station.records[:10] + station.records[11:20]
    path = tmp_path / "holed.jsonl"
    path.write_bytes(write_export(station.id, GENESIS, holed, station.key, T0))
    refused(hub_import(store_url, path), path, "sequence gap: expected 11, found 12")
    assert store.count_scans() == 0


def test_an_unknown_station_is_refused(
    tmp_path: Path, station: Station, store: Store, store_url: str
) -> None:
    path = export(station, tmp_path / "st-010.jsonl")
    refused(hub_import(store_url, path), path, "unknown station 'st-010': enroll it")
    assert store.count_scans() == 0


def test_one_refused_file_does_not_stop_the_others(
    tmp_path: Path, station: Station, store: Store, store_url: str
) -> None:
    other = make_station(tmp_path, "st-011", 7)
    register(store, other)  # st-010 is not enrolled
    bad = export(station, tmp_path / "st-010.jsonl")
    good = export(other, tmp_path / "st-011.jsonl")
    result = hub_import(store_url, bad, good)
    refused(result, bad, "unknown station")
    assert f"{good}: 7 new, 0 already known; st-011 committed up to 7" in result.output
    assert store.scans(other.id) == other.records
    assert store.count_scans() == 7


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,  # nested past any parser's depth
        b'{"station": "st-011"}\n' + b"[" * 100_000 + b"\n" + b'{"signature": "AA=="}\n',
        b"\xff\xfe\x00not text at all",
        b"",
    ],
    ids=["nested header", "nested body", "binary", "empty"],
)
def test_a_hostile_file_is_one_line_and_the_good_one_still_lands(
    tmp_path: Path, store: Store, store_url: str, content: bytes
) -> None:
    other = make_station(tmp_path, "st-011", 7)
    register(store, other)
    hostile = tmp_path / "nested.jsonl"
    hostile.write_bytes(content)
    good = export(other, tmp_path / "st-011.jsonl")
    result = CliRunner().invoke(
        main, ["hub", "import", str(hostile), str(good), "--store", store_url]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # exit 1, not a crash
    assert f"{hostile}: refused:" in result.output
    assert f"{good}: 7 new" in result.output
    assert store.scans(other.id) == other.records
