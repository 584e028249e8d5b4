"""Stable reason codes. They go into records, the wire, the UI and the signals: never rename one."""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    OK = "ok"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    MALFORMED = "malformed"
    NOT_A_BADGE = "not_a_badge"
    DUPLICATE_WINDOW = "duplicate_window"
    # phone badge (presensi.protocol.phone); a phone code's certificate uses the codes above
    PHONE_BAD_DEVICE_SIGNATURE = "phone_bad_device_signature"
    PHONE_EXPIRED_STEP = "phone_expired_step"
    PHONE_FUTURE_STEP = "phone_future_step"
    PHONE_REPLAYED = "phone_replayed"


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
