"""The values the hub's store takes and gives: plain, immutable, no SQL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypedDict

REJECT_PAYLOAD_MAX = 2048  # bytes of a rejected payload kept for a human to look at

# reasons the store itself writes into the rejects table (and raises as alerts)
CONFLICTING_DUPLICATE = "conflicting_duplicate"  # same (station, journal, seq, scan id), edited
CHAIN_BREAK = "chain_break"  # a record's prev_hash is not the hash of any record before it

# alert kinds (docs/operations.md says what each means and what to do)
ALERT_JOURNAL_NEW = "journal_new"  # a station began another journal (card replaced, rotated)
ALERT_JOURNAL_FORK = "journal_fork"  # two histories of one journal (restored image, cloned card)
ALERT_TWO_LIVE = "two_live_journals"  # two journals of one station scanning at the same time
ALERT_EDITED = CONFLICTING_DUPLICATE  # a record edited or forged under the station's key
ALERT_CHAIN_BREAK = CHAIN_BREAK
ALERT_KINDS = (
    ALERT_JOURNAL_NEW,
    ALERT_JOURNAL_FORK,
    ALERT_TWO_LIVE,
    ALERT_EDITED,
    ALERT_CHAIN_BREAK,
)


@dataclass(frozen=True)
class StationInfo:
    id: str
    public_key: bytes  # raw 32-byte Ed25519 public key
    location: str


@dataclass(frozen=True)
class Committed:
    """What the hub acks to a station for one journal: 1..upto is committed, `hash` is the
    stored hash of record upto in the branch the station's records extend."""

    station: str
    journal: str
    upto: int
    hash: str
    forked: bool  # that branch is kept beside another history of the journal


@dataclass(frozen=True)
class IngestResult:
    acks: list[Committed]  # one per (station, journal) in the call, oldest journal first
    inserted: int
    duplicates: int
    conflicts: list[tuple[str, str, int]] = field(default_factory=list)  # edited records
    branches: int = 0  # new branches (forks) started by this call

    def upto(self, station: str, journal: str | None = None) -> int:
        """The acked seq of a station's journal (its newest journal in the call by default)."""
        found = [a for a in self.acks if a.station == station and journal in (None, a.journal)]
        return found[-1].upto if found else 0

    @property
    def committed(self) -> dict[str, int]:
        """Station -> acked seq of its newest journal in the call."""
        return {a.station: a.upto for a in self.acks}


@dataclass(frozen=True)
class RejectRow:
    id: int
    received_ms: int
    topic: str
    station: str | None
    seq: int | None
    reason: str
    detail: str | None
    payload: bytes  # at most REJECT_PAYLOAD_MAX bytes
    payload_len: int  # the length that arrived


@dataclass(frozen=True)
class JournalRow:
    """One history of one journal of a station, as the hub holds it."""

    station: str
    journal: str
    fork: int  # 0: the history seen first; 1, 2 ...: branches kept beside it
    parent: int | None
    fork_seq: int
    committed_upto: int
    records: int
    first_wall_ms: int | None
    last_wall_ms: int | None
    first_received_ms: int | None
    last_received_ms: int | None
    reported_last_seq: int | None  # the station's own newest seq, from its telemetry
    reported_ms: int | None

    @property
    def unsent(self) -> int:
        """Records the station reported holding that the hub has not committed."""
        if self.reported_last_seq is None:
            return 0
        return max(0, self.reported_last_seq - self.committed_upto)


@dataclass(frozen=True)
class AlertRow:
    id: int
    raised_ms: int
    station: str
    journal: str | None
    kind: str
    subject: str
    detail: str
    cleared_ms: int | None
    cleared_by: str | None = None  # who acknowledged it: a console user, or "cli"
    # the evidence as data (the cheating signals: presensi.hub.attendance.signals; the journals'
    # alerts: presensi.hub.journals and the store); None for alerts raised before the hub kept
    # it: `detail` is all there is then
    evidence: dict[str, Any] | None = None


def evidence_json(evidence: dict[str, Any] | None) -> str | None:
    """An alert's evidence for its column (a NUL a record quoted is escaped by JSON itself)."""
    return json.dumps(evidence, sort_keys=True, separators=(",", ":")) if evidence else None


def evidence_of(cell: Any) -> dict[str, Any] | None:
    """An alert's evidence column: a JSON object, or None (none kept, or unreadable)."""
    if cell is None:
        return None
    try:
        value = json.loads(str(cell))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class StationRow:
    id: str
    location: str
    registered: bool  # has a public key
    online: bool
    last_seen_ms: int | None
    committed_upto: int  # of its newest journal
    backlog: int | None
    clock_synced: bool | None
    clock_offset_ms: int | None
    version: str | None
    boot_id: str | None
    last_scan_ms: int | None
    journal: str | None = None  # its newest journal (the last to start delivering)
    journals: int = 0  # how many journals (branches not counted) the hub holds of it
    unsent: int = 0  # records of older journals it reported and never delivered
    open_alerts: int = 0


class StationStatus(TypedDict, total=False):
    """What `update_station_status` may set; a None value leaves the column as it was."""

    online: bool
    last_seen_ms: int | None
    backlog: int | None
    clock_synced: bool | None
    clock_offset_ms: int | None
    version: str | None
    boot_id: str | None
    last_scan_ms: int | None
    telemetry_json: str | None


STATUS_FIELDS = StationStatus.__optional_keys__ | StationStatus.__required_keys__


@dataclass(frozen=True)
class HubWorkerRow:
    client_id: str
    connected: bool
    since_ms: int
    broker: str
