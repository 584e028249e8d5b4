"""The demo's commands: `presensi demo`, and `presensi hub bench` (it drives simulated stations,
so it ships with the demo, not with the hub). Heavy modules are imported inside the commands."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--stations", default=3, show_default=True, type=click.IntRange(1, 42))
@click.option("--employees", default=30, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--duration",
    default=None,
    type=click.FloatRange(1, 86_400),
    help="Seconds of scanning, then the summary (default: until Ctrl-C).",
)
@click.option(
    "--broker", default=None, help="mqtt://host:port of a broker to use (default: embedded)."
)
@click.option(
    "--data-dir",
    default="data/demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--json", "as_json", is_flag=True, help="Only a JSON summary at the end.")
@click.option("--seed", default=None, type=int, help="Fixed random seed (repeatable runs).")
@click.option(
    "--console-port",
    default=8080,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="The console's port on 127.0.0.1 (a free one if taken).",
)
@click.option("--no-console", is_flag=True, help="Do not serve the console.")
def demo(
    stations: int,
    employees: int,
    duration: float | None,
    broker: str | None,
    data_dir: Path,
    as_json: bool,
    seed: int | None,
    console_port: int,
    no_console: bool,
) -> None:
    """Run a broker, a hub, the console and simulated stations scanning generated badges."""
    from presensi.demo.run import run_demo

    port = None if no_console else console_port
    run_demo(stations, employees, duration, broker, data_dir, as_json, seed, port)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
@click.option("--quick", is_flag=True, help="Smaller samples (for a smoke test).")
def bench(as_json: bool, quick: bool) -> None:
    """Measure ingest throughput (SQLite, PostgreSQL), backlog drain and scan latency."""
    from presensi.demo.hub_bench import run_bench

    run_bench(as_json=as_json, quick=quick)


@click.command("bench-console")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of tables.")
@click.option("--quick", is_flag=True, help="100,000 scans and fewer rounds (a smoke run).")
@click.option(
    "--engine",
    "engines",
    type=click.Choice(["sqlite", "postgres"]),
    multiple=True,
    default=("sqlite", "postgres"),
    show_default=True,
)
@click.option(
    "--live-pages",
    default=200,
    show_default=True,
    type=click.IntRange(1, 2000),
    help="Live pages kept open while the pages are measured.",
)
@click.option(
    "--stations",
    "sizes",
    type=click.Choice(["42", "1000"]),
    multiple=True,
    default=("42", "1000"),
    show_default=True,
    help="The scales: 42 stations and 810 employees, 1,000 stations and 100,000 employees.",
)
@click.option(
    "--console-from",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Measure the console of this checkout (e.g. a worktree of main) under the same load.",
)
def bench_console(
    as_json: bool,
    quick: bool,
    engines: tuple[str, ...],
    live_pages: int,
    sizes: tuple[str, ...],
    console_from: Path | None,
) -> None:
    """Measure the console's pages (p50/p95/p99) on a big store while 1,000 scans/s are
    committed, and commit-to-live-page delay with 200 live pages open."""
    from presensi.demo.console_bench import run_console_bench

    run_console_bench(
        as_json=as_json,
        quick=quick,
        engines=engines,
        live_pages=live_pages,
        sizes=tuple(int(size) for size in sizes),
        console_from=console_from,
    )


@click.command("bench-attendance")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option(
    "--engine",
    "engines",
    type=click.Choice(["sqlite", "postgres"]),
    multiple=True,
    default=("sqlite", "postgres"),
    show_default=True,
)
@click.option("--employees", default=810, show_default=True, type=click.IntRange(1, 200_000))
@click.option("--scans", default=1_000_000, show_default=True, type=click.IntRange(1000, 10**8))
def bench_attendance(as_json: bool, engines: tuple[str, ...], employees: int, scans: int) -> None:
    """Measure deriving a month of attendance, the monthly recap and the daily exception list
    on a store of SCANS scans."""
    from presensi.demo.attendance_bench import run_attendance_bench

    run_attendance_bench(engines, employees, scans, as_json)


@click.command("bench-event")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--people", default=4000, show_default=True, type=click.IntRange(10, 50_000))
@click.option("--stations", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--seconds", default=60.0, show_default=True, type=click.FloatRange(5, 3600),
              help="The crowd of 10 minutes, come in this many seconds.")  # fmt: skip
def bench_event(as_json: bool, people: int, stations: int, seconds: float) -> None:
    """A ceremony: PEOPLE scan at STATIONS real stations through Mosquitto to the hub; the
    delay from each station's commit to the board that counts them (p50/p95/p99)."""
    import json

    from presensi.demo.event_bench import run

    r = run(people, stations, seconds)
    if as_json:
        click.echo(json.dumps(r))
        return
    d = r["board_delay_ms"]
    click.echo(
        f"{r['people']} people at {r['stations']} stations in {r['seconds']} s "
        f"({r['scans']} scans, {r['compressed']}x a 10-minute ceremony): delivered "
        f"{r['delivered']}, counted {r['counted']} / {r['expected']}, repeats not counted "
        f"{r['repeats_not_counted']}; "
        f"station commit -> board p50 {d['p50']} ms, p95 {d['p95']} ms, p99 {d['p99']} ms, max "
        f"{d['max']} ms; one board {r['board_compute_ms']['median']} ms (max "
        f"{r['board_compute_ms']['max']}); scan-to-signal p50 {r['scan_to_signal_ms']['p50']} ms, "
        f"p99 {r['scan_to_signal_ms']['p99']} ms"
    )
