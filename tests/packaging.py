"""Installs as an installer makes them: wheels of the parts in a folder (the "USB stick"), then
fresh virtualenvs that install from that folder alone (`pip install --no-index`).

Used by tests/test_packaging.py; `python -m tests.packaging` prints the sizes of a station's
install and of the full one (the figures in docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATION_PARTS = ("protocol", "hardware", "device")


class InstallError(RuntimeError):
    """pip failed; the message holds the end of its output."""


def _pip(python: Path | str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [str(python), "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def wheelhouse(out: Path, role: str, *, pi: bool = False) -> Path:
    """scripts/wheelhouse ROLE OUT [--pi]: the wheels of a role's parts and of every third-party
    distribution they need, in `out`, as an admin carries them to an offline site. Third-party
    wheels come from pip's cache or index, as on the admin's own machine."""
    command = [str(ROOT / "scripts" / "wheelhouse"), role, str(out), *(["--pi"] if pi else [])]
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, env=env
    )
    if done.returncode != 0:
        raise InstallError(f"{command} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return out


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def presensi(self) -> Path:
        return self.path / "bin" / "presensi"

    def site_packages(self) -> Path:
        (found,) = self.path.glob("lib/python3*/site-packages")
        return found

    def distributions(self) -> set[str]:
        """The normalised names of every distribution installed in this venv."""
        listed = _pip(self.python, "list", "--format=json")
        return {row["name"].lower().replace("_", "-") for row in json.loads(listed.stdout)}

    def size_bytes(self) -> int:
        """Bytes of everything installed (site-packages), pip and setuptools not counted."""
        total = 0
        for path in self.site_packages().rglob("*"):
            top = path.relative_to(self.site_packages()).parts[0].lower()
            if top.startswith(("pip", "setuptools", "_distutils_hack")):
                continue
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        return total


def offline_install(path: Path, wheels: Path, *requirements: str) -> Venv:
    """A new venv at `path` with `requirements` installed from `wheels` only."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True)
    venv = Venv(path)
    done = _pip(venv.python, "install", "--no-index", "--find-links", str(wheels), *requirements)
    if done.returncode != 0:
        raise InstallError(done.stdout[-2000:] + done.stderr[-2000:])
    return venv


def sizes(work: Path) -> dict[str, float]:
    """MiB installed for a station (presensi-device) and for everything (presensi)."""
    station_wheels = wheelhouse(work / "wheels-station", "station")
    all_wheels = wheelhouse(work / "wheels-all", "all")
    station = offline_install(work / "station", station_wheels, "presensi-device")
    full = offline_install(work / "full", all_wheels, "presensi")
    mib = 1024 * 1024
    return {
        "station_install_mib": round(station.size_bytes() / mib, 1),
        "full_install_mib": round(full.size_bytes() / mib, 1),
        "station_wheels_mib": round(_folder_bytes(station_wheels) / mib, 1),
        "all_wheels_mib": round(_folder_bytes(all_wheels) / mib, 1),
    }


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="presensi-packaging-") as tmp:
        print(json.dumps(sizes(Path(tmp)), indent=2))
