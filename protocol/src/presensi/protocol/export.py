"""Journal export files: a station's records carried by hand when it stays offline for long.

JSON Lines, UTF-8:

    line 1      header: {"format": "presensi-journal-export", "version": 2, "station": ...,
                "journal": J, "first_seq": F, "last_seq": L, "prev_hash": <hash of record F-1>,
                "created_ms": ..., "key_id": <station key id, hex>}
    lines 2..   one record per line, in its canonical form, seq F..L of journal J in order
    last line   {"signature": <Base64 Ed25519 signature over DOMAIN + every byte before this line>}

The hub verifies the signature with the station's registered key (never a key from the file),
then the hash chain, then inserts through the same idempotent path as MQTT batches. Version 1
files (no journal: the station's legacy journal) are still read.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import SigningKey, key_id_of
from presensi.protocol.record import LEGACY_JOURNAL, ScanRecord, decode_record, verify_chain

FORMAT = "presensi-journal-export"
DOMAIN = b"presensi/export/v1\x00"


@dataclass(frozen=True)
class Export:
    station: str
    journal: str
    first_seq: int
    last_seq: int
    prev_hash: str
    records: list[ScanRecord]


def write_export(
    station: str, prev_hash: str, records: Iterable[ScanRecord], key: SigningKey, created_ms: int
) -> bytes:
    rows = [r.canonical() for r in records]
    if not rows:
        raise ProtocolError("nothing to export")
    head, tail = decode_record(rows[0]), decode_record(rows[-1])
    first, last = head.seq, tail.seq
    header = {
        "format": FORMAT,
        "version": 2,
        "station": station,
        "journal": head.journal,
        "first_seq": first,
        "last_seq": last,
        "prev_hash": prev_hash,
        "created_ms": created_ms,
        "key_id": key.key_id.hex(),
    }
    body = json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    body += b"".join(row + b"\n" for row in rows)
    signature = base64.b64encode(key.sign(DOMAIN + body)).decode()
    return body + json.dumps({"signature": signature}).encode() + b"\n"


def read_export(data: bytes, station_key: Ed25519PublicKey) -> Export:
    """Verify signature, header and hash chain; raise ProtocolError saying what is wrong."""
    body, sep, last_line = data.rstrip(b"\n").rpartition(b"\n")
    if not sep:
        raise ProtocolError("not an export file: too short")
    body += b"\n"
    try:
        signature = base64.b64decode(json.loads(last_line)["signature"], validate=True)
        station_key.verify(signature, DOMAIN + body)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ProtocolError(f"not an export file: no valid signature line ({exc})") from exc
    except InvalidSignature:
        raise ProtocolError("export signature does not match the station's key") from None
    lines = body.split(b"\n")[:-1]
    try:
        header = json.loads(lines[0])
        if header.get("format") != FORMAT or header.get("version") not in (1, 2):
            raise ProtocolError("not a version 1 or 2 presensi journal export")
        station, prev_hash = str(header["station"]), str(header["prev_hash"])
        journal = str(header["journal"]) if header["version"] == 2 else LEGACY_JOURNAL
        first, last = int(header["first_seq"]), int(header["last_seq"])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ProtocolError(f"bad export header: {exc}") from exc
    if header.get("key_id") != key_id_of(station_key).hex():
        raise ProtocolError("export was signed by another key than the station's")
    records = [decode_record(line) for line in lines[1:]]
    if any(r.station != station for r in records):
        raise ProtocolError("export holds records of another station")
    if any(r.journal != journal for r in records):
        raise ProtocolError(f"export holds records of another journal than {journal}")
    verify_chain(records, prev_hash, first)
    if not records or records[-1].seq != last:
        raise ProtocolError("export records do not end at last_seq")
    return Export(station, journal, first, last, prev_hash, records)
