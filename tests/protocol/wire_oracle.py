"""The properties every decoder of a network input must keep, whatever the bytes: it returns a
value of its schema or raises ProtocolError, nothing else; what it returns survives a round
trip; and the parts that apply the value (the hub's ingest, a station's uplink) never raise.
Used by tests/protocol/test_wire_fuzz.py (hypothesis, bounded, in CI) and by
tests/fuzz/fuzz_wire.py (atheris, open-ended)."""

from __future__ import annotations

import base64
import json
from typing import Any

from presensi.protocol import fleet, wire
from presensi.protocol.errors import ProtocolError
from presensi.protocol.export import DOMAIN as EXPORT_DOMAIN
from presensi.protocol.export import read_export
from presensi.protocol.keys import KeyRing, SigningKey
from presensi.protocol.record import decode_record

STATION = "st-pool-mangkang-01"
STATION_KEY = SigningKey.from_seed(bytes(range(100, 132)))
ORG_KEY = SigningKey.from_seed(bytes(range(132, 164)))
TRUSTED = KeyRing.of([ORG_KEY.public])
KEYS = {STATION: STATION_KEY.public}

# the fields of each message kind, so that hostile values land where a decoder looks
SHAPES: dict[str, dict[str, Any]] = {
    "status": {"state": "online", "boot_id": "b", "version": "0.1.0", "ts_ms": 1},
    "telemetry": {
        "ts_ms": 1,
        "last_seq": 1,
        "acked_upto": 1,
        "backlog": 0,
        "journal": "0" * 32,
        "journals": {"0" * 32: [1, 1]},
        "clock_synced": True,
        "version": "0.1.0",
    },
    "ack": {"upto": 1, "journal": "0" * 32, "hash": "0" * 64, "forked": False},
    "settings": {"version": 2, "mode": "event", "event": "apel-senin", "location": "halte-b"},
    "batch": {"v": 2, "station": STATION, "journal": "1" * 32, "records": []},
    "record": {"v": 2, "station": STATION, "journal": "1" * 32, "seq": 1},
    "fleet": {"kind": "revocations", "version": 2, "serials": [1, 2]},
}
KINDS = {
    "status": wire.Status,
    "telemetry": wire.Telemetry,
    "ack": wire.Ack,
    "settings": wire.StationSettings,
}


def check_decoders(kind: str, payload: bytes) -> None:
    """Every decoder that could meet `payload`, on its own terms."""
    if kind in KINDS:
        _typed(payload, KINDS[kind])
    elif kind == "batch":
        signed = base64.b64encode(STATION_KEY.sign(wire.BATCH_DOMAIN + payload)) + b"\n" + payload
        for data in (payload, signed):
            try:
                batch = wire.open_batch(data, KEYS, STATION)
            except ProtocolError:
                continue
            assert batch.station == STATION and len(batch.records) <= wire.MAX_BATCH_RECORDS
    elif kind == "record":
        try:
            record = decode_record(payload)
        except ProtocolError:
            return
        assert decode_record(record.canonical()) == record
    elif kind == "fleet":
        _fleet(payload)
    elif kind == "export":
        _export(payload)


def _typed(payload: bytes, kind: type[Any]) -> None:
    try:
        value = wire.decode(payload, kind)
    except ProtocolError:
        return
    assert wire.decode(wire.encode(value), kind) == value  # what is accepted is well-formed


def _fleet(payload: bytes) -> None:
    for data in (payload, _signed_document(payload)):
        try:
            doc = fleet.open_document(data, TRUSTED, "revocations")
        except ProtocolError:
            continue
        assert doc["kind"] == "revocations" and isinstance(doc["version"], int)


def _signed_document(payload: bytes) -> bytes:
    """The payload as the `doc` of a document the trusted key really signed, if it is JSON."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return payload
    try:
        return fleet.sign_document(doc, ORG_KEY)
    except (TypeError, ValueError, RecursionError):
        return payload


def _export(payload: bytes) -> None:
    body = payload if payload.endswith(b"\n") else payload + b"\n"
    signature = base64.b64encode(STATION_KEY.sign(EXPORT_DOMAIN + body)).decode()
    signed = body + json.dumps({"signature": signature}).encode() + b"\n"
    for data in (payload, signed):
        try:
            export = read_export(data, STATION_KEY.public)
        except ProtocolError:
            continue
        assert export.records and export.records[-1].seq == export.last_seq
