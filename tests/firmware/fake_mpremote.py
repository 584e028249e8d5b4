"""A stand-in for mpremote whose "board" is a folder: `fs cp` copies into it, `exec` runs the
code under the MicroPython wasm port with the board's files (the compiled .mpy firmware and
settings.json) and the fake machine/network modules. Every call is logged to $FAKE_BOARD/calls."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.firmware.wasm import FAKES, RUNNER, node

board = Path(os.environ["FAKE_BOARD"])
args = sys.argv[1:]
with (board.parent / "calls.jsonl").open("a") as log:
    log.write(json.dumps(args) + "\n")
assert args[:2] == ["connect", args[1]] and args[2] in ("fs", "exec"), args
if args[2] == "fs":
    *_, src, dst = args
    target = board / dst.lstrip(":")
    if src.endswith("/"):
        shutil.copytree(src, target, dirs_exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
else:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write("import os\nos.chdir('/lib/0')\n" + args[3] + "\n")
    proc = subprocess.run(
        [node(), str(RUNNER), "--path", str(board), "--path", str(FAKES), script.name],
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    sys.exit(proc.returncode)
