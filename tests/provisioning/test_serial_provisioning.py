"""Serial provisioning end to end: the laptop's flash() and the station's ProvisioningAgent, each
with the real pyserial on its own pseudo-terminal, joined by a relay thread in the middle.

    flash() -pyserial- /dev/pts/A [master A] <-relay-> [master B] /dev/pts/B -pyserial- agent

The relay is the cable: it can damage bytes on the way (a noisy line) and it can be pulled
(closing a master hangs up its slave and removes /dev/pts/N, as a USB unplug does). The agent
opens its port by a symlink, like /dev/serial/by-id/..., so it can be replugged to a new pty.
The agent runs in a thread with short timeouts; its self-test is the real one, on a simulated
camera and the console indicator named in the bundle's station.toml.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import pytest
from click.testing import CliRunner

from presensi.demo.mosquitto import free_port
from presensi.device import provisioning_agent, testbed
from presensi.device.cli import station as station_command
from presensi.device.provisioning_agent import (
    ProvisioningAgent,
    install_config_dir,
    previous_dir,
    recover_config_dir,
)
from presensi.device.selftest import format_report, run_self_test
from presensi.hardware.errors import SerialPortError
from presensi.hardware.indicator import Signal
from presensi.hardware.serial_port import open_serial_port
from presensi.protocol.errors import ProtocolError
from presensi.protocol.serial_frames import (
    FrameType,
    Link,
    Message,
    encode_chunk,
    encode_json,
)
from presensi.provisioning.serial_cli import flash as flash_command
from presensi.provisioning.serial_flash import (
    BundleError,
    ChecksumError,
    ConnectionLost,
    FileChecksumError,
    StationRefused,
    WrongStation,
    flash,
    read_bundle,
)

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="pty behaviour checked on Linux"),
    pytest.mark.timeout(60),
]

ACK_TIMEOUT = 0.2
IDLE_TIMEOUT = 1.0


class Fast(TypedDict):
    ack_timeout: float
    timeout: float
    report_timeout: float


FAST = Fast(ack_timeout=ACK_TIMEOUT, timeout=3.0, report_timeout=20.0)


# -- the cable -------------------------------------------------------------------------------------


class Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        # raw from the start: before pyserial opens the slave, a cooked pty would echo
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.plugged = True

    def unplug(self) -> None:
        if self.plugged:
            self.plugged = False
            os.close(self.master)

    def close(self) -> None:
        self.unplug()
        os.close(self.slave)


Mangle = Callable[[bytes], bytes]


class Relay:
    """Copies bytes between the laptop's and the station's pty; can damage them or be pulled."""

    def __init__(self) -> None:
        self.laptop = Pty()
        self.station = Pty()
        self.to_station: Mangle | None = None
        self.to_laptop: Mangle | None = None
        self.chunks_to_station = 0
        self.pull_laptop_after: int | None = None  # pull the laptop's end after so many chunks
        self.pull_station_after: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._old: list[Pty] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                ends = [p for p in (self.laptop, self.station) if p.plugged]
                ready, _, _ = select.select([p.master for p in ends], [], [], 0.01)
                for fd in ready:
                    self._move(fd)
            time.sleep(0)  # let unplug() and replug() have the lock

    def _move(self, fd: int) -> None:
        from_laptop = fd == self.laptop.master
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if from_laptop:
            self.chunks_to_station += 1
            if self.to_station is not None:
                data = self.to_station(data)
        elif self.to_laptop is not None:
            data = self.to_laptop(data)
        dest = self.station if from_laptop else self.laptop
        if data and dest.plugged:
            with_view = memoryview(data)
            while with_view:
                with_view = with_view[os.write(dest.master, with_view) :]
        if from_laptop and self.pull_laptop_after == self.chunks_to_station:
            self.laptop.unplug()
        if from_laptop and self.pull_station_after == self.chunks_to_station:
            self.station.unplug()

    def replug_laptop(self) -> None:
        with self._lock:
            self._old.append(self.laptop)
            self.laptop = Pty()
            self.pull_laptop_after = None

    def replug_station(self) -> Pty:
        with self._lock:
            self._old.append(self.station)
            self.station = Pty()
            self.pull_station_after = None
            return self.station

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for pty in [self.laptop, self.station, *self._old]:
            pty.close()


def flip_a_bit(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x04
    return bytes(damaged)


def every(n: int, mangle: Mangle, *, limit: int | None = None, skip: int = 0) -> Mangle:
    """Apply `mangle` to every n-th chunk after the first `skip`, at most `limit` times."""
    count = applied = 0

    def run(data: bytes) -> bytes:
        nonlocal count, applied
        count += 1
        if count > skip and (count - skip) % n == 0 and (limit is None or applied < limit):
            applied += 1
            return mangle(data)
        return data

    return run


# -- bundles and stations --------------------------------------------------------------------------


def write_manifest(folder: Path) -> None:
    entries = [
        {
            "path": p.name,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            "size": p.stat().st_size,
            "mode": "0600" if p.name in {"station.key", "broker.password"} else "0644",
        }
        for p in sorted(folder.iterdir())
        if p.name != "manifest.json"
    ]
    manifest = {"format": "presensi-bundle/1", "station": folder.name, "files": entries}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def make_bundle(org: Path, station: str, **toml_changes: str) -> Path:
    """org/stations/<station>/ as enrollment makes it, plus the sim camera's badges.txt."""
    folder = org / "stations" / station
    testbed.create(
        folder,
        station=station,
        employees=2,
        camera="sim",
        indicator="console",
        broker=f"mqtt://127.0.0.1:{free_port()}",  # nobody listens there
    )
    config = folder / "station.toml"
    text = config.read_text()
    for old, new in toml_changes.items():
        text = text.replace(old, new)
    config.write_text(text)
    (folder / "broker.password").write_text("not-a-real-password\n")
    (folder / "README.txt").write_text(f"Presensi station bundle: {station}\n")
    write_manifest(folder)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def staging_left(target: Path) -> list[str]:
    return [p.name for p in target.parent.iterdir() if ".staging-" in p.name]


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@dataclass
class Rig:
    relay: Relay
    agent: ProvisioningAgent
    target: Path
    org: Path
    port_link: Path  # the station's port, as a stable symlink to its pty
    self_test_parts: dict[str, Any]

    @property
    def laptop_port(self) -> str:
        return self.relay.laptop.path

    def provisioned(self, station: str) -> dict[str, bytes]:
        """Give the station a config of its own (as if provisioned before); return it."""
        old = make_bundle(self.org / "old", station)
        self.target.mkdir(parents=True)
        for path in old.iterdir():
            (self.target / path.name).write_bytes(path.read_bytes())
        (self.target / "journal.db").write_bytes(b"the station's own records")
        return snapshot(self.target)

    def back_to_waiting(self) -> bool:
        """The agent dropped the session and its staging folder, and listens again."""
        return wait_until(
            lambda: (
                not self.agent.in_session
                and not staging_left(self.target)
                and self.agent.ready.is_set()
            )
        )


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    relay = Relay()
    port_link = tmp_path / "ttyGS0"
    port_link.symlink_to(relay.station.path)
    target = tmp_path / "etc" / "presensi"
    target.parent.mkdir()
    parts: dict[str, Any] = {}
    agent = ProvisioningAgent(
        str(port_link),
        target,
        self_test=lambda path: run_self_test(path, **parts),
        ack_timeout=ACK_TIMEOUT,
        idle_timeout=IDLE_TIMEOUT,
        reopen_s=0.05,
    )
    stop = threading.Event()
    thread = threading.Thread(target=agent.serve, args=(stop,), daemon=True)
    thread.start()
    assert agent.ready.wait(5.0)
    try:
        yield Rig(relay, agent, target, tmp_path / "org", port_link, parts)
    finally:
        stop.set()
        thread.join(10.0)
        relay.close()
    assert not thread.is_alive()


