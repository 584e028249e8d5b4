"""The station's own board of its event, over real HTTP: counted from its own journal and the
sheet's participants (the earliest scan per person, late ones marked, walk-ins, a repeat not
counted twice), every name escaped, read-only; and it works with the hub out of reach."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from presensi.demo.mosquitto import free_port
from presensi.device import config as station_config
from presensi.device.board import LocalBoard
from presensi.device.board_server import BoardServer
from presensi.device.journal import Journal
from presensi.device.station import Parts, Station
from presensi.device.testbed import create, sample_draft
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.protocol import wire
from presensi.protocol.reasons import Outcome, Reason

MINUTE = 60_000
T0 = 1_796_518_800_000  # a fixed morning: 07:00 WIB
WIB = zoneinfo.ZoneInfo("Asia/Jakarta")
SCRIPT = "<script>alert(1)</script>"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(check: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def apel(opens_ms: int, *, walk_ins: bool = True, version: int = 1) -> wire.EventSheet:
    return wire.EventSheet(
        version=version,
        event="apel-senin",
        name="Apel pagi Senin",
        opens_ms=opens_ms,
        starts_ms=opens_ms + 20 * MINUTE,
        late_ms=opens_ms + 30 * MINUTE,
        ends_ms=opens_ms + 60 * MINUTE,
        walk_ins=walk_ins,
        participants=[
            wire.Participant("EMP-00001", SCRIPT, "Bappeda"),
            wire.Participant("EMP-00002", "Budi Santoso", "Dinas Perhubungan"),
            wire.Participant("EMP-00003", "Citra Lestari", "Dinas Perhubungan"),
        ],
    )


class Served:
    def __init__(self, tmp_path: Path, sheet: wire.EventSheet | None) -> None:
        self.journal = Journal(tmp_path / "journal.db", "st-1", min_free_bytes=1)
        self.sheet = sheet
        self.now_ms = T0 + 45 * MINUTE
        board = LocalBoard(self.journal.path, lambda: self.sheet, lambda: self.now_ms)
        self.server = BoardServer(board, "127.0.0.1", 0, station="st-1", zone=WIB, refresh_s=4)
        self.server.start()
        host, port = self.server.address
        self.url = f"http://{host}:{port}"
        self.i = 0

    def scan(self, employee: str, at_ms: int, **changes: object) -> None:
        self.i += 1
        fields: dict[str, object] = {
            "employee": employee,
            "direction": "event",
            "event": "apel-senin",
            "wall_ms": at_ms,
        }
        fields.update(changes)
        self.journal.append(sample_draft(self.i, **fields))

    def json(self) -> dict[str, object]:
        status, body = get(self.url + "/board.json")
        assert status == 200, body
        data = json.loads(body)
        assert isinstance(data, dict)
        return data

    def close(self) -> None:
        self.server.stop()
        self.journal.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path, apel(T0))
    yield s
    s.close()


def test_the_board_counts_from_the_journal_over_http(served: Served) -> None:
    assert served.json()["present"] == 0
    served.scan("EMP-00001", T0 + 25 * MINUTE)  # on time
    served.scan("EMP-00002", T0 + 35 * MINUTE)  # late
    served.scan("EMP-00001", T0 + 38 * MINUTE)  # a repeat: kept, not counted again
    served.scan("EMP-00777", T0 + 40 * MINUTE)  # a walk-in
    served.scan("EMP-00003", T0 + 41 * MINUTE, outcome=Outcome.REJECTED, reason=Reason.EXPIRED)
    served.scan("EMP-00003", T0 + 42 * MINUTE, event="rapat-lain")  # another event's
    served.scan("EMP-00003", T0 + 43 * MINUTE, event=None, direction="in")  # no event
    data = served.json()
    assert data["phase"] == "open"
    # y: the 3 listed and the walk-in who counts (x never passes y), as on the hub's board
    assert (data["present"], data["expected"], data["late"]) == (3, 4, 2)
    assert (data["walk_ins"], data["repeats"]) == (1, 1)
    assert data["units"] == [
        {"unit": "", "present": 1, "expected": 0},
        {"unit": "Bappeda", "present": 1, "expected": 1},
        {"unit": "Dinas Perhubungan", "present": 1, "expected": 2},
    ]
    latest = data["latest"]
    assert isinstance(latest, list)
    assert [(a["number"], a["late"]) for a in latest] == [
        ("EMP-00777", True),
        ("EMP-00002", True),
        ("EMP-00001", False),
    ]
    assert latest[2]["at_ms"] == T0 + 25 * MINUTE  # the earliest scan counts
    assert data["missing"] == [
        {"number": "EMP-00003", "name": "Citra Lestari", "unit": "Dinas Perhubungan"}
    ]

    status, page = get(served.url + "/")
    assert status == 200
    assert 'http-equiv="refresh" content="4"' in page
    assert "Hadir 3 / 4" in page and "Apel pagi Senin" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT not in page and "<script" not in page
    assert "Budi Santoso" in page and "terlambat" in page
    assert "Belum hadir (1)" in page and "Citra Lestari" in page
    hhmm = dt.datetime.fromtimestamp((T0 + 25 * MINUTE) / 1000, WIB).strftime("%H.%M")
    assert hhmm in page


def test_walk_ins_not_counted_when_the_event_says_so_and_an_ended_event(served: Served) -> None:
    served.sheet = apel(T0, walk_ins=False)
    served.scan("EMP-00002", T0 + 25 * MINUTE)
    served.scan("EMP-00777", T0 + 26 * MINUTE)
    served.now_ms = T0 + 61 * MINUTE
    data = served.json()
    assert (data["phase"], data["present"], data["expected"], data["walk_ins"]) == (
        "ended",
        1,
        3,
        0,
    )
    assert "Tidak hadir (2)" in get(served.url + "/")[1]
    # an open event (no list) counts everyone who came
    served.sheet = wire.EventSheet(
        version=2,
        event="apel-senin",
        name="Apel terbuka",
        opens_ms=T0,
        starts_ms=T0,
        late_ms=T0 + 30 * MINUTE,
        ends_ms=T0 + 60 * MINUTE,
    )
    data = served.json()
    assert (data["present"], data["expected"], data["missing"]) == (2, 2, [])


def test_no_sheet_says_so_and_nothing_is_writable(served: Served) -> None:
    served.sheet = None
    status, page = get(served.url + "/")
    assert status == 200 and "Tidak ada acara yang aktif" in page
    assert served.json()["phase"] == "none"
    assert get(served.url + "/journal.db")[0] == 404
    request = urllib.request.Request(served.url + "/board.json", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 501
    served.sheet = apel(T0 + 2 * 60 * MINUTE)
    status, page = get(served.url + "/")
    assert "Belum dibuka" in page


def test_the_station_board_counts_its_scans_with_the_hub_unreachable(tmp_path: Path) -> None:
    port = free_port()
    bed = create(tmp_path / "st", employees=4, broker="mqtt://127.0.0.1:9")  # no broker there
    with bed.config_path.open("a") as fh:
        fh.write(f'[board]\nlisten = "127.0.0.1:{port}"\nrefresh_s = 2\n')
    config = station_config.load(bed.config_path)
    station = Station(config, Parts(RecordingIndicator()), exit_when_source_ends=False)
    now = time.time_ns() // 1_000_000
    sheet = wire.EventSheet(
        version=1,
        event="rapat-koordinasi",
        name="Rapat koordinasi",
        opens_ms=now - MINUTE,
        starts_ms=now,
        late_ms=now + 30 * MINUTE,
        ends_ms=now + 60 * MINUTE,
        participants=[
            wire.Participant("EMP-00000", "Ani", "Bappeda"),
            wire.Participant("EMP-00001", "Budi", "Bappeda"),
        ],
    )
    assert station.apply_sheet(sheet)
    thread = threading.Thread(target=station.run)
    thread.start()
    url = f"http://127.0.0.1:{port}/board.json"
    try:
        assert wait_for(lambda: station.board is not None)
        mono = time.monotonic_ns()
        for i, token in enumerate([bed.tokens[0], bed.tokens[3], bed.tokens[0]]):
            [record] = station.loop.handle([token], mono + i * 2 * 10**9)
            assert record.event == "rapat-koordinasi"
        data = json.loads(get(url)[1])
        assert (data["present"], data["expected"], data["walk_ins"]) == (2, 3, 1)
        assert [m["name"] for m in data["missing"]] == ["Budi"]
        assert station.uplink is not None and not station.uplink.state.connected
    finally:
        station.stop()
        thread.join(10)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)  # the board stopped with the station
