"""Corruption that is not a torn tail (a flipped byte in an older segment, a segment gone):
the halte keeps the good part, sets the rest aside, and starts a new journal, so the hub is
never left waiting for records that cannot come."""

from __future__ import annotations

from tests.firmware.wasm import run_mp


def test_corruption_before_the_tail_starts_a_new_journal() -> None:
    out = {o["case"]: o for o in run_mp("journal_corrupt.py")}
    flipped = out["flipped"]
    assert flipped["faults"] == ["journal_corrupt"]
    assert flipped["kept"] == [1]  # record 2 is bad: 2..12 cannot be delivered in order
    assert flipped["new_journal"] is True and flipped["new_seq"] == 1
    assert flipped["set_aside"] == ["s00002.bad", "s00003.bad"]
    assert out["ack"]["outcome"] == "acked"
    assert out["ack"]["backlog"] == 1  # only the new journal's scan: nothing the hub would wait for
    assert "s00001.log" not in out["ack"]["files"]  # acked: freed
    assert {"s00002.bad", "s00003.bad"} <= set(out["ack"]["files"])  # kept for an installer
    missing = out["missing"]
    assert missing["faults"] == ["journal_gap"]
    assert missing["kept"] == [1, 2, 3, 4]
    assert missing["new_journal"] is True and missing["new_seq"] == 1
    assert missing["set_aside"] == ["s00003.bad"]