def checks_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


# -- a good flash ----------------------------------------------------------------------------------


def test_a_new_station_is_provisioned_and_tested(rig: Rig) -> None:
    bundle = make_bundle(rig.org, "st-pool-01")
    lines: list[str] = []
    report = flash(rig.laptop_port, bundle, "st-pool-01", progress=lines.append, **FAST)

    # the files are in place, with the modes of the manifest
    assert snapshot(rig.target) == snapshot(bundle)
    assert (rig.target / "station.key").stat().st_mode & 0o777 == 0o600
    assert (rig.target / "station.toml").stat().st_mode & 0o777 == 0o644
    assert rig.target.stat().st_mode & 0o777 == 0o700
    assert staging_left(rig.target) == []
    assert rig.agent.last_report is not None

    # the report: returned, saved next to the bundle, and complete
    saved_path = Path(report["report_file"])
    assert saved_path.parent == bundle.parent
    assert saved_path.name.startswith("st-pool-01.report-")
    saved = json.loads(saved_path.read_text())
    assert saved == {k: v for k, v in report.items() if k != "report_file"}
    assert report["station_id"] == "st-pool-01"
    assert (
        report["flash"]["manifest_sha256"]
        == hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    )
    checks = checks_of(report)
    assert {"config", "camera", "journal", "broker", "clock"} <= set(checks)
    assert {f"signal {s}" for s in Signal} <= set(checks)
    assert all(set(c) == {"name", "ok", "detail", "ms"} for c in report["checks"])
    assert checks["journal"]["ok"]
    assert checks["camera"]["ok"] and "640x480" in checks["camera"]["detail"]
    assert checks["clock"]["ok"]
    # an unreachable broker is reported, not an error
    assert not checks["broker"]["ok"]
    assert "127.0.0.1" in checks["broker"]["detail"]
    assert report["ok"] is False
    # the self-test's journal was temporary: nothing is left of it
    assert sorted(p.name for p in rig.target.iterdir()) == sorted(snapshot(bundle))
    assert any("sending station.toml" in line for line in lines)


