"""Run firmware code under the real MicroPython interpreter: the WebAssembly port from npm
(firmware/wasm/, installed by scripts/bootstrap with `npm ci`) under the machine's Node.js.

`run_mp(script, *args)` runs one of the MicroPython scripts in tests/firmware/mp/ with the
firmware (firmware/halte/) and the fake board modules (tests/firmware/fakes/: machine,
network, socket, ntptime) on its sys.path; the script prints one JSON value per line, which
the Python test judges. A MicroPython exception fails the test with its traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware" / "halte"
WASM = ROOT / "firmware" / "wasm"
RUNNER = WASM / "run.mjs"
PORT = WASM / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
FAKES = Path(__file__).parent / "fakes"
SCRIPTS = Path(__file__).parent / "mp"


def node() -> str:
    found = shutil.which("node")
    if found is None or not PORT.is_dir():
        raise AssertionError(
            "Node.js or the MicroPython wasm port is missing: run scripts/bootstrap"
        )
    return found


def command(script: str, *args: str, bridge_fd: int | None = None) -> list[str]:
    cmd = [node(), str(RUNNER), "--path", str(FIRMWARE), "--path", str(FAKES)]
    cmd += ["--path", str(SCRIPTS)]
    if bridge_fd is not None:
        cmd += ["--bridge-fd", str(bridge_fd)]
    return [*cmd, str(SCRIPTS / script), *args]


def run_mp(script: str, *args: str, timeout: float = 120) -> list[Any]:
    """Run a MicroPython script; return the JSON objects it printed, one per line (other lines,
    such as the firmware's own console messages, are not results)."""
    proc = subprocess.run(
        command(script, *args), capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"MicroPython failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
