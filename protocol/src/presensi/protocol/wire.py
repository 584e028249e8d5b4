"""Messages on the wire, validated once at the edge into typed values.

A batch of scan records of one journal is signed by the station's key:

    payload = <Base64 Ed25519 signature> "\\n" <body>
    body    = canonical JSON {"journal": J, "records": [...], "station": ID, "v": 2}
    signed  = "presensi/batch/v1\\0" + body

Batch version 1 (no journal; records of schema 1) is still accepted from older stations, with
`floor` 0 only: a floor let a station declare records lost, which a holder of its key could
abuse to make the hub skip ahead. A station whose journal is lost now starts a new journal.

The hub's ack names the journal, the seq and the hash of the record it acks, so a station can
tell "the hub has my records" from "the hub has another history of this journal" (a restored or
cloned card); `forked` says the acked records are a branch the hub keeps beside another.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal, TypeVar

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import SigningKey
from presensi.protocol.record import LEGACY_JOURNAL, Int64, JournalId, ScanRecord, check_schema

T = TypeVar("T")
BATCH_DOMAIN = b"presensi/batch/v1\x00"
MAX_BATCH_BYTES = 256 * 1024
MAX_BATCH_RECORDS = 1000
BATCH_VERSION = 2
# the most any message of a kind may be, checked before it is parsed (the broker's own limit,
# message_size_limit, is MAX_MESSAGE_BYTES: the largest, a fleet document)
MAX_STATUS_BYTES = 4096
MAX_TELEMETRY_BYTES = 16 * 1024
MAX_ACK_BYTES = 1024
MAX_SETTINGS_BYTES = 4096
MAX_FLEET_BYTES = 1024 * 1024  # a revocation list of ~100,000 serials
MAX_MESSAGE_BYTES = MAX_FLEET_BYTES
MAX_JOURNALS_REPORTED = 64

# A time in Unix milliseconds (2**53 ms is far beyond any clock), so that the hub can subtract
# one from its own clock; text without NUL, which PostgreSQL text columns cannot hold, and of a
# bounded length.
UnixMs = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Text = Annotated[str, msgspec.Meta(pattern=r"^[^\x00]*$", max_length=128)]
Ident = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class Batch(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    v: int
    station: str
    records: list[ScanRecord]
    journal: JournalId = LEGACY_JOURNAL
    floor: Int64 = 0  # version 1 only, and only 0 (see the module's docstring)


def batch_of(station: str, journal: str, records: list[ScanRecord]) -> Batch:
    """A version 2 batch of one journal's records."""
    return Batch(BATCH_VERSION, station, records, journal)


class Ack(msgspec.Struct, frozen=True, omit_defaults=True):
    """The hub has committed 1..upto of `journal`; `hash` is its stored hash of record upto in
    the branch the station's records extend (`forked`: a branch beside another history)."""

    upto: Int64
    journal: JournalId = LEGACY_JOURNAL
    hash: Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{64})?$")] = ""
    forked: bool = False


class Status(msgspec.Struct, frozen=True, omit_defaults=True):
    state: Text  # "online" | "offline"
    boot_id: Text = ""
    version: Text = ""
    ts_ms: UnixMs = 0


class JournalState(msgspec.Struct, frozen=True, array_like=True):
    """[last_seq, acked_upto] of one journal the station holds."""

    last_seq: Int64
    acked_upto: Int64


class Telemetry(msgspec.Struct, frozen=True, omit_defaults=True):
    ts_ms: UnixMs
    last_seq: Int64  # of the current journal
    acked_upto: Int64  # of the current journal
    backlog: Int64  # unacked records in all journals
    journal: JournalId = LEGACY_JOURNAL  # the current journal
    # every journal with unacked records, and the current one
    journals: Annotated[
        dict[JournalId, JournalState], msgspec.Meta(max_length=MAX_JOURNALS_REPORTED)
    ] = {}
    oldest_unacked_ms: UnixMs | None = None
    disk_free_mb: Int64 | None = None
    clock_synced: bool = False
    clock_steps: Int64 = 0  # unexplained steps of the wall clock since the station started
    clock_offset_ms: Int64 | None = None
    decode_fps: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 0.0
    last_scan_ms: UnixMs | None = None
    version: Text = ""
    keys_version: Int64 = 0
    revocations_version: Int64 = 0
    config_version: Int64 = 0


class StationSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Retained on a station's config topic: settings the hub may change remotely. Fields left
    out keep the station's value; identity, keys and hardware stay with provisioning."""

    version: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    location: Ident | None = None
    mode: Literal["in", "out", "auto", "event"] | None = None
    event: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    duplicate_window_s: Annotated[int, msgspec.Meta(ge=0, le=86_400)] | None = None


EventId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
EmployeeNumber = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,32}$")]
MAX_EVENT_BYTES = MAX_FLEET_BYTES  # about 15,000 participants with their names and units
MAX_PARTICIPANTS = 50_000


