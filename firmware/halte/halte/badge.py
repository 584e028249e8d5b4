"""Badge token v1 (docs/protocol.md): parse the scanned text and verify it offline.

Checks in the protocol's order and stops at the first failure: not_a_badge, malformed,
unknown_key, bad_signature, revoked, not_yet_valid (only with a synced clock), expired, ok.
Parsing is strict: only the canonical text of a well-formed token is accepted.
"""

from halte import reasons
from halte.ed25519 import PublicKey

PREFIX = "PRS1:"
DOMAIN = b"presensi/badge/v1\x00"
VERSION = 1
HEADER = 18
SIGNATURE = 64
MAX_EMPLOYEE = 32
MAX_TEXT = len(PREFIX) + (HEADER + MAX_EMPLOYEE + SIGNATURE) * 8 // 5 + 1
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_EMPLOYEE_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"


class Malformed(ValueError):
    pass


class Token:
    def __init__(self, raw: bytes) -> None:
        self.key_id = raw[1:5]
        self.serial = int.from_bytes(raw[5:9], "big")
        self.valid_from = int.from_bytes(raw[9:13], "big")
        self.valid_until = int.from_bytes(raw[13:17], "big")
        self.employee = raw[HEADER:-SIGNATURE].decode()
        self.signed = raw[:-SIGNATURE]
        self.signature = raw[-SIGNATURE:]


def b32decode(text: str) -> bytes:
    """RFC 4648 Base32 without padding, upper case only; raises Malformed."""
    bits = 0
    count = 0
    out = bytearray()
    for ch in text:
        value = _ALPHABET.find(ch)
        if value < 0:
            raise Malformed("not Base32")
        bits = (bits << 5 | value) & 0xFFF
        count += 5
        if count >= 8:
            count -= 8
            out.append(bits >> count & 0xFF)
    if count >= 5 or bits & ((1 << count) - 1):
        raise Malformed("not canonical Base32")
    return bytes(out)


def parse(text: str) -> Token:
    """The token in a scanned text starting with PREFIX; raises Malformed."""
    if len(text) > MAX_TEXT:
        raise Malformed("too long")
    raw = b32decode(text[len(PREFIX) :])
    if len(raw) < HEADER + 1 + SIGNATURE:
        raise Malformed("truncated")
    if raw[0] != VERSION:
        raise Malformed("unknown version")
    if len(raw) != HEADER + raw[17] + SIGNATURE:
        raise Malformed("length does not match the employee field")
    for byte in raw[HEADER:-SIGNATURE]:
        if byte not in _EMPLOYEE_CHARS:
            raise Malformed("employee number has forbidden characters")
    return Token(raw)


class Verdict:
    def __init__(self, reason: str, token: Token | None = None) -> None:
        self.reason = reason
        self.token = token


def verify(
    text: str,
    keys: dict[bytes, PublicKey],
    revoked: set[int],
    now_s: int,
    check_not_before: bool,
) -> Verdict:
    """Never raises: every failure is a reason code."""
    if not text.startswith(PREFIX):
        return Verdict(reasons.NOT_A_BADGE)
    try:
        token = parse(text)
    except Malformed:
        return Verdict(reasons.MALFORMED)
    key = keys.get(token.key_id)
    if key is None:
        return Verdict(reasons.UNKNOWN_KEY, token)
    if not key.verify(token.signature, DOMAIN + token.signed):
        return Verdict(reasons.BAD_SIGNATURE, token)
    if token.serial in revoked:
        return Verdict(reasons.REVOKED, token)
    if check_not_before and now_s < token.valid_from:
        return Verdict(reasons.NOT_YET_VALID, token)
    if now_s >= token.valid_until:
        return Verdict(reasons.EXPIRED, token)
    return Verdict(reasons.OK, token)
