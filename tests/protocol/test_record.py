from __future__ import annotations

import uuid

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from presensi.device.testbed import sample_chain, sample_record
from presensi.protocol.errors import ProtocolError
from presensi.protocol.ids import uuid7
from presensi.protocol.record import GENESIS, decode_record, verify_chain


def test_canonical_form_is_sorted_compact_and_stable() -> None:
    body = sample_record("st-1", 3, GENESIS, boot_id="b").canonical()  # seq 3: never synced
    keys = list(msgspec.json.decode(body).keys())
    assert keys == sorted(keys)
    assert b" " not in body and body.startswith(b'{"boot_id":"b","clock_last_sync_ms":null')
    assert decode_record(body).canonical() == body


def test_roundtrip_keeps_digest() -> None:
    record = sample_record("st-1", 3, "1" * 64)
    assert decode_record(record.canonical()).digest() == record.digest()


def test_chain_verifies_and_finds_gaps_and_edits() -> None:
    records = list(sample_chain("st-1", 5))
    assert verify_chain(records, GENESIS, 1) == records[-1].digest()
    with pytest.raises(ProtocolError, match="gap"):
        verify_chain(records[:2] + records[3:], GENESIS, 1)
    edited = [*records[:2], msgspec.structs.replace(records[2], employee="E2"), *records[3:]]
    with pytest.raises(ProtocolError, match="chain broken at seq 4"):
        verify_chain(edited, GENESIS, 1)


def test_decode_rejects_unknown_fields_and_garbage() -> None:
    with pytest.raises(ProtocolError):
        decode_record(b'{"v":1}')
    with pytest.raises(ProtocolError):
        decode_record(sample_record("st-1", 1, GENESIS).canonical()[:-1] + b',"extra":1}')


@given(st.binary(max_size=500))
def test_decode_never_crashes_on_bytes(data: bytes) -> None:
    try:
        record = decode_record(data)
    except ProtocolError as exc:
        assert str(exc).startswith("not a scan record")
    else:  # only a complete, well-typed record gets through
        assert decode_record(record.canonical()) == record


def test_uuid7_is_version_7_and_time_ordered() -> None:
    ids = [uuid7(1_700_000_000_000 + i) for i in range(100)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert ids == sorted(ids)