class Participant(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """One person expected at an event: [number, name, unit]."""

    number: EmployeeNumber
    name: Text
    unit: Text


class EventSheet(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Retained on a station's event topic by the hub: the event the station serves now or
    next (docs/events.md). From `opens_ms` to `ends_ms` the station records its scans for the
    event (event mode), whatever its configured mode, and goes back to that mode by itself
    after `ends_ms`, with or without a network. Meanwhile it serves a read-only board of the
    event on the venue's LAN, from its own journal and `participants` (empty: an open event).
    An empty retained message withdraws the sheet."""

    version: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    event: EventId
    name: Text
    opens_ms: UnixMs
    starts_ms: UnixMs
    late_ms: UnixMs
    ends_ms: UnixMs
    walk_ins: bool = True
    participants: Annotated[list[Participant], msgspec.Meta(max_length=MAX_PARTICIPANTS)] = []

    def __post_init__(self) -> None:
        if not self.opens_ms <= self.starts_ms <= self.late_ms <= self.ends_ms:
            raise ValueError(
                "opens_ms <= starts_ms <= late_ms <= ends_ms, and the window not empty"
            )
        if self.starts_ms == self.ends_ms:
            raise ValueError("the window is empty")


_ENC = msgspec.json.Encoder(order="sorted")
_BATCH = msgspec.json.Decoder(Batch)


def encode(value: msgspec.Struct) -> bytes:
    return _ENC.encode(value)


_LIMITS: dict[str, int] = {
    "Status": MAX_STATUS_BYTES,
    "Telemetry": MAX_TELEMETRY_BYTES,
    "Ack": MAX_ACK_BYTES,
    "StationSettings": MAX_SETTINGS_BYTES,
    "EventSheet": MAX_EVENT_BYTES,
}


def decode(data: bytes, kind: type[T], *, max_bytes: int | None = None) -> T:
    """Parse a message of `kind`, or raise ProtocolError: larger than its kind may be, not
    UTF-8 anywhere (unknown fields included), nested too deeply, or not of the schema."""
    name = kind.__name__.lower()
    limit = _LIMITS.get(kind.__name__, MAX_MESSAGE_BYTES) if max_bytes is None else max_bytes
    if len(data) > limit:
        raise ProtocolError(f"{name} message too large ({len(data)} bytes, at most {limit})")
    check_text(data, name)
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"bad {name} message: {exc}") from exc
    except RecursionError:
        raise ProtocolError(f"bad {name} message: nested too deeply") from None


def check_text(data: bytes, what: str) -> None:
    """UTF-8 throughout: a parser that skips an unknown field never looks inside it."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"bad {what} message: not UTF-8 (byte {exc.start})") from None


def sign_batch(batch: Batch, key: SigningKey) -> bytes:
    body = _ENC.encode(batch)
    return base64.b64encode(key.sign(BATCH_DOMAIN + body)) + b"\n" + body


def open_batch(payload: bytes, key_of: dict[str, Ed25519PublicKey], topic_station: str) -> Batch:
    """Check size, signature, schema and that topic station = payload station = signer.

    `key_of` maps station ids to their registered public keys. Raises ProtocolError with a
    reason a human can act on.
    """
    if len(payload) > MAX_BATCH_BYTES:
        raise ProtocolError(f"batch too large ({len(payload)} bytes)")
    sig_b64, sep, body = payload.partition(b"\n")
    if not sep:
        raise ProtocolError("batch has no signature line")
    key = key_of.get(topic_station)
    if key is None:
        raise ProtocolError(f"unknown station {topic_station!r}")
    try:
        key.verify(base64.b64decode(sig_b64, validate=True), BATCH_DOMAIN + body)
    except (binascii.Error, ValueError, InvalidSignature):
        raise ProtocolError(f"batch signature is not station {topic_station!r}'s") from None
    check_text(body, "batch")
    try:
        batch = _BATCH.decode(body)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"bad batch: {exc}") from exc
    except RecursionError:
        raise ProtocolError("bad batch: nested too deeply") from None
    _check_batch(batch, topic_station)
    return batch


def _check_batch(batch: Batch, topic_station: str) -> None:
    """What a signed batch must also be: a known version, one station, one journal, in order."""
    if batch.v not in (1, BATCH_VERSION):
        raise ProtocolError(f"unsupported batch version {batch.v}")
    if batch.floor != 0:
        raise ProtocolError(
            f"batch floor {batch.floor}: a station no longer declares records lost; after a lost "
            "or corrupt journal it starts a new journal"
        )
    if batch.v == 1 and batch.journal != LEGACY_JOURNAL:
        raise ProtocolError("a version 1 batch has no journal")
    if batch.station != topic_station or any(r.station != topic_station for r in batch.records):
        raise ProtocolError("station in payload differs from the topic's")
    if any(r.journal != batch.journal for r in batch.records):
        raise ProtocolError(f"a record of another journal in a batch of journal {batch.journal}")
    for record in batch.records:
        check_schema(record)
    if len(batch.records) > MAX_BATCH_RECORDS:
        raise ProtocolError(f"batch has {len(batch.records)} records (max {MAX_BATCH_RECORDS})")
    seqs = [r.seq for r in batch.records]
    if seqs and (seqs[0] < 1 or seqs != list(range(seqs[0], seqs[0] + len(seqs)))):
        raise ProtocolError("batch records are not contiguous from a seq >= 1")