def test_reprovisioning_keeps_the_stations_own_files(rig: Rig) -> None:
    before = rig.provisioned("st-pool-01")
    journal_inode = (rig.target / "journal.db").stat().st_ino
    bundle = make_bundle(rig.org, "st-pool-01", **{'mode = "auto"': 'mode = "in"'})

    flash(rig.laptop_port, bundle, "st-pool-01", **FAST)

    after = snapshot(rig.target)
    assert after["station.toml"] == (bundle / "station.toml").read_bytes()
    assert after["journal.db"] == b"the station's own records"  # carried over, same file
    assert (rig.target / "journal.db").stat().st_ino == journal_inode
    assert snapshot(previous_dir(rig.target)) == before  # the old config is kept aside


def test_the_indicator_pins_are_driven(rig: Rig) -> None:
    from gpiozero.pins.mock import MockFactory

    from presensi.hardware.indicator_gpio import GpioIndicator

    factory = MockFactory()
    indicator = GpioIndicator(17, 27, 22, pin_factory=factory, time_scale=0.01)
    rig.self_test_parts["indicator"] = indicator
    try:
        report = flash(rig.laptop_port, make_bundle(rig.org, "st-1"), "st-1", **FAST)
    finally:
        indicator.close()
    checks = checks_of(report)
    assert all(checks[f"signal {s}"]["ok"] for s in Signal)
    assert "buzzer" in checks["signal rejected"]["detail"]
    for pin in (17, 27, 22):  # each LED and the buzzer went on at least once
        assert any(state.state for state in factory.pin(pin).states), pin


# -- refused bundles -------------------------------------------------------------------------------


def test_a_wrong_station_id_is_refused_and_the_old_config_kept(rig: Rig) -> None:
    before = rig.provisioned("st-old-01")
    bundle = make_bundle(rig.org, "st-new-02")
    with pytest.raises(WrongStation) as caught:
        flash(rig.laptop_port, bundle, "st-new-02", **FAST)
    message = str(caught.value)
    assert "st-old-01" in message and "st-new-02" in message and "--replace" in message
    assert caught.value.details["current_station_id"] == "st-old-01"
    assert snapshot(rig.target) == before
    assert rig.back_to_waiting()

    # --replace re-purposes it
    report = flash(rig.laptop_port, bundle, "st-new-02", replace=True, **FAST)
    assert report["station_id"] == "st-new-02"
    assert snapshot(rig.target)["station.toml"] == (bundle / "station.toml").read_bytes()


