"""Mount, power-cut and remount tests/powerloss/lazyfs.py, for the power-loss tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class LazyMount:
    """BACKING mounted at MOUNTPOINT through the lazy file system, in a process of its own."""

    def __init__(self, backing: Path, mountpoint: Path) -> None:
        self.backing = backing
        self.mountpoint = mountpoint
        self.cuts = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def mount(self) -> LazyMount:
        if os.geteuid() != 0 and not Path("/dev/fuse").exists():
            raise RuntimeError(
                "no /dev/fuse: the power-loss tests need FUSE (apt-get install fuse3)"
            )
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.powerloss.lazyfs",
                str(self.backing),
                str(self.mountpoint),
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.mountpoint):
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"lazyfs exited with {self._proc.returncode}: {err[-800:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("lazyfs did not mount in 20 s")
            time.sleep(0.02)
        return self

    def cut(self) -> None:
        """The power goes: the file system dies with every unsynced write."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGKILL)
        self._proc.wait()
        self._detach()
        self.cuts += 1

    def restore(self) -> None:
        """The power comes back: the disk is mounted again (what was synced is on it)."""
        self.mount()

    def unmount(self) -> None:
        if self._proc is None:
            return
        subprocess.run(
            ["fusermount3", "-u", str(self.mountpoint)], check=False, capture_output=True
        )
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._detach()
        self._proc = None

    def _detach(self) -> None:
        """Take the (dead) mount away; a dead FUSE mount is not even seen as a mount point."""
        tool = shutil.which("fusermount3") or "fusermount3"
        subprocess.run([tool, "-u", "-z", str(self.mountpoint)], check=False, capture_output=True)
        try:
            self.mountpoint.stat()
        except OSError:
            subprocess.run(["umount", "-l", str(self.mountpoint)], check=False, capture_output=True)
