"""`presensi station ...`: run a station, check its config, decode images, export its journal."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import click

from presensi.device import config as station_config
from presensi.device.errors import StationError
from presensi.hardware.errors import HardwareError
from presensi.protocol.cli import fail as _fail
from presensi.protocol.errors import ProtocolError

DEFAULT_CONFIG = "/etc/presensi/station.toml"


def service_logging() -> None:
    """A service logs what an operator reading journalctl needs (INFO), unless -v said more."""
    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    envvar="PRESENSI_STATION_CONFIG",
    help="The station's TOML config file.",
)


@click.group()
def station() -> None:
    """Run and inspect a scanning station."""


@station.command("check-config")
@config_option
def check_config(config_path: Path) -> None:
    """Validate the config file and say what is wrong, without touching anything."""
    try:
        config = station_config.load(config_path)
    except StationError as exc:
        _fail(exc)
    click.echo(f"{config_path}: ok (station {config.station.id} at {config.station.location})")


@station.command()
@config_option
def run(config_path: Path) -> None:
    """Scan until stopped (SIGTERM or Ctrl-C). Meant to run under systemd (Type=notify)."""
    from presensi.device.parts import build_parts

    service_logging()
    from presensi.device.station import Station, load_keys

    try:
        config = station_config.load(config_path)
        keys = load_keys(config)  # before any hardware is touched
        parts = build_parts(config)
        finite = config.camera.backend in {"folder", "sim"} and not config.camera.watch
        service = Station(config, parts, keys=keys, exit_when_source_ends=finite)
    except (StationError, HardwareError, ProtocolError, OSError) as exc:
        _fail(exc)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.run()
    parts.indicator.close()


@station.command("self-test")
@config_option
def self_test(config_path: Path) -> None:
    """Check the station's parts as installed (config, key, journal, camera or scanner, signals,
    broker) and print the report; exit 1 if a check failed. Stop presensi-station first: the
    camera serves one process at a time."""
    from presensi.device.selftest import can_encode, format_report, run_self_test

    report = run_self_test(config_path)
    click.echo(format_report(report, unicode=can_encode("✔✘")))
    if not all(check.get("ok") for check in report["checks"]):
        sys.exit(1)


@station.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--decoder",
    "decoder_name",
    default="zxing",
    show_default=True,
    type=click.Choice(["zxing", "zbar"]),
)
def decode(files: tuple[Path, ...], decoder_name: str) -> None:
    """Decode image files, one JSON line each: {"file", "texts", "ms"} (to check a camera)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from presensi.hardware.backends import DECODERS

    try:
        decoder = DECODERS.make(decoder_name)
    except HardwareError as exc:
        _fail(exc)
    failed = 0
    for path in files:
        row: dict[str, object] = {"file": str(path)}
        try:
            with Image.open(path) as img:
                frame = np.asarray(img.convert("L"))
        except (OSError, UnidentifiedImageError) as exc:
            row.update(texts=[], ms=None, error=f"cannot read image: {exc}")
            failed += 1
        else:
            start = time.perf_counter()
            texts = decoder.decode(frame)
            row.update(texts=texts, ms=round((time.perf_counter() - start) * 1000, 2))
        click.echo(json.dumps(row, ensure_ascii=False))
    sys.exit(1 if failed else 0)


@station.command()
@config_option
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "first", type=int, default=None, help="First seq (default: first unacked).")
@click.option("--to", "last", type=int, default=None, help="Last seq (default: the newest).")
@click.option(
    "--journal",
    "journal_id",
    default=None,
    help="The journal to export (default: the oldest with unacked records).",
)
@click.option(
    "--journal-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Another journal file, e.g. one moved aside as corrupt (journal.db.corrupt-...).",
)
def export(
    config_path: Path,
    out_path: Path,
    first: int | None,
    last: int | None,
    journal_id: str | None,
    journal_file: Path | None,
) -> None:
    """Write unacked (or a range of) records to a signed file for `presensi hub import`."""
    from presensi.device.export import export_journal

    try:
        config = station_config.load(config_path)
        count = export_journal(
            config, out_path, first, last, journal_id=journal_id, journal_file=journal_file
        )
    except (StationError, ProtocolError, OSError) as exc:
        _fail(exc)
    click.echo(f"exported {count} records to {out_path}")


