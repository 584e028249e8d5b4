"""The laptop side of serial provisioning: send a station's enrollment bundle over a cable.

:func:`flash` checks the bundle on the laptop first (every file against manifest.json, and that
station.toml is for the station named), then opens the port, says HELLO, sends each file in
chunks, COMMITs, and waits for the station's self-test report, which it saves next to the
bundle folder as ``<station id>.report-<UTC time>.json`` and returns. Everything that can go
wrong ends in an error that says what to do (a ``ProtocolError`` of the serial protocol, or a
``SerialPortError`` of the hardware part):

* :class:`BundleError`: the bundle on the laptop is missing or inconsistent;
* :class:`SerialPortError`: the port cannot be opened;
* :class:`WrongStation`: the station already has another id (flash with ``replace=True`` to
  re-purpose it);
* :class:`StationRefused` (and :class:`FileChecksumError`): the station refused the bundle;
* :class:`ChecksumError`: frames kept arriving damaged after every retry;
* :class:`ConnectionLost`: the port went away, or the station stopped answering.

In every case but a successful COMMIT the station keeps its previous config.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import stat
import time
import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from presensi.device.files import write_atomically
from presensi.hardware.errors import SerialPortError
from presensi.hardware.serial_port import open_serial_port
from presensi.protocol.serial_frames import (
    MANIFEST,
    MAX_CHUNK,
    MAX_FILE_SIZE,
    MAX_FILES,
    PROTOCOL,
    BundleError,
    ChecksumError,
    ConnectionLost,
    FrameType,
    Link,
    Message,
    ProtocolViolation,
    StationRefused,
    WrongStation,
    default_ack_timeout,
    encode_chunk,
    encode_json,
    parse_manifest,
)
from presensi.provisioning.errors import ProvisioningError

__all__ = [
    "BundleError",
    "ChecksumError",
    "ConnectionLost",
    "FileChecksumError",
    "ProvisioningError",
    "SerialPortError",
    "StationRefused",
    "WrongStation",
    "flash",
    "read_bundle",
]

logger = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 115200
DEFAULT_TIMEOUT = 10.0  # seconds to wait for each answer of the station
REPORT_TIMEOUT = 180.0  # the self-test shows every signal and tries the broker
CHUNK_SIZE = 1024
CONFIG_FILE = "station.toml"

Progress = Callable[[str], None]


class FileChecksumError(StationRefused, ChecksumError):
    """The station found a file, or the manifest, not matching its SHA-256."""


@dataclass(frozen=True)
class BundleFile:
    name: str
    data: bytes
    sha256: str


@dataclass(frozen=True)
class Bundle:
    folder: Path
    station_id: str
    files: tuple[BundleFile, ...]  # the files of the manifest, then manifest.json itself
    manifest_sha256: str


def read_bundle(folder: Path, station_id: str | None = None) -> Bundle:
    """Read and check the bundle in `folder` (every file against manifest.json).

    With `station_id`, its station.toml must be for that station. Raises BundleError.
    """
    if not folder.is_dir():
        raise BundleError(
            f"no enrollment bundle at {folder}: enroll the station first "
            "(the bundle is the folder ORG/stations/<station id>/)"
        )
    try:
        manifest = (folder / MANIFEST).read_bytes()
    except OSError as exc:
        raise BundleError(f"{folder}: cannot read {MANIFEST} ({exc}); enroll again") from exc
    try:
        listed = parse_manifest(manifest)
    except ValueError as exc:
        raise BundleError(f"{folder}: {exc}") from exc
    if len(listed) >= MAX_FILES:
        raise BundleError(f"{folder}: {len(listed)} files; a bundle may have {MAX_FILES - 1}")
    if CONFIG_FILE not in listed:
        raise BundleError(f"{folder}: {MANIFEST} does not list {CONFIG_FILE}")
    files = []
    for name, sha256 in sorted(listed.items()):
        path = folder / name
        try:
            data = _read_inside(folder, path)
        except OSError as exc:
            raise BundleError(f"{path}: listed in {MANIFEST} but cannot be read ({exc})") from exc
        if len(data) > MAX_FILE_SIZE:
            raise BundleError(f"{path}: {len(data)} bytes; a bundle file may have {MAX_FILE_SIZE}")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BundleError(
                f"{path} does not match its SHA-256 in {MANIFEST}: the bundle was changed after "
                "enrollment; enroll the station again"
            )
        files.append(BundleFile(name, data, sha256))
    files.append(BundleFile(MANIFEST, manifest, hashlib.sha256(manifest).hexdigest()))
    config = next(f for f in files if f.name == CONFIG_FILE)
    try:
        bundle_id = tomllib.loads(config.data.decode())["station"]["id"]
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise BundleError(f"{folder / CONFIG_FILE}: no [station] id ({exc})") from exc
    if not isinstance(bundle_id, str):
        raise BundleError(f"{folder / CONFIG_FILE}: station.id is not a string")
    if station_id is not None and bundle_id != station_id:
        raise BundleError(
            f"the bundle in {folder} is for station {bundle_id!r}, not {station_id!r}"
        )
    return Bundle(folder, bundle_id, tuple(files), files[-1].sha256)


def _read_inside(folder: Path, path: Path) -> bytes:
    """A bundle file's bytes: a regular file right in the bundle folder, never a link (a link
    could send whatever it points at, a private key of the admin's machine, to the station)."""
    if path.is_symlink() or path.resolve().parent != folder.resolve():
        raise BundleError(
            f"{path} is a link or lies outside the bundle: bundle files must be regular files "
            "in the bundle's folder. Fix: enroll the station again"
        )
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise BundleError(f"{path} is not a regular file. Fix: enroll the station again")
        return f.read(MAX_FILE_SIZE + 1)


