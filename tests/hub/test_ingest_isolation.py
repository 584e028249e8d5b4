"""One batch the store cannot take must not hold back the others in its group."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from presensi.device.testbed import sample_record
from presensi.hub.errors import StoreError
from presensi.hub.ingest import Ingest, _Message
from presensi.hub.store import Committed, IngestResult
from presensi.protocol import wire
from presensi.protocol.record import GENESIS


def batch(station: str) -> wire.Batch:
    record = sample_record(station, 1, GENESIS)
    return wire.batch_of(station, record.journal, [record])


class PickyStore:
    """Refuses any call that contains a batch of a station in `poison`."""

    def __init__(self, poison: set[str]) -> None:
        self.poison = poison
        self.stored: list[str] = []
        self.rejected: list[tuple[str | None, str]] = []

    def ingest(self, batches: Sequence[wire.Batch], received_ms: int) -> IngestResult:
        if any(b.station in self.poison for b in batches):
            raise StoreError("invalid byte sequence")
        self.stored += [b.station for b in batches]
        acks = [Committed(b.station, b.journal, 1, b.records[0].digest(), False) for b in batches]
        return IngestResult(acks, len(batches), 0)

    def reject(
        self,
        received_ms: int,
        topic: str,
        station: str | None,
        reason: str,
        payload: bytes,
        **kw: object,
    ) -> None:
        self.rejected.append((station, reason))


def test_a_poison_batch_is_rejected_and_the_rest_stored() -> None:
    store = PickyStore({"st-bad"})
    ingest = Ingest(store, "mqtt://127.0.0.1:1")  # type: ignore[arg-type]
    batches = [batch("st-a"), batch("st-bad"), batch("st-b")]
    result = ingest._store_batches(batches, [_Message("t", b"", 0, 0)])
    assert store.stored == ["st-a", "st-b"]
    assert result.committed == {"st-a": 1, "st-b": 1}
    assert store.rejected == [("st-bad", "store refused the batch: invalid byte sequence")]


def test_when_every_batch_fails_the_store_is_down_and_nothing_is_rejected() -> None:
    store = PickyStore({"st-a", "st-b"})
    ingest = Ingest(store, "mqtt://127.0.0.1:1")  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        ingest._store_batches([batch("st-a"), batch("st-b")], [])
    assert store.rejected == []
