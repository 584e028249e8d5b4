"""`presensi hub bench-console --quick` runs end to end on SQLite: the console in its own
process, a writer at 1,000 scans/s, a load process with 200 live pages. Checks what was
measured, never how fast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from presensi.demo.console_bench import PAGES


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.xdist_group("cpu_heavy")  # never beside the network-fault drains (timed)
def test_the_quick_console_bench_measures_every_page_and_the_live_path() -> None:
    presensi = str(Path(sys.executable).with_name("presensi"))
    done = subprocess.run(
        # 20 live pages, not 200: the figures are the bench's job; here it only has to work,
        # beside other tests on a 2-core machine
        [
            presensi,
            "hub",
            "bench-console",
            "--quick",
            "--engine",
            "sqlite",
            "--json",
            "--live-pages",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["scans"] == 100_000 and figures["live_pages"] == 20
    runs = [v for k, v in figures.items() if k.startswith("sqlite: ")]
    assert len(runs) == 2  # both scales
    for run in runs:
        assert set(run["pages_ms"]) == set(PAGES)
        assert all(p["p50"] is not None and p["p50"] > 0 for p in run["pages_ms"].values())
        assert run["live_events"] > 1000  # the live pages got the writer's scans
        assert run["live_ms"]["p99"] is not None
        assert run["console_rss_mb"] > 0
