"""The station's command line: decode, export, run under SIGTERM, and the demo."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from presensi.device.journal import Journal
from presensi.device.testbed import create, sample_draft
from presensi.hardware.camera_sim import Condition, render_badge_frame
from presensi.protocol.cli import main
from presensi.protocol.errors import ProtocolError
from presensi.protocol.export import read_export
from presensi.protocol.keys import load_signing_key


def test_decode_prints_one_json_line_per_file(tmp_path: Path) -> None:
    bed = create(tmp_path / "st", employees=1)
    frame = render_badge_frame(bed.tokens[0], np.random.default_rng(0), Condition.CLEAN)
    Image.fromarray(frame).save(tmp_path / "badge.jpg", quality=90)
    Image.fromarray(np.full((480, 640), 128, np.uint8)).save(tmp_path / "empty.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    files = [tmp_path / n for n in ("badge.jpg", "empty.png", "broken.png")]
    result = CliRunner().invoke(main, ["station", "decode", *map(str, files)])
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["file"], r["texts"]) for r in rows] == [
        (str(f), t) for f, t in zip(files, [[bed.tokens[0]], [], []], strict=True)
    ]
    assert isinstance(rows[0]["ms"], float) and "cannot read image" in rows[2]["error"]
    assert result.exit_code == 1  # one file could not be read


def fill(bed_folder: Path, n: int) -> None:
    journal = Journal(bed_folder / "journal.db", "st-test-01", min_free_bytes=1)
    for i in range(n):
        journal.append(sample_draft(employee=f"E{i}", wall_ms=1_790_000_000_000 + i))
    journal.ack(journal.journal_id, 2, journal.hash_of(2) or "")
    journal.close()


def test_export_writes_unacked_records_to_a_signed_verifiable_file(tmp_path: Path) -> None:
    bed = create(tmp_path / "st")
    fill(bed.folder, 5)
    out = tmp_path / "export.jsonl"
    result = CliRunner().invoke(
        main, ["station", "export", "--config", str(bed.config_path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "exported 3 records" in result.output
    station_key = load_signing_key(bed.folder / "station.key")
    export = read_export(out.read_bytes(), station_key.public)
    assert [r.seq for r in export.records] == [3, 4, 5] and export.station == "st-test-01"
    # a range, including acked records
    CliRunner().invoke(
        main,
        [
            "station",
            "export",
            "--config",
            str(bed.config_path),
            "--out",
            str(out),
            "--from",
            "1",
            "--to",
            "2",
        ],
    )
    assert [r.seq for r in read_export(out.read_bytes(), station_key.public).records] == [1, 2]


def test_an_edited_export_is_refused(tmp_path: Path) -> None:
    bed = create(tmp_path / "st")
    fill(bed.folder, 3)
    out = tmp_path / "export.jsonl"
    CliRunner().invoke(
        main,
        ["station", "export", "--config", str(bed.config_path), "--out", str(out), "--from", "1"],
    )
    key = load_signing_key(bed.folder / "station.key").public
    data = out.read_bytes()
    with pytest.raises(ProtocolError, match="signature"):
        read_export(data.replace(b'"employee":"E1"', b'"employee":"E9"'), key)
    with pytest.raises(ProtocolError):
        read_export(data[: len(data) // 2], key)
    other = create(tmp_path / "other")
    with pytest.raises(ProtocolError, match="signature"):
        read_export(data, load_signing_key(other.folder / "station.key").public)


def test_export_of_nothing_says_so(tmp_path: Path) -> None:
    bed = create(tmp_path / "st")
    fill(bed.folder, 2)  # both acked
    result = CliRunner().invoke(
        main, ["station", "export", "--config", str(bed.config_path), "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: nothing to export: no records in 3..2 (everything up to 2 was acked by the hub; "
        "to export it all anyway, add --from 1)"
    ]
    assert not (tmp_path / "x").exists()
    # and the hint works: --from 1 exports both
    again = CliRunner().invoke(
        main,
        [
            *("station", "export", "--config", str(bed.config_path)),
            *("--out", str(tmp_path / "x"), "--from", "1"),
        ],
    )
    assert again.exit_code == 0 and "exported 2 records" in again.output, again.output


def test_station_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    bed = create(tmp_path / "st", employees=30, fps=10)
    proc = subprocess.Popen(
        [sys.executable, "-m", "presensi.device", "run", "--config", str(bed.config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines.append(proc.stdout.readline().decode())
        if sum("accepted_in" in line for line in lines) >= 2:
            break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    db = sqlite3.connect(bed.journal_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM records").fetchone()[0] >= 2
    db.close()


def test_the_readable_part_of_a_corrupt_journal_can_be_exported(tmp_path: Path) -> None:
    """A damaged card: the station moves the journal aside and scans on into a new one; what
    can still be read of the old file is exported, signed, for the hub."""
    from presensi.device.journal import open_or_recover

    bed = create(tmp_path / "st")
    journal = Journal(bed.journal_path, "st-test-01", min_free_bytes=1)
    kept = [journal.append(sample_draft(i, employee="E" * 30)) for i in range(1, 301)]
    journal._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.close()
    data = bytearray(bed.journal_path.read_bytes())
    data[4096 * 20 : 4096 * 20 + 300] = os.urandom(300)  # a damaged page late in the file
    bed.journal_path.write_bytes(bytes(data))
    fresh, aside = open_or_recover(bed.journal_path, "st-test-01", min_free_bytes=1)
    assert aside is not None
    assert fresh.append(sample_draft(999)).seq == 1  # scanning goes on, in a new journal
    fresh.close()
    before = aside.read_bytes()
    out = tmp_path / "salvaged.jsonl"
    result = CliRunner().invoke(
        main,
        [
            *("station", "export", "--config", str(bed.config_path)),
            *("--out", str(out), "--journal-file", str(aside)),
        ],
    )
    assert result.exit_code == 0, result.output
    export = read_export(out.read_bytes(), load_signing_key(bed.folder / "station.key").public)
    assert 0 < len(export.records) < 300  # the readable part, not the damaged rest
    assert export.records == kept[export.first_seq - 1 : export.last_seq]
    assert aside.read_bytes() == before  # read, never written
