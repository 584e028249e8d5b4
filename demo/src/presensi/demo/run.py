"""`presensi demo`: the whole system on one machine, no hardware and no setup.

An MQTT broker (embedded amqtt unless --broker is given), a hub on SQLite in a local data
folder, an organisation folder made as an admin would (`presensi provision init`, the 42 sample
attendance points, a sample staff list, one enrollment bundle per station), and N simulated
stations (rendered camera frames, console signals) started from their bundles, scanning badges
signed with the org's key: valid ones, and what real stations also see (revoked and foreign
badges, QR codes that are no badge). Each station journals, signals and delivers its scans; at
the end the demo stops scanning, lets every uplink drain, and checks that the hub holds every
signalled scan once.
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
from typing import TYPE_CHECKING, Any

import click
import msgspec

from presensi.device import config as station_config
from presensi.device.station import Parts, Station
from presensi.device.testbed import make_tokens
from presensi.protocol.keys import SigningKey, load_signing_key, raw_public
from presensi.protocol.record import ScanRecord

if TYPE_CHECKING:
    from presensi.provisioning.employees import Employee
    from presensi.provisioning.org import Org

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
DRAIN_S = 30.0  # how long the stations' uplinks get to be fully acked at the end
LOST_CARDS = 2  # employees whose first card was lost and reissued: the old card is revoked


def _issue_badges(org: Org, staff: list[Employee]) -> tuple[list[str], list[str]]:
    """Badges issued as an admin does (the org's registry, its revocation list), two of them
    reissued after a lost card: (the current cards, the lost ones, now revoked)."""
    from presensi.provisioning import badges

    issued = {b.employee: b.token for b in badges.issue(org, staff)}
    lost = [issued[e.number] for e in staff[:LOST_CARDS]]
    for employee in staff[:LOST_CARDS]:
        issued[employee.number] = badges.reissue(org, employee, "hilang").badge.token
    return list(issued.values()), lost


def _pool(current: list[str], lost: list[str], rng: random.Random) -> list[str]:
    """What one station's camera will see: the current cards, the lost ones, foreign badges
    and QR codes that are no badge."""
    foreign = make_tokens(SigningKey.generate(), 2, prefix="OTHER")
    junk = ["https://transjakarta.co.id/", "WIFI:S:Pool;T:WPA;P:rahasia;;"]
    # about one scan in eight is a problem card, so that the console's alerts page has some
    problems = (lost + foreign + junk) * max(1, len(current) // 20)
    pool = current * 2 + problems
    rng.shuffle(pool)
    return pool


class _Printer:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.lock = threading.Lock()
        self.records: list[ScanRecord] = []

    def __call__(self, record: ScanRecord) -> None:
        with self.lock:
            self.records.append(record)
            if self.quiet:
                return
            when = dt.datetime.fromtimestamp(record.wall_ms / 1000, ZONE).strftime("%H:%M:%S")
            click.echo(
                f"{when} WIB  {record.station:12s} #{record.seq:<5d} {record.employee or '-':12s} "
                f"{record.outcome.value:9s} {record.direction:4s} {record.reason.value}"
            )


def run_demo(
    stations: int,
    employees: int,
    duration: float | None,
    broker: str | None,
    data_dir: Path,
    as_json: bool,
    seed: int | None,
    console_port: int | None = 8080,
) -> None:
    """Run a broker, a hub and simulated stations scanning generated badges; exit 0 when the
    hub holds every signalled scan exactly once."""
    from presensi.hub.service import Hub

    data_dir = data_dir.resolve()  # the hub's file is inside it, whatever the working folder
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        if broker is None:
            from presensi.demo.broker import EmbeddedBroker

            broker = stack.enter_context(EmbeddedBroker()).url
        hub = Hub(f"sqlite:///{data_dir / 'hub.db'}", broker, client_id="presensi-demo-hub")
        summary = _run(
            hub, broker, stations, employees, duration, data_dir, as_json, seed, console_port
        )
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo("\n" + "\n".join(f"{k:22s} {v}" for k, v in summary.items()))
    sys.exit(0 if delivered_exactly_once(summary) else 1)


def delivered_exactly_once(summary: dict[str, Any]) -> bool:
    """Every station fully acked, and the hub holds each signalled scan once: no more, no less."""
    return (
        summary["stations_fully_acked"] == summary["stations"]
        and summary["scans_in_hub"] == summary["scans_signalled"]
        and not summary["duplicates_in_hub"]
    )


def _run(
    hub: Any,
    broker: str,
    count: int,
    employees: int,
    duration: float | None,
    data_dir: Path,
    quiet: bool,
    seed: int | None,
    console_port: int | None,
) -> dict[str, object]:
    from presensi.hardware.camera_sim import demo_camera
    from presensi.hardware.decoder_zxing import ZxingDecoder
    from presensi.hardware.indicator_console import ConsoleIndicator
    from presensi.hardware.indicator_memory import RecordingIndicator
    from presensi.hub.store import StationInfo
    from presensi.provisioning.employees import employees_csv, import_employees, sample_employees
    from presensi.provisioning.employees import sync_to_hub as employees_to_hub
    from presensi.provisioning.enroll import enroll_station
    from presensi.provisioning.locations import import_locations, sample_csv_text
    from presensi.provisioning.locations import sync_to_hub as locations_to_hub
    from presensi.provisioning.org import Org

    rng = random.Random(seed)
    org = Org.init(data_dir / "org", "Trans Semarang (demo)")
    points = import_locations(org, sample_csv_text())
    staff = import_employees(org, employees_csv(sample_employees(employees, rng.randrange(2**31))))
    current, lost = _issue_badges(org, staff)
    # what an admin syncs to the hub for its console: names, units, badges, the points
    hub_url = f"sqlite:///{data_dir / 'hub.db'}"
    employees_to_hub(org, hub_url)
    locations_to_hub(org, hub_url)
    printer = _Printer(quiet)
    running: list[Station] = []
    hub.start()
    hub.publish_fleet(
        keys=org.org_keys_signed_path.read_bytes(),
        revocations=org.revocations_signed_path.read_bytes(),
    )
    for n in range(1, count + 1):
        sid = f"st-demo-{n:02d}"
        location = points[(n - 1) % len(points)]
        bundle = enroll_station(org, sid, location.id, broker_url=broker)
        station_key = load_signing_key(bundle / "station.key")
        hub.store.register_station(StationInfo(sid, raw_public(station_key.public), location.id))
        config = _on_this_machine(station_config.load(bundle / "station.toml"), data_dir / sid)
        indicator = RecordingIndicator() if quiet else ConsoleIndicator(prefix=f"   {sid}")
        camera = demo_camera(_pool(current, lost, rng), fps=10.0, seed=rng.randrange(2**31))
        parts = Parts(indicator=indicator, camera=camera, decoder=ZxingDecoder())
        running.append(Station(config, parts, on_record=printer, exit_when_source_ends=False))
    event_id = _plan_apel(hub.store.database, [s.config.station.id for s in running], staff, points)
    console, console_url = _console(data_dir, console_port, quiet)
    if not quiet:
        how_long = "until Ctrl-C" if duration is None else f"{duration:.0f} s (Ctrl-C stops early)"
        click.echo(
            f"demo: broker {broker}, hub {data_dir / 'hub.db'}, {count} stations, "
            f"{employees} employees, {how_long}"
        )
        if console_url is not None and event_id:
            # the port the console got (another if the one asked for was taken)
            click.echo(f"  the apel's board: {console_url.rstrip('/')}/acara/{event_id}/papan")
    threads = [threading.Thread(target=s.run, name=f"station-{i}") for i, s in enumerate(running)]
    for t in threads:
        t.start()
    with contextlib.suppress(KeyboardInterrupt):
        while duration is None:
            time.sleep(3600)
        time.sleep(duration)
    acked = _drain(running, threads, data_dir / "hub.db")
    console.close()
    hub.close()
    return _summary(data_dir / "hub.db", printer.records, acked, count)


def _plan_apel(
    db: Any, stations: list[str], staff: list[Employee], points: list[Any]
) -> str | None:
    """The city government's use, in the demo: this morning's apel at the demo's stations for
    the two biggest units, open since ten minutes ago, late after five minutes from now (the
    console's Acara page and its board show who comes). None near midnight (WIB)."""
    from presensi.hub.events import model

    now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Jakarta"))
    if not dt.time(0, 15) <= now.time() <= dt.time(21, 45):
        return None
    units = [u for u, _ in Counter(e.unit for e in staff).most_common(2)]
    minute = now.replace(second=0, microsecond=0)
    plan = model.Plan(
        "apel-demo", "Apel pagi (demo)", "apel", now.date(),
        (minute - dt.timedelta(minutes=10)).time(), (minute + dt.timedelta(minutes=5)).time(),
        (minute + dt.timedelta(hours=2)).time(), points[0].id, tuple(stations), tuple(units),
    )  # fmt: skip
    made = model.plan_events(db, plan)
    model.add_events(db, made, "demo", int(now.timestamp() * 1000))
    return made[0].id


def _console(
    data_dir: Path, port: int | None, quiet: bool
) -> tuple[contextlib.ExitStack, str | None]:
    """The console on the demo's hub and its URL (nothing with `port` None); closing the
    stack stops it."""
    stack = contextlib.ExitStack()
    if port is None:
        return stack, None
    from presensi.demo.console import DEMO_PASSWORD, DEMO_USER, demo_console

    url: str = stack.enter_context(demo_console(f"sqlite:///{data_dir / 'hub.db'}", port))
    if not quiet:
        click.echo(f"console: {url}  (login {DEMO_USER} / {DEMO_PASSWORD})")
    return stack, url


def _drain(running: list[Station], threads: list[threading.Thread], hub_db: Path) -> int:
    """Stop scanning, give every uplink up to DRAIN_S to be acked, stop; the stations acked.
    Those not acked are named on stderr, with what their uplinks saw."""
    for s in running:
        s.stop_scanning()
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline and not all(s.delivered() for s in running):
        time.sleep(0.1)
    lagging = [_uplink_seen(s) for s in running if not s.delivered()]
    for s in running:
        s.stop()
    for t in threads:
        t.join()
    if lagging:
        _say_why(lagging, hub_db)
    return len(running) - len(lagging)


def _uplink_seen(station: Station) -> str:
    """One line on a station's uplink, for a demo that ends with a station not fully acked."""
    sid = station.config.station.id
    if station.uplink is None:
        return f"{sid}: no uplink"
    s = station.uplink.state
    return (
        f"{sid}: connected {s.connected}, {s.connects} connects, {s.batches_sent} batches sent, "
        f"{s.resends} resends, journal {s.sending or '-'} sent to {s.sent_upto}, acked to "
        f"{s.acked_upto}, uplink thread alive {station.uplink.alive()}"
    )


def _say_why(lagging: list[str], hub_db: Path) -> None:
    """On stderr: the stations not fully acked after DRAIN_S, and what the hub refused."""
    from presensi.hub.store import open_store

    click.echo(f"demo: not every station was fully acked within {DRAIN_S:.0f} s:", err=True)
    for line in lagging:
        click.echo(f"  {line}", err=True)
    try:
        store = open_store(f"sqlite:///{hub_db}")
        try:
            refused = store.rejects(limit=10)
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001 (what it says is an aid: the summary goes on)
        click.echo(f"  the hub's refused messages are not readable: {exc}", err=True)
        return
    for r in refused:
        click.echo(f"  the hub refused {r.topic} seq {r.seq}: {r.reason} {r.detail}", err=True)


def _on_this_machine(
    config: station_config.StationConfig, folder: Path
) -> station_config.StationConfig:
    """A bundle's config for a simulated station: its journal in the demo folder (not
    /var/lib/presensi), a clock taken as synced, quick reconnects."""
    folder.mkdir(parents=True, exist_ok=True)
    replace = msgspec.structs.replace
    return replace(
        config,
        journal=replace(config.journal, path=str(folder.resolve() / "journal.db"), min_free_mb=1),
        clock=replace(config.clock, source="synced"),
        uplink=replace(
            config.uplink, reconnect_min_s=0.2, reconnect_max_s=2, resend_s=5, telemetry_s=2
        ),
    )


def _summary(hub_db: Path, records: list[ScanRecord], acked: int, count: int) -> dict[str, object]:
    from presensi.hub.store import open_store

    store = open_store(f"sqlite:///{hub_db}")
    try:
        in_hub = [r for row in store.stations() for r in store.scans(row.id)]
    finally:
        store.close()
    rows, distinct = len(in_hub), len({r.scan_id for r in in_hub})
    outcomes = Counter(r.outcome.value for r in records)
    return {
        "scans_signalled": len(records),
        "scans_in_hub": rows,
        "duplicates_in_hub": rows - distinct,
        "stations_fully_acked": acked,
        "stations": count,
        "accepted": outcomes["accepted"],
        "duplicate_window": outcomes["duplicate"],
        "rejected": dict(Counter(r.reason.value for r in records if r.outcome.value == "rejected")),
    }
