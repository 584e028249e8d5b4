"""The station side of serial provisioning: wait for an installer, take a bundle, install it.

``presensi station provision-agent --port /dev/ttyGS0 --config-dir /etc/presensi`` runs a
:class:`ProvisioningAgent` on the Pi's USB gadget serial port (or its UART). It waits for a HELLO
from ``presensi provision flash`` on the installer's laptop, then:

1. checks the station id rule: a station that already has an id (in its current station.toml)
   refuses a bundle for another id unless the installer passed ``--replace``; a new station
   accepts any id;
2. receives the bundle's files into a staging folder next to the config folder, checking each
   one's SHA-256 as it ends, then at COMMIT checks manifest.json against every file and
   validates station.toml with :func:`presensi.device.config.load`;
3. installs the staging folder as the config folder in one atomic step (see
   :func:`install_config_dir`); until then, and on any failure (a refused or damaged bundle, an
   ABORT, a cable pulled mid-transfer, a power cut), the previous config stays exactly as it
   was. The old folder is kept beside the new one as ``.<name>.previous``;
4. runs the self-test (:mod:`presensi.device.selftest`) and sends the report back.

Then it waits for the next installer (or, with ``once``, returns the report). A session with no
frame for ``idle_timeout`` seconds is dropped (staging folder deleted); a port that goes away is
reopened every ``reopen_s`` seconds, so replugging the cable just works.

Files in the current config folder that are not part of its bundle (not listed in its
manifest.json), such as a journal kept there, are carried into the new folder as hard links.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import grp
import hashlib
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from presensi.device.selftest import AGENT_VERSION, hardware_serial, run_self_test
from presensi.hardware.errors import SerialPortError
from presensi.hardware.serial_port import open_serial_port
from presensi.protocol.serial_frames import (
    MANIFEST,
    MAX_FILE_SIZE,
    MAX_FILES,
    PROTOCOL,
    ChecksumError,
    ConnectionLost,
    FrameType,
    Link,
    Message,
    Port,
    ProtocolViolation,
    check_file_name,
    check_sha256,
    decode_chunk,
    default_ack_timeout,
    error_payload,
    manifest_modes,
    parse_manifest,
)

if TYPE_CHECKING:
    from hashlib import _Hash

logger = logging.getLogger(__name__)

SelfTest = Callable[[Path], dict[str, Any]]

CONFIG_FILE = "station.toml"
MAX_BUNDLE_SIZE = 8 << 20
_STATION_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_POLL_S = 0.2
_FILE_MODE = 0o600  # for files the manifest gives no mode
_DIR_MODE = 0o700  # for a new config folder (an existing one keeps its mode)


class SessionError(Exception):
    """Ends the session: sent to the laptop as ERROR ``code`` with ``message``."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass
class _Incoming:
    name: str
    size: int
    sha256: str
    handle: IO[bytes]
    hasher: _Hash
    received: int = 0


@dataclass
class _Session:
    station_id: str
    replace: bool
    session: str
    staging: Path
    files: dict[str, str] = field(default_factory=dict)  # name -> verified SHA-256
    incoming: _Incoming | None = None
    total: int = 0