def test_an_invalid_config_is_refused_with_the_reason(rig: Rig) -> None:
    before = rig.provisioned("st-1")
    bundle = make_bundle(rig.org, "st-1", **{'mode = "auto"': 'mode = "sideways"'})
    with pytest.raises(StationRefused) as caught:
        flash(rig.laptop_port, bundle, "st-1", **FAST)
    assert caught.value.code == "invalid-config"
    assert "station.toml" in str(caught.value) and "mode" in str(caught.value)
    assert str(rig.target.parent) not in str(caught.value)  # no staging path in the message
    assert snapshot(rig.target) == before
    assert rig.back_to_waiting()


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda b: (b / "station.key").write_text("changed after enrollment"), "SHA-256"),
        (lambda b: (b / "org-keys.json").unlink(), "cannot be read"),
        (lambda b: (b / "manifest.json").write_text("{"), "not JSON"),
    ],
    ids=["changed file", "missing file", "bad manifest"],
)
def test_a_damaged_bundle_is_caught_on_the_laptop(
    rig: Rig, damage: Callable[[Path], object], match: str
) -> None:
    bundle = make_bundle(rig.org, "st-1")
    damage(bundle)
    with pytest.raises(BundleError, match=match):
        flash(rig.laptop_port, bundle, "st-1", **FAST)
    assert not rig.target.exists()


def test_a_bundle_file_that_is_a_link_is_never_sent(rig: Rig, tmp_path: Path) -> None:
    """A bundle whose station.key is a link to a secret of the admin's machine (with a manifest
    to match): the flasher refuses it instead of sending the secret to the station."""
    secret = tmp_path / "admin-secret.key"
    secret.write_text("the organisation's badge-signing key\n")
    bundle = make_bundle(rig.org, "st-1")
    (bundle / "station.key").unlink()
    (bundle / "station.key").symlink_to(secret)
    write_manifest(bundle)  # the manifest even vouches for it
    with pytest.raises(BundleError, match="is a link or lies outside the bundle"):
        flash(rig.laptop_port, bundle, "st-1", **FAST)
    assert not rig.target.exists()


def test_a_bundle_for_another_station_is_caught_on_the_laptop(rig: Rig) -> None:
    bundle = make_bundle(rig.org, "st-1")
    with pytest.raises(BundleError, match="for station 'st-1', not 'st-2'"):
        flash(rig.laptop_port, bundle, "st-2", **FAST)
    with pytest.raises(BundleError, match="no enrollment bundle"):
        read_bundle(rig.org / "stations" / "st-9")


def test_a_missing_port_is_a_port_error(rig: Rig, tmp_path: Path) -> None:
    bundle = make_bundle(rig.org, "st-1")
    with pytest.raises(SerialPortError, match="ttyUSB7 not found"):
        flash(str(tmp_path / "ttyUSB7"), bundle, "st-1", **FAST)


# -- the station's own checks, driven by a hand-made laptop ----------------------------------------


@pytest.fixture
def raw(rig: Rig) -> Iterator[Link]:
    port = open_serial_port(rig.laptop_port, 115200, timeout=0.05)
    try:
        yield Link(port, name="laptop", ack_timeout=ACK_TIMEOUT)
    finally:
        port.close()


def answer(link: Link) -> Message:
    message = link.receive(3.0)
    assert message is not None
    return message


def hello(link: Link, station: str = "st-1") -> None:
    link.send_json(FrameType.HELLO, {"protocol": 1, "station_id": station, "session": "t"})
    assert answer(link).type is FrameType.HELLO_ACK


def send_file(link: Link, name: str, data: bytes, sha256: str | None = None) -> Message:
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    link.send_json(FrameType.FILE_BEGIN, {"name": name, "size": len(data), "sha256": sha256})
    link.send(FrameType.FILE_CHUNK, encode_chunk(0, data))
    link.send_json(FrameType.FILE_END, {"name": name})
    return answer(link)


def error_of(message: Message) -> dict[str, Any]:
    assert message.type is FrameType.ERROR, message
    return message.json()


def test_a_file_not_matching_its_checksum_is_refused(rig: Rig, raw: Link) -> None:
    hello(raw)
    error = error_of(send_file(raw, "station.toml", b"[station]\n", sha256="0" * 64))
    assert error["code"] == "checksum" and "station.toml" in error["message"]
    assert rig.back_to_waiting()
    assert not rig.target.exists()


