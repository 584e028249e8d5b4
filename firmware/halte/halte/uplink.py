"""Delivery to the hub: signed batches on the station's scans topic until the hub's cumulative
ack, the same protocol as the Pi station (presensi.device.uplink).

One step at a time from the main loop (`step(now_ms)`), never blocking on the network: connect
(birth message "online" retained, last will "offline"), subscribe to ack/config/cmd, then send
batches of the oldest journal with unacked records from its acked mark, `window` batches in
flight. Only the hub's ack ({"journal", "upto", "hash"}) moves the mark, and only when the
journal holds that very record with that hash; with no progress for `resend_ms` everything
after the mark is sent again (the hub absorbs duplicates). A broken link or a Wi-Fi that
comes and goes drops the connection and reconnects with exponential backoff and full jitter;
nothing is lost because nothing is freed before the hub's ack.
"""

import json
import random
from binascii import b2a_base64

from halte import SOFTWARE, journal, mqtt, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from halte.ed25519 import SigningKey
    from halte.journal import Journal
    from halte.net import Transport

BATCH_DOMAIN = b"presensi/batch/v1\x00"
CONNACK_MS = 10_000  # a broker that does not answer CONNECT within this is given up on
ROOT = "presensi/v1/stations/"


def batch_body(station: str, journal_id: str, records: list[bytes]) -> bytes:
    """Canonical {"journal", "records", "station", "v": 2} around records already canonical."""
    return (
        b'{"journal":"'
        + journal_id.encode()
        + b'","records":['
        + b",".join(records)
        + b'],"station":'
        + record.canonical_text({"s": station})[5:-1].encode()
        + b',"v":2}'
    )


def sign_batch(key: SigningKey, station: str, journal_id: str, records: list[bytes]) -> bytes:
    payload = b""
    for payload in signing_batch(key, station, journal_id, records):  # noqa: B007
        pass
    return payload


def signing_batch(
    key: SigningKey, station: str, journal_id: str, records: list[bytes]
) -> Iterator[bytes]:
    """The signed batch payload in steps: b"" while signing (one SHA-512 block or 16 bits of
    the scalar multiplication per step), then `<Base64 signature> "\n" <body>`."""
    body = batch_body(station, journal_id, records)
    for signature in key.signing(BATCH_DOMAIN + body):
        if signature:
            yield b2a_base64(signature).strip() + b"\n" + body
        else:
            yield b""