class ProvisioningAgent:
    """Serves provisioning sessions on serial port `port` for the config folder `target_dir`.

    `self_test` is called with the installed station.toml's path and returns the report
    (default :func:`run_self_test`). Installed files get the mode their manifest entry gives
    (0600 without one) and the group `group` (a name or gid; default: the current config
    folder's group, else the group "presensi" if it exists); a new config folder is 0700, an
    existing one keeps its mode.
    """

    def __init__(
        self,
        port: str,
        target_dir: str | Path,
        *,
        self_test: SelfTest = run_self_test,
        baudrate: int = 115200,
        ack_timeout: float | None = None,
        retries: int = 5,
        idle_timeout: float = 30.0,
        reopen_s: float = 1.0,
        group: str | int | None = None,
    ) -> None:
        if idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be positive, not {idle_timeout}")
        self.port = port
        target = Path(target_dir)
        self.target_dir = target.resolve() if target.is_symlink() else target.absolute()
        self._self_test = self_test
        self._baudrate = baudrate
        self._ack_timeout = default_ack_timeout(baudrate) if ack_timeout is None else ack_timeout
        self._retries = retries
        self._idle_timeout = idle_timeout
        self.last_drop_reason = ""  # why the last session was dropped
        self._reopen_s = reopen_s
        self._gid = group_id(group) if group is not None else None
        self._port: Port | None = None
        self._link: Link | None = None
        self._session: _Session | None = None
        self._last_activity = time.monotonic()
        self._stray_reported = False
        self._open_error: str | None = None
        self.ready = threading.Event()  # set while the port is open and the agent listens
        self.last_report: dict[str, Any] | None = None
        self.sessions_dropped = 0

    @property
    def in_session(self) -> bool:
        return self._session is not None

    # -- the loop --------------------------------------------------------------------------------

    def serve(
        self, stop: threading.Event | None = None, *, once: bool = False
    ) -> dict[str, Any] | None:
        """Serve installers until `stop` is set; with `once`, return after one provisioning.

        Returns the last self-test report (None if no station was provisioned).
        """
        stop = stop or threading.Event()
        recover_config_dir(self.target_dir)
        try:
            while not stop.is_set():
                link = self._link or self._open(stop)
                if link is None:
                    continue
                try:
                    message = link.receive(_POLL_S)
                except ConnectionLost as exc:
                    self._lost(exc)
                    continue
                if message is None:
                    self._check_idle()
                    continue
                self._last_activity = time.monotonic()
                report = self._dispatch(link, message)
                if report is not None:
                    self.last_report = report
                    if once:
                        break
        finally:
            self._drop_session("the agent stopped")
            self._close_port()
        return self.last_report

    def _open(self, stop: threading.Event) -> Link | None:
        try:
            self._port = open_serial_port(
                self.port, self._baudrate, what="provisioning port", timeout=0.05, write_timeout=5.0
            )
        except SerialPortError as exc:
            if str(exc) != self._open_error:  # say it once, not every second
                self._open_error = str(exc)
                logger.warning("%s; retrying every %.1f s", exc, self._reopen_s)
            stop.wait(self._reopen_s)
            return None
        self._open_error = None
        self._link = Link(
            self._port, name=self.port, ack_timeout=self._ack_timeout, retries=self._retries
        )
        self.ready.set()
        logger.info("waiting for an installer on %s (config folder %s)", self.port, self.target_dir)
        return self._link

    def _close_port(self) -> None:
        self.ready.clear()
        self._link = None
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(OSError):
                port.close()

    def _lost(self, exc: ConnectionLost) -> None:
        self._drop_session(str(exc))
        if exc.port_gone:
            logger.warning("%s; reopening it every %.1f s", exc, self._reopen_s)
            self._close_port()
        elif self._link is not None:
            self._link.reset()

    def _check_idle(self) -> None:
        if self._session is None:
            return
        if time.monotonic() - self._last_activity > self._idle_timeout:
            self._drop_session(
                f"nothing from the laptop for {self._idle_timeout:.0f} s (cable pulled?)"
            )
            if self._link is not None:
                self._link.reset()

    def _drop_session(self, reason: str) -> None:
        session = self._session
        if session is None:
            return
        if session.incoming is not None:
            with contextlib.suppress(OSError):
                session.incoming.handle.close()
        shutil.rmtree(session.staging, ignore_errors=True)
        # only now is the session gone: whoever sees no session sees no staging folder either
        self.last_drop_reason = reason
        self.sessions_dropped += 1
        self._session = None
        logger.warning(
            "provisioning of %s abandoned: %s; the previous config is unchanged",
            session.station_id,
            reason,
        )

    def _dispatch(self, link: Link, message: Message) -> dict[str, Any] | None:
        try:
            return self._handle(link, message)
        except ProtocolViolation as exc:
            self._refuse(link, SessionError("protocol", str(exc)))
        except SessionError as exc:
            self._refuse(link, exc)
        except ConnectionLost as exc:
            self._lost(exc)
        except ChecksumError as exc:
            self._drop_session(str(exc))
        return None

    def _refuse(self, link: Link, exc: SessionError) -> None:
        logger.warning("refusing: %s (%s)", exc.message, exc.code)
        self._drop_session(exc.message)
        self._stray_reported = True  # the rest of a refused transfer is dropped quietly
        try:
            link.send(FrameType.ERROR, error_payload(exc.code, exc.message, **exc.details))
        except ConnectionLost as lost:
            self._lost(lost)
        except ChecksumError as damaged:
            logger.warning("could not tell the laptop: %s", damaged)

    # -- messages --------------------------------------------------------------------------------

    def _handle(self, link: Link, message: Message) -> dict[str, Any] | None:
        kind = message.type
        if kind is FrameType.HELLO:
            self._hello(link, message)
            return None
        if kind is FrameType.ABORT:
            try:
                reason = str(message.json().get("reason", ""))[:200]
            except ProtocolViolation:
                reason = ""
            self._drop_session(f"the laptop aborted ({reason or 'no reason given'})")
            return None
        if kind not in {
            FrameType.FILE_BEGIN,
            FrameType.FILE_CHUNK,
            FrameType.FILE_END,
            FrameType.COMMIT,
        }:
            logger.debug("ignoring a %s message", kind.name)
            return None
        session = self._session
        if session is None:
            if self._stray_reported:
                return None
            raise SessionError(
                "no-session",
                "no provisioning session is open on the station (it timed out, was aborted or "
                "refused): run the flash again",
            )
        if kind is FrameType.FILE_BEGIN:
            self._file_begin(session, message)
        elif kind is FrameType.FILE_CHUNK:
            self._file_chunk(session, message)
        elif kind is FrameType.FILE_END:
            self._file_end(link, session, message)
        else:
            return self._commit(link, session, message)
        return None

    def _hello(self, link: Link, message: Message) -> None:
        hello = message.json()
        protocol = hello.get("protocol")
        if protocol != PROTOCOL:
            raise SessionError(
                "protocol-version",
                f"the laptop speaks provisioning protocol {protocol!r}, this station {PROTOCOL}: "
                "use the same presensi version on both",
            )
        station_id = hello.get("station_id")
        if not isinstance(station_id, str) or not _STATION_ID.match(station_id):
            raise SessionError("bad-request", f"HELLO: not a station id: {station_id!r}")
        replace = hello.get("replace") is True
        session_id = str(hello.get("session", ""))[:64]
        if self._session is not None:
            self._drop_session("the laptop started over")
        self._stray_reported = False
        current = current_station_id(self.target_dir)
        if current is not None and current != station_id and not replace:
            raise SessionError(
                "wrong-station",
                f"this station is already provisioned as {current!r} and the bundle is for "
                f"{station_id!r}. If it really is to become {station_id!r}, flash again with "
                "--replace; otherwise pick the bundle of the station you are connected to",
                current_station_id=current,
                hardware_serial=hardware_serial(),
            )
        try:
            staging = staging_dir(self.target_dir)
        except OSError as exc:
            raise SessionError(
                "io", f"cannot create a staging folder next to {self.target_dir}: {exc}"
            ) from exc
        self._session = _Session(station_id, replace, session_id, staging)
        logger.info(
            "installer connected: bundle for %s%s (this station: %s)",
            station_id,
            " (replace)" if replace else "",
            current or "not provisioned yet",
        )
        link.send_json(
            FrameType.HELLO_ACK,
            {
                "protocol": PROTOCOL,
                "agent_version": AGENT_VERSION,
                "hardware_serial": hardware_serial(),
                "station_id": current,
                "hostname": os.uname().nodename,
            },
        )

    def _file_begin(self, session: _Session, message: Message) -> None:
        if session.incoming is not None:
            raise SessionError(
                "protocol", f"a new file began before {session.incoming.name} was finished"
            )
        info = message.json()
        name = check_file_name(info.get("name"))
        if name in session.files:
            raise SessionError("protocol", f"{name} was sent twice")
        size = info.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise SessionError("protocol", f"{name}: bad size {size!r}")
        if size > MAX_FILE_SIZE:
            raise SessionError(
                "too-large", f"{name} is {size} bytes; a bundle file may have {MAX_FILE_SIZE}"
            )
        if len(session.files) >= MAX_FILES or session.total + size > MAX_BUNDLE_SIZE:
            raise SessionError(
                "too-large",
                f"the bundle is too big (at most {MAX_FILES} files, {MAX_BUNDLE_SIZE} bytes)",
            )
        sha256 = check_sha256(info.get("sha256"), name)
        try:
            fd = os.open(session.staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise SessionError("io", f"cannot create {name} in the staging folder: {exc}") from exc
        handle = os.fdopen(fd, "wb")
        session.incoming = _Incoming(name, size, sha256, handle, hashlib.sha256())

    def _file_chunk(self, session: _Session, message: Message) -> None:
        incoming = session.incoming
        if incoming is None:
            raise SessionError("protocol", "file data arrived outside a file")
        offset, data = decode_chunk(message.payload)
        if offset != incoming.received:
            raise SessionError(
                "protocol",
                f"{incoming.name}: data for offset {offset} arrived, expected {incoming.received}",
            )
        if incoming.received + len(data) > incoming.size:
            raise SessionError(
                "protocol", f"{incoming.name}: more than the {incoming.size} bytes announced"
            )
        try:
            incoming.handle.write(data)
        except OSError as exc:
            raise SessionError("io", f"cannot write {incoming.name}: {exc}") from exc
        incoming.hasher.update(data)
        incoming.received += len(data)

    def _file_end(self, link: Link, session: _Session, message: Message) -> None:
        name = message.json().get("name")
        incoming = session.incoming
        if incoming is None or name != incoming.name:
            raise SessionError("protocol", f"end of file {name!r}, which was not being sent")
        if incoming.received != incoming.size:
            raise SessionError(
                "protocol",
                f"{name}: the file ended after {incoming.received} of {incoming.size} bytes",
            )
        digest = incoming.hasher.hexdigest()
        if digest != incoming.sha256:
            raise SessionError(
                "checksum",
                f"{name}: the bytes received have SHA-256 {digest[:16]}..., the laptop announced "
                f"{incoming.sha256[:16]}...: the file was damaged on the way; flash again",
                file=name,
            )
        try:
            incoming.handle.flush()
            os.fsync(incoming.handle.fileno())
            incoming.handle.close()
        except OSError as exc:
            raise SessionError("io", f"cannot store {name}: {exc}") from exc
        session.incoming = None
        session.files[incoming.name] = digest
        session.total += incoming.size
        link.send_json(
            FrameType.RESULT, {"stage": "file", "name": incoming.name, "ok": True, "sha256": digest}
        )

    def _commit(self, link: Link, session: _Session, message: Message) -> dict[str, Any]:
        manifest_sha256 = check_sha256(message.json().get("manifest_sha256"), "COMMIT")
        self._verify(session, manifest_sha256)
        try:
            self._install(session)
        except OSError as exc:
            raise SessionError(
                "io",
                f"cannot install the new config in {self.target_dir} ({exc}); "
                "the previous config is unchanged",
            ) from exc
        self._session = None  # the staging folder is the config folder now
        logger.info("station %s provisioned in %s", session.station_id, self.target_dir)
        told = True
        try:
            link.send_json(
                FrameType.RESULT,
                {
                    "stage": "commit",
                    "ok": True,
                    "station_id": session.station_id,
                    "config_dir": str(self.target_dir),
                },
            )
        except (ConnectionLost, ChecksumError) as exc:
            told = False
            logger.warning("the new config is installed but the laptop did not hear it: %s", exc)
        report = self._run_self_test()
        self.last_report = report
        log_report(report)
        if told:
            try:
                link.send_json(FrameType.REPORT, report)
            except (ConnectionLost, ChecksumError) as exc:
                logger.warning("the laptop did not take the self-test report: %s", exc)
        return report

    def _verify(self, session: _Session, manifest_sha256: str) -> None:
        if session.incoming is not None:
            raise SessionError("protocol", f"COMMIT before {session.incoming.name} was finished")
        if MANIFEST not in session.files:
            raise SessionError("bad-bundle", f"the bundle has no {MANIFEST}")
        if session.files[MANIFEST] != manifest_sha256:
            raise SessionError(
                "checksum", f"{MANIFEST} does not match the SHA-256 in COMMIT; flash again"
            )
        try:
            listed = parse_manifest((session.staging / MANIFEST).read_bytes())
        except (OSError, ValueError) as exc:
            raise SessionError("bad-bundle", str(exc)) from exc
        received = {name: sha for name, sha in session.files.items() if name != MANIFEST}
        missing = sorted(set(listed) - set(received))
        if missing:
            raise SessionError(
                "bad-bundle", f"{MANIFEST} lists files that were not sent: {', '.join(missing)}"
            )
        extra = sorted(set(received) - set(listed))
        if extra:
            raise SessionError("bad-bundle", f"files not in {MANIFEST}: {', '.join(extra)}")
        for name, sha in listed.items():
            if received[name] != sha:
                raise SessionError(
                    "checksum",
                    f"{name} does not match its SHA-256 in {MANIFEST}: the bundle on the laptop "
                    "is inconsistent; enroll the station again",
                    file=name,
                )
        if CONFIG_FILE not in received:
            raise SessionError("bad-bundle", f"the bundle has no {CONFIG_FILE}")
        from presensi.device.config import load
        from presensi.device.errors import ConfigError

        staged = session.staging / CONFIG_FILE
        try:
            config = load(staged)
        except ConfigError as exc:
            text = str(exc).replace(str(staged), CONFIG_FILE)
            raise SessionError("invalid-config", text) from exc
        if config.station.id != session.station_id:
            raise SessionError(
                "bundle-mismatch",
                f"{CONFIG_FILE} in the bundle is for {config.station.id!r}, "
                f"but the flash was started for {session.station_id!r}",
            )

    def _install(self, session: _Session) -> None:
        gid = self._gid if self._gid is not None else default_group(self.target_dir)
        install_staged_bundle(session.staging, self.target_dir, set(session.files), gid)

    def _run_self_test(self) -> dict[str, Any]:
        try:
            report = self._self_test(self.target_dir / CONFIG_FILE)
        except Exception as exc:
            logger.exception("the self-test crashed")
            report = {
                "ok": False,
                "checks": [
                    {"name": "self-test", "ok": False, "detail": f"crashed: {exc!r}", "ms": 0}
                ],
            }
        report.setdefault("station_id", current_station_id(self.target_dir))
        report.setdefault("agent_version", AGENT_VERSION)
        report.setdefault("hardware_serial", hardware_serial())
        return report


def log_report(report: dict[str, Any]) -> None:
    for check in report.get("checks", []):
        level = logging.INFO if check.get("ok") else logging.WARNING
        logger.log(
            level,
            "self-test %s: %s: %s",
            check.get("name"),
            "ok" if check.get("ok") else "FAILED",
            check.get("detail"),
        )


def current_station_id(target_dir: Path) -> str | None:
    """The id in the station.toml of `target_dir`, or None for a station not provisioned yet.

    A config that no longer validates still counts by the id written in it.
    """
    from presensi.device.config import load
    from presensi.device.errors import ConfigError

    path = target_dir / CONFIG_FILE
    try:
        return load(path).station.id
    except ConfigError:
        pass
    try:
        station_id = tomllib.loads(path.read_text(encoding="utf-8"))["station"]["id"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return None
    return station_id if isinstance(station_id, str) and station_id else None


# -- installing a folder atomically ----------------------------------------------------------------


def install_staged_bundle(staging: Path, target: Path, names: set[str], gid: int | None) -> None:
    """Give the verified bundle files `names` in `staging` their manifest's modes and group
    `gid`, carry the station's own files of `target` over, and make `staging` the folder
    `target` in one step (:func:`install_config_dir`). OSError leaves `target` as it was."""
    modes = manifest_modes((staging / MANIFEST).read_bytes())
    # the station service (User=presensi) reads its key and password through the group
    group_read, group_enter = (0o040, 0o050) if gid is not None else (0, 0)
    for name in names:
        _own(staging / name, modes.get(name, _FILE_MODE) | group_read, gid)
    mode = _DIR_MODE | group_enter
    with contextlib.suppress(OSError):
        if target.is_dir():
            mode = target.stat().st_mode & 0o7777
    _own(staging, mode, gid)
    _carry_over(target, staging, names)
    _fsync_dir(staging)
    install_config_dir(staging, target)


def staging_dir(target: Path) -> Path:
    """A new empty staging folder next to `target` (removed by :func:`recover_config_dir` if
    an install is abandoned)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=_staging_prefix(target), dir=target.parent))


def _staging_prefix(target: Path) -> str:
    return f".{target.name}.staging-"


def previous_dir(target: Path) -> Path:
    """Where the config folder replaced last is kept."""
    return target.with_name(f".{target.name}.previous")


def _aside_dir(target: Path) -> Path:
    return target.with_name(f".{target.name}.swap-old")


def install_config_dir(staging: Path, target: Path, *, exchange: bool = True) -> None:
    """Make `staging` the folder `target`; the old `target` becomes :func:`previous_dir`.

    With ``exchange`` (and on Linux file systems that support it) the two folders trade places
    in one renameat2(RENAME_EXCHANGE): at every instant `target` is the whole old or the whole
    new folder. Otherwise the old folder is first renamed aside and the new one renamed into
    place; a crash between the two leaves the aside folder, which :func:`recover_config_dir`
    (run when the agent starts) puts back. Every rename is made durable with an fsync of the
    parent folder. On an error the old `target` is in place and `staging` is left to the caller.
    """
    parent = target.parent
    previous = previous_dir(target)
    if not target.exists() and not target.is_symlink():
        staging.rename(target)
        _fsync_dir(parent)
        return
    if exchange and _rename_exchange(staging, target):
        _fsync_dir(parent)
        # `staging` now holds the old config: keep it as the previous one
        shutil.rmtree(previous, ignore_errors=True)
        staging.rename(previous)
        _fsync_dir(parent)
        return
    aside = _aside_dir(target)
    recover_config_dir(target)
    target.rename(aside)
    _fsync_dir(parent)
    try:
        staging.rename(target)
    except OSError:
        aside.rename(target)
        _fsync_dir(parent)
        raise
    _fsync_dir(parent)
    shutil.rmtree(previous, ignore_errors=True)
    aside.rename(previous)
    _fsync_dir(parent)


def recover_config_dir(target: Path) -> None:
    """Finish or undo an install that was interrupted, and delete abandoned staging folders."""
    parent = target.parent
    aside = _aside_dir(target)
    if aside.is_dir():
        if target.exists():  # the new folder made it into place: keep the old one as previous
            shutil.rmtree(previous_dir(target), ignore_errors=True)
            aside.rename(previous_dir(target))
            logger.warning("finished an interrupted config install in %s", target)
        else:  # interrupted between the two renames: put the old folder back
            aside.rename(target)
            logger.warning("undid an interrupted config install: %s restored", target)
        _fsync_dir(parent)
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if entry.name.startswith(_staging_prefix(target)) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap `a` and `b` atomically; False if this system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}:
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _carry_over(target: Path, staging: Path, bundle: set[str]) -> None:
    """Hard-link the station's own files of `target` (those of no bundle) into `staging`."""
    if not target.is_dir():
        return
    old_bundle = {MANIFEST}
    with contextlib.suppress(OSError, ValueError):
        old_bundle |= set(parse_manifest((target / MANIFEST).read_bytes()))
    for entry in target.iterdir():
        if entry.name in bundle or entry.name in old_bundle or entry.name.startswith("."):
            continue  # bundle files are replaced; dot files are temporary
        dest = staging / entry.name
        if entry.is_symlink():
            dest.symlink_to(entry.readlink())
        elif entry.is_dir():
            shutil.copytree(entry, dest, symlinks=True, copy_function=_link_or_copy)
        elif entry.is_file():
            _link_or_copy(entry, dest)


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def group_id(group: str | int) -> int:
    if isinstance(group, int):
        return group
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"no such group {group!r}") from None


def default_group(target: Path) -> int | None:
    with contextlib.suppress(OSError):
        if target.is_dir():
            return target.stat().st_gid
    with contextlib.suppress(KeyError):
        return grp.getgrnam("presensi").gr_gid
    return None


def _own(path: Path, mode: int, gid: int | None) -> None:
    path.chmod(mode)
    if gid is not None and path.stat().st_gid != gid:
        try:
            os.chown(path, -1, gid)
        except PermissionError as exc:
            logger.warning("cannot give %s to group %d (%s); check its permissions", path, gid, exc)
