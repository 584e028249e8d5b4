"""A throwaway Mosquitto broker, for the tests and the hub bench.

`Mosquitto` runs the real mosquitto binary (PRESENSI_MOSQUITTO, default /usr/sbin/mosquitto) on
127.0.0.1 and a free port, with a config generated into its own directory (config, log, stderr,
persistence). It can be stopped (SIGTERM: mosquitto saves its persistence file), killed (SIGKILL:
whatever was not autosaved is lost, as after a power cut) and restarted on the same port, so
clients can reconnect to the same URL.

The tests' fixtures (`mosquitto`, `mosquitto_factory`) kill every broker they made at teardown;
as a last resort an atexit hook kills any broker process still running.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

MOSQUITTO = os.environ.get("PRESENSI_MOSQUITTO", "/usr/sbin/mosquitto")
DEFAULT_LOG_TYPES = ("error", "warning", "notice", "information")

_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def mosquitto_available() -> bool:
    return Path(MOSQUITTO).is_file() and os.access(MOSQUITTO, os.X_OK)


class BrokerStartError(RuntimeError):
    """The broker did not accept connections in time, or exited while starting."""


class Mosquitto:
    """One mosquitto process with a generated config in `workdir`.

    max_queued_messages: None keeps mosquitto's default (1000 per client: beyond it QoS 1
    messages for a slow or offline subscriber are dropped silently); 0 means unlimited, but
    mosquitto 2.0.11 then disconnects any client whose publish it denies (its quota check
    `out_packet_count >= max_queued_messages` is true for 0), so with an ACL use a number.
    max_inflight_messages: None keeps mosquitto's default (20); 0 means unlimited.
    autosave_interval: seconds between persistence saves (None: mosquitto's default, 1800 s);
    the database is always written on stop() but never on kill().
    password_file / acl_file: paths of existing files (e.g. written by presensi.provisioning).
    log_types: mosquitto `log_type` values; ("all",) adds debug lines such as "Denied PUBLISH".
    extra_config: more lines appended to the generated config.
    base_config: a complete config to run instead (e.g. presensi's production mosquitto_conf());
    only the log lines (and `user root` when run as root) are added, and `port` must be given
    and match its listener. The options above are then ignored.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        port: int | None = None,
        persistence: bool = True,
        max_queued_messages: int | None = None,
        max_queued_bytes: int | None = None,
        max_inflight_messages: int | None = None,
        autosave_interval: int | None = None,
        allow_anonymous: bool = True,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        log_types: Sequence[str] = DEFAULT_LOG_TYPES,
        extra_config: Sequence[str] = (),
        base_config: str | None = None,
        start_timeout: float = 10.0,
        binary: str = MOSQUITTO,
        prefix: Sequence[str] = (),
    ) -> None:
        if base_config is not None and port is None:
            raise ValueError("base_config needs the port its listener uses")
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="mosquitto-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._fixed_port = port is not None
        self._port = port if port is not None else free_port()
        self.persistence = persistence
        self.max_queued_messages = max_queued_messages
        self.max_queued_bytes = max_queued_bytes
        self.max_inflight_messages = max_inflight_messages
        self.autosave_interval = autosave_interval
        self.allow_anonymous = allow_anonymous
        self.password_file = password_file
        self.acl_file = acl_file
        self.log_types = tuple(log_types)
        self.extra_config = tuple(extra_config)
        self.base_config = base_config
        self.start_timeout = start_timeout
        self.binary = binary
        # a command to run mosquitto under, e.g. ["ip", "netns", "exec", NS]: then it is ready
        # when its log says so (its port may not be reachable from here)
        self.prefix = tuple(prefix)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.stderr_path = self.workdir / "stderr.log"
        self.persistence_dir = self.workdir / "persistence"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False

    # -- addresses -------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- config ----------------------------------------------------------------------------

    def config_text(self) -> str:
        logging = [
            f"log_dest file {self.log_path}",
            *(f"log_type {t}" for t in self.log_types),
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # as root, mosquitto drops to the "mosquitto" user before opening its log and
            # persistence files, which then cannot be written in a root-owned temp directory
            logging.append("user root")
        if self.base_config is not None:
            return f"{self.base_config.rstrip()}\n\n# added by presensi.demo.mosquitto\n" + (
                "\n".join(logging) + "\n"
            )
        lines = [
            "# generated by presensi.demo.mosquitto",
            f"listener {self._port} {self.host}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            *logging,
        ]
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.persistence_dir}/"]
            if self.autosave_interval is not None:
                lines.append(f"autosave_interval {self.autosave_interval}")
        else:
            lines.append("persistence false")
        if self.max_queued_messages is not None:
            lines.append(f"max_queued_messages {self.max_queued_messages}")
        if self.max_queued_bytes is not None:
            lines.append(f"max_queued_bytes {self.max_queued_bytes}")
        if self.max_inflight_messages is not None:
            lines.append(f"max_inflight_messages {self.max_inflight_messages}")
        if self.password_file is not None:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        lines += self.extra_config
        return "\n".join(lines) + "\n"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Mosquitto:
        """Start mosquitto and return once its port accepts connections."""
        if self.running:
            raise RuntimeError(f"mosquitto already running on port {self._port}")
        attempts = 1 if (self._fixed_port or self._started_once) else 3
        for attempt in range(attempts):
            try:
                self._start_once()
            except BrokerStartError as exc:
                port_taken = "Address already in use" in str(exc)
                if not port_taken or attempt == attempts - 1:
                    raise
                self._port = free_port()  # lost a race for the port: take another one
            else:
                self._started_once = True
                return self
        raise AssertionError("unreachable")

    def _start_once(self) -> None:
        if self.persistence and self.base_config is None:
            self.persistence_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.stderr_path.open("ab") as stderr:
            proc = subprocess.Popen(
                [*self.prefix, self.binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # a Ctrl-C in the terminal goes to pytest, not here
            )
        with _live_lock:
            _live.add(proc)
        self._proc = proc
        deadline = time.monotonic() + self.start_timeout
        while True:
            if proc.poll() is not None:
                self._forget(proc)
                raise BrokerStartError(
                    f"mosquitto exited with code {proc.returncode} while starting on port "
                    f"{self._port}\n{self._diagnostics(log_offset)}"
                )
            if self._log_says_running(log_offset) and (self.prefix or self._accepts_connections()):
                return
            if time.monotonic() > deadline:
                self._kill_proc()
                raise BrokerStartError(
                    f"mosquitto did not accept connections on port {self._port} within "
                    f"{self.start_timeout:.1f} s\n{self._diagnostics(log_offset)}"
                )
            time.sleep(0.01)

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection((self.host, self._port), timeout=0.5):
                return True
        except OSError:
            return False

    def _log_says_running(self, offset: int) -> bool:
        """The port could belong to another process that won a race for it: mosquitto logs
        "running" (an information line) once its own listener is open."""
        if not {"all", "information"} & set(self.log_types):
            return True
        return " running" in self._read(self.log_path, offset)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (mosquitto saves its persistence database), then wait; SIGKILL if it hangs."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._forget(proc)

    def reload(self) -> None:
        """SIGHUP: mosquitto rereads its config, password and ACL files."""
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError("mosquitto is not running")
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "Reloading config" not in self._read(self.log_path, offset):
            if time.monotonic() > deadline or not {"all", "information"} & set(self.log_types):
                return  # cannot tell from this log; mosquitto handles the signal promptly
            time.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL and wait: nothing is saved, as after a crash or power loss."""
        self._kill_proc()

    def restart(self, wipe_persistence: bool = False) -> Mosquitto:
        """Stop (gracefully) and start again on the same port."""
        self.stop()
        if wipe_persistence and self.persistence_dir.exists():
            shutil.rmtree(self.persistence_dir)
        return self.start()

    def close(self) -> None:
        """Kill the broker if it runs; remove the work directory if this object created it."""
        self._kill_proc()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _kill_proc(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._forget(proc)

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        with _live_lock:
            _live.discard(proc)
        if self._proc is proc:
            self._proc = None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- logs ------------------------------------------------------------------------------

    def log_text(self) -> str:
        return self._read(self.log_path, 0)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _diagnostics(self, log_offset: int) -> str:
        log = "\n".join(self._read(self.log_path, log_offset).splitlines()[-30:])
        err = "\n".join(self._read(self.stderr_path, 0).splitlines()[-10:])
        return (
            f"config {self.config_path}\n--- log tail ---\n{log or '(empty)'}\n"
            f"--- stderr tail ---\n{err or '(empty)'}"
        )

    @staticmethod
    def _read(path: Path, offset: int) -> str:
        try:
            with path.open("rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<Mosquitto {self.url} {state}>"