@station.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
@click.option("--quick", is_flag=True, help="Smaller samples (for a smoke test).")
@click.option(
    "--only",
    default="",
    help="Parts to run: decode, latency, journal, memory, kill, field (comma-separated; all).",
)
def bench(as_json: bool, quick: bool, only: str) -> None:
    """Measure decode rate and time, scan-to-signal latency, journal cost, memory, kill -9
    safety, and the decoder on held-out field frames and presentations."""
    from presensi.device.bench import STEPS, run_bench

    parts = [p.strip() for p in only.split(",") if p.strip()] or list(STEPS)
    unknown = sorted(set(parts) - set(STEPS))
    if unknown:
        raise click.BadParameter(f"unknown parts {unknown}; known: {', '.join(STEPS)}")
    run_bench(as_json=as_json, quick=quick, only=parts)


@station.command("provision-agent")
@click.option(
    "--port",
    required=True,
    help="The serial port to listen on: /dev/ttyGS0 (USB gadget) or /dev/serial0 (UART).",
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/presensi"),
    show_default=True,
    help="The station's config folder, replaced as a whole by a new bundle.",
)
@click.option("--baudrate", type=click.IntRange(1200, 4_000_000), default=115200, show_default=True)
@click.option(
    "--group",
    default=None,
    help="Group given the installed files (default: that of the current config folder).",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    help="Drop a transfer after this many seconds without a frame (cable pulled).",
)
@click.option("--once", is_flag=True, help="Exit after the first successful provisioning.")
def provision_agent(
    port: str,
    config_dir: Path,
    baudrate: int,
    group: str | None,
    idle_timeout: float,
    once: bool,
) -> None:
    """Wait on a serial port for an installer's `presensi provision flash`.

    Installs the bundle it sends as the config folder (atomically: on any failure the previous
    config stays), runs the self-test and sends the report back. Runs until stopped (SIGTERM,
    Ctrl-C), or with --once until one station config is installed.
    """
    from presensi.device.provisioning_agent import ProvisioningAgent
    from presensi.device.selftest import can_encode, format_report

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        agent = ProvisioningAgent(
            port, config_dir, baudrate=baudrate, group=group, idle_timeout=idle_timeout
        )
    except ValueError as exc:
        _fail(exc)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
    try:
        report = agent.serve(stop, once=once)
    except KeyboardInterrupt:
        report = None
    if once and report is not None:
        click.echo(format_report(report, unicode=can_encode("✔✘")))


@station.command("install-bundle")
@click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The bundle folder (default: /boot/firmware/presensi, else /boot/presensi).",
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/presensi"),
    show_default=True,
    help="The station's config folder, replaced as a whole by the bundle.",
)
@click.option(
    "--group",
    default=None,
    help="Group given the installed files (default: that of the current config folder, "
    "else 'presensi').",
)
@click.option("--replace", is_flag=True, help="Install a bundle for another station id.")
@click.option("--no-self-test", is_flag=True, help="Do not run the self-test afterwards.")
def install_bundle(
    source: Path | None, config_dir: Path, group: str | None, replace: bool, no_self_test: bool
) -> None:
    """Install a station bundle copied to the SD card's boot partition (the first-boot unit).

    Checks every file against manifest.json, installs the folder atomically as the config
    folder, then deletes the bundle from the card (it holds the station's key) and leaves
    presensi-installed.txt there. A refused bundle stays on the card; nothing changes.
    """
    from presensi.device.boot_bundle import BundleRefused, find_boot_bundle, install_boot_bundle
    from presensi.device.provisioning_agent import default_group, group_id, log_report
    from presensi.device.selftest import can_encode, format_report, run_self_test

    service_logging()
    found = source if source is not None else find_boot_bundle()
    if found is None:
        click.echo("no station bundle on the boot partition: nothing to install")
        return
    target = config_dir.absolute()
    try:
        gid = group_id(group) if group is not None else default_group(target)
        done = install_boot_bundle(found, target, gid=gid, replace=replace)
    except (BundleRefused, ValueError, OSError) as exc:
        _fail(f"{exc}; nothing was installed")
    click.echo(f"installed station {done.station_id} from {found} into {target}")
    if done.ignored:
        click.echo(f"ignored files that manifest.json does not list: {', '.join(done.ignored)}")
    if not done.source_removed:
        click.echo(f"warning: delete {found} by hand: it holds the station's key", err=True)
    if no_self_test:
        return
    report = run_self_test(target / "station.toml")
    log_report(report)
    click.echo(format_report(report, unicode=can_encode("✔✘")))
