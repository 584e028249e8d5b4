"""Hub ingest: takes scan batches from every station exactly once, through any outage.

The only module of the hub that touches paho-mqtt. paho's network thread only queues what
arrives; one worker thread validates a group of messages, writes them to the store in one
transaction, and only then publishes each station's ack: the contiguous prefix the store has
committed. A malformed or hostile message never stops ingest: it lands in the rejects table
with its reason, and the sending station's good batches keep flowing.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from presensi.hub.broker import TlsFiles, make_client
from presensi.hub.errors import StoreError
from presensi.hub.store import REJECT_PAYLOAD_MAX, IngestResult, Store
from presensi.hub.telemetry import RETENTION_MS as TELEMETRY_RETENTION_MS
from presensi.protocol import topics, wire
from presensi.protocol.backoff import Backoff
from presensi.protocol.errors import ProtocolError

log = logging.getLogger(__name__)

REJECT_RETENTION_MS = 30 * 86_400_000  # rejects older than this are deleted
REJECTS_KEPT = 100_000  # and at most this many are kept
PURGE_EVERY_S = 3600.0
PING_EVERY_S = 5.0
# the hub's reconnects to the broker (full jitter): the first retry within 2 s of a drop, never
# more than 10 s between tries, so the hub is back within 10 s of a broker's return and the
# stations (reconnect_max_s 20 s) find it there (docs/operations.md, "Reconnects")
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 10.0
DERIVE_BATCH = 200  # attendance marks per transaction
DERIVE_BUDGET_S = 0.2  # at most this long per pause between message groups
DERIVE_EVERY_S = 0.5  # marks gathered this long are derived together: one transaction, not many


@dataclass
class IngestStats:
    messages: int = 0
    batches: int = 0
    records_inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_dropped: int = 0  # rejects counted but not kept (RejectGate)
    commits: int = 0
    acks: int = 0
    derive_cpu_s: float = 0.0  # CPU seconds the ingest thread spent deriving attendance


@dataclass(frozen=True)
class _Message:
    topic: str
    payload: bytes  # cut to REJECT_PAYLOAD_MAX when the message was over its limit
    received_ms: int
    size: int  # as it arrived


# what the hub takes per message topic kind, at most (larger: one reject, never parsed)
KIND_LIMITS = {
    "scans": wire.MAX_BATCH_BYTES,
    "status": wire.MAX_STATUS_BYTES,
    "telemetry": wire.MAX_TELEMETRY_BYTES,
}
INBOX_BYTES = 64 * 1024 * 1024  # messages waiting for the worker; beyond, paho waits (backpressure)


class Inbox:
    """The queue between paho's network thread and the ingest worker, bounded in bytes: a
    flood makes the network thread wait (and the broker hold its messages), never the hub's
    memory grow without end."""

    def __init__(self, max_bytes: int = INBOX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: collections.deque[_Message] = collections.deque()
        self._bytes = 0
        self._cond = threading.Condition()

    def put(self, message: _Message, stop: threading.Event) -> None:
        with self._cond:
            while self._bytes > self.max_bytes and not stop.is_set():
                self._cond.wait(0.5)
            self._items.append(message)
            self._bytes += len(message.payload)
            self._cond.notify_all()

    def get(self, timeout: float) -> _Message | None:
        with self._cond:
            if not self._items and not self._cond.wait_for(lambda: bool(self._items), timeout):
                return None
            message = self._items.popleft()
            self._bytes -= len(message.payload)
            self._cond.notify_all()
            return message


class RejectGate:
    """At most `per_window` reject rows per station per `window_s`; the rest are counted, and
    one row says how many were not kept (and why) when the window ends."""

    def __init__(self, per_window: int = 20, window_s: float = 60.0) -> None:
        self.per_window = per_window
        self.window_s = window_s
        self._windows: dict[str | None, tuple[float, int, collections.Counter[str]]] = {}

    def admit(self, station: str | None, reason: str, now: float) -> tuple[bool, str | None]:
        """(keep this reject?, a summary of what the window that just ended dropped)."""
        start, kept, dropped = self._windows.get(station, (now, 0, collections.Counter()))
        summary = None
        if now - start >= self.window_s:
            if dropped:
                what = ", ".join(f"{n} x {r[:80]}" for r, n in dropped.most_common(5))
                count = sum(dropped.values())
                summary = f"{count} more rejects not kept in {self.window_s:.0f} s: {what}"
            start, kept, dropped = now, 0, collections.Counter()
        if kept < self.per_window:
            self._windows[station] = (start, kept + 1, dropped)
            return True, summary
        dropped[reason.split(":", 1)[0]] += 1
        self._windows[station] = (start, kept, dropped)
        return False, summary


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
        tls: TlsFiles | None = None,
        fleet_listener: Callable[[str, bytes], None] | None = None,
        derive: bool = True,
    ) -> None:
        self.store = store
        # False: attendance is derived elsewhere (presensi hub attendance follow); ingest only
        # marks the days its scans change
        self.derive = derive
        # called (on paho's thread) with each retained fleet document, when given: the hub
        # then subscribes to the fleet topics (presensi.hub.revocation_publisher)
        self.fleet_listener = fleet_listener
        self.client_id = client_id
        self.share_group = share_group
        self.max_group = max_group
        self.max_wait_s = max_wait_s
        self.stats = IngestStats()
        self._inbox = Inbox()
        self._stop = threading.Event()
        self._gate = RejectGate()
        self.reject_retention_ms = REJECT_RETENTION_MS
        self.rejects_kept = REJECTS_KEPT
        self._next_purge = 0.0
        self._next_derive_error_log = 0.0
        self._next_derive = 0.0
        self._next_ping = 0.0
        self.store_ok = True  # the last store call worked (health checks, the watchdog)
        self.last_store_ok = time.monotonic()
        self._failures = 0
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._keys_loaded = 0.0
        self.connected = threading.Event()
        self._lost = False  # the connection was lost once: regaining it is worth a warning
        self.next_reconnect_pause = 0.0  # the last pause drawn before a reconnect (seconds)
        client, address = make_client(
            broker,
            client_id=client_id,
            clean_session=clean_session,
            username=username,
            password=password,
            tls=tls,
        )
        self._host, self._port = address.host, address.port
        client.max_inflight_messages_set(100)
        # paho's own backoff has no jitter (1, 2, 4 ... s for every hub at once): each pause is
        # drawn here and handed to paho just before it waits (see _schedule_reconnect)
        self._backoff = Backoff(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        self._worker = threading.Thread(target=self._work, name="ingest", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._worker.start()
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def healthy(self) -> bool:
        """The worker runs and the store answered lately: what the watchdog and a health
        check ask. A broker that is away is not a fault of the hub (it reconnects by itself)."""
        return self._worker.is_alive() and self.store_ok

    def stop(self) -> None:
        if self.connected.is_set():
            self._say_connected(False)  # a stopped hub is not connected either
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
        self._backoff.reset()
        client.subscribe(
            [
                (topics.subscription(kind, self.share_group), 1)
                for kind in ("scans", "status", "telemetry")
            ]
        )
        if self.fleet_listener is not None:  # every worker: not shared
            client.subscribe([(topics.FLEET_KEYS, 1), (topics.FLEET_REVOCATIONS, 1)])
        self._say_connected(True)
        # back after a loss (which was a warning): a warning too; the first time: news
        level = logging.WARNING if self._lost else logging.INFO
        log.log(level, "hub connected to the broker at %s:%s", self._host, self._port)
        self.connected.set()  # last: whoever waits on it sees the store and the log up to date

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        self._schedule_reconnect()
        if not self._stop.is_set() and was:
            self._lost = True
            self._say_connected(False)
            log.warning("hub disconnected from the broker (%s); reconnecting", reason)

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._schedule_reconnect()
        if not self._lost and not self._stop.is_set():  # a hub started while it is down
            self._lost = True
            log.warning(
                "hub cannot reach the broker at %s:%s; trying again", self._host, self._port
            )

    def _schedule_reconnect(self) -> None:
        """Draw the pause before paho's next try (full jitter, at most RECONNECT_MAX_S). Both
        callbacks run on paho's network thread just before it waits; setting min = max = the
        pause makes that wait exactly the pause (reconnect_delay_set also forgets paho's own
        doubling). paho annotates the delays as int but sleeps on any number."""
        pause = self._backoff.next()
        self.next_reconnect_pause = pause
        reconnect_delay_set: Any = self._client.reconnect_delay_set
        reconnect_delay_set(pause, pause)

    def _say_connected(self, connected: bool) -> None:
        """Tell the store (for the fleet table); never let that stop paho's thread."""
        try:
            self.store.set_hub_worker(
                self.client_id, connected, time.time_ns() // 1_000_000, f"{self._host}:{self._port}"
            )
        except StoreError as exc:
            log.error("could not record the hub's broker connection: %s", exc)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        payload = bytes(message.payload)
        size = len(payload)
        if message.topic in (topics.FLEET_KEYS, topics.FLEET_REVOCATIONS):
            if self.fleet_listener is not None and size <= wire.MAX_FLEET_BYTES:
                self.fleet_listener(message.topic, payload)
            return
        limit = KIND_LIMITS.get(message.topic.rsplit("/", 1)[-1], wire.MAX_STATUS_BYTES)
        if size > limit:
            payload = payload[:REJECT_PAYLOAD_MAX]  # never held whole: it is rejected anyway
        self._inbox.put(
            _Message(message.topic, payload, time.time_ns() // 1_000_000, size), self._stop
        )

    # -- worker --------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            group = self._collect()
            try:
                if group:
                    self._handle(group)
                self._housekeeping()
            except StoreError as exc:
                # the store failed: nothing of the group was acked, so the stations resend;
                # the store reconnects on its next call, after a growing pause
                self._store_failed(exc, len(group))
                continue
            self._store_worked()

    def _store_failed(self, exc: StoreError, messages: int) -> None:
        self._failures += 1
        self.store_ok = False
        pause = min(30.0, 0.5 * 2 ** min(self._failures - 1, 6))
        log.error(
            "the store failed (%s); %d messages not stored, stations will resend; "
            "trying again in %.1f s",
            exc,
            messages,
            pause,
        )
        self._stop.wait(pause)

    def _store_worked(self) -> None:
        if not self.store_ok:
            log.warning("the store works again after %d failures", self._failures)
        self._failures = 0
        self.store_ok = True
        self.last_store_ok = time.monotonic()

    def _housekeeping(self) -> None:
        now = time.monotonic()
        self._derive(now)
        if now >= self._next_ping:  # with no traffic, still find out that the store is gone
            self._next_ping = now + PING_EVERY_S
            self.store.ping()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY_S
        self.store.purge_rejects(
            time.time_ns() // 1_000_000 - self.reject_retention_ms, self.rejects_kept
        )
        self.store.purge_telemetry(time.time_ns() // 1_000_000 - TELEMETRY_RETENTION_MS)

    def _derive(self, now: float) -> None:
        """Attendance: derive the days of what was just committed, a bounded slice at a time.
        A failure of the store is the store's (the caller pauses); any other is logged and
        never stops ingest: scans keep being stored, their days are derived once it is fixed
        (presensi hub attendance recompute)."""
        if not self.derive or now < self._next_derive:
            return
        self._next_derive = now + DERIVE_EVERY_S
        deadline = now + DERIVE_BUDGET_S
        cpu = time.thread_time()
        try:
            # (another hub worker deriving: it takes the marks; this one goes on ingesting)
            while (
                self.store.derive_attendance(DERIVE_BATCH, wait=False)
                and time.monotonic() < deadline
            ):
                pass
        except StoreError:
            raise
        except Exception:
            if now >= self._next_derive_error_log:
                self._next_derive_error_log = now + 60
                log.exception("attendance derivation failed; ingest goes on")
        finally:
            self.stats.derive_cpu_s += time.thread_time() - cpu

    def _collect(self) -> list[_Message]:
        first = self._inbox.get(timeout=0.2)
        if first is None:
            return []
        group = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(group) < self.max_group:
            message = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            if message is None:
                break
            group.append(message)
        return group

    def _handle(self, group: list[_Message]) -> None:
        self.stats.messages += len(group)
        batches: list[wire.Batch] = []
        for message in group:
            try:
                batch = self._one(message)
            except StoreError:
                raise
            except Exception as exc:  # one message is one reject, never a stall
                log.exception("could not handle a message on %s", message.topic)
                self._reject(message, None, f"the hub could not handle it: {type(exc).__name__}")
                continue
            if batch is not None:
                batches.append(batch)
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

    def _one(self, message: _Message) -> wire.Batch | None:
        """Check and apply one message on its own; a batch is returned for the group's commit."""
        try:
            where = topics.parse(message.topic)
        except ProtocolError as exc:
            self._reject(message, None, str(exc))
            return None
        limit = KIND_LIMITS.get(where.kind, wire.MAX_STATUS_BYTES)
        if message.size > limit:
            self._reject(
                message, where.station, f"message too large ({message.size} bytes, at most {limit})"
            )
            return None
        if where.kind == "scans":
            return self._open(message, where.station)
        if where.kind == "status":
            self._status(message, where.station)
        elif where.kind == "telemetry":
            self._telemetry(message, where.station)
        return None

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
                boot_id=status.boot_id or None,
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
                # what the schema knows of it, re-encoded: never an unknown blob
                telemetry_json=wire.encode(t).decode(),
            )
            self.store.record_telemetry(station, message.received_ms, t)

    def _reject(self, message: _Message, station: str | None, reason: str) -> None:
        self.stats.rejected += 1
        keep, summary = self._gate.admit(station, reason, time.monotonic())
        if summary is not None:
            self.store.reject(message.received_ms, message.topic, station, summary, b"")
        if not keep:
            self.stats.rejects_dropped += 1
            return
        log.warning("rejected a message on %s: %s", message.topic, reason)
        self.store.reject(
            message.received_ms, message.topic, station, reason, message.payload, size=message.size
        )
