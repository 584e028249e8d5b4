"""Scan ids (UUIDv7, RFC 9562: time-ordered) and journal ids (128 random bits, 32 hex digits),
as presensi.protocol.ids makes them."""

import os
import random
from binascii import hexlify


def random_bytes(n: int) -> bytes:
    """os.urandom (the RP2350's hardware TRNG on the board); ports without it (the wasm port
    in the tests) fall back to the random module: ids need uniqueness, not secrecy."""
    urandom = getattr(os, "urandom", None)
    if urandom is not None:
        return bytes(urandom(n))
    return bytes(random.getrandbits(8) for _ in range(n))


def uuid7(unix_ms: int) -> str:
    rand = bytearray(random_bytes(10))
    rand[0] = 0x70 | (rand[0] & 0x0F)  # version 7 over 12 random bits
    rand[2] = 0x80 | (rand[2] & 0x3F)  # RFC 9562 variant over 62 random bits
    h = hexlify((unix_ms & 0xFFFFFFFFFFFF).to_bytes(6, "big") + bytes(rand)).decode()
    return "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))


def new_journal_id() -> str:
    return hexlify(random_bytes(16)).decode()
