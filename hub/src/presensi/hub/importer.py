"""The fallback path: a station's exported journal file, carried by hand, into the hub through
the same idempotent ingest as MQTT batches (importing twice records nothing twice)."""

from __future__ import annotations

import json
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from presensi.hub.store import IngestResult, Store
from presensi.protocol import wire
from presensi.protocol.errors import ProtocolError
from presensi.protocol.export import read_export

CHUNK = 1000


def import_export(store: Store, data: bytes) -> IngestResult:
    try:
        station = str(json.loads(data.split(b"\n", 1)[0])["station"])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ProtocolError(f"not an export file: {str(exc)[:200]}") from exc
    raw = store.station_keys().get(station)
    if raw is None:
        raise ProtocolError(f"unknown station {station!r}: enroll it before importing its journal")
    export = read_export(data, Ed25519PublicKey.from_public_bytes(raw))
    batches = [
        wire.batch_of(station, export.journal, export.records[i : i + CHUNK])
        for i in range(0, len(export.records), CHUNK)
    ]
    return store.ingest(batches, time.time_ns() // 1_000_000)
