"""Power cuts, not only kill -9: the journal on a file system that forgets every write not
synced (tests/powerloss/lazyfs.py, FUSE), cut at random moments while the station scans.
kill -9 keeps what the kernel has cached; a power cut on a Pi loses it."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from presensi.device.killtest import run_kills
from tests.powerloss.mount import LazyMount


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[LazyMount]:
    mount = LazyMount(tmp_path / "disk", tmp_path / "mnt").mount()
    try:
        yield mount
    finally:
        mount.unmount()


def test_the_lazy_file_system_forgets_exactly_what_was_not_synced(disk: LazyMount) -> None:
    """Guards the test below: unsynced writes go at a cut, synced ones stay."""
    path = disk.mountpoint / "f"
    with path.open("wb") as f:
        f.write(b"kept")
        f.flush()
        os.fsync(f.fileno())
        f.write(b" and lost")
        f.flush()
    assert path.read_bytes() == b"kept and lost"  # readers see it before the cut
    db = sqlite3.connect(disk.mountpoint / "unsafe.db")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE t (x)")
    db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    db.commit()
    db.close()
    disk.cut()
    disk.restore()
    assert path.read_bytes() == b"kept"
    assert not (disk.mountpoint / "unsafe.db").read_bytes()  # created, never synced: empty


@pytest.mark.slow
def test_200_power_cuts_while_scanning_lose_no_signalled_scan(
    tmp_path: Path, disk: LazyMount
) -> None:
    report = run_kills(
        tmp_path / "st",
        200,
        seed=11,
        journal_path=disk.mountpoint / "journal.db",
        power=disk,
    )
    assert report.failures == [], report.failures[:5]
    assert (report.lost, report.runs, disk.cuts) == (0, 200, 200)
    assert report.signalled > 200  # the cuts really hit a scanning station
    db = sqlite3.connect(disk.backing / "journal.db")  # what the disk holds, read directly
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()
