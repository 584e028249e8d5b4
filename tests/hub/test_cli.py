"""`presensi hub stations | journals | alerts` through the real command line, on a store that
holds a station whose card was replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from presensi.demo.mosquitto import free_port
from presensi.device.testbed import T0_MS, sample_chain
from presensi.hub.store import StationInfo, open_store
from presensi.protocol.cli import main
from presensi.protocol.wire import JournalState, batch_of

NEW = "2" * 32


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_the_fleet_journals_and_alerts_of_a_replaced_card(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    store.migrate()
    old = list(sample_chain("st-halte-balaikota-01", 8))
    store.ingest([batch_of(old[0].station, old[0].journal, old)], T0_MS)
    store.report_journals(old[0].station, {old[0].journal: JournalState(10, 8)}, T0_MS)
    new = list(sample_chain("st-halte-balaikota-01", 3, journal=NEW))
    store.ingest([batch_of(new[0].station, NEW, new)], T0_MS + 3_600_000)
    store.close()

    fleet = run("hub", "stations", "--store", url)
    assert fleet.exit_code == 0, fleet.output
    header, row = fleet.output.splitlines()
    assert header.split()[7:11] == ["clock", "journals", "unsent", "alerts"]
    assert row.split()[0] == "st-halte-balaikota-01"
    # acked (of the newest journal), then journals, unsent, alerts
    assert row.split()[5] == "3" and row.split()[8:11] == ["2", "2", "1"]
    journals = run("hub", "journals", "--store", url, "st-halte-balaikota-01")
    lines = journals.output.splitlines()[1:]
    assert [line.split()[1] for line in lines] == [old[0].journal, NEW]
    assert lines[0].split()[4:7] == ["8", "10", "2"]  # committed, reported, unsent
    alerts = run("hub", "alerts", "--store", url)
    assert alerts.exit_code == 0 and "journal_new" in alerts.output
    alert_id = alerts.output.split()[0].lstrip("#")
    cleared = run("hub", "alerts", "--store", url, "clear", alert_id)
    assert cleared.exit_code == 0, cleared.output
    assert run("hub", "alerts", "--store", url).output.strip() == "no open alerts"
    again = run("hub", "alerts", "clear", alert_id, "--store", url)  # (either place)
    assert again.exit_code == 2 and f"no open alert #{alert_id}" in again.output
    assert "journal_new" in run("hub", "alerts", "--store", url, "--all").output


def test_a_store_that_is_not_there_is_one_line_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "var" / "lib" / "presensi" / "hub.db"
    for command in (["stations"], ["journals"], ["alerts"], ["alerts", "clear", "1"]):
        args = [*command[:1], "--store", f"sqlite:///{missing}", *command[1:]]
        result = run("hub", *args)
        assert result.exit_code == 2, (command, result.output)
        assert result.output.strip().splitlines() == [
            f"error: no hub store at {missing}. Fix: give the hub's --store (or set "
            "PRESENSI_HUB_STORE); `presensi hub run` makes a new one"
        ]
    assert not missing.exists() and not missing.parent.exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    result = run("hub", "stations", "--store", str(empty))
    assert result.exit_code == 2 and "holds no hub store" in result.output


DEFAULT_STORE = Path("/var/lib/presensi-hub/hub.db")  # the --store default


def test_without_store_or_env_the_default_store_is_one_line_and_nothing_is_created() -> None:
    if DEFAULT_STORE.exists():
        pytest.skip(f"this machine has a hub store at the default {DEFAULT_STORE}")
    folder_there = DEFAULT_STORE.parent.exists()
    for command in (["stations"], ["journals"], ["alerts"]):
        result = CliRunner().invoke(
            main, ["hub", *command], env={"PRESENSI_HUB_STORE": None}, catch_exceptions=False
        )
        assert result.exit_code == 2, (command, result.output)
        assert result.output.strip().splitlines() == [
            f"error: no hub store at {DEFAULT_STORE}. Fix: give the hub's --store (or set "
            "PRESENSI_HUB_STORE); `presensi hub run` makes a new one"
        ], command
    assert not DEFAULT_STORE.exists()
    assert DEFAULT_STORE.parent.exists() == folder_there


def test_an_unreachable_postgresql_server_is_one_line() -> None:
    url = f"postgresql://presensi@127.0.0.1:{free_port()}/presensi_hub"
    for command in (["stations"], ["alerts"]):
        result = run("hub", *command, "--store", url)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("error: cannot connect to the PostgreSQL store"), lines
        assert "Traceback" not in result.output


@pytest.mark.postgres
def test_a_wrong_database_name_is_one_line(postgres_conninfo: str) -> None:
    url = f"postgresql://?{postgres_conninfo.replace(' ', '&')}".replace(
        "dbname=postgres", "dbname=presensi_no_such_db"
    )
    result = run("hub", "stations", "--store", url)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to the PostgreSQL store")
    assert "presensi_no_such_db" in lines[0]


def test_the_fleet_table_says_never_seen_hub_disconnected_and_no_stale_backlog(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    store.migrate()
    store.register_station(StationInfo("st-pool-mangkang-01", bytes(32), "pool-mangkang"))
    records = list(sample_chain("st-halte-balaikota-01", 10))
    journal = records[0].journal
    # its last telemetry said 10 unacked; the hub has committed all 10 since
    store.update_station_status(
        "st-halte-balaikota-01", online=True, last_seen_ms=T0_MS, backlog=10
    )
    store.report_journals("st-halte-balaikota-01", {journal: JournalState(10, 0)}, T0_MS)
    store.ingest([batch_of("st-halte-balaikota-01", journal, records)], T0_MS + 1)
    store.set_hub_worker("presensi-hub", False, T0_MS, "127.0.0.1:1883")
    store.close()
    lines = run("hub", "stations", "--store", url).output.splitlines()
    assert lines[0].startswith("hub presensi-hub: NOT connected to the broker 127.0.0.1:1883")
    rows = {line.split()[0]: line for line in lines[2:]}
    assert "never seen" in rows["st-pool-mangkang-01"]
    halte = rows["st-halte-balaikota-01"].split()
    assert halte[2] == "online" and halte[6] == "0"  # backlog: delivered since it said 10


def test_alerts_word_the_evidence_in_the_language_and_zone_asked_for(tmp_path: Path) -> None:
    from presensi.hub.attendance import signals

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    store.migrate()
    at_ms = 1_796_599_800_000  # 2026-12-06 23:30 UTC: 7 Dec 06:30 WIB, 07:30 WITA
    refused = signals.Seen("s-1", at_ms, "st-term-mangkang-01", "term-mangkang", "rejected",
                           "revoked", 7)  # fmt: skip
    with store.database.transaction():
        signals.raise_signals(store.database, signals.revoked("EMP-00012", [refused]), at_ms)
    store.close()

    english = run("hub", "alerts", "--store", url).output
    assert "EMP-00012: revoked badge 7 presented at term-mangkang (st-term-mangkang-01) at " in (
        english
    )
    assert "7 Dec 2026 06:30:00 WIB" in english and "UTC" not in english
    indonesian = run("hub", "alerts", "--store", url, "--lang", "id", "--tz", "Asia/Makassar")
    assert "EMP-00012: kartu dicabut 7 ditunjukkan di term-mangkang (st-term-mangkang-01) " in (
        indonesian.output
    )
    assert "pukul 7 Des 2026 07:30:00 WITA" in indonesian.output


def test_an_unknown_time_zone_is_a_usage_error_and_nothing_is_read(tmp_path: Path) -> None:
    for command in ("stations", "journals", "alerts"):
        result = run("hub", command, "--store", f"sqlite:///{tmp_path / 'hub.db'}", "--tz", "WIB")
        assert result.exit_code == 2
        assert "unknown time zone 'WIB': use e.g. Asia/Jakarta" in result.output
    assert not (tmp_path / "hub.db").exists()


@pytest.mark.parametrize(("flag", "derive"), [([], True), (["--no-derive"], False)])
def test_hub_run_no_derive_reaches_the_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str], derive: bool
) -> None:
    from presensi.hub import service

    made: list[service.Hub] = []

    class Started(service.Hub):
        def run(self) -> None:  # built as `hub run` builds it, not run
            made.append(self)
            self.store.close()

    monkeypatch.setattr(service, "Hub", Started)
    monkeypatch.setattr("signal.signal", lambda *_: None)  # (the test process keeps its own)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    result = run("hub", "run", "--store", url, "--broker", "mqtt://127.0.0.1:1", *flag)
    assert result.exit_code == 0, result.output
    assert [hub.ingest.derive for hub in made] == [derive]
