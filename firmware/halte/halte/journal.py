"""The halte's journal on flash: an append-only log of scan records, stored before the signal.

Files in the journal folder:
    s00001.log, s00002.log ...  segments: a header entry (journal id, first seq, prev hash)
                                then up to `segment_records` record entries of that journal
    acks.log                    the hub's acks: {"journal", "upto"} entries, newest last

Entry = b"PJ" + kind (1 byte: H header, R record, A ack) + length (2 bytes, big-endian) +
payload + the first 4 bytes of SHA-256 over kind, length and payload. A record's payload is
its canonical JSON (halte.record), chained by prev_hash per journal as on the Pi station.

Power loss at any byte: a write that did not finish leaves an entry that is short or fails
its checksum at the end of the newest segment (or of acks.log); opening drops it (the good
prefix is rewritten under a temporary name and renamed over the file). Nothing was signalled
for it: `append` returns only after the entry is flushed and the file closed. A bad entry
anywhere else is corruption (`journal_corrupt`, or `journal_gap` when a segment is missing):
the journal keeps its good part up to there (delivered as usual), its later segments are
renamed *.bad for an installer to copy off, and new scans go to a new journal, so no seq is
reused with other contents and the hub never waits for records that cannot come.

Bounded: `append` refuses (JournalFull) when the journal would pass `max_bytes` or leave less
than `reserve_bytes` of flash free (room for acks and settings); the station then signals a
fault, never a success. Only segments whose every record the hub has acked are deleted.
"""

import hashlib
import json

from halte import record
from halte.ids import new_journal_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

    from halte.flash import Flash

MAGIC = b"PJ"
HEAD = 5  # magic, kind, length
CHECK = 4
ACKS = "acks.log"
MAX_TORN = 2048  # a bad end no longer than one entry is a write cut short, not corruption
ACKED = "acked"
ALREADY = "already"
AHEAD = "ahead"
MISMATCH = "mismatch"
UNKNOWN = "unknown"


class JournalError(OSError):
    pass


class JournalFull(JournalError):
    pass


def entry(kind: bytes, payload: bytes) -> bytes:
    if len(payload) > 0xFFFF:
        raise JournalError("entry too large")
    head = MAGIC + kind + len(payload).to_bytes(2, "big")
    return head + payload + bytes(hashlib.sha256(head[2:] + payload).digest()[:CHECK])


def read_entries(f: IO[bytes]) -> Any:
    """Yield (kind, payload, end offset) for each good entry; stop at the first bad one
    (`bad_at` of the generator's last value tells where: see _scan)."""
    offset = 0
    while True:
        head = f.read(HEAD)
        if not head:
            return
        if len(head) < HEAD or head[:2] != MAGIC:
            yield None, b"", offset
            return
        size = int.from_bytes(head[3:5], "big")
        rest = f.read(size + CHECK)
        if len(rest) < size + CHECK:
            yield None, b"", offset
            return
        payload = rest[:size]
        if hashlib.sha256(head[2:] + payload).digest()[:CHECK] != rest[size:]:
            yield None, b"", offset
            return
        offset += HEAD + size + CHECK
        yield head[2:3], payload, offset


class Segment:
    def __init__(self, name: str, journal: str, first: int, prev_hash: str) -> None:
        self.name = name
        self.journal = journal
        self.first = first  # seq of its first record
        self.last = first - 1  # seq of its last record
        self.prev_hash = prev_hash  # of the record before `first`
        self.last_hash = prev_hash
        self.size = 0


