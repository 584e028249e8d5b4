"""Scan ids (UUIDv7, RFC 9562: time-ordered) and journal ids (128 random bits, 32 hex digits),
as presensi.protocol.ids makes them."""

import os
from binascii import hexlify


def uuid7(unix_ms: int) -> str:
    rand = bytearray(os.urandom(10))
    rand[0] = 0x70 | (rand[0] & 0x0F)  # version 7 over 12 random bits
    rand[2] = 0x80 | (rand[2] & 0x3F)  # RFC 9562 variant over 62 random bits
    h = hexlify((unix_ms & 0xFFFFFFFFFFFF).to_bytes(6, "big") + bytes(rand)).decode()
    return "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))


def new_journal_id() -> str:
    return hexlify(os.urandom(16)).decode()
