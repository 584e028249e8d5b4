from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from presensi.device.journal import Journal


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.db", "st-1", min_free_bytes=1)
    yield j
    j.close()


@contextlib.contextmanager
def tmpfs(folder: Path, *, size: str = "4m") -> Iterator[Path]:
    """A small tmpfs mounted at `folder` (created) for disk-full and read-only tests; needs
    root, as CI and the development machines run the suite. Unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run the suite as root (CI does)")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def remount(folder: Path, options: str) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,{options}", str(folder)], check=True, capture_output=True
    )
