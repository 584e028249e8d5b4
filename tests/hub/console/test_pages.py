"""The console's pages at the request level (Starlette's test client over a real SQLite store):
who may see what, login and its throttle, CSRF, the language switch, bad input, headers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from presensi.device.testbed import sample_chain
from presensi.hub.console.data import ConsoleData
from presensi.hub.console.middleware import CSP, MAX_BODY
from presensi.hub.errors import StoreError
from presensi.hub.store import SqlStore, StationInfo
from presensi.protocol.wire import batch_of

from .conftest import PASSWORD, csrf_of, log_in

MakeClient = Callable[..., TestClient]
PAGES = ["/", "/stasiun", "/stasiun?saring=jam", "/langsung", "/pengguna"]


def test_every_page_needs_a_login(make_client: MakeClient) -> None:
    client = make_client()
    for path in PAGES:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/masuk?next=/")
    # and after logging in, the reader lands where they wanted to go
    done = log_in(client, "viewer", next_="/stasiun?saring=jam")
    assert done.headers["location"] == "/stasiun?saring=jam"  # type: ignore[attr-defined]


def test_log_in_and_out_with_the_audit_trail(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    client = make_client("operator")
    home = client.get("/")
    assert home.status_code == 200 and "Ringkasan" in home.text and "operator" in home.text
    out = client.post("/keluar", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/masuk?keluar=1"
    assert "Anda sudah keluar" in client.get("/masuk?keluar=1").text
    assert client.get("/", follow_redirects=False).status_code == 303  # the session is gone
    trail = ConsoleData(console_store[1].database).audit_trail()
    assert [(a.actor, a.action) for a in trail[:2]] == [
        ("operator", "logout"),
        ("operator", "login"),
    ]


def test_a_wrong_password_is_refused_then_throttled(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    client = make_client()
    wrong = log_in(client, "admin", "not-the-password")
    assert wrong.status_code == 401  # type: ignore[attr-defined]
    assert "Nama pengguna atau kata sandi salah" in wrong.text  # type: ignore[attr-defined]
    unknown = log_in(client, "nobody", PASSWORD)
    assert unknown.status_code == 401  # type: ignore[attr-defined]  # same answer
    for _ in range(4):
        log_in(client, "admin", "still-wrong-password")
    locked = log_in(client, "admin", PASSWORD)  # even the right password, while locked
    assert locked.status_code == 429  # type: ignore[attr-defined]
    assert "Terlalu banyak percobaan gagal" in locked.text  # type: ignore[attr-defined]
    actions = [a.action for a in ConsoleData(console_store[1].database).audit_trail()]
    # five failures lock the client's address (the fifth try: one user, then another): the
    # tries after that are not checked at all, and say so in the trail
    assert actions.count("login.failed") == 5 and actions.count("login.throttled") == 2


def test_a_form_without_its_csrf_token_is_refused(make_client: MakeClient) -> None:
    client = make_client()
    client.get("/masuk")
    no_token = client.post("/masuk", data={"user": "admin", "password": PASSWORD})
    assert no_token.status_code == 403 and "Formulir kedaluwarsa" in no_token.text
    forged = client.post("/masuk", data={"csrf": "x" * 43, "user": "admin", "password": PASSWORD})
    assert forged.status_code == 403
    logged_in = make_client("admin")
    refused = logged_in.post("/keluar", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert logged_in.get("/").status_code == 200  # still logged in: nothing happened


def test_roles_a_viewer_and_an_operator_cannot_reach_admin_pages(make_client: MakeClient) -> None:
    for role in ("viewer", "operator"):
        client = make_client(role)
        answer = client.get("/pengguna")
        assert answer.status_code == 403 and "tidak berhak" in answer.text
        assert 'href="/pengguna"' not in client.get("/").text  # not offered either
    admin = make_client("admin")
    page = admin.get("/pengguna")
    assert page.status_code == 200 and "viewer" in page.text and "pemantau" in page.text


def test_a_new_password_ends_the_users_sessions(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    from presensi.hub.console import accounts

    client = make_client("viewer")
    assert client.get("/").status_code == 200
    ConsoleData(console_store[1].database).set_password("viewer", accounts.hash_password("x" * 12))
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_language_switch_and_the_time_zone_name(make_client: MakeClient) -> None:
    client = make_client("viewer")
    assert "Stasiun" in client.get("/stasiun").text
    switched = client.get("/bahasa?ke=en&kembali=/stasiun", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/stasiun"
    english = client.get("/stasiun").text
    assert "Stations" in english and "Clock not synced" in english and 'lang="en"' in english
    assert "Times shown in WIB (Asia/Jakarta)" in english
    client.get("/bahasa?ke=id")
    assert "Waktu ditampilkan dalam WIB" in client.get("/").text
    assert client.get("/bahasa?ke=xx").cookies.get("lang") in (None, "id")


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil", "x"])
def test_no_open_redirect(make_client: MakeClient, target: str) -> None:
    client = make_client()
    done = log_in(client, "admin", next_=target)
    assert done.headers["location"] == "/"  # type: ignore[attr-defined]
    switched = client.get(f"/bahasa?ke=en&kembali={target}", follow_redirects=False)
    assert switched.headers["location"] == "/"


def test_bad_input_is_a_clear_4xx(make_client: MakeClient) -> None:
    client = make_client("admin")
    bad = client.get("/stasiun?saring=<script>")
    assert bad.status_code == 400 and "Nilai saring tidak sah" in bad.text
    assert "<script>" not in bad.text and "&lt;script&gt;" in bad.text
    assert client.get("/langsung?lokasi=Tidak Ada!").status_code == 400
    assert client.get("/langsung?lokasi=tidak-ada").status_code == 200  # a place with no scans
    assert client.get("/stasiun/st-tidak-ada").status_code == 404
    assert client.get("/tidak-ada").status_code == 404
    big = client.post("/masuk", content=b"x" * (MAX_BODY + 1))
    assert big.status_code == 413
    streamed = client.post(
        "/keluar",
        content=iter([b"a" * 40_000, b"b" * 40_000]),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert streamed.status_code == 413
    garbled = client.post(
        "/masuk",
        content=b"\xff\xfe=%%%",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert garbled.status_code in (400, 403)


def test_every_answer_carries_the_security_headers(make_client: MakeClient) -> None:
    client = make_client("admin")
    for path in ["/masuk", "/", "/static/console.css", "/tidak-ada"]:
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CSP, path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
    fresh = make_client()
    set_cookie = fresh.get("/masuk").headers["set-cookie"].lower()
    assert set_cookie.startswith("presensi_sesi=")
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert "unsafe-inline" not in CSP and "script-src 'self'" in CSP


def test_an_unreachable_store_is_a_banner_and_the_console_recovers(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client("viewer")
    console = client.app.state.console  # type: ignore[attr-defined]
    real = console.store.stations

    def unreachable() -> list[object]:
        raise StoreError("connection refused")

    monkeypatch.setattr(console.store, "stations", unreachable)
    down = client.get("/stasiun")
    assert down.status_code == 503 and "tidak dapat dihubungi" in down.text
    assert "Traceback" not in down.text
    monkeypatch.setattr(console.store, "stations", real)
    assert client.get("/stasiun").status_code == 200


def test_fleet_scans_and_rejects_are_shown_escaped(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    store.register_station(StationInfo("st-halte-01", bytes(32), "halte-balaikota"))
    records = sample_chain("st-halte-01", 3)
    store.ingest(
        [batch_of("st-halte-01", records[0].journal, list(records))], time.time_ns() // 10**6
    )
    store.reject(
        time.time_ns() // 10**6,
        "presensi/v1/stations/st-halte-01/telemetry",
        "st-halte-01",
        "malformed",
        b"{}",
        detail="<script>alert(1)</script>",
    )
    client = make_client("viewer")
    fleet = client.get("/stasiun").text
    assert 'data-station="st-halte-01"' in fleet and "halte-balaikota" in fleet
    page = client.get("/stasiun/st-halte-01").text
    assert page.count('data-key="st-halte-01/') == 3
    assert (
        "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    )
    live = client.get("/langsung?lokasi=" + records[0].location).text
    assert live.count('data-key="st-halte-01/') == 3


def raise_alert(store: SqlStore, station: str = "st-halte-01") -> int:
    with store.database.transaction():
        store.database.execute(
            "INSERT INTO alerts (raised_ms, station, journal, kind, subject, detail) "
            "VALUES (?, ?, NULL, 'journal_forked', 'j1', '<b>two histories</b>')",
            (time.time_ns() // 10**6, station),
        )
    (alert,) = store.alerts()
    return alert.id


def test_an_operator_acknowledges_an_alert_and_the_trail_says_who(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    alert_id = raise_alert(store)
    viewer = make_client("viewer")
    page = viewer.get("/peringatan").text
    assert f'data-alert="{alert_id}"' in page and "&lt;b&gt;two histories&lt;/b&gt;" in page
    assert "/tangani" not in page  # a viewer is not offered the button
    refused = viewer.post(f"/peringatan/{alert_id}/tangani", data={"csrf": csrf_of(page)})
    assert refused.status_code == 403
    operator = make_client("operator")
    page = operator.get("/peringatan").text
    no_token = operator.post(f"/peringatan/{alert_id}/tangani", data={})
    assert no_token.status_code == 403 and store.alerts()  # still open
    done = operator.post(
        f"/peringatan/{alert_id}/tangani", data={"csrf": csrf_of(page)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/peringatan?ok=1"
    assert store.alerts() == []
    after = operator.get("/peringatan?ok=1").text
    assert "Peringatan ditandai sudah ditangani" in after and f'data-handled="{alert_id}"' in after
    assert "operator," in after
    again = operator.post(f"/peringatan/{alert_id}/tangani", data={"csrf": csrf_of(after)})
    assert again.status_code == 404
    assert operator.post("/peringatan/x1/tangani", data={"csrf": csrf_of(after)}).status_code == 400
    trail = ConsoleData(store.database).audit_trail()
    assert (trail[0].actor, trail[0].action, trail[0].subject) == (
        "operator",
        "alert.ack",
        f"alert {alert_id}",
    )
    audit = make_client("admin").get("/audit").text
    assert "alert.ack" in audit
    assert operator.get("/audit").status_code == 403


def test_rejects_are_listed_by_reason(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    now = time.time_ns() // 10**6
    for reason in ("bad_signature", "bad_signature", "unknown_station"):
        store.reject(now, "presensi/v1/stations/st-x/scans", "st-x", reason, b"{}")
    client = make_client("viewer")
    page = client.get("/peringatan").text
    # a known reason by its name, an unknown one as it is
    assert "tanda tangan palsu (2)" in page and "unknown_station (1)" in page
    only = client.get("/peringatan?alasan=unknown_station").text
    assert only.count('data-reason="unknown_station">unknown_station<') == 1
    assert 'data-reason="bad_signature"' not in only
    client.get("/bahasa?ke=en")
    assert "forged signature (2)" in client.get("/peringatan").text
    assert client.get("/peringatan?alasan=DROP TABLE").status_code == 400


def test_employees_searched_and_a_unit_head_sees_only_his_units(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    from presensi.hub.console import accounts
    from presensi.hub.people import Person, sync_people

    store = console_store[1]
    sync_people(
        store.database,
        [
            Person("EMP-00001", "Budi Santoso", "Pramudi Koridor I", "pagi"),
            Person("EMP-00002", "<script>alert(1)</script>", "Pramudi Koridor II", "pagi"),
        ],
        1,
    )
    ConsoleData(store.database).add_user(
        "kabag", "viewer", accounts.hash_password(PASSWORD), units=["Pramudi Koridor I"], now_ms=1
    )
    store.register_station(StationInfo("st-halte-01", bytes(32), "halte-balaikota"))
    records = sample_chain("st-halte-01", 3)  # employees EMP-00001.. in the sample chain
    store.ingest(
        [batch_of("st-halte-01", records[0].journal, list(records))], time.time_ns() // 10**6
    )
    people_seen = {r.employee for r in records}

    admin = make_client("admin")
    everyone = admin.get("/pegawai").text
    assert 'data-employee="EMP-00001"' in everyone and 'data-employee="EMP-00002"' in everyone
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in everyone and "<script>alert" not in everyone
    assert 'data-employee="EMP-00001"' in admin.get("/pegawai?cari=santoso").text
    assert 'data-employee="EMP-00002"' not in admin.get("/pegawai?cari=santoso").text
    assert admin.get("/pegawai/EMP-00001").status_code == 200
    assert admin.get("/pegawai/EMP-99999").status_code == 404
    assert admin.get("/pegawai/bad%20number").status_code == 400
    assert admin.get("/pegawai?cari=" + "x" * 65).status_code == 400

    head = make_client("kabag")
    mine = head.get("/pegawai").text
    assert 'data-employee="EMP-00001"' in mine and 'data-employee="EMP-00002"' not in mine
    assert head.get("/pegawai/EMP-00002").status_code == 404  # another unit: as if not there
    live = head.get("/langsung").text
    assert people_seen == {"EMP-00001", "EMP-00002", "EMP-00003"}
    assert live.count('data-key="st-halte-01/') == 1  # only his unit's person's scan
    assert ">EMP-00001</a>" in live and "Budi Santoso" in live
    assert "EMP-00002" not in live and "EMP-00003" not in live
    assert admin.get("/langsung").text.count('data-key="st-halte-01/') == 3


def test_metrics_for_prometheus_on_loopback_only(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    from presensi.hub.console.app import make_app
    from presensi.hub.console.core import ConsoleConfig

    from .conftest import SECRET

    url, store = console_store
    store.register_station(StationInfo("st-halte-01", bytes(32), "halte-balaikota"))
    store.register_station(StationInfo("st-pool-01", bytes(32), "pool-mangkang"))
    records = sample_chain("st-halte-01", 4)
    now = time.time_ns() // 10**6
    store.ingest([batch_of("st-halte-01", records[0].journal, list(records))], now)
    # the station holds 7 unsent records, the oldest made 90 s ago by its clock, which is 5 s
    # behind the hub's: on the hub's clock that scan is 85 s old
    telemetry = json.dumps({"oldest_unacked_ms": now - 90_000, "backlog": 7})
    store.update_station_status(
        "st-halte-01",
        online=True,
        last_seen_ms=now,
        backlog=7,
        clock_offset_ms=5_000,
        telemetry_json=telemetry,
    )
    for kind, subject in [("journal_fork", "a"), ("journal_fork", "b"), ("chain_break", "c")]:
        store.database.execute(
            "INSERT INTO alerts (raised_ms, station, kind, subject, detail) "
            "VALUES (?, ?, ?, ?, '')",
            (now, "st-halte-01", kind, subject),
        )
    assert make_client().get("/metrics").status_code == 403  # the test client is not loopback
    app = make_app(ConsoleConfig(url, SECRET, cache_s=0))
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        answer = local.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    assert 'presensi_stations{state="online"} 1.0' in text
    assert 'presensi_stations{state="never"} 1.0' in text
    assert "presensi_backlog_records 7.0" in text
    assert "presensi_scans_received_last_minute 4.0" in text
    assert "presensi_console_live_pages 0.0" in text
    assert "presensi_scans_committed_total 4.0" in text
    assert "# TYPE presensi_scans_committed_total counter" in text
    assert 'presensi_alerts_open_by_kind{kind="journal_fork"} 2.0' in text
    assert 'presensi_alerts_open_by_kind{kind="chain_break"} 1.0' in text
    assert 'presensi_alerts_open_by_kind{kind="journal_new"} 0.0' in text
    assert "presensi_alerts_open 3.0" in text
    # the 4 scans' employee-days are marked and nobody derived them (no hub runs here)
    waiting = store.database.execute("SELECT COUNT(*) FROM attendance_dirty")[0][0]
    assert waiting > 0 and f"presensi_attendance_marks_waiting {waiting:.1f}" in text
    lag = float(text.split("\npresensi_commit_lag_seconds ")[1].split()[0])
    assert 85 <= lag < 95, lag


def test_the_places_page_lists_points_on_a_map_without_tiles(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    from presensi.hub.places import Place, sync_places

    store = console_store[1]
    client = make_client("viewer")
    assert "Belum ada titik presensi" in client.get("/lokasi").text
    sync_places(
        store.database,
        [
            Place(
                "kantor-blu",
                "Kantor BLU <Trans Semarang>",
                "office",
                -6.9839,
                110.4089,
                "Asia/Jakarta",
            ),
            Place(
                "term-mangkang", "Terminal Mangkang", "terminal", -6.9663, 110.2866, "Asia/Jakarta"
            ),
        ],
        1,
    )
    store.register_station(StationInfo("st-term-mangkang-01", bytes(32), "term-mangkang"))
    page = client.get("/lokasi").text
    assert page.count('data-place="kantor-blu"') == 2  # on the map and in the table
    assert "Kantor BLU &lt;Trans Semarang&gt;" in page and "<Trans" not in page
    assert "-6.98390, 110.40890" in page and "0 / 1" in page
    assert "http" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]  # no tiles from anywhere


def test_the_station_page_charts_its_telemetry_history(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    from presensi.protocol.wire import Telemetry

    store = console_store[1]
    store.register_station(StationInfo("st-halte-01", bytes(32), "halte-balaikota"))
    now = time.time_ns() // 10**6
    for minutes_ago, backlog in [(50, 0), (45, 12), (40, 30), (35, 2), (10, 0), (5, 0)]:
        at = now - minutes_ago * 60_000
        t = Telemetry(ts_ms=at, last_seq=40, acked_upto=40, backlog=backlog, disk_free_mb=700)
        store.record_telemetry("st-halte-01", at, t)
    store.record_telemetry("st-halte-01", now - 3 * 86_400_000, Telemetry(now, 1, 1, 77))
    client = make_client("viewer")
    page = client.get("/stasiun/st-halte-01").text
    backlog = page[page.index('data-chart="backlog"') : page.index('data-chart="disk"')]
    # two stretches (a 25-minute silence between them), the peak of 30 under a 50 axis
    assert backlog.count("<polyline") == 2 and ">50</text>" in backlog
    assert 'data-chart="clock"' in page and "Riwayat telemetri" in page
    week = client.get("/stasiun/st-halte-01?rentang=7h").text
    assert ">100</text>" in week[week.index('data-chart="backlog"') :]  # the 77 of 3 days ago
    odd = client.get("/stasiun/st-halte-01?rentang=xx")  # an unknown range: refused, said so
    assert odd.status_code == 400 and "Rentang xx tidak dikenal" in odd.text
    store.register_station(StationInfo("st-halte-02", bytes(32), "halte-balaikota"))
    assert "Belum ada telemetri" in client.get("/stasiun/st-halte-02").text


def test_employees_show_their_badge_state(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    from presensi.hub.badges import Badge, sync_badges
    from presensi.hub.people import Person, sync_people

    store = console_store[1]
    sync_people(
        store.database,
        [
            Person("EMP-00001", "Budi Santoso", "Pramudi Koridor I", "pagi"),
            Person("EMP-00002", "Siti Rahayu", "Pramudi Koridor I", "pagi"),
            Person("EMP-00003", "Agus Prasetyo", "Pramudi Koridor I", "pagi"),
        ],
        1,
    )
    now_s = int(time.time())
    sync_badges(
        store.database,
        [
            Badge(7, "EMP-00001", now_s - 86_400, now_s + 86_400 * 365, 1, 5, "hilang", 9),
            Badge(9, "EMP-00001", now_s - 3600, now_s + 86_400 * 365, 2),
            Badge(8, "EMP-00002", now_s - 86_400, now_s + 86_400, 1, 5, "<b>keluar</b>"),
        ],
        1,
    )
    client = make_client("viewer")
    listing = client.get("/pegawai").text
    for number, state in [("EMP-00001", "aktif"), ("EMP-00002", "dicabut"), ("EMP-00003", "tanpa")]:
        row = listing[listing.index(f'data-employee="{number}"') :]
        assert row[: row.index("</tr>")].count(f'data-badge="{state}"') == 1, (number, state)
    budi = client.get("/pegawai/EMP-00001").text
    assert 'data-serial="9"' in budi and "diganti oleh seri 9" in budi
    siti = client.get("/pegawai/EMP-00002").text
    assert "&lt;b&gt;keluar&lt;/b&gt;" in siti and "<b>keluar" not in siti
    assert "Belum ada kartu" in client.get("/pegawai/EMP-00003").text
    client.get("/bahasa?ke=en")
    english = client.get("/pegawai/EMP-00001").text
    assert "replaced by serial 9" in english and ">valid<" in english


def test_badges_refused_at_stations_are_on_the_alerts_page(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    from presensi.device.testbed import sample_record
    from presensi.protocol.reasons import Outcome, Reason
    from presensi.protocol.record import GENESIS

    store = console_store[1]
    store.register_station(StationInfo("st-term-mangkang-01", bytes(32), "term-mangkang"))
    records = []
    prev = GENESIS
    cases = [Reason.OK, Reason.REVOKED, Reason.NOT_A_BADGE, Reason.BAD_SIGNATURE, Reason.OK]
    for seq, reason in enumerate(cases, 1):
        outcome = Outcome.ACCEPTED if reason is Reason.OK else Outcome.REJECTED
        record = sample_record("st-term-mangkang-01", seq, prev, outcome=outcome, reason=reason)
        records.append(record)
        prev = record.digest()
    store.ingest(
        [batch_of("st-term-mangkang-01", records[0].journal, records)], time.time_ns() // 10**6
    )
    page = make_client("viewer").get("/peringatan").text
    refused = page[page.index("Kartu yang ditolak stasiun") : page.index("Pesan yang ditolak")]
    assert refused.count("data-key=") == 2  # the revoked and the forged badge, not the WiFi QR
    assert "(revoked)" in refused and "(bad_signature)" in refused
    assert "not_a_badge" not in refused.split("</p>", 1)[1]


def test_the_fleet_pages_share_one_read_of_the_fleet_a_second(
    console_store: tuple[str, SqlStore],
) -> None:
    from presensi.hub.console.app import make_app
    from presensi.hub.console.core import ConsoleConfig

    from .conftest import SECRET

    url, store = console_store
    store.register_station(StationInfo("st-halte-01", bytes(32), "halte-balaikota"))
    with TestClient(make_app(ConsoleConfig(url, SECRET, cache_s=0.5))) as client:
        assert log_in(client, "viewer").status_code == 303  # type: ignore[attr-defined]
        console = client.app.state.console  # type: ignore[attr-defined]
        reads: list[int] = []
        real = console.store.stations

        def counted() -> object:
            reads.append(1)
            return real()

        console.store.stations = counted
        for path in ["/", "/stasiun", "/stasiun?saring=jam", "/peringatan", "/lokasi", "/"]:
            assert client.get(path).status_code == 200, path
        assert len(reads) == 1  # six pages, one read
        now = int(time.time() * 1000)
        store.update_station_status("st-halte-01", online=True, last_seen_ms=now)
        time.sleep(0.6)
        page = client.get("/stasiun").text
        assert len(reads) == 2 and 'data-state="online"' in page  # a moment later: read again


def test_landmarks_are_named_in_the_readers_language(make_client: MakeClient) -> None:
    client = make_client("admin")
    page = client.get("/stasiun").text
    assert 'aria-label="Menu utama"' in page and 'aria-label="Saring"' in page
    client.get("/bahasa?ke=en")
    page = client.get("/peringatan").text
    assert 'aria-label="Main menu"' in page and 'aria-label="Filter"' in page
    assert 'aria-label="menu"' not in page and 'aria-label="filter"' not in page


def test_logging_out_ends_the_session_on_the_server_too(make_client: MakeClient) -> None:
    client = make_client("operator")
    home = client.get("/")
    kept = client.cookies.get("presensi_sesi")  # a copy of the cookie, as a thief would keep
    assert kept
    other_device = make_client("operator")
    assert other_device.get("/", follow_redirects=False).status_code == 200
    client.post("/keluar", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    replay = make_client()
    replay.cookies.set("presensi_sesi", kept)
    answer = replay.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/masuk")
    # the user's other sessions end too (one epoch per user), and a new login works
    assert other_device.get("/", follow_redirects=False).status_code == 303
    assert log_in(make_client(), "operator").status_code == 303  # type: ignore[attr-defined]