class Uplink:
    def __init__(
        self,
        station: str,
        broker: dict[str, Any],
        log: Journal,
        key: SigningKey,
        open_transport: Callable[[str, int], Transport],
        boot_id: str,
        *,
        batch_size: int = 10,
        window: int = 2,
        resend_ms: int = 20_000,
        telemetry_ms: int = 60_000,
        keepalive_s: int = 30,
        backoff_min_ms: int = 1_000,
        backoff_max_ms: int = 30_000,
    ) -> None:
        self.station = station
        self.broker = broker
        self.journal = log
        self.key = key
        self.open_transport = open_transport
        self.boot_id = boot_id
        self.batch_size = batch_size
        self.window = window
        self.resend_ms = resend_ms
        self.telemetry_ms = telemetry_ms
        self.keepalive_s = keepalive_s
        self.backoff_min_ms = backoff_min_ms
        self.backoff_max_ms = backoff_max_ms
        self.client: mqtt.Client | None = None
        self.subscribed = False
        self.sending = ""
        self.acked_upto = 0
        self.sent_upto = 0
        self.inflight: list[int] = []
        self.job: tuple[str, int, Iterator[bytes]] | None = None  # a batch being signed
        self.last_progress_ms = 0
        self.next_attempt_ms = 0
        self.next_telemetry_ms = 0
        self._delay_ms = backoff_min_ms
        self.stats = {
            "connects": 0,
            "drops": 0,
            "batches": 0,
            "resends": 0,
            "rotations": 0,
            "foreign_acks": 0,
            "bad_messages": 0,
        }
        self.last_error = ""
        self.telemetry: Callable[[], dict[str, Any]] | None = None
        self.on_message: Callable[[str, bytes], None] | None = None

    def topic(self, kind: str) -> str:
        return ROOT + self.station + "/" + kind

    def status(self, state: str, now_wall_ms: int) -> bytes:
        if state == "offline":
            return b'{"state":"offline"}'
        return record.canonical_text(
            {"boot_id": self.boot_id, "state": state, "ts_ms": now_wall_ms, "version": SOFTWARE}
        ).encode()

    # -- the step the main loop calls -----------------------------------------------------

    def step(self, now_ms: int, wall_ms: int) -> None:
        if self.client is None:
            if now_ms >= self.next_attempt_ms:
                self._connect(now_ms)
            return
        try:
            for topic, payload in self.client.poll(now_ms):
                self._receive(topic, payload, now_ms)
            if not self.client.connected:
                if now_ms >= self.next_attempt_ms:
                    raise mqtt.MqttError("connack_timeout")
                return
            if not self.subscribed:
                self._on_connected(now_ms, wall_ms)
            self.pump(now_ms)
            if now_ms >= self.next_telemetry_ms and self.telemetry is not None:
                payload = record.canonical_text(self.telemetry()).encode()
                self.client.publish(self.topic("telemetry"), payload, 0, False, now_ms)
                self.next_telemetry_ms = now_ms + self.telemetry_ms
            self.client.keepalive(now_ms)
        except OSError as exc:  # MqttError included: drop the link, reconnect later
            self.drop(now_ms, str(exc))

    def _connect(self, now_ms: int) -> None:
        try:
            transport = self.open_transport(self.broker["host"], self.broker["port"])
            client = mqtt.Client(transport, self.station, self.keepalive_s)
            will = (self.topic("status"), self.status("offline", 0))
            client.connect(self.broker["username"], self.broker["password"], will, now_ms)
        except OSError as exc:
            self.last_error = "connect: " + str(exc)
            self._back_off(now_ms)
            return
        self.client = client
        client.last_in_ms = now_ms
        self.subscribed = False
        self.next_attempt_ms = now_ms + CONNACK_MS

    def _on_connected(self, now_ms: int, wall_ms: int) -> None:
        assert self.client is not None
        self.stats["connects"] += 1
        self._delay_ms = self.backoff_min_ms
        self.subscribed = True
        self.client.subscribe(
            [
                self.topic("ack"),
                self.topic("config"),
                self.topic("cmd"),
                "presensi/v1/fleet/keys",
                "presensi/v1/fleet/revocations",
            ],
            now_ms,
        )
        self.client.publish(self.topic("status"), self.status("online", wall_ms), 1, True, now_ms)
        self.sent_upto = self.acked_upto  # resend whatever was not acked
        self.sending = ""
        self.inflight = []
        self.job = None
        self.last_progress_ms = now_ms
        self.next_telemetry_ms = now_ms

    def drop(self, now_ms: int, why: str) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client = None
            self.stats["drops"] += 1
        self.last_error = why
        self.subscribed = False
        self._back_off(now_ms)

    def _back_off(self, now_ms: int) -> None:
        low = self.backoff_min_ms
        self.next_attempt_ms = now_ms + random.randint(low, max(low, self._delay_ms))
        self._delay_ms = min(self._delay_ms * 2, self.backoff_max_ms)

    def connected(self) -> bool:
        return self.client is not None and self.client.connected and self.subscribed

    # -- acks and other messages ----------------------------------------------------------

    def _receive(self, topic: str, payload: bytes, now_ms: int) -> None:
        try:
            if topic == self.topic("ack"):
                self.apply_ack(json.loads(payload), now_ms)
            elif self.on_message is not None:
                self.on_message(topic, payload)
        except (ValueError, KeyError, TypeError):
            self.stats["bad_messages"] += 1  # a bad message is dropped, never fatal

    def apply_ack(self, ack: dict[str, Any], now_ms: int) -> str:
        name, upto, digest = ack["journal"], ack["upto"], ack.get("hash", "")
        if not isinstance(name, str) or not isinstance(upto, int) or not isinstance(digest, str):
            raise ValueError("bad ack")
        outcome = self.journal.ack(name, upto, digest)
        if outcome == journal.ACKED:
            self.last_progress_ms = now_ms
            if name == self.sending:
                self.acked_upto = max(self.acked_upto, upto)
                self.inflight = [s for s in self.inflight if s > self.acked_upto]
                self.sent_upto = max(self.sent_upto, self.acked_upto)
            if ack.get("forked") and name == self.journal.current:
                self._rotate()
        elif outcome == journal.AHEAD and name == self.journal.current:
            self._rotate()
        elif outcome == journal.MISMATCH:
            self.stats["foreign_acks"] += 1
        return outcome

    def _rotate(self) -> None:
        self.journal.rotate()
        self.stats["rotations"] += 1

    # -- sending --------------------------------------------------------------------------

    def pump(self, now_ms: int) -> None:
        """One bounded piece of delivery work: a step of the batch being signed (published
        when done), or the next batch picked; resend from the mark after `resend_ms` of
        silence. The main loop calls it only when no scan is waiting."""
        assert self.client is not None
        if self.inflight and now_ms - self.last_progress_ms > self.resend_ms:
            self.sent_upto = self.acked_upto
            self.inflight = []
            self.job = None
            self.last_progress_ms = now_ms
            self.stats["resends"] += 1
        if self.job is not None:
            name, last, steps = self.job
            payload = next(steps)
            if payload:
                self.job = None
                if name == self.sending and last > self.sent_upto:
                    self.client.publish(self.topic("scans"), payload, 1, False, now_ms)
                    self.sent_upto = last
                    self.stats["batches"] += 1
                    self.inflight.append(last)
            return
        target = self.journal.oldest_unacked()
        if target is None:
            self.sending = ""
            return
        name, acked = target
        if name != self.sending:
            self.sending = name
            self.acked_upto = self.sent_upto = acked
            self.inflight = []
            self.last_progress_ms = now_ms
        if len(self.inflight) >= self.window:
            return
        records = self.journal.records(name, self.sent_upto, self.batch_size)
        if records:
            last = self.sent_upto + len(records)
            self.job = (name, last, signing_batch(self.key, self.station, name, records))
