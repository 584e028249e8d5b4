"""The JSON API: tokens, paging, unit scope, stable error codes; and schemathesis against the
OpenAPI document over the real ASGI app on a real SQLite store, finding nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from presensi.device.testbed import sample_chain
from presensi.hub.console.api import new_token, openapi_document
from presensi.hub.console.app import make_app
from presensi.hub.console.core import ConsoleConfig
from presensi.hub.console.data import ConsoleData
from presensi.hub.people import Person, sync_people
from presensi.hub.store import SqlStore, StationInfo, open_store
from presensi.protocol.cli import main
from presensi.protocol.wire import batch_of

from .conftest import SECRET


def seeded_store(folder: Path) -> tuple[str, SqlStore]:
    url = f"sqlite:///{folder / 'hub.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    store.migrate()
    store.register_station(StationInfo("st-halte-01", bytes(32), "halte-balaikota"))
    records = sample_chain("st-halte-01", 7)
    store.ingest(
        [batch_of("st-halte-01", records[0].journal, list(records))], time.time_ns() // 10**6
    )
    sync_people(
        store.database,
        [Person("EMP-00001", "Budi Santoso", "Pramudi Koridor I", "pagi")]
        + [
            Person(f"EMP-0000{n}", f"Pegawai {n}", "Pramudi Koridor II", "pagi")
            for n in range(2, 8)
        ],
        1,
    )
    store.reject(
        time.time_ns() // 10**6, "presensi/v1/stations/st-x/scans", "st-x", "bad_signature", b"{}"
    )
    return url, store


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], SqlStore]]:
    url, store = seeded_store(tmp_path)
    data = ConsoleData(store.database)
    tokens = {}
    for name, units in (("payroll", ()), ("kabag", ("Pramudi Koridor I",))):
        secret, digest = new_token()
        data.add_api_token(name, "viewer", digest, units=units, now_ms=1)
        tokens[name] = secret
    with TestClient(make_app(ConsoleConfig(url, SECRET, cache_s=0))) as client:
        yield client, tokens, store
    store.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_is_needed_and_errors_have_stable_codes(
    api: tuple[TestClient, dict[str, str], SqlStore],
) -> None:
    client, tokens, _ = api
    for headers in ({}, bearer("prs_wrong"), {"Authorization": "Basic abc"}):
        answer = client.get("/api/v1/stations", headers=headers)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
    good = bearer(tokens["payroll"])
    bad = client.get("/api/v1/scans?limit=0", headers=good)
    assert bad.status_code == 400
    assert bad.json() == {
        "error": {
            "code": "bad_parameter",
            "message": "limit: an integer from 1 to 1000",
            "parameter": "limit",
        }
    }
    assert (
        client.get("/api/v1/scans?colour=red", headers=good).json()["error"]["parameter"]
        == "colour"
    )
    assert client.get("/api/v1/scans?after=nonsense", headers=good).status_code == 400
    assert client.get("/api/v1/alerts?state=maybe", headers=good).status_code == 400
    assert client.get("/api/v1/scans?location=Not OK", headers=good).status_code == 400


def test_stations_scans_rejects_alerts(api: tuple[TestClient, dict[str, str], SqlStore]) -> None:
    client, tokens, _ = api
    good = bearer(tokens["payroll"])
    (station,) = client.get("/api/v1/stations", headers=good).json()
    assert station["id"] == "st-halte-01" and station["state"] == "offline"  # seen, no birth
    first = client.get("/api/v1/scans?limit=3", headers=good).json()
    assert [s["seq"] for s in first["items"]] == [1, 2, 3] and first["next"]
    rest = client.get(f"/api/v1/scans?limit=3&after={first['next']}", headers=good).json()
    last = client.get(f"/api/v1/scans?limit=3&after={rest['next']}", headers=good).json()
    assert [s["seq"] for s in rest["items"] + last["items"]] == [4, 5, 6, 7]
    assert last["next"] is None
    assert first["items"][0]["name"] == "Budi Santoso"
    t0 = first["items"][1]["time_ms"]
    window = client.get(f"/api/v1/scans?from_ms={t0}&to_ms={t0 + 1}", headers=good).json()
    assert [s["seq"] for s in window["items"]] == [2]
    one = client.get("/api/v1/scans?employee=EMP-00003", headers=good).json()
    assert [s["employee"] for s in one["items"]] == ["EMP-00003"]
    (reject,) = client.get("/api/v1/rejects", headers=good).json()
    assert reject["reason"] == "bad_signature"
    assert client.get("/api/v1/alerts", headers=good).json() == []


def test_a_unit_token_sees_its_units_people_only(
    api: tuple[TestClient, dict[str, str], SqlStore],
) -> None:
    client, tokens, _ = api
    page = client.get("/api/v1/scans", headers=bearer(tokens["kabag"])).json()
    assert [s["employee"] for s in page["items"]] == ["EMP-00001"]


def test_token_commands(tmp_path: Path) -> None:
    url, store = seeded_store(tmp_path)
    runner = CliRunner()
    issued = runner.invoke(main, ["hub", "token", "add", "--store", url, "payroll"])
    assert issued.exit_code == 0, issued.output
    secret = issued.output.splitlines()[0]
    assert secret.startswith("prs_") and len(secret) > 40
    with TestClient(make_app(ConsoleConfig(url, SECRET, cache_s=0))) as client:
        assert client.get("/api/v1/stations", headers=bearer(secret)).status_code == 200
        assert (
            runner.invoke(main, ["hub", "token", "revoke", "--store", url, "payroll"]).exit_code
            == 0
        )
        assert client.get("/api/v1/stations", headers=bearer(secret)).status_code == 401
    again = runner.invoke(main, ["hub", "token", "add", "--store", url, "payroll"])
    assert again.exit_code == 0  # the name is free again
    assert runner.invoke(main, ["hub", "token", "revoke", "--store", url, "nobody"]).exit_code == 2
    store.close()


# -- schemathesis: every operation, generated and mutated inputs, against the document --------


@pytest.fixture(scope="module")
def asgi_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str]]:
    url, store = seeded_store(tmp_path_factory.mktemp("api"))
    secret, digest = new_token()
    ConsoleData(store.database).add_api_token("fuzz", "viewer", digest, units=(), now_ms=1)
    app = make_app(ConsoleConfig(url, SECRET, cache_s=0))
    with TestClient(app):  # runs the lifespan (the live feed) around the whole module
        yield app, secret
    store.close()


def test_the_document_is_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/api/v1/stations",
        "/api/v1/scans",
        "/api/v1/rejects",
        "/api/v1/alerts",
        "/api/v1/attendance/days",
        "/api/v1/attendance/recap",
        "/api/v1/attendance/checkins",
        "/api/v1/events",
        "/api/v1/events/{event_id}/attendance",
    }


def test_schemathesis_finds_nothing(asgi_app: tuple[object, str]) -> None:
    """Each operation, with generated (and, by schemathesis, mutated) inputs, called on the app:
    no 5xx, every answer matches the document. schemathesis's pytest plugin does not work with
    this pytest, so its strategies drive hypothesis here directly."""
    app, secret = asgi_app
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)  # the document as served
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=bearer(secret))

        check()


def test_an_alert_gives_its_evidence_as_data(
    api: tuple[TestClient, dict[str, str], SqlStore],
) -> None:
    from presensi.hub.attendance import signals

    from .test_evidence import travel

    client, tokens, store = api
    signal = travel()
    with store.database.transaction():
        signals.raise_signals(store.database, [signal], 1)
    (alert,) = client.get("/api/v1/alerts", headers=bearer(tokens["payroll"])).json()
    assert alert["kind"] == signals.TRAVEL and alert["detail"] == signal.detail  # English, UTC
    assert alert["evidence"] == signal.evidence  # Unix ms: the caller words it


def test_a_journal_alert_gives_its_evidence_with_the_whole_hashes(
    api: tuple[TestClient, dict[str, str], SqlStore],
) -> None:
    from .test_journal_evidence import chain_break

    client, tokens, store = api
    raised = chain_break(store)
    (alert,) = client.get("/api/v1/alerts", headers=bearer(tokens["payroll"])).json()
    assert alert["kind"] == "chain_break" and alert["detail"] == raised.detail  # English
    assert alert["evidence"]["prev_hash"] == "f" * 64  # whole: the page shows 12 digits
    assert alert["evidence"] == raised.evidence
