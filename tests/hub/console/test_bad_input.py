"""Bad input to the pages and the API: dates and months out of the hub's calendar (2000-2100),
unknown ranges, correction refusals in the reader's language, no message with an unfilled
{field}; and a fuzz of every page's query parameters that never gets a 5xx."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from presensi.hub.attendance.corrections import CorrectionError
from presensi.hub.console import i18n
from presensi.hub.console.api import new_token
from presensi.hub.console.data import ConsoleData
from presensi.hub.store import SqlStore

from .conftest import csrf_of
from .test_attendance_pages import fill

MakeClient = Callable[..., TestClient]
UNFILLED = re.compile(r"\{[a-z_]+\}")


def message(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', html, re.S)
    assert found, html[-800:]
    return found.group(1)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/kehadiran?tanggal=9999-12-31", "Tanggal 9999-12-31 tidak dapat dipakai"),
        ("/kehadiran?tanggal=0001-01-01", "Tanggal 0001-01-01 tidak dapat dipakai"),
        ("/kehadiran?tanggal=2026-02-30", "antara 2000-01-01 dan 2100-12-31"),
        ("/kehadiran/rekap?bulan=0001-01", "Bulan 0001-01 tidak dapat dipakai"),
        ("/kehadiran/rekap?bulan=9999-12", "Bulan 9999-12 tidak dapat dipakai"),
        ("/kehadiran/koreksi?pegawai=EMP-00001&tanggal=9999-12-31", "Tanggal 9999-12-31"),
        ("/kehadiran/koreksi?pegawai=x y&tanggal=2026-11-23", "Parameter pegawai tidak sah"),
        ("/kehadiran?unit=" + "x" * 101, "Parameter unit tidak sah"),
        ("/stasiun/st-term-mangkang-01?rentang=zzz", "Rentang zzz tidak dikenal"),
    ],
)
def test_out_of_range_dates_and_unknown_values_are_a_clear_400(
    make_client: MakeClient, console_store: tuple[str, SqlStore], path: str, words: str
) -> None:
    fill(console_store[1])
    answer = make_client("admin").get(path)
    assert answer.status_code == 400, (path, answer.status_code)
    assert words in message(answer.text)
    assert not UNFILLED.search(answer.text)


def test_the_edges_of_the_calendar_answer_without_arrows_past_them(
    make_client: MakeClient,
) -> None:
    client = make_client("admin")
    first = client.get("/kehadiran?tanggal=2000-01-01")
    assert first.status_code == 200 and "tanggal=1999-12-31" not in first.text
    assert "tanggal=2000-01-02" in first.text
    last = client.get("/kehadiran/rekap?bulan=2100-12")
    assert last.status_code == 200 and "bulan=2101-01" not in last.text
    assert client.get("/kehadiran/rekap?bulan=2000-01").status_code == 200


def test_a_request_without_details_says_so_without_a_placeholder(
    make_client: MakeClient,
) -> None:
    client = make_client("admin")
    page = client.get("/kehadiran/koreksi").text  # neither employee nor day
    assert "Parameter pegawai tidak sah" in message(page) and "{" not in message(page)
    token = csrf_of(client.get("/").text)
    wrong = client.post("/kehadiran/koreksi/abc/setujui", data={"csrf": token})
    assert wrong.status_code == 400 and message(wrong.text) == "Permintaan tidak sah."
    client.get("/bahasa?ke=en")
    wrong = client.post("/kehadiran/koreksi/1/ubah", data={"csrf": token})
    assert message(wrong.text) == "Bad request."


def test_the_api_refuses_dates_out_of_the_calendar_with_its_stable_code(
    console_store: tuple[str, SqlStore], make_client: MakeClient
) -> None:
    secret, digest = new_token()
    ConsoleData(console_store[1].database).add_api_token("hr", "viewer", digest, units=(), now_ms=1)
    client = make_client()
    headers = {"Authorization": f"Bearer {secret}"}
    for path, parameter in [
        ("/api/v1/attendance/recap?month=9999-12", "month"),
        ("/api/v1/attendance/recap?month=0001-01", "month"),
        ("/api/v1/attendance/recap?month=1999-12", "month"),
        ("/api/v1/attendance/days?date=9999-12-31", "date"),
        ("/api/v1/attendance/days?date=2101-01-01", "date"),
        ("/api/v1/attendance/days?date=2026-02-30", "date"),
    ]:
        answer = client.get(path, headers=headers)
        assert answer.status_code == 400, path
        error = answer.json()["error"]
        assert error["code"] == "bad_parameter" and error["parameter"] == parameter
        assert "2000" in error["message"] and "2100" in error["message"]
    assert client.get("/api/v1/attendance/recap?month=2100-12", headers=headers).status_code == 200


def test_correction_refusals_in_both_languages(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    fill(console_store[1])
    client = make_client("operator")
    where = "pegawai=EMP-00003&tanggal=2026-11-24"
    form = {"pegawai": "EMP-00003", "tanggal": "2026-11-24", "alasan": "sakit"}
    cases = [
        ({"masuk": "25:00"}, "25:00 bukan jam JJ:MM.", "25:00 is not a time HH:MM."),
        ({}, "isi status, atau jam masuk", "give a status, or a check-in"),
        ({"kode": "ZZ"}, "status ZZ tidak dikenal", "unknown status ZZ"),
    ]
    for lang, position in (("id", 1), ("en", 2)):
        client.get(f"/bahasa?ke={lang}")
        for case in cases:
            token = csrf_of(client.get(f"/kehadiran/koreksi?{where}").text)
            answer = client.post("/kehadiran/koreksi", data={**form, **case[0], "csrf": token})
            assert answer.status_code == 400
            assert str(case[position]) in answer.text, (lang, case)


def test_every_correction_refusal_has_a_message_in_both_catalogs() -> None:
    keys = {k.split(".", 1)[1] for k in i18n.ID if k.startswith("correction.")}
    import inspect

    from presensi.hub.attendance import corrections
    from presensi.hub.console import data

    source = inspect.getsource(corrections) + inspect.getsource(data)
    raised = set(re.findall(r'CorrectionError\(\s*f?"[^"]*",\s*f?"([a-z_{}.]+)"', source))
    raised = {k.replace("{found.decision}", d) for k in raised for d in ("approved", "refused")}
    assert raised and raised <= keys, raised - keys
    error = CorrectionError("a correction needs a reason", "no_reason")
    assert str(error) == "a correction needs a reason"  # the command line's text, unchanged


# -- a fuzz of the pages' query parameters -------------------------------------------------------

ODD = st.sampled_from(
    [
        "9999-12-31", "0001-01-01", "2026-02-30", "9999-12", "0001-01", "2026-13", "-1",
        "", " ", "%00", "\x00", "{detail}", "<script>", "1e309", "NaN", "x" * 300, "ö", "../..",
    ]
)  # fmt: skip
VALUES = st.one_of(ODD, st.text(max_size=40), st.dates().map(str), st.integers().map(str))
PAGES = {
    "/": [],
    "/kehadiran": ["tanggal", "unit", "semua", "format"],
    "/kehadiran/rekap": ["bulan", "unit", "format"],
    "/kehadiran/koreksi": ["pegawai", "tanggal", "ok"],
    "/stasiun": ["saring"],
    "/stasiun/st-term-mangkang-01": ["rentang"],
    "/langsung": ["lokasi"],
    "/peringatan": ["alasan", "ok"],
    "/pegawai": ["cari"],
    "/pegawai/EMP-00001": [],
    "/lokasi": [],
    "/audit": [],
    "/pengguna": [],
    "/masuk": ["next", "keluar"],
    "/bahasa": ["ke", "kembali"],
}


def test_fuzzing_the_pages_query_parameters_never_gives_a_5xx(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    fill(console_store[1])
    client = make_client("admin")

    @given(
        path=st.sampled_from(sorted(PAGES)),
        values=st.lists(VALUES, min_size=4, max_size=4),
        extra=st.booleans(),
    )
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    def check(path: str, values: list[str], extra: bool) -> None:
        query = dict(zip(PAGES[path], values, strict=False))
        if extra:
            query["tak-dikenal"] = values[-1]
        answer = client.get(path, params=query, follow_redirects=False)
        assert answer.status_code < 500, (path, query, answer.status_code)
        if answer.status_code >= 400:  # a {field} shown is one the reader typed, never ours
            for field in re.findall(r"\{(?:detail|value|name|first|last)\}", answer.text):
                assert any(field in v for v in query.values()), (path, query, field)

    check()