def test_the_manifest_is_checked_against_the_files(rig: Rig, raw: Link) -> None:
    bundle = make_bundle(rig.org, "st-1")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][0]["sha256"] = "1" * 64  # README.txt no longer matches
    hello(raw)
    for entry in manifest["files"]:
        reply = send_file(raw, entry["path"], (bundle / entry["path"]).read_bytes())
        assert reply.type is FrameType.RESULT
    manifest_bytes = json.dumps(manifest).encode()
    assert send_file(raw, "manifest.json", manifest_bytes).type is FrameType.RESULT
    raw.send_json(FrameType.COMMIT, {"manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest()})
    error = error_of(answer(raw))
    assert error["code"] == "checksum" and "README.txt" in error["message"]
    assert not rig.target.exists()
    assert rig.back_to_waiting()


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        ([(FrameType.FILE_BEGIN, {"name": "x", "size": 1, "sha256": "0" * 64})], "no-session"),
        ([(FrameType.HELLO, {"protocol": 99, "station_id": "st-1"})], "protocol-version"),
        ([(FrameType.HELLO, {"protocol": 1, "station_id": "../etc"})], "bad-request"),
    ],
    ids=["no hello", "protocol version", "bad station id"],
)
def test_requests_out_of_place_are_refused(
    rig: Rig, raw: Link, steps: list[tuple[FrameType, dict[str, Any]]], code: str
) -> None:
    for kind, payload in steps:
        raw.send_json(kind, payload)
    assert error_of(answer(raw))["code"] == code


@pytest.mark.parametrize(
    ("begin", "chunk", "code"),
    [
        ({"name": "../x", "size": 1}, None, "protocol"),
        ({"name": "big", "size": 2 << 20}, None, "too-large"),
        ({"name": "a", "size": 4}, encode_chunk(2, b"ab"), "protocol"),  # a gap
        ({"name": "a", "size": 1}, encode_chunk(0, b"ab"), "protocol"),  # too many bytes
    ],
    ids=["path", "too large", "offset gap", "overflow"],
)
def test_bad_files_are_refused(
    rig: Rig, raw: Link, begin: dict[str, Any], chunk: bytes | None, code: str
) -> None:
    hello(raw)
    raw.send_json(FrameType.FILE_BEGIN, {"sha256": "0" * 64, **begin})
    if chunk is not None:
        raw.send(FrameType.FILE_CHUNK, chunk)
    assert error_of(answer(raw))["code"] == code
    assert rig.back_to_waiting()


def test_abort_drops_the_session_at_once(rig: Rig, raw: Link) -> None:
    hello(raw)
    raw.send_json(FrameType.FILE_BEGIN, {"name": "a", "size": 4, "sha256": "0" * 64})
    assert rig.agent.in_session
    raw.send_control(FrameType.ABORT, encode_json({"reason": "installer pressed Ctrl-C"}))
    assert wait_until(lambda: not rig.agent.in_session, timeout=10)
    # the abort ended it, not the idle timeout (whatever the machine's load)
    assert "aborted (installer pressed Ctrl-C)" in rig.agent.last_drop_reason
    assert staging_left(rig.target) == []


# -- a bad line ------------------------------------------------------------------------------------


def test_damaged_frames_are_sent_again_and_the_flash_succeeds(rig: Rig) -> None:
    rig.relay.to_station = every(3, flip_a_bit, limit=8)
    rig.relay.to_laptop = every(4, flip_a_bit, limit=5)
    bundle = make_bundle(rig.org, "st-1")
    report = flash(rig.laptop_port, bundle, "st-1", chunk_size=128, **FAST)
    assert report["flash"]["retransmissions"] > 0
    assert snapshot(rig.target) == snapshot(bundle)


def test_line_noise_between_frames_is_skipped(rig: Rig) -> None:
    noise = b"\r\nRaspbian GNU/Linux 12 presensi ttyGS0\r\nlogin: \xa5\x00\xff"
    rig.relay.to_station = every(2, lambda data: noise + data)
    rig.relay.to_laptop = every(2, lambda data: data + noise)
    bundle = make_bundle(rig.org, "st-1")
    flash(rig.laptop_port, bundle, "st-1", **FAST)
    assert snapshot(rig.target) == snapshot(bundle)


