"""The SD-card path: a station bundle copied to the card's boot partition is installed at boot.

The installer copies the folder that ``presensi provision station`` made to the boot partition
(``/boot/firmware/presensi/``; ``/boot/presensi/`` on older images), which any laptop can write.
At boot ``presensi-firstboot.service`` runs ``presensi station install-bundle``, which:

1. reads ``manifest.json`` and copies each file it lists into a staging folder next to the
   config folder, checking its SHA-256 (a damaged card or an edited file refuses the whole
   bundle, naming the file); files the manifest does not list (``._station.toml`` from a Mac,
   ``System Volume Information``) are ignored;
2. validates ``station.toml``, and refuses a bundle for another station id than the one this
   station already has, unless told to replace it (the serial flasher's rule);
3. installs the staging folder as the config folder in one atomic step, with the modes the
   manifest gives and the station service's group (the FAT partition keeps no modes);
4. deletes the bundle from the boot partition (it holds the station's key and password) and
   leaves ``presensi-installed.txt`` there, which says what was installed and when.

On any refusal nothing is installed and the bundle stays on the card for the installer to
look at; the config folder is exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from presensi.device.provisioning_agent import (
    CONFIG_FILE,
    current_station_id,
    install_staged_bundle,
    recover_config_dir,
    staging_dir,
)
from presensi.protocol.serial_frames import MANIFEST, MAX_FILE_SIZE, MAX_FILES, parse_manifest

log = logging.getLogger(__name__)

BOOT_FOLDERS = (Path("/boot/firmware/presensi"), Path("/boot/presensi"))
MARKER = "presensi-installed.txt"
_CHUNK = 64 * 1024


class BundleRefused(Exception):
    """The bundle on the card is not installed; the message says why and what to do."""


@dataclass(frozen=True)
class Installed:
    station_id: str
    source: Path
    target: Path
    ignored: tuple[str, ...]  # files on the card that the manifest does not list
    source_removed: bool


def find_boot_bundle(candidates: tuple[Path, ...] = BOOT_FOLDERS) -> Path | None:
    """The first of `candidates` that holds a bundle (a manifest.json), or None."""
    for folder in candidates:
        if (folder / MANIFEST).is_file():
            return folder
    return None


def install_boot_bundle(
    source: Path, target: Path, *, gid: int | None, replace: bool = False
) -> Installed:
    """Install the bundle in `source` as the config folder `target` (see the module's text).
    Raises BundleRefused, with `target` untouched, if the bundle cannot be trusted or used."""
    recover_config_dir(target)
    listed = _read_manifest(source)
    staging = staging_dir(target)
    try:
        for name, sha256 in sorted(listed.items()):
            _copy_checked(source / name, staging / name, sha256)
        shutil.copyfile(source / MANIFEST, staging / MANIFEST)
        station_id = _check_config(staging, target, replace=replace)
        install_staged_bundle(staging, target, {*listed, MANIFEST}, gid)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    ignored = tuple(
        sorted(p.name for p in source.iterdir() if p.name not in listed and p.name != MANIFEST)
    )
    log.info("installed the bundle of %s from %s into %s", station_id, source, target)
    removed = _remove_from_card(source, station_id, target)
    return Installed(station_id, source, target, ignored, removed)


def _read_manifest(source: Path) -> dict[str, str]:
    try:
        data = (source / MANIFEST).read_bytes()
    except OSError as exc:
        raise BundleRefused(f"{source}: no readable {MANIFEST} ({exc})") from exc
    try:
        listed = parse_manifest(data)
    except ValueError as exc:
        raise BundleRefused(f"{source / MANIFEST}: {exc}. Fix: copy the bundle again") from exc
    if len(listed) > MAX_FILES:
        raise BundleRefused(f"{source / MANIFEST} lists {len(listed)} files (at most {MAX_FILES})")
    if CONFIG_FILE not in listed:
        raise BundleRefused(f"{source / MANIFEST} lists no {CONFIG_FILE}: not a station bundle")
    return listed


def _copy_checked(src: Path, dst: Path, sha256: str) -> None:
    """Copy `src` to `dst` (fsynced) if its bytes have the SHA-256 `sha256`."""
    if not src.is_file() or src.is_symlink():
        raise BundleRefused(
            f"{src} is listed in {MANIFEST} but is not on the card. Fix: copy the whole bundle "
            "folder again"
        )
    digest = hashlib.sha256()
    size = 0
    with src.open("rb") as reader, dst.open("xb") as writer:
        while chunk := reader.read(_CHUNK):
            size += len(chunk)
            if size > MAX_FILE_SIZE:
                raise BundleRefused(f"{src} is larger than {MAX_FILE_SIZE} bytes")
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    if digest.hexdigest() != sha256:
        raise BundleRefused(
            f"{src} does not match its SHA-256 in {MANIFEST}: the card is damaged or the file "
            "was edited. Fix: copy the bundle from the org folder again (to change the "
            "hardware: presensi provision station-hardware, which writes the manifest again)"
        )


def _check_config(staging: Path, target: Path, *, replace: bool) -> str:
    from presensi.device.config import load
    from presensi.device.errors import ConfigError

    try:
        config = load(staging / CONFIG_FILE)
    except ConfigError as exc:
        raise BundleRefused(str(exc).replace(str(staging / CONFIG_FILE), CONFIG_FILE)) from exc
    station_id = config.station.id
    current = current_station_id(target)
    if current is not None and current != station_id and not replace:
        raise BundleRefused(
            f"this station is already provisioned as {current!r}, and the card's bundle is for "
            f"{station_id!r}. If it really is to become {station_id!r}, run "
            "`presensi station install-bundle --replace`; otherwise take that bundle off the card"
        )
    return station_id


def _remove_from_card(source: Path, station_id: str, target: Path) -> bool:
    """Delete the bundle (its key and password) from the boot partition and leave a note."""
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    note = (
        f"Presensi: station {station_id} was installed into {target} at {at} (UTC) from\n"
        f"{source}, which was then deleted from this card (it held the station's key).\n"
        "To provision the station again: presensi provision flash, or copy a new bundle here.\n"
    )
    try:
        shutil.rmtree(source)
    except OSError as exc:
        log.error(
            "cannot delete the bundle from %s (%s): its station.key and broker.password are "
            "still on the card; delete them by hand",
            source,
            exc,
        )
        return False
    try:
        (source.parent / MARKER).write_text(note, encoding="utf-8")
    except OSError as exc:
        log.warning("cannot leave %s on the card: %s", source.parent / MARKER, exc)
    return True
