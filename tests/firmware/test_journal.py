"""The halte journal under MicroPython: a write torn at any byte loses only that unsignalled
record, the chain goes on from the last good one, and nothing else changes."""

from __future__ import annotations

from tests.firmware.wasm import run_mp


def test_a_record_torn_or_flipped_at_every_byte_offset() -> None:
    head, *cases = run_mp("journal_torn.py")
    cuts = [c for c in cases if c["case"] == "cut"]
    flips = [c for c in cases if c["case"] == "flip"]
    ack_cuts = [c for c in cases if c["case"] == "ack_cut"]
    assert len(cuts) == head["size"] - head["start"] > 500
    assert len(flips) == len(cuts)
    for c in cuts + flips:
        # records 1 and 2 are kept, the torn third is dropped, the next scan takes seq 3
        assert c["next_seq"] == 3, c
        assert c["chained"], c
    for c in cuts:
        assert c["journal_kept"], c
        # a cut exactly at the record's start leaves a clean file: nothing to report
        assert c["faults"] == ([] if c["at"] == head["start"] else ["journal_torn_tail"]), c
    assert all(c["faults"] == ["journal_torn_tail"] for c in flips)
    assert ack_cuts
    for c in ack_cuts:
        assert c["acked"] == 1, c  # the torn second ack is dropped, the first stays
