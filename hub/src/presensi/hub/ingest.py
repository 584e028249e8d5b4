"""Hub ingest: takes scan batches from every station exactly once, through any outage.

The only module of the hub that touches paho-mqtt. paho's network thread only queues what
arrives; one worker thread validates a group of messages, writes them to the store in one
transaction, and only then publishes each station's ack: the contiguous prefix the store has
committed. A malformed or hostile message never stops ingest: it lands in the rejects table
with its reason, and the sending station's good batches keep flowing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from presensi.hub.errors import HubError, StoreError
from presensi.hub.store import IngestResult, Store
from presensi.protocol import topics, wire
from presensi.protocol.errors import ProtocolError

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    messages: int = 0
    batches: int = 0
    records_inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    commits: int = 0
    acks: int = 0


@dataclass(frozen=True)
class _Message:
    topic: str
    payload: bytes
    received_ms: int


class Ingest:
    def __init__(
        self,
        store: Store,
        broker: str,
        *,
        client_id: str = "presensi-hub",
        username: str = "",
        password: str = "",
        share_group: str | None = None,
        max_group: int = 500,
        max_wait_s: float = 0.02,
        clean_session: bool = False,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.store = store
        self.share_group = share_group
        self.max_group = max_group
        self.max_wait_s = max_wait_s
        self.stats = IngestStats()
        self._queue: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._keys_loaded = 0.0
        self.connected = threading.Event()
        url = urlsplit(broker)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 1883
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        if username:
            client.username_pw_set(username, password)
        client.max_inflight_messages_set(100)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        self._worker = threading.Thread(target=self._work, name="ingest", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._worker.start()
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        self._worker.join(10)
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=1, retain=retain)

    # -- paho callbacks (paho's network thread) -----------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the hub: %s", reason)
            return
        client.subscribe(
            [
                (topics.subscription(kind, self.share_group), 1)
                for kind in ("scans", "status", "telemetry")
            ]
        )
        self.connected.set()
        log.info("hub connected to %s:%s", self._host, self._port)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("hub disconnected from the broker: %s", reason)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self._queue.put(
            _Message(message.topic, bytes(message.payload), time.time_ns() // 1_000_000)
        )

    # -- worker --------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            group = self._collect()
            if group:
                try:
                    self._handle(group)
                except Exception:
                    # a store failure: nothing was acked, so the stations will resend
                    log.exception("ingest of %d messages failed; stations will resend", len(group))
                    time.sleep(1)

    def _collect(self) -> list[_Message]:
        try:
            group = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.max_wait_s
        while len(group) < self.max_group:
            try:
                group.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return group

    def _handle(self, group: list[_Message]) -> None:
        self.stats.messages += len(group)
        batches: list[wire.Batch] = []
        for message in group:
            try:
                where = topics.parse(message.topic)
            except ProtocolError as exc:
                self._reject(message, None, str(exc))
                continue
            if where.kind == "scans":
                batch = self._open(message, where.station)
                if batch is not None:
                    batches.append(batch)
            elif where.kind == "status":
                self._status(message, where.station)
            elif where.kind == "telemetry":
                self._telemetry(message, where.station)
        if not batches:
            return
        result = self._store_batches(batches, group)
        self.stats.batches += len(batches)
        self.stats.commits += 1
        self.stats.records_inserted += result.inserted
        self.stats.duplicates += result.duplicates
        self._acknowledge(result)

    def _store_batches(self, batches: list[wire.Batch], group: list[_Message]) -> IngestResult:
        """One transaction for the whole group; if the store refuses it, find the batch it
        refuses (one transaction each) so that one unstorable batch cannot hold back the rest.
        If every batch fails on its own, the store itself is down: raise, ack nothing."""
        now = time.time_ns() // 1_000_000
        try:
            return self.store.ingest(batches, now)
        except StoreError as exc:
            if len(batches) == 1:
                raise
            log.warning(
                "store refused a group of %d batches (%s); trying one by one", len(batches), exc
            )
        merged = IngestResult([], 0, 0)
        failures: list[tuple[wire.Batch, StoreError]] = []
        for batch in batches:
            try:
                one = self.store.ingest([batch], now)
            except StoreError as refused:
                failures.append((batch, refused))
                continue
            merged = IngestResult(
                merged.acks + one.acks,
                merged.inserted + one.inserted,
                merged.duplicates + one.duplicates,
                merged.conflicts + one.conflicts,
                merged.branches + one.branches,
            )
        if len(failures) == len(batches):
            raise failures[0][1]
        for batch, error in failures:
            topic = topics.station_topic(batch.station, "scans")
            first = batch.records[0].seq if batch.records else None
            self.store.reject(
                now, topic, batch.station, f"store refused the batch: {error}", b"", seq=first
            )
            self.stats.rejected += 1
        return merged

    def _acknowledge(self, result: IngestResult) -> None:
        """Tell each station what the store has committed (only ever after the commit), per
        journal, oldest journal first, retained, so the newest is what a station finds when it
        connects."""
        for ack in result.acks:
            payload = wire.encode(wire.Ack(ack.upto, ack.journal, ack.hash, ack.forked))
            self._client.publish(
                topics.station_topic(ack.station, "ack"), payload, qos=1, retain=True
            )
            self.stats.acks += 1

    def _open(self, message: _Message, station: str) -> wire.Batch | None:
        keys = self._station_keys(station)
        try:
            return wire.open_batch(message.payload, keys, station)
        except ProtocolError as exc:
            self._reject(message, station, str(exc))
            return None

    def _station_keys(self, station: str) -> dict[str, Ed25519PublicKey]:
        # reload when a station we do not know yet speaks (it may have just been enrolled),
        # at most once a second
        if station not in self._keys and time.monotonic() - self._keys_loaded > 1.0:
            self._keys = {
                sid: Ed25519PublicKey.from_public_bytes(raw)
                for sid, raw in self.store.station_keys().items()
            }
            self._keys_loaded = time.monotonic()
        return self._keys

    def _status(self, message: _Message, station: str) -> None:
        try:
            status = wire.decode(message.payload, wire.Status)
        except ProtocolError as exc:
            self._reject(message, station, str(exc))
            return
        if station in self._station_keys(station):
            self.store.update_station_status(
                station,
                online=status.state == "online",
                last_seen_ms=message.received_ms,
                version=status.version or None,
            )

    def _telemetry(self, message: _Message, station: str) -> None:
        try:
            t = wire.decode(message.payload, wire.Telemetry)
        except ProtocolError as exc:
            self._reject(message, station, str(exc))
            return
        if station in self._station_keys(station):
            if t.journals:
                self.store.report_journals(station, t.journals, message.received_ms)
            self.store.update_station_status(
                station,
                online=True,
                last_seen_ms=message.received_ms,
                backlog=t.backlog,
                clock_synced=t.clock_synced,
                clock_offset_ms=message.received_ms - t.ts_ms,
                version=t.version or None,
                last_scan_ms=t.last_scan_ms,
                telemetry_json=message.payload.decode(),
            )

    def _reject(self, message: _Message, station: str | None, reason: str) -> None:
        self.stats.rejected += 1
        log.warning("rejected a message on %s: %s", message.topic, reason)
        self.store.reject(message.received_ms, message.topic, station, reason, message.payload)


def publish_retained(
    broker: str,
    messages: list[tuple[str, bytes]],
    *,
    username: str = "",
    password: str = "",
    timeout: float = 10.0,
) -> None:
    """Publish retained QoS 1 messages once (admin commands) and wait for the broker to take
    them. Raises HubError if the broker cannot be reached in `timeout` seconds."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    url = urlsplit(broker)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if username:
        client.username_pw_set(username, password)
    try:
        client.connect(url.hostname or "127.0.0.1", url.port or 1883, keepalive=30)
    except OSError as exc:
        raise HubError(f"cannot reach the broker at {broker}: {exc}") from exc
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1, retain=True) for topic, payload in messages]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise HubError(
                    f"the broker at {broker} did not take the message in {timeout:.0f} s"
                )
    finally:
        client.disconnect()
        client.loop_stop()
