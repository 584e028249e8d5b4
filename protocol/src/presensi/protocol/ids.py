"""Ids: UUIDv7 scan ids (RFC 9562: time-ordered, so ids sort by scan time and index well) and
random journal ids."""

from __future__ import annotations

import os
import secrets
import time
import uuid


def uuid7(unix_ms: int | None = None) -> str:
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80  # 48-bit timestamp
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # 12 random bits
    value |= 0b10 << 62  # RFC 9562 variant
    value |= rand & (2**62 - 1)  # 62 random bits
    return str(uuid.UUID(int=value))


def new_journal_id() -> str:
    """A new journal's id: 128 random bits, 32 hex digits (never LEGACY_JOURNAL in practice)."""
    return secrets.token_hex(16)