def test_a_line_too_noisy_gives_a_checksum_error_and_keeps_the_old_config(rig: Rig) -> None:
    before = rig.provisioned("st-1")
    rig.relay.to_station = every(1, flip_a_bit, skip=3)  # after HELLO, everything is damaged
    bundle = make_bundle(rig.org, "st-1")
    with pytest.raises(ChecksumError, match="not delivered intact after 6 attempts") as caught:
        flash(rig.laptop_port, bundle, "st-1", **FAST)
    assert "cable" in str(caught.value)
    assert rig.back_to_waiting()  # after its idle timeout (the ABORT was damaged too)
    assert snapshot(rig.target) == before

    rig.relay.to_station = None  # a better cable
    flash(rig.laptop_port, bundle, "st-1", **FAST)
    assert snapshot(rig.target)["station.toml"] == (bundle / "station.toml").read_bytes()


# -- the cable pulled ------------------------------------------------------------------------------


def test_cable_pulled_from_the_laptop_mid_transfer(rig: Rig) -> None:
    before = rig.provisioned("st-1")
    bundle = make_bundle(rig.org, "st-1")
    rig.relay.pull_laptop_after = 6  # HELLO, then a few frames of the files
    start = time.monotonic()
    with pytest.raises(ConnectionLost) as caught:
        flash(rig.laptop_port, bundle, "st-1", chunk_size=64, **FAST)
    assert time.monotonic() - start < 3.0
    assert caught.value.port_gone
    assert "cable" in str(caught.value)
    assert isinstance(caught.value, ProtocolError)
    assert rig.agent.in_session  # mid-transfer: the station had begun receiving
    assert rig.back_to_waiting()
    assert snapshot(rig.target) == before

    rig.relay.replug_laptop()
    flash(rig.laptop_port, bundle, "st-1", **FAST)
    assert snapshot(rig.target)["station.toml"] == (bundle / "station.toml").read_bytes()


def test_cable_pulled_from_the_station_mid_transfer(rig: Rig) -> None:
    before = rig.provisioned("st-1")
    bundle = make_bundle(rig.org, "st-1")
    rig.relay.pull_station_after = 6
    with pytest.raises(ConnectionLost, match=r"no (answer|confirmation)") as caught:
        flash(rig.laptop_port, bundle, "st-1", chunk_size=64, **FAST)
    assert not caught.value.port_gone  # the laptop's port is fine; the station went silent
    assert wait_until(lambda: not rig.agent.ready.is_set())  # the agent lost its port
    assert not rig.agent.in_session
    assert staging_left(rig.target) == []
    assert snapshot(rig.target) == before

    # plugged in again (a new /dev/pts, the same by-id link): the agent reopens and listens
    new = rig.relay.replug_station()
    rig.port_link.unlink()
    rig.port_link.symlink_to(new.path)
    assert wait_until(rig.agent.ready.is_set)
    flash(rig.laptop_port, bundle, "st-1", **FAST)
    assert snapshot(rig.target)["station.toml"] == (bundle / "station.toml").read_bytes()


def test_no_station_on_the_line(rig: Rig) -> None:
    rig.relay.to_station = lambda _: b""  # a cable to nowhere
    bundle = make_bundle(rig.org, "st-1")
    with pytest.raises(ConnectionLost, match="no provisioning agent answers") as caught:
        flash(rig.laptop_port, bundle, "st-1", retries=1, **FAST)
    assert "provision-agent" in str(caught.value)


# -- the command line ------------------------------------------------------------------------------


def test_flash_command_prints_the_report_table(rig: Rig) -> None:
    make_bundle(rig.org, "st-1")
    result = CliRunner().invoke(
        flash_command,
        ["--port", rig.laptop_port, "--station", "st-1", "--org", str(rig.org), "--timeout", "3"],
    )
    assert result.exit_code == 1, result.output  # provisioned, but the broker check failed
    assert "✔ journal" in result.output
    assert "✘ broker" in result.output
    assert "sending station.toml" in result.output
    assert "checks failed. The station is provisioned" in result.output
    assert "Report saved to" in result.output and "st-1.report-" in result.output