def flash(
    port: str,
    bundle_dir: str | Path,
    station_id: str,
    *,
    replace: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    report_timeout: float = REPORT_TIMEOUT,
    baudrate: int = DEFAULT_BAUDRATE,
    ack_timeout: float | None = None,
    retries: int = 5,
    chunk_size: int = CHUNK_SIZE,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Provision the station on serial port `port` with the bundle in `bundle_dir`.

    Returns the station's self-test report, saved next to the bundle folder (see
    :func:`report_path`), with a "flash" section added (port, manifest SHA-256, files,
    retransmissions) and, in the returned dict only, "report_file": where it was saved.
    `timeout` bounds the wait for each answer of the station, `report_timeout` the self-test.
    Raises a ProvisioningError.
    """
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise ValueError(f"chunk_size must be 1-{MAX_CHUNK}, not {chunk_size}")
    bundle = read_bundle(Path(bundle_dir), station_id)
    say = progress or (lambda _: None)
    serial_port = open_serial_port(port, baudrate, timeout=0.05, write_timeout=5.0)
    link = Link(
        serial_port,
        name=port,
        ack_timeout=default_ack_timeout(baudrate) if ack_timeout is None else ack_timeout,
        retries=retries,
    )
    session = _Session(link, port, timeout, say)
    try:
        report = session.run(
            bundle, replace=replace, chunk_size=chunk_size, report_timeout=report_timeout
        )
    except BaseException as exc:
        if not isinstance(exc, StationRefused) and not (
            isinstance(exc, ConnectionLost) and exc.port_gone
        ):
            session.abort(str(exc) or type(exc).__name__)
        raise
    finally:
        try:
            serial_port.close()
        except OSError as exc:
            logger.debug("closing %s: %s", port, exc)
    saved = {
        **report,
        "flash": {
            "port": port,
            "bundle": str(bundle.folder),
            "station_id": bundle.station_id,
            "replace": replace,
            "manifest_sha256": bundle.manifest_sha256,
            "files": [f.name for f in bundle.files],
            "retransmissions": link.retransmissions,
            "finished": _utc_now().isoformat(timespec="seconds"),
        },
    }
    path = report_path(bundle.folder, _utc_now())
    write_atomically(path, json.dumps(saved, indent=2, ensure_ascii=False).encode() + b"\n")
    return {**saved, "report_file": str(path)}


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def report_path(folder: Path, when: dt.datetime) -> Path:
    """Where a self-test report of the bundle in `folder` is saved: next to the folder, as
    ``<folder name>.report-<UTC time>.json`` (inside it, it would become an extra file that is
    not in manifest.json, and the folder is meant to be copied to an SD card as it is)."""
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    path = folder.parent / f"{folder.name}.report-{stamp}.json"
    counter = 2
    while path.exists():
        path = folder.parent / f"{folder.name}.report-{stamp}-{counter}.json"
        counter += 1
    return path


class _Session:
    def __init__(self, link: Link, port: str, timeout: float, say: Progress) -> None:
        self.link = link
        self.port = port
        self.timeout = timeout
        self.say = say

    def run(
        self, bundle: Bundle, *, replace: bool, chunk_size: int, report_timeout: float
    ) -> dict[str, Any]:
        self._hello(bundle, replace)
        for file in bundle.files:
            self._send_file(file, chunk_size)
        self.say("all files received and checked; installing")
        self.link.send_json(FrameType.COMMIT, {"manifest_sha256": bundle.manifest_sha256})
        self._wait({FrameType.RESULT}, self.timeout, "confirmation that the config was installed")
        self.say("config installed; the station runs its self-test (watch its lights)")
        report = self._wait({FrameType.REPORT}, report_timeout, "self-test report").json()
        if not isinstance(report.get("checks"), list):
            raise ProtocolViolation("the station's report has no list of checks")
        return report

    def abort(self, reason: str) -> None:
        """Tell the station to drop the session at once (best effort: one unacknowledged frame)."""
        try:
            self.link.send_control(FrameType.ABORT, encode_json({"reason": reason[:200]}))
        except ProvisioningError as exc:
            logger.debug("could not send ABORT: %s", exc)

    def _hello(self, bundle: Bundle, replace: bool) -> None:
        self.say(f"connecting to the station on {self.port}")
        hello = {
            "protocol": PROTOCOL,
            "station_id": bundle.station_id,
            "replace": replace,
            "session": secrets.token_hex(8),
        }
        try:
            self.link.send_json(FrameType.HELLO, hello)
        except ConnectionLost as exc:
            if exc.port_gone:
                raise
            raise ConnectionLost(
                f"no provisioning agent answers on {self.port}: check that the cable is plugged "
                "into the station, that the station is powered and that its agent runs "
                f"(`presensi station provision-agent`). ({exc})"
            ) from exc
        info = self._wait({FrameType.HELLO_ACK}, self.timeout, "answer to HELLO").json()
        current = info.get("station_id")
        self.say(
            f"connected: station hardware {info.get('hardware_serial', '?')}, agent "
            f"{info.get('agent_version', '?')}, "
            + (f"currently {current!r}" if current else "not provisioned yet")
        )

    def _send_file(self, file: BundleFile, chunk_size: int) -> None:
        self.say(f"sending {file.name} ({len(file.data)} bytes)")
        self.link.send_json(
            FrameType.FILE_BEGIN, {"name": file.name, "size": len(file.data), "sha256": file.sha256}
        )
        self._check_refusal()
        for offset in range(0, len(file.data), chunk_size):
            self.link.send(
                FrameType.FILE_CHUNK, encode_chunk(offset, file.data[offset : offset + chunk_size])
            )
            self._check_refusal()
        self.link.send_json(FrameType.FILE_END, {"name": file.name})
        result = self._wait({FrameType.RESULT}, self.timeout, f"confirmation of {file.name}").json()
        if result.get("name") != file.name or result.get("sha256") != file.sha256:
            raise ProtocolViolation(f"the station confirmed {result!r}, not {file.name}")

    def _check_refusal(self) -> None:
        """Raise if the station has sent an ERROR (it may, in the middle of a file)."""
        while (message := self.link.receive(0.0)) is not None:
            self._expect(message, set())

    def _wait(self, expected: Collection[FrameType], timeout: float, what: str) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectionLost(
                    f"no {what} from the station on {self.port} within {timeout:.0f} s: the "
                    "cable may have been pulled or the station stopped. It keeps its previous "
                    "config unless it confirmed the install"
                )
            message = self.link.receive(left)
            if message is not None and self._expect(message, expected):
                return message

    def _expect(self, message: Message, expected: Collection[FrameType]) -> bool:
        if message.type is FrameType.ERROR:
            raise _refusal(message)
        if message.type in expected:
            return True
        logger.debug("ignoring an unexpected %s from the station", message.type.name)
        return False


def _refusal(message: Message) -> StationRefused:
    try:
        info = message.json()
    except ProtocolViolation:
        info = {"message": message.payload.decode(errors="replace")}
    code = str(info.get("code", "error"))
    reason = str(info.get("message", "(no reason given)"))
    details = {k: v for k, v in info.items() if k not in {"code", "message"}}
    if code == "wrong-station":
        return WrongStation(code, reason, details)
    if code == "checksum":
        return FileChecksumError(code, reason, details)
    return StationRefused(code, reason, details)
