"""`presensi demo` end to end (embedded broker, hub, simulated stations), twice in a row: each
run's hub is its own file inside its --data-dir, so the second run's summary counts only its
own scans, and the exit status says whether the hub holds each signalled scan exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from presensi.demo.mosquitto import free_port
from presensi.demo.run import delivered_exactly_once
from presensi.protocol.cli import main


def run_demo(data_dir: str, seed: int) -> dict[str, int]:
    args = ["demo", "--stations", "2", "--duration", "5", "--json", "--seed", str(seed)]
    args += ["--console-port", str(free_port())]
    result = CliRunner().invoke(main, [*args, "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    summary: dict[str, int] = json.loads(result.output.strip().splitlines()[-1])
    return summary


@pytest.mark.slow
def test_two_demos_in_a_row_each_count_their_own_scans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = run_demo("first/demo", 3)
    second = run_demo("second/demo", 4)
    for summary in (first, second):
        assert summary["stations"] == summary["stations_fully_acked"] == 2
        assert summary["scans_signalled"] == summary["scans_in_hub"] > 0
        assert summary["duplicates_in_hub"] == 0
    # the hubs are where the relative --data-dir says, not at /first/demo or shared
    assert (tmp_path / "first" / "demo" / "hub.db").is_file()
    assert (tmp_path / "second" / "demo" / "hub.db").is_file()
    # the same folder again starts from scratch
    again = run_demo("first/demo", 5)
    assert again["scans_signalled"] == again["scans_in_hub"] > 0


def test_a_demo_whose_stations_cannot_deliver_exits_1_and_says_what_each_uplink_saw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from presensi.demo import run

    monkeypatch.setattr(run, "DRAIN_S", 1.0)
    dead = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there: no hub, no acks
    args = ["demo", "--stations", "2", "--duration", "2", "--json", "--seed", "1"]
    args += ["--broker", dead, "--console-port", str(free_port())]
    result = CliRunner().invoke(main, [*args, "--data-dir", str(tmp_path / "demo")])
    assert result.exit_code == 1, result.output
    assert "not every station was fully acked within 1 s" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # a station that happened to signal nothing has nothing to deliver: it counts as acked
    lagging = [line for line in result.stderr.splitlines() if "st-demo-0" in line]
    assert len(lagging) == summary["stations"] - summary["stations_fully_acked"] >= 1
    for line in lagging:
        assert "connected False, 0 connects, 0 batches sent" in line, line


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"scans_in_hub": 37}, False),  # more in the hub than signalled: another run's scans
        ({"scans_in_hub": 17}, False),  # fewer: a scan was lost
        ({"duplicates_in_hub": 1}, False),
        ({"stations_fully_acked": 1}, False),
    ],
)
def test_the_exit_status_checks_exactly_once(change: dict[str, int], ok: bool) -> None:
    summary = {
        "scans_signalled": 18,
        "scans_in_hub": 18,
        "duplicates_in_hub": 0,
        "stations_fully_acked": 2,
        "stations": 2,
    }
    assert delivered_exactly_once({**summary, **change}) is ok


@pytest.mark.slow
def test_the_demo_serves_the_console_until_ctrl_c(tmp_path: Path) -> None:
    import re
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    busy = socket.create_server(("127.0.0.1", 0))  # the port asked for is taken: another is used
    taken = busy.getsockname()[1]
    presensi = str(Path(sys.executable).with_name("presensi"))
    demo = subprocess.Popen(
        [
            presensi,
            "demo",
            "--stations",
            "2",
            "--data-dir",
            str(tmp_path / "demo"),
            "--console-port",
            str(taken),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines: list[str] = []
        for line in demo.stdout:
            lines.append(line)
            if "the apel's board:" in line:
                break
        said = "".join(lines)
        found = re.search(
            r"console: (http://127\.0\.0\.1:(\d+)/)  \(login demo / presensi-demo\)", said
        )
        assert found is not None, said
        port = int(found.group(2))
        assert port != taken
        assert "until Ctrl-C" in said
        # the board's address is on the console's port, not the one asked for
        board = re.search(r"the apel's board: (\S+)", said)
        assert board is not None and board.group(1).startswith(found.group(1) + "acara/"), said
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            form = client.get("/masuk").text
            token = re.search(r'name="csrf" value="([^"]+)"', form)
            assert token is not None
            login = {
                "csrf": token.group(1),
                "user": "demo",
                "password": "presensi-demo",
                "next": "/",
            }
            assert client.post("/masuk", data=login).status_code == 303
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "data-key=" not in client.get("/langsung").text:
                time.sleep(0.5)
            fleet = client.get("/stasiun").text
            assert client.get(board.group(1)).status_code == 200
        assert 'data-station="st-demo-01"' in fleet and 'data-station="st-demo-02"' in fleet
        time.sleep(1)
        assert demo.poll() is None  # no --duration: it keeps running
        demo.send_signal(signal.SIGINT)
        rest = demo.communicate(timeout=60)[0]
        assert demo.returncode == 0, rest
    finally:
        busy.close()
        if demo.poll() is None:  # a failed check must not leave the demo running
            demo.kill()
            demo.wait(30)
    assert "scans_in_hub" in rest and "duplicates_in_hub      0" in rest