def test_flash_command_errors(rig: Rig) -> None:
    rig.provisioned("st-old")
    make_bundle(rig.org, "st-1")
    args = ["--port", rig.laptop_port, "--station", "st-1", "--org", str(rig.org)]
    result = CliRunner().invoke(flash_command, args)
    assert result.exit_code == 2
    assert "error:" in result.output and "--replace" in result.output
    result = CliRunner().invoke(flash_command, [*args, "--replace"])
    assert result.exit_code == 1, result.output


def test_provision_agent_command_once(tmp_path: Path) -> None:
    relay = Relay()
    target = tmp_path / "presensi"
    outcome: list[object] = []

    def agent() -> None:
        try:
            station_command.main(
                [
                    "provision-agent",
                    "--port",
                    relay.station.path,
                    "--config-dir",
                    str(target),
                    "--once",
                ],
                standalone_mode=False,
            )
            outcome.append("done")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome.append(exc)

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    try:
        bundle = make_bundle(tmp_path / "org", "st-1")
        report = flash(relay.laptop.path, bundle, "st-1", timeout=5.0, report_timeout=20.0)
        thread.join(10.0)
    finally:
        relay.close()
    assert outcome == ["done"]
    assert checks_of(report)["camera"]["ok"]
    assert snapshot(target) == snapshot(bundle)


def test_format_report_without_unicode() -> None:
    report = {
        "station_id": "st-1",
        "checks": [
            {"name": "clock", "ok": True, "detail": "synchronised", "ms": 1},
            {"name": "broker", "ok": False, "detail": "refused", "ms": 2},
        ],
    }
    text = format_report(report, unicode=False)
    assert "OK   clock   synchronised (1 ms)" in text
    assert "FAIL broker  refused (2 ms)" in text
    assert "1 of 2 checks failed" in text
    assert text.isascii()


# -- installing the folder -------------------------------------------------------------------------


def folder_with(path: Path, content: str) -> Path:
    path.mkdir()
    (path / "station.toml").write_text(content)
    return path


@pytest.mark.parametrize("exchange", [True, False], ids=["rename-exchange", "two-renames"])
def test_install_config_dir(tmp_path: Path, exchange: bool) -> None:
    target = tmp_path / "presensi"
    install_config_dir(folder_with(tmp_path / "s1", "one"), target, exchange=exchange)
    assert (target / "station.toml").read_text() == "one"
    install_config_dir(folder_with(tmp_path / "s2", "two"), target, exchange=exchange)
    install_config_dir(folder_with(tmp_path / "s3", "three"), target, exchange=exchange)
    assert (target / "station.toml").read_text() == "three"
    assert (previous_dir(target) / "station.toml").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".presensi.previous", "presensi"]


def test_install_failure_keeps_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = folder_with(tmp_path / "presensi", "old")
    staging = folder_with(tmp_path / "staging", "new")
    real_rename = Path.rename

    def failing_rename(self: Path, dest: Path) -> Path:
        if self == staging:
            raise OSError(28, "No space left on device")
        return real_rename(self, dest)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError, match="No space"):
        install_config_dir(staging, target, exchange=False)
    assert (target / "station.toml").read_text() == "old"


@pytest.mark.parametrize("new_in_place", [False, True])
def test_recovery_after_a_power_cut_between_the_renames(tmp_path: Path, new_in_place: bool) -> None:
    target = tmp_path / "presensi"
    folder_with(tmp_path / ".presensi.swap-old", "old")
    folder_with(tmp_path / ".presensi.staging-abc", "half")
    if new_in_place:
        folder_with(target, "new")
    recover_config_dir(target)
    assert (target / "station.toml").read_text() == ("new" if new_in_place else "old")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ([".presensi.previous", "presensi"] if new_in_place else ["presensi"])


def test_current_station_id(tmp_path: Path) -> None:
    assert provisioning_agent.current_station_id(tmp_path) is None
    (tmp_path / "station.toml").write_text('[station]\nid = "st-7"\nbogus = 1\n')
    assert (
        provisioning_agent.current_station_id(tmp_path) == "st-7"
    )  # invalid, but it says who it is
    (tmp_path / "station.toml").write_text("not toml [")
    assert provisioning_agent.current_station_id(tmp_path) is None


def test_file_checksum_error_is_both_kinds() -> None:
    assert issubclass(FileChecksumError, StationRefused)
    assert issubclass(FileChecksumError, ChecksumError)
