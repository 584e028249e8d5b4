"""`presensi demo`: simulated stations scanning generated badges, end to end, no hardware.

Until the hub lands, each station works offline (as it must when the network is down): it
verifies, journals and signals every scan, and the summary checks each journal's hash chain.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import shutil
import sys
import threading
import time
import zoneinfo
from collections import Counter
from pathlib import Path

import click

from presensi.device import config as station_config
from presensi.device.station import Parts, Station, open_journal
from presensi.device.testbed import create, make_tokens
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import SigningKey
from presensi.protocol.record import ScanRecord, verify_chain

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")


def _badges(org: SigningKey, employees: int, rng: random.Random) -> list[str]:
    """Mostly good badges, plus what a real station also sees: revoked and foreign badges and
    QR codes that are no badge at all."""
    good = make_tokens(org, employees)
    revoked = make_tokens(org, 2, prefix="LOST", first_serial=900_000)
    foreign = make_tokens(SigningKey.generate(), 2, prefix="OTHER")
    junk = ["https://transjakarta.co.id/", "WIFI:S:Pool;T:WPA;P:rahasia;;"]
    pool = good * 6 + revoked + foreign + junk
    rng.shuffle(pool)
    return pool


class _Printer:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.lock = threading.Lock()
        self.records: list[ScanRecord] = []

    def __call__(self, record: ScanRecord) -> None:
        with self.lock:
            self.records.append(record)
            if self.as_json:
                return
            when = dt.datetime.fromtimestamp(record.wall_ms / 1000, ZONE).strftime("%H:%M:%S")
            who = record.employee or "-"
            click.echo(
                f"{when} WIB  {record.station:14s} #{record.seq:<5d} {who:12s} "
                f"{record.outcome.value:9s} {record.direction:4s} {record.reason.value}"
            )


@click.command()
@click.option("--stations", default=2, show_default=True, type=click.IntRange(1, 42))
@click.option("--employees", default=30, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--duration",
    default=30.0,
    show_default=True,
    type=click.FloatRange(1, 86_400),
    help="Seconds to run.",
)
@click.option(
    "--data-dir",
    default="data/demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--json", "as_json", is_flag=True, help="Only a JSON summary at the end.")
@click.option("--seed", default=None, type=int, help="Fixed random seed (repeatable runs).")
def demo(
    stations: int, employees: int, duration: float, data_dir: Path, as_json: bool, seed: int | None
) -> None:
    """Run simulated stations (simulated cameras, console signals) scanning generated badges."""
    from presensi.hardware.camera_sim import demo_camera
    from presensi.hardware.decoder_zxing import ZxingDecoder
    from presensi.hardware.indicator_console import ConsoleIndicator
    from presensi.hardware.indicator_memory import RecordingIndicator

    rng = random.Random(seed)
    shutil.rmtree(data_dir, ignore_errors=True)
    printer = _Printer(as_json)
    org = SigningKey.generate()
    running: list[Station] = []
    for n in range(1, stations + 1):
        station_id = f"st-demo-{n:02d}"
        bed = create(
            data_dir / station_id,
            station=station_id,
            employees=0,
            org_seed=org.private.private_bytes_raw(),
            revoked=(900_000, 900_001),
        )
        config = station_config.load(bed.config_path)
        indicator = RecordingIndicator() if as_json else ConsoleIndicator(prefix=f"   {station_id}")
        camera = demo_camera(_badges(org, employees, rng), fps=10.0, seed=rng.randrange(2**31))
        parts = Parts(indicator=indicator, camera=camera, decoder=ZxingDecoder())
        running.append(Station(config, parts, on_record=printer, exit_when_source_ends=False))
    if not as_json:
        click.echo(
            f"demo: {stations} stations, {employees} employees, {duration:.0f} s; "
            f"data in {data_dir}/ (Ctrl-C stops early)"
        )
    threads = [threading.Thread(target=s.run, name=f"station-{i}") for i, s in enumerate(running)]
    for t in threads:
        t.start()
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(duration)
    for s in running:
        s.stop()
    for t in threads:
        t.join()
    summary = _summarise(running, printer.records)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo("\n" + "\n".join(f"{k:24s} {v}" for k, v in summary.items()))
    sys.exit(0 if summary["journals_intact"] else 1)


def _summarise(running: list[Station], records: list[ScanRecord]) -> dict[str, object]:
    outcomes = Counter(r.outcome.value for r in records)
    reasons = Counter(r.reason.value for r in records if r.outcome.value == "rejected")
    intact = True
    stored = 0
    for s in running:
        journal, _ = open_journal(s.config)
        base_seq, base_hash = journal.base
        try:
            verify_chain(journal.records(), base_hash, base_seq + 1)
            stored += journal.count()
        except ProtocolError as exc:
            click.echo(f"journal of {s.config.station.id} is broken: {exc}", err=True)
            intact = False
        finally:
            journal.close()
    return {
        "scans_signalled": len(records),
        "scans_in_journals": stored,
        "accepted": outcomes["accepted"],
        "duplicates": outcomes["duplicate"],
        "rejected": outcomes["rejected"],
        "rejected_by_reason": dict(reasons),
        "journals_intact": intact,
        "stations": len(running),
    }
