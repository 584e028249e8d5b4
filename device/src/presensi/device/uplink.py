"""The station's uplink: delivers journal records to the hub over MQTT until the hub acks them.

The only module of the station that touches paho-mqtt. One worker thread owns the paho client
(network I/O, publishing, reconnecting), and a journal connection of its own, so the scan loop
never waits for the network: it only calls `wake()`.

Delivery: batches of records signed with the station key go out at QoS 1 on a persistent
session, a window of `window` batches at a time. The broker's PUBACK means nothing here: only the
hub's cumulative ack ({"upto": N}, sent after its database commit) moves the journal's acked
mark. Without progress for `resend_s`, everything after the mark is sent again (the hub absorbs
duplicates). Reconnects back off exponentially with full jitter, so a fleet coming back after an
outage does not hit the broker in one wave.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from presensi.device.config import UplinkSection
from presensi.device.files import json_version, write_atomically
from presensi.device.journal import Journal
from presensi.protocol import topics, wire
from presensi.protocol.errors import ProtocolError
from presensi.protocol.fleet import open_document
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.parts import part_version

log = logging.getLogger(__name__)

# what the station reports in its birth message and telemetry
SOFTWARE_VERSION = part_version("presensi-device")
CONNACK_WAIT_S = 10.0


@dataclass
class UplinkState:
    connected: bool = False
    acked_upto: int = 0
    sent_upto: int = 0
    batches_sent: int = 0
    resends: int = 0
    connects: int = 0
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
        self.boot_id = boot_id
        self.state = UplinkState()
        self._journal_path = journal_path
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._inflight: deque[int] = deque()  # last seq of each batch awaiting an ack
        self._last_progress = time.monotonic()
        self._lock = threading.Lock()
        self._delay = settings.reconnect_min_s
        self._next_attempt = 0.0
        self._acks: deque[int] = deque()
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

    # -- worker ------------------------------------------------------------------------------

    def _topic(self, kind: topics.Kind) -> str:
        return topics.station_topic(self.station, kind)

    def _status(self, state: str) -> bytes:
        return wire.encode(
            wire.Status(state, self.boot_id, SOFTWARE_VERSION, time.time_ns() // 1_000_000)
        )

    def _run(self) -> None:
        journal = Journal(self._journal_path, self.station, min_free_bytes=0, check_integrity=False)
        self.state.acked_upto = journal.acked_upto
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
                self._apply_acks(journal)
                if self.state.connected:
                    self._pump(journal)
                    if now >= next_telemetry:
                        self._publish_telemetry(journal)
                        next_telemetry = now + self.settings.telemetry_s
                if not self.state.connected:
                    self._wake.wait(0.05)
                self._wake.clear()
        finally:
            self._shutdown()
            journal.close()

    def _back_off(self) -> None:
        """Full jitter: the next try anywhere in [min, delay], the delay doubling to the cap."""
        low = self.settings.reconnect_min_s
        self._next_attempt = time.monotonic() + random.uniform(low, max(low, self._delay))
        self._delay = min(self._delay * 2, self.settings.reconnect_max_s)

    def _connect(self) -> bool:
        try:
            self._client.connect(self._host, self._port, keepalive=self.settings.keepalive_s)
        except OSError as exc:
            log.debug("broker %s:%s unreachable: %s", self._host, self._port, exc)
            return False
        return True

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
            log.warning("broker refused the connection: %s", reason)
            return
        self.state.connected = True
        self.state.connects += 1
        self._delay = self.settings.reconnect_min_s
        self.state.sent_upto = self.state.acked_upto  # resend what was not acked
        self._inflight.clear()
        self._last_progress = time.monotonic()
        subs = [(self._topic(k), 1) for k in ("ack", "config", "cmd")]
        subs += [(topics.FLEET_KEYS, 1), (topics.FLEET_REVOCATIONS, 1)]
        client.subscribe(subs)
        client.publish(self._topic("status"), self._status("online"), qos=1, retain=True)
        log.info("connected to %s:%s", self._host, self._port)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self.state.connected:
            log.warning("disconnected from the broker: %s", reason)
        self.state.connected = False
        self._back_off()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            if message.topic == self._topic("ack"):
                self._acks.append(wire.decode(message.payload, wire.Ack).upto)
            elif message.topic == self._topic("config") and self.on_config is not None:
                self.on_config(wire.decode(message.payload, wire.StationSettings))
            elif message.topic == topics.FLEET_REVOCATIONS:
                self._apply_fleet("revocations", message.payload)
            elif message.topic == topics.FLEET_KEYS:
                self._apply_fleet("keys", message.payload)
        except ProtocolError as exc:
            log.warning("ignoring a bad message on %s: %s", message.topic, exc)

    # -- delivery ------------------------------------------------------------------------------

    def _apply_acks(self, journal: Journal) -> None:
        if not self._acks:
            return
        upto = max(self._acks)
        self._acks.clear()
        if upto <= self.state.acked_upto:
            return
        self.state.acked_upto = journal.ack(upto)
        self._last_progress = time.monotonic()
        while self._inflight and self._inflight[0] <= self.state.acked_upto:
            self._inflight.popleft()
        self.state.sent_upto = max(self.state.sent_upto, self.state.acked_upto)

    def _pump(self, journal: Journal) -> None:
        now = time.monotonic()
        if self._inflight and now - self._last_progress > self.settings.resend_s:
            log.info(
                "no ack for %.0f s: resending after %d",
                now - self._last_progress,
                self.state.acked_upto,
            )
            self.state.sent_upto = self.state.acked_upto
            self._inflight.clear()
            self._last_progress = now
            self.state.resends += 1
        while len(self._inflight) < self.settings.window:
            records = journal.pending(self.state.sent_upto, self.settings.batch_size)
            if not records:
                return
            floor = max(self.state.acked_upto, journal.base[0])
            payload = wire.sign_batch(wire.Batch(1, self.station, floor, records), self.key)
            while len(payload) > wire.MAX_BATCH_BYTES and len(records) > 1:
                records = records[: len(records) // 2]  # the hub refuses larger messages
                payload = wire.sign_batch(wire.Batch(1, self.station, floor, records), self.key)
            info = self._client.publish(self._topic("scans"), payload, qos=1)
            if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
                return  # not connected after all; the next connect resends
            self.state.sent_upto = records[-1].seq
            self.state.batches_sent += 1
            self._inflight.append(records[-1].seq)

    def _publish_telemetry(self, journal: Journal) -> None:
        newest = journal.newest_seq()
        pending = journal.pending(self.state.acked_upto, 1)
        disk = shutil.disk_usage(self._journal_path.parent)
        values: dict[str, Any] = {
            "ts_ms": time.time_ns() // 1_000_000,
            "last_seq": newest,
            "acked_upto": self.state.acked_upto,
            "backlog": max(0, newest - self.state.acked_upto),
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
