"""The scan record: one journal row on the station, one element of a batch on the wire.

Canonical serialisation is JSON with keys sorted, no whitespace, UTF-8, integers only (no
floats), so every part computes the same bytes. Each record holds the hash of the previous one
(the first record of a journal's chain holds GENESIS); its own hash is SHA-256 over its canonical
bytes. A hub or an auditor can therefore check an exported journal for edits and gaps.

Schema 2 adds `journal`: the random id a station's journal got when it was created. Sequence
numbers and the chain run per journal, so a re-flashed card, a restored image or a cloned card
each write their own journal instead of reusing another's numbers. A schema 1 record has no
journal field; it belongs to its station's one legacy journal (LEGACY_JOURNAL), and its
canonical bytes stay exactly what schema 1 wrote, so old chains still verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Annotated, Literal

import msgspec

from presensi.protocol.errors import ProtocolError
from presensi.protocol.reasons import Outcome, Reason

GENESIS = "0" * 64
SCHEMA = 2
LEGACY_JOURNAL = "0" * 32  # the journal of every schema 1 record
SCHEMAS = (1, 2)

Direction = Literal["in", "out", "event"]
# what a signed 64-bit integer (the hub's BIGINT columns) holds: checked when a record is decoded
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
# a journal id: 128 random bits as 32 lower-case hex digits
JournalId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]


class ScanRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    v: int = SCHEMA
    station: str
    journal: JournalId = LEGACY_JOURNAL
    seq: Int64
    scan_id: str
    employee: str | None
    serial: Int64 | None
    outcome: Outcome
    reason: Reason
    direction: Direction
    event: str | None = None
    payload_sha256: str  # first 16 bytes, hex, of SHA-256 over the scanned text (audit, no PII)
    payload_len: Int64
    wall_ms: Int64  # UTC, Unix milliseconds, as the station's clock said
    mono_ns: Int64  # CLOCK_MONOTONIC at the scan
    boot_id: str  # /proc/sys/kernel/random/boot_id: mono_ns is comparable within one boot
    clock_synced: bool
    clock_last_sync_ms: Int64 | None
    location: str
    config_version: Int64
    prev_hash: str

    def canonical(self) -> bytes:
        if self.v == 1:  # schema 1 had no journal field: its bytes must not change
            fields = msgspec.structs.asdict(self)
            del fields["journal"]
            return _ENCODER.encode(fields)
        return _ENCODER.encode(self)

    def digest(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


_ENCODER = msgspec.json.Encoder(order="sorted")
_DECODER = msgspec.json.Decoder(ScanRecord)


def decode_record(data: bytes) -> ScanRecord:
    try:
        record = _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"not a scan record: {exc}") from exc
    except RecursionError:
        raise ProtocolError("not a scan record: nested too deeply") from None
    check_schema(record)
    return record


def check_schema(record: ScanRecord) -> None:
    """A known schema, and a schema 1 record in the legacy journal (it has no journal field)."""
    if record.v not in SCHEMAS:
        raise ProtocolError(f"not a scan record: unknown schema {record.v}")
    if record.v == 1 and record.journal != LEGACY_JOURNAL:
        raise ProtocolError("not a scan record: schema 1 has no journal field")


def payload_fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def verify_chain(records: Iterable[ScanRecord], prev_hash: str, first_seq: int) -> str:
    """Check that records are contiguous from `first_seq` and chained from `prev_hash`.

    Returns the hash of the last record; raises ProtocolError naming the first bad record.
    """
    expected_seq = first_seq
    for record in records:
        if record.seq != expected_seq:
            raise ProtocolError(f"sequence gap: expected {expected_seq}, found {record.seq}")
        if record.prev_hash != prev_hash:
            raise ProtocolError(f"hash chain broken at seq {record.seq}")
        prev_hash = record.digest()
        expected_seq += 1
    return prev_hash
