"""Scan records of schema 2 (docs/protocol.md), byte for byte what the Pi station writes.

Canonical form: JSON, keys sorted, no whitespace, UTF-8, integers only. A record's hash is
SHA-256 over its canonical bytes; each record holds its predecessor's (GENESIS for the first),
so the hub verifies the halte's chain exactly as it verifies a Pi's.
"""

import hashlib
from binascii import hexlify

SCHEMA = 2
GENESIS = "0" * 64
FIELDS = (
    "boot_id",
    "clock_last_sync_ms",
    "clock_synced",
    "config_version",
    "direction",
    "employee",
    "event",
    "journal",
    "location",
    "mono_ns",
    "outcome",
    "payload_len",
    "payload_sha256",
    "prev_hash",
    "reason",
    "scan_id",
    "seq",
    "serial",
    "station",
    "v",
    "wall_ms",
)
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _value(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return canonical_text(value)
    raise TypeError("not canonical JSON: " + repr(value))


def canonical_text(obj: dict[str, object]) -> str:
    """JSON with sorted keys and no whitespace (the protocol's canonical form)."""
    keys = sorted(obj)
    return "{" + ",".join(_string(k) + ":" + _value(obj[k]) for k in keys) + "}"


def canonical(record: dict[str, object]) -> bytes:
    if len(record) != len(FIELDS):
        raise ValueError("a schema 2 record has exactly the protocol's fields")
    for name in FIELDS:
        if name not in record:
            raise ValueError("record field missing: " + name)
    return canonical_text(record).encode()


def digest(body: bytes) -> str:
    return hexlify(hashlib.sha256(body).digest()).decode()


def fingerprint(data: bytes) -> str:
    """payload_sha256: the first 16 bytes of SHA-256 over the scanned text (UTF-8), hex."""
    return hexlify(hashlib.sha256(data).digest()[:16]).decode()
