"""The station's uplink: delivers journal records to the hub over MQTT until the hub acks them.

The only module of the station that touches paho-mqtt. One worker thread owns the paho client
(network I/O, publishing, reconnecting), and a journal connection of its own, so the scan loop
never waits for the network: it only calls `wake()`.

Delivery: batches of one journal's records signed with the station key go out at QoS 1 on a
persistent session, a window of `window` batches at a time, oldest journal first. The broker's
PUBACK means nothing here: only the hub's cumulative ack ({"journal", "upto", "hash"}, sent after
its database commit, retained) moves a journal's acked mark, and only when this file holds the
very record the hub names. Without progress for `resend_s`, everything after the mark is sent
again (the hub absorbs duplicates). Reconnects back off exponentially with full jitter, so a
fleet coming back after an outage does not hit the broker in one wave.

The retained ack is also how a station learns, on connecting, that the hub holds more of its
current journal than its file does (the card was restored from an old image, or cloned), or
that the hub keeps its records as a branch beside another history: it then starts a new
journal before it numbers another scan (Journal.rotate), and keeps delivering the old one.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from presensi.device.config import UplinkSection
from presensi.device.errors import JournalError
from presensi.device.files import json_version, write_atomically
from presensi.device.journal import AckOutcome, Journal, JournalInfo
from presensi.protocol import topics, wire
from presensi.protocol.backoff import Backoff
from presensi.protocol.errors import ProtocolError
from presensi.protocol.fleet import open_document
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.parts import part_version

log = logging.getLogger(__name__)

# what the station reports in its birth message and telemetry
SOFTWARE_VERSION = part_version("presensi-device")
CONNACK_WAIT_S = 10.0
UNREACHABLE_LOG_S = 300.0


@dataclass
class UplinkState:
    connected: bool = False
    acked_upto: int = 0  # of the journal being delivered
    sent_upto: int = 0  # of the journal being delivered
    sending: str = ""  # the journal being delivered ("" when everything is acked)
    all_acked: bool = False  # every record of every journal was acked, when last looked
    batches_sent: int = 0
    resends: int = 0
    connects: int = 0
    rotations: int = 0  # journals this uplink retired (hub ahead, or a branch)
    foreign_acks: int = 0  # acks naming a record this file does not hold
    applied: dict[str, int] = field(default_factory=dict)  # fleet document kind -> version


@dataclass(frozen=True)
class FleetFiles:
    """Where verified fleet documents are written for the station to apply."""

    keys: Path
    revocations: Path
    trusted: Callable[[], KeyRing]  # the station's current key ring


class Uplink:
    def __init__(
        self,
        settings: UplinkSection,
        journal_path: Path,
        station: str,
        key: SigningKey,
        *,
        password: str = "",
        tls_files: dict[str, Path] | None = None,
        fleet: FleetFiles | None = None,
        telemetry: Callable[[], dict[str, Any]] | None = None,
        on_config: Callable[[wire.StationSettings], object] | None = None,
        on_event: Callable[[wire.EventSheet | None], object] | None = None,
        boot_id: str = "",
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        tls_files = tls_files or {}

        self.settings = settings
        self.station = station
        self.key = key
        self.fleet = fleet
        self.telemetry_source = telemetry
        self.on_config = on_config
        self.on_event = on_event
        self.boot_id = boot_id
        self.state = UplinkState()
        self._journal_path = journal_path
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._inflight: deque[int] = deque()  # last seq of each batch awaiting an ack
        self._last_progress = time.monotonic()
        self._lock = threading.Lock()
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._next_attempt = 0.0
        self._acks: deque[wire.Ack] = deque()
        self._failed_tries = 0
        self._last_unreachable_log = 0.0
        url = urlsplit(settings.broker)
        self._host, self._port = (
            url.hostname or "127.0.0.1",
            url.port or (8883 if url.scheme == "mqtts" else 1883),
        )
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=station,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if settings.username:
            client.username_pw_set(settings.username, password)
        if url.scheme == "mqtts":
            client.tls_set(
                ca_certs=str(tls_files.get("ca") or "") or None,
                certfile=str(tls_files.get("cert") or "") or None,
                keyfile=str(tls_files.get("key") or "") or None,
            )
        client.max_inflight_messages_set(max(20, settings.window * 2))
        client.max_queued_messages_set(0)
        client.will_set(self._topic("status"), self._status("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._mqtt = mqtt
        self._client = client
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)

    # -- public ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A record was stored: send it soon. Never blocks."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def alive(self) -> bool:
        """The worker thread runs (it survives broker, network and disk failures by design)."""
        return self._thread.is_alive()

    # -- worker ------------------------------------------------------------------------------

    def _topic(self, kind: topics.Kind) -> str:
        return topics.station_topic(self.station, kind)

    def _status(self, state: str) -> bytes:
        return wire.encode(
            wire.Status(state, self.boot_id, SOFTWARE_VERSION, time.time_ns() // 1_000_000)
        )

    def _run(self) -> None:
        journal = self._open_journal()
        next_telemetry = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if not self.state.connected and now >= self._next_attempt:
                    if self._connect():
                        # CONNECT is out: wait for the CONNACK (a second CONNECT on the same
                        # connection is a protocol error); a drop reschedules sooner
                        self._next_attempt = now + CONNACK_WAIT_S
                    else:
                        self._back_off()
                self._client.loop(timeout=0.05)
                if not self._apply_acks(journal):
                    self._stop.wait(1.0)  # the file cannot be written now: keep the acks, retry
                    continue
                if self.state.connected:
                    try:
                        self._pump(journal)
                        if now >= next_telemetry:
                            self._publish_telemetry(journal)
                            next_telemetry = now + self.settings.telemetry_s
                    except (JournalError, sqlite3.Error, OSError) as exc:
                        log.error("uplink cannot read the journal now (retrying): %s", exc)
                        self._stop.wait(1.0)
                if not self.state.connected:
                    self._wake.wait(0.05)
                self._wake.clear()
        finally:
            self._shutdown()
            journal.close()

    def _open_journal(self) -> Journal:
        """The uplink's own connection to the journal file; waits while it cannot be opened."""
        while True:
            try:
                return Journal(
                    self._journal_path, self.station, min_free_bytes=0, check_integrity=False
                )
            except JournalError as exc:
                log.error("uplink cannot open the journal (retrying in 5 s): %s", exc)
                if self._stop.wait(5.0):
                    raise

    def _back_off(self) -> None:
        """Full jitter (presensi.protocol.backoff): the first retry after a drop anywhere in
        [0, 2 * reconnect_min_s], the bound doubling after each failed try to reconnect_max_s."""
        self._next_attempt = time.monotonic() + self._backoff.next()

    def _connect(self) -> bool:
        try:
            self._client.connect(self._host, self._port, keepalive=self.settings.keepalive_s)
        except OSError as exc:
            self._unreachable(str(exc))
            return False
        return True

    def _unreachable(self, why: str) -> None:
        """Say that the broker cannot be reached: at once, then every 5 minutes while it lasts
        (an operator reading journalctl sees it; the log does not fill up)."""
        self._failed_tries += 1
        now = time.monotonic()
        if self._failed_tries == 1 or now - self._last_unreachable_log >= UNREACHABLE_LOG_S:
            log.warning(
                "broker %s:%s unreachable (%s); trying again with backoff (%d tries); "
                "scans are kept in the journal",
                self._host,
                self._port,
                why,
                self._failed_tries,
            )
            self._last_unreachable_log = now

    def _shutdown(self) -> None:
        """Say "offline" (best effort: the last will covers a connection already gone)."""
        if not self.state.connected:
            return
        info = self._client.publish(self._topic("status"), self._status("offline"), 1, True)
        deadline = time.monotonic() + 2
        try:
            while not info.is_published() and time.monotonic() < deadline:
                self._client.loop(0.05)
        except RuntimeError as exc:  # paho: the connection was lost while publishing
            log.debug("offline status not sent: %s", exc)
        self.state.connected = False
        self._client.disconnect()
        self._client.loop(0.1)

    # -- paho callbacks (run inside _client.loop, on the worker thread) -----------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._unreachable(f"the broker refused the login: {reason}")
            return
        self.state.connected = True
        self.state.connects += 1
        self._backoff.reset()
        self.state.sent_upto = self.state.acked_upto  # resend what was not acked
        self.state.sending = ""  # pick the journal again
        self._inflight.clear()
        self._last_progress = time.monotonic()
        subs = [(self._topic(k), 1) for k in ("ack", "config", "cmd", "event")]
        subs += [(topics.FLEET_KEYS, 1), (topics.FLEET_REVOCATIONS, 1)]
        client.subscribe(subs)
        client.publish(self._topic("status"), self._status("online"), qos=1, retain=True)
        if self._failed_tries:
            log.warning(
                "connected to %s:%s after %d failed tries",
                self._host,
                self._port,
                self._failed_tries,
            )
        else:
            log.info("connected to %s:%s", self._host, self._port)
        self._failed_tries = 0

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self.state.connected:
            log.warning("disconnected from the broker: %s", reason)
        self.state.connected = False
        self._back_off()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        """Whatever arrives on a subscribed topic is checked and applied, or logged and dropped:
        nothing raised here may leave paho's callback (the uplink would die, and the broker
        would redeliver the same poison on the next session, forever)."""
        try:
            self._receive(message.topic, bytes(message.payload))
        except ProtocolError as exc:
            log.warning("ignoring a bad message on %s: %s", message.topic, exc)
        except Exception:  # a message that got past the checks: a bug, but never fatal
            log.exception("ignoring a message on %s that could not be applied", message.topic)

    def _receive(self, topic: str, payload: bytes) -> None:
        if topic == self._topic("ack"):
            self._acks.append(wire.decode(payload, wire.Ack))
        elif topic == self._topic("config") and self.on_config is not None:
            self.on_config(wire.decode(payload, wire.StationSettings))
        elif topic == self._topic("event") and self.on_event is not None:
            # the event sheet; an empty retained message withdraws it
            self.on_event(wire.decode(payload, wire.EventSheet) if payload else None)
        elif topic == topics.FLEET_REVOCATIONS:
            self._apply_fleet("revocations", payload)
        elif topic == topics.FLEET_KEYS:
            self._apply_fleet("keys", payload)

    # -- delivery ------------------------------------------------------------------------------

    def _apply_acks(self, journal: Journal) -> bool:
        """Apply the acks that arrived; False if the file could not take them (kept for later)."""
        while self._acks:
            ack = self._acks[0]
            try:
                outcome = journal.ack(ack.journal, ack.upto, ack.hash)
                self._after_ack(journal, ack, outcome)
            except JournalError as exc:
                log.error("cannot record the hub's ack (will retry): %s", exc)
                return False
            self._acks.popleft()
        return True

    def _after_ack(self, journal: Journal, ack: wire.Ack, outcome: AckOutcome) -> None:
        current = journal.current
        if outcome is AckOutcome.ACKED:
            self._last_progress = time.monotonic()
            if ack.journal == self.state.sending:
                self.state.acked_upto = max(self.state.acked_upto, ack.upto)
                while self._inflight and self._inflight[0] <= self.state.acked_upto:
                    self._inflight.popleft()
                self.state.sent_upto = max(self.state.sent_upto, self.state.acked_upto)
            if ack.forked and ack.journal == current.id:
                self._rotate(journal, "the hub keeps this journal's records beside another history")
        elif outcome is AckOutcome.AHEAD and ack.journal == current.id:
            self._rotate(
                journal,
                f"the hub holds seq {ack.upto} of this journal, this file only "
                f"{current.newest_seq}: a restored or cloned card",
            )
        elif outcome is AckOutcome.MISMATCH:
            self.state.foreign_acks += 1
            log.warning(
                "the hub's record %d of journal %s is not this station's: another card "
                "with this station's identity? (ignored)",
                ack.upto,
                ack.journal,
            )

    def _rotate(self, journal: Journal, why: str) -> None:
        journal.rotate(why)
        self.state.rotations += 1

    def _target(self, journal: Journal) -> JournalInfo | None:
        """The journal to deliver: the oldest with unacked records."""
        pending = [info for info in journal.journals() if info.unacked > 0]
        self.state.all_acked = not pending
        return pending[0] if pending else None

    def _pump(self, journal: Journal) -> None:
        now = time.monotonic()
        if self._inflight and now - self._last_progress > self.settings.resend_s:
            log.info(
                "no ack for %.0f s: resending journal %s after %d",
                now - self._last_progress,
                self.state.sending,
                self.state.acked_upto,
            )
            self.state.sent_upto = self.state.acked_upto
            self._inflight.clear()
            self._last_progress = now
            self.state.resends += 1
        target = self._target(journal)
        if target is None:
            self.state.sending = ""
            return
        if target.id != self.state.sending:
            self.state.sending = target.id
            self.state.acked_upto = self.state.sent_upto = max(target.acked_upto, target.base_seq)
            self._inflight.clear()
            self._last_progress = now
        while len(self._inflight) < self.settings.window:
            records = journal.pending(target.id, self.state.sent_upto, self.settings.batch_size)
            if not records:
                return
            payload = wire.sign_batch(wire.batch_of(self.station, target.id, records), self.key)
            while len(payload) > wire.MAX_BATCH_BYTES and len(records) > 1:
                records = records[: len(records) // 2]  # the hub refuses larger messages
                payload = wire.sign_batch(wire.batch_of(self.station, target.id, records), self.key)
            info = self._client.publish(self._topic("scans"), payload, qos=1)
            if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
                return  # not connected after all; the next connect resends
            self.state.sent_upto = records[-1].seq
            self.state.batches_sent += 1
            self._inflight.append(records[-1].seq)

    def _publish_telemetry(self, journal: Journal) -> None:
        infos = journal.journals()
        current = next(i for i in reversed(infos) if i.retired_ms is None)
        oldest = next((i for i in infos if i.unacked > 0), None)
        pending = journal.pending(oldest.id, oldest.acked_upto, 1) if oldest is not None else []
        disk = shutil.disk_usage(self._journal_path.parent)
        values: dict[str, Any] = {
            "ts_ms": time.time_ns() // 1_000_000,
            "last_seq": current.newest_seq,
            "acked_upto": current.acked_upto,
            "backlog": sum(i.unacked for i in infos),
            "journal": current.id,
            "journals": {
                i.id: wire.JournalState(i.newest_seq, i.acked_upto)
                for i in infos
                if i.unacked > 0 or i is current
            },
            "oldest_unacked_ms": pending[0].wall_ms if pending else None,
            "disk_free_mb": disk.free >> 20,
            "version": SOFTWARE_VERSION,
            "keys_version": self.state.applied.get("keys", 0),
            "revocations_version": self.state.applied.get("revocations", 0),
        }
        if self.telemetry_source is not None:
            values.update(self.telemetry_source())
        payload = wire.encode(wire.Telemetry(**values))
        self._client.publish(self._topic("telemetry"), payload, qos=0)

    # -- fleet documents -------------------------------------------------------------------

    def _apply_fleet(self, kind: str, payload: bytes) -> None:
        if self.fleet is None:
            return
        doc = open_document(payload, self.fleet.trusted(), kind)
        target = self.fleet.revocations if kind == "revocations" else self.fleet.keys
        current = json_version(target)
        if doc["version"] <= current:
            self.state.applied[kind] = current
            return
        body = {k: v for k, v in doc.items() if k != "kind"}
        if kind == "revocations":
            Revocations.from_json(body)  # validate before writing
        else:
            KeyRing.from_json(body)
        write_atomically(target, json.dumps(body).encode())
        self.state.applied[kind] = doc["version"]
        log.info("applied %s list version %d", kind, doc["version"])
