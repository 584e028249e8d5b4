"""kill -9 a scanning station at random moments and check that nothing it signalled was lost.

Each run starts `presensi station run` (simulated camera, console indicator) on the same journal,
waits until it is scanning, kills it with SIGKILL after a random delay, then checks:
every scan it signalled is in the journal, PRAGMA integrity_check is ok, and no journal's
sequence has a gap. Used by the slow test and by `presensi station bench`.

With a `power` (a PowerCut), each kill is a power cut: `power.cut()` runs right before the
SIGKILL (the file system under the journal loses every write that was not synced) and
`power.restore()` after it (the file system is mounted again), so the next run is a boot.
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
from typing import Protocol

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


class PowerCut(Protocol):
    def cut(self) -> None: ...
    def restore(self) -> None: ...


def run_kills(
    folder: Path,
    runs: int,
    *,
    seed: int = 0,
    max_delay_s: float = 1.0,
    journal_path: Path | None = None,
    power: PowerCut | None = None,
) -> KillReport:
    bed = create(folder, employees=40, window_s=5, journal_path=journal_path)
    journal = bed.journal_path if journal_path is None else journal_path
    rng = random.Random(seed)
    report = KillReport()
    for i in range(runs):
        before = _check_journal(journal, report, i)
        signalled, started = _run_and_kill(bed.config_path, rng.uniform(0.0, max_delay_s), power)
        if not started:
            report.failures.append(f"run {i}: the station did not start (no 'ready' line)")
        after = _check_journal(journal, report, i)
        report.runs += 1
        report.signalled += signalled
        if after - before < signalled:
            report.lost += signalled - (after - before)
            report.failures.append(f"run {i}: {signalled} signalled, {after - before} stored")
    report.stored = _check_journal(journal, report, runs)
    return report


def _run_and_kill(config: Path, delay_s: float, power: PowerCut | None = None) -> tuple[int, bool]:
    """Start the station, kill -9 it `delay_s` after it is ready; return the scans it signalled
    and whether it got ready."""
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
    if power is not None:
        power.cut()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if power is not None:
        power.restore()
    rest = proc.stdout.read()
    lines += (buffer + rest).decode("utf-8", "replace").split("\n")
    sel.close()
    proc.stdout.close()
    # a line only counts when complete: the signal was shown (print returns after the write)
    signalled = sum(1 for line in lines[:-1] if line.rsplit(" ", 1)[-1] in SCAN_SIGNALS)
    return signalled, ready_at is not None


def _check_journal(path: Path, report: KillReport, run: int) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        check = db.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            report.failures.append(f"run {run}: integrity_check {check[:2]}")
        per_journal = db.execute(
            "SELECT jid, count(*), min(seq), max(seq) FROM records GROUP BY jid"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        report.failures.append(f"run {run}: the journal cannot be read: {exc}")
        return 0
    finally:
        db.close()
    for jid, count, low, high in per_journal:
        if (low, high) != (1, count):
            report.failures.append(
                f"run {run}: sequence gap in journal {jid}: {count} records in {low}..{high}"
            )
    return sum(int(count) for _, count, _, _ in per_journal)
