"""Where each arriving record of one journal goes. Pure logic over what the store holds around
the arriving sequence numbers; the store reads the rows and writes the outcome.

A journal is a hash chain. Usually one station writes it and every record extends the one
before. Two histories of one journal arise when a card is restored from an old image and
scans before it learns the hub is ahead, or when a card is cloned into two stations: both
write seq N, N+1 ... with the same journal id. The hub keeps both. The history it saw first is
branch (fork) 0; a record at a seq the journal already holds, with another scan id, that
extends some branch's record before it starts a new branch there (`fork_seq`), whose records
are stored beside the other's, under the same journal and seq. A record found by its chain
hash extends the branch it chains to. Nothing is merged and nothing is dropped, except:

- a duplicate (the same bytes again): absorbed;
- an edit (the same scan id at the same seq, other content: a record changed after it was
  signed, or forged with the station's key): the first one stays, the edit is reported.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from presensi.protocol.record import GENESIS, ScanRecord


@dataclass
class Branch:
    fork: int
    parent: int | None  # the branch it split from; None for branch 0
    fork_seq: int  # the first seq of its own records (1 for branch 0)
    committed_upto: int = 0  # 1..committed_upto of this history (its parent's, then its own)
    committed_hash: str | None = GENESIS
    new: bool = False  # made by this call


@dataclass(frozen=True, slots=True)
class Stored:
    fork: int
    hash: str
    scan_id: str


@dataclass(frozen=True, slots=True)
class Arrival:
    record: ScanRecord
    body: bytes
    hash: str


class Kind(enum.Enum):
    INSERT = "insert"
    DUPLICATE = "duplicate"
    EDITED = "edited"


@dataclass(frozen=True, slots=True)
class Placed:
    arrival: Arrival
    kind: Kind
    fork: int  # the branch it went into (INSERT), or where its stored twin is
    new_branch: bool = False  # it started a branch
    chain_break: bool = False  # its prev_hash is not the hash of any record before it
    stored_hash: str | None = None  # EDITED: the hash of the record kept


@dataclass
class JournalView:
    """One journal's branches and its stored rows at the seqs that matter (those arriving
    and the one before each), updated as arrivals are placed."""

    branches: dict[int, Branch]
    rows: dict[int, list[Stored]] = field(default_factory=dict)

    def owner(self, fork: int, seq: int) -> int:
        """The branch whose own records hold `seq` in the history of `fork`."""
        branch = self.branches[fork]
        while branch.parent is not None and seq < branch.fork_seq:
            branch = self.branches[branch.parent]
        return branch.fork

    def hash_at(self, fork: int, seq: int) -> str | None:
        """The hash of record `seq` in the history of `fork` (None: not known here)."""
        if seq == 0:
            return GENESIS
        owner = self.owner(fork, seq)
        return next((s.hash for s in self.rows.get(seq, ()) if s.fork == owner), None)

    def owns(self, fork: int, seq: int) -> bool:
        return any(s.fork == fork for s in self.rows.get(seq, ()))

    def place(self, arrival: Arrival) -> Placed:
        record = arrival.record
        seq = record.seq
        here = self.rows.get(seq, [])
        twin = next((s for s in here if s.hash == arrival.hash), None)
        if twin is not None:
            return Placed(arrival, Kind.DUPLICATE, twin.fork)
        edited = next((s for s in here if s.scan_id == record.scan_id), None)
        if edited is not None:
            return Placed(arrival, Kind.EDITED, edited.fork, stored_hash=edited.hash)
        extends = self._extends(seq, record.prev_hash)
        # a record whose predecessor is not known yet (a hole) is not a break: the store checks
        # the chain when the hole fills
        chain_break = extends is None and seq - 1 in self.rows
        parent = 0 if extends is None else extends
        if not self.owns(parent, seq):
            fork, new = parent, False
        else:
            fork, new = self._new_branch(parent, seq), True
        self.rows.setdefault(seq, []).append(Stored(fork, arrival.hash, record.scan_id))
        return Placed(arrival, Kind.INSERT, fork, new_branch=new, chain_break=chain_break)

    def _extends(self, seq: int, prev_hash: str) -> int | None:
        """The branch that owns the record `prev_hash` names, at seq - 1."""
        if seq == 1:
            return 0 if prev_hash == GENESIS else None
        for stored in self.rows.get(seq - 1, ()):
            if stored.hash == prev_hash:
                return stored.fork
        return None

    def _new_branch(self, parent: int, seq: int) -> int:
        fork = max(self.branches) + 1
        self.branches[fork] = Branch(
            fork, parent, seq, committed_upto=0, committed_hash=None, new=True
        )
        return fork
