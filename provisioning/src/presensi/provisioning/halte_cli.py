"""`presensi provision halte`: install the firmware and a station's bundle on a halte board."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import click

from presensi.provisioning.cli_options import org_option
from presensi.provisioning.errors import ProvisioningError


@click.command()
@org_option
@click.argument("station_id")
@click.option("--port", default="auto", show_default=True, help="The board's USB serial port.")
@click.option("--wifi-ssid", required=True, help="The halte's Wi-Fi network (the shared router).")
@click.option(
    "--wifi-password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="A file holding the Wi-Fi password (kept off the command line).",
)
@click.option("--firmware", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--dry-run", is_flag=True, help="Build and print the mpremote commands only.")
@click.option("--mpremote", "mpremote_cmd", default=None, help="The mpremote program to use.")
def halte(
    org_dir: Path,
    station_id: str,
    port: str,
    wifi_ssid: str,
    wifi_password_file: Path,
    firmware: Path | None,
    dry_run: bool,
    mpremote_cmd: str | None,
) -> None:
    """Install the halte firmware and STATION_ID's bundle on a board, then run its self-test."""
    from presensi.provisioning import halte as install
    from presensi.provisioning.org import Org

    try:
        bundle = Org.open(org_dir).stations_dir / station_id
        if not bundle.is_dir():
            raise ProvisioningError(
                f"no enrolled station {station_id}. Fix: presensi provision station first"
            )
        password = wifi_password_file.read_text(encoding="utf-8").strip()
        settings = install.settings_for(bundle, install.Wifi(wifi_ssid, password))
        work = Path(tempfile.mkdtemp(prefix=f"halte-{station_id}-"))
        files = install.compile_firmware(firmware or install.firmware_dir(), work / "build")
        settings_path = work / "settings.json"
        settings_path.write_text(json.dumps(settings), encoding="utf-8")
        settings_path.chmod(0o600)
        mpremote = mpremote_cmd or install.tool("mpremote")
        commands = install.install_commands(mpremote, port, work / "build", settings_path)
    except (ProvisioningError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"firmware: {len(files)} files compiled in {work / 'build'}")
    click.echo(f"settings: {settings_path} (station {station_id}, keys and passwords: 0600)")
    for cmd in commands:
        click.echo("$ " + " ".join(cmd))
    if dry_run:
        return
    output = ""
    for cmd in commands:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        output = proc.stdout
        if proc.returncode != 0:
            raise click.ClickException(f"{cmd[3]} failed: {proc.stderr.strip() or proc.stdout}")
    try:
        result = install.selftest_result(output)
    except ProvisioningError as exc:
        raise click.ClickException(str(exc)) from exc
    checks = result.get("checks", {})
    for name, value in checks.items() if isinstance(checks, dict) else ():
        click.echo(f"  {name:<12} {value}")
    if not result.get("ok"):
        raise click.ClickException("self-test failed: see the checks above (docs/halte.md)")
    click.echo(
        f"self-test ok: {station_id} is ready (sign+verify {result.get('sign_verify_ms')} ms)"
    )
