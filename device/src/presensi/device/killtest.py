"""kill -9 a scanning station at random moments and check that nothing it signalled was lost.

Each run starts `presensi station run` (simulated camera, console indicator) on the same journal,
waits until it is scanning, kills it with SIGKILL after a random delay, then checks:
every scan it signalled is in the journal, PRAGMA integrity_check is ok, and the sequence has no
gap. Used by the slow test and by `presensi station bench`.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from presensi.device.testbed import create

SCAN_SIGNALS = {"accepted_in", "accepted_out", "duplicate", "rejected"}


@dataclass
class KillReport:
    runs: int = 0
    signalled: int = 0
    stored: int = 0
    lost: int = 0  # signalled scans missing from the journal: must be 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and not self.failures


def run_kills(folder: Path, runs: int, *, seed: int = 0, max_delay_s: float = 1.0) -> KillReport:
    bed = create(folder, employees=40, window_s=5)
    rng = random.Random(seed)
    report = KillReport()
    for i in range(runs):
        before = _check_journal(bed.journal_path, report, i)
        signalled = _run_and_kill(bed.config_path, rng.uniform(0.0, max_delay_s))
        after = _check_journal(bed.journal_path, report, i)
        report.runs += 1
        report.signalled += signalled
        if after - before < signalled:
            report.lost += signalled - (after - before)
            report.failures.append(f"run {i}: {signalled} signalled, {after - before} stored")
    report.stored = _check_journal(bed.journal_path, report, runs)
    return report


def _run_and_kill(config: Path, delay_s: float) -> int:
    """Start the station, kill -9 it `delay_s` after it is ready; return the scans it signalled."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "presensi.device", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    buffer = b""
    ready_at: float | None = None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ready_at is not None and time.monotonic() >= ready_at + delay_s:
            break
        if sel.select(timeout=0.01):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            *done, buffer = buffer.split(b"\n")
            lines += [d.decode("utf-8", "replace") for d in done]
            if ready_at is None and any(line.endswith("ready") for line in lines):
                ready_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rest = proc.stdout.read()
    lines += (buffer + rest).decode("utf-8", "replace").split("\n")
    sel.close()
    proc.stdout.close()
    # a line only counts when complete: the signal was shown (print returns after the write)
    return sum(1 for line in lines[:-1] if line.rsplit(" ", 1)[-1] in SCAN_SIGNALS)


def _check_journal(path: Path, report: KillReport, run: int) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        check = db.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            report.failures.append(f"run {run}: integrity_check {check[:2]}")
        count, low, high = db.execute("SELECT count(*), min(seq), max(seq) FROM records").fetchone()
    finally:
        db.close()
    if count and (low, high) != (1, count):
        report.failures.append(f"run {run}: sequence gap: {count} records in {low}..{high}")
    return int(count)