class Journal:
    def __init__(
        self,
        flash: Flash,
        station: str,
        max_bytes: int = 1 << 20,
        reserve_bytes: int = 64 << 10,
        segment_records: int = 64,
    ) -> None:
        self.flash = flash
        self.station = station
        self.max_bytes = max_bytes
        self.reserve_bytes = reserve_bytes
        self.segment_records = segment_records
        self.segments: list[Segment] = []
        self.acked: dict[str, int] = {}
        self.faults: list[str] = []  # what opening found (fault codes for telemetry)
        self.set_aside: list[str] = []  # segments moved out of a broken journal (*.bad)
        self.current = ""
        self._load()

    # -- opening --------------------------------------------------------------------------

    def _load(self) -> None:
        names = [n for n in self.flash.names() if n.startswith("s") and n.endswith(".log")]
        cut: list[str] = []  # journals with a corrupt or missing part: later segments set aside
        for i, name in enumerate(names):
            seg, good, bad = self._scan(name)
            if seg is not None and (seg.journal in cut or not self._continues(seg)):
                if seg.journal not in cut:
                    self.faults.append("journal_gap")
                    cut.append(seg.journal)
                self._set_aside(name)
                continue
            if bad:
                torn = i == len(names) - 1 and self.flash.size(name) - good <= MAX_TORN
                self.flash.replace(name, self._prefix(name, good))
                self.faults.append("journal_torn_tail" if torn else "journal_corrupt")
                if not torn and seg is not None:
                    cut.append(seg.journal)
            if seg is None:
                self.flash.remove(name)
                continue
            self.segments.append(seg)
        self._load_acks()
        if self.segments and self.segments[-1].journal not in cut:
            self.current = self.segments[-1].journal
        else:
            self.rotate()

    def _continues(self, seg: Segment) -> bool:
        """The segment follows the previous one of its journal (no segment went missing)."""
        for prev in reversed(self.segments):
            if prev.journal == seg.journal:
                return prev.last + 1 == seg.first and prev.last_hash == seg.prev_hash
        return True

    def _set_aside(self, name: str) -> None:
        """Keep an undeliverable segment for an installer (mpremote cp), out of the journal."""
        self.flash.rename(name, name[:-4] + ".bad")
        self.set_aside.append(name[:-4] + ".bad")

    def _scan(self, name: str) -> tuple[Segment | None, int, bool]:
        """(segment, length of its good prefix, whether a bad entry followed)."""
        seg = None
        good = 0
        f = self.flash.open(name)
        try:
            for kind, payload, end in read_entries(f):
                if kind is None:
                    return seg, good, True
                if kind == b"H" and seg is None:
                    head = json.loads(payload)
                    seg = Segment(name, head["journal"], head["first"], head["prev_hash"])
                elif kind == b"R" and seg is not None:
                    rec = json.loads(payload)
                    if rec["seq"] != seg.last + 1 or rec["prev_hash"] != seg.last_hash:
                        return seg, good, True
                    seg.last = rec["seq"]
                    seg.last_hash = record.digest(payload)
                else:
                    return seg, good, True
                good = end
        finally:
            f.close()
        if seg is not None:
            seg.size = good
        return seg, good, False

    def _prefix(self, name: str, length: int) -> bytes:
        f = self.flash.open(name)
        try:
            return bytes(f.read(length)) if length else b""
        finally:
            f.close()

    def _load_acks(self) -> None:
        if ACKS not in self.flash.names():
            return
        good = 0
        bad = False
        f = self.flash.open(ACKS)
        try:
            for kind, payload, end in read_entries(f):
                if kind != b"A":
                    bad = True
                    break
                ack = json.loads(payload)
                self.acked[ack["journal"]] = max(self.acked.get(ack["journal"], 0), ack["upto"])
                good = end
        finally:
            f.close()
        if bad:
            self.flash.replace(ACKS, self._prefix(ACKS, good))
            self.faults.append("acks_torn_tail")

    # -- writing --------------------------------------------------------------------------

    def rotate(self) -> str:
        """Start a new journal (seq 1, GENESIS); its first segment is written at once."""
        self.current = new_journal_id()
        self._new_segment(self.current, 1, record.GENESIS)
        return self.current

    def _new_segment(self, journal: str, first: int, prev_hash: str) -> Segment:
        number = 1
        if self.segments:
            number = int(self.segments[-1].name[1:6]) + 1
        name = "s%05d.log" % number
        head = record.canonical_text({"first": first, "journal": journal, "prev_hash": prev_hash})
        data = entry(b"H", head.encode())
        self._check_room(len(data))
        self.flash.append(name, data)
        seg = Segment(name, journal, first, prev_hash)
        seg.size = len(data)
        self.segments.append(seg)
        return seg

    def used_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    def _check_room(self, size: int) -> None:
        if self.used_bytes() + size > self.max_bytes:
            raise JournalFull("journal_full")
        if self.flash.free_bytes() - size < self.reserve_bytes:
            raise JournalFull("flash_full")

    def append(self, draft: dict[str, Any]) -> dict[str, Any]:
        """Number, chain and store a draft record durably; returns it. Raises JournalError
        (JournalFull when out of room) and then nothing was stored."""
        seg = self.segments[-1]
        if seg.journal != self.current or seg.last - seg.first + 1 >= self.segment_records:
            seg = self._new_segment(self.current, seg.last + 1, seg.last_hash)
        draft["station"] = self.station
        draft["journal"] = self.current
        draft["seq"] = seg.last + 1
        draft["prev_hash"] = seg.last_hash
        body = record.canonical(draft)
        data = entry(b"R", body)
        self._check_room(len(data))
        try:
            self.flash.append(seg.name, data)
        except OSError as exc:
            self._reload_tail(seg)
            raise JournalError("journal_write_failed: " + str(exc))
        seg.last = draft["seq"]
        seg.last_hash = record.digest(body)
        seg.size += len(data)
        return draft

    def _reload_tail(self, seg: Segment) -> None:
        """After a failed write: drop whatever part of the entry reached the file."""
        scanned, good, bad = self._scan(seg.name)
        if bad:
            self.flash.replace(seg.name, self._prefix(seg.name, good))
        if scanned is not None:
            seg.last, seg.last_hash, seg.size = scanned.last, scanned.last_hash, good

    # -- acks -----------------------------------------------------------------------------

    def ack(self, journal: str, upto: int, digest: str) -> str:
        """The hub committed 1..upto of `journal` and its record upto hashes to `digest`."""
        segs = [s for s in self.segments if s.journal == journal]
        if not segs:
            return UNKNOWN
        if upto <= self.acked.get(journal, 0):
            return ALREADY
        if upto > segs[-1].last:
            return AHEAD
        if self.hash_of(journal, upto) != digest:
            return MISMATCH
        self.flash.append(
            ACKS, entry(b"A", record.canonical_text({"journal": journal, "upto": upto}).encode())
        )
        self.acked[journal] = upto
        self._free_acked()
        return ACKED

    def _free_acked(self) -> None:
        keep = []
        for i, seg in enumerate(self.segments):
            done = seg.last <= self.acked.get(seg.journal, 0)
            if done and i < len(self.segments) - 1:
                self.flash.remove(seg.name)
            else:
                keep.append(seg)
        self.segments = keep
        if self.flash.size(ACKS) > 4096:  # keep only the newest ack of each journal
            live = {s.journal for s in self.segments}
            data = b"".join(
                entry(b"A", record.canonical_text({"journal": j, "upto": n}).encode())
                for j, n in self.acked.items()
                if j in live
            )
            self.acked = {j: n for j, n in self.acked.items() if j in live}
            self.flash.replace(ACKS, data)

    # -- reading --------------------------------------------------------------------------

    def records(self, journal: str, after: int, limit: int) -> list[bytes]:
        """Canonical bytes of up to `limit` records of `journal` with seq > after, in order."""
        out: list[bytes] = []
        for seg in self.segments:
            if seg.journal != journal or seg.last <= after:
                continue
            f = self.flash.open(seg.name)
            try:
                seq = seg.first - 1
                for kind, payload, _ in read_entries(f):
                    if kind != b"R":
                        continue
                    seq += 1
                    if seq > after:
                        out.append(payload)
                        if len(out) >= limit:
                            return out
            finally:
                f.close()
        return out

    def hash_of(self, journal: str, seq: int) -> str | None:
        for seg in self.segments:
            if seg.journal == journal and seq == seg.first - 1:
                return seg.prev_hash
        found = self.records(journal, seq - 1, 1)
        if not found or json.loads(found[0])["seq"] != seq:
            return None
        return record.digest(found[0])

    def journals(self) -> list[tuple[str, int, int]]:
        """(journal, last seq, acked upto) of every journal held, oldest first."""
        out: list[tuple[str, int, int]] = []
        for seg in self.segments:
            if out and out[-1][0] == seg.journal:
                out[-1] = (seg.journal, seg.last, out[-1][2])
            else:
                out.append((seg.journal, seg.last, self.acked.get(seg.journal, 0)))
        return out

    def backlog(self) -> int:
        return sum(max(0, last - acked) for _, last, acked in self.journals())

    def oldest_unacked(self) -> tuple[str, int] | None:
        """(journal, acked upto) of the oldest journal with unacked records."""
        for journal, last, acked in self.journals():
            if last > acked:
                return journal, acked
        return None

    def last_seq(self) -> int:
        return self.segments[-1].last if self.segments else 0

    def recent(self, count: int) -> list[dict[str, Any]]:
        """The newest `count` records of the current journal (to restore the duplicate window)."""
        last = self.last_seq()
        return [json.loads(b) for b in self.records(self.current, max(0, last - count), count)]
