"""Verify time per badge on this interpreter (a board, the wasm port, or CPython): run
`import halte.bench; halte.bench.main()` on a board, or scripts/bench-halte here."""

import json
import time

from halte import badge
from halte.ed25519 import PublicKey, SigningKey
from halte.sha512 import sha512

# a valid token of the badge-v1 test vectors (org seed 00..1f), verified at its `now`
BADGE_TEXT = (
    "PRS1:AFLEOWVHAAAAH2LJKW4QA2ZW5SAASQSVKMWTAMBRGIZ6SZFIEO62OWYZRYE2UI5HZLAAUVDF47Z4UG6FAG5"
    "FTGOUF56SJP3OAJK6N7CGLSJBYDU3FTFHFBC6EFTQVNQZLGZSDK7C5H536GTTBE"
)
ORG_PUBLIC = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
NOW = 1790000000


def _ms(fn: object, inner: int, rounds: int = 5) -> float:
    """Per call, in ms: the fastest of `rounds` runs of `inner` calls (the run least disturbed
    by other work; several calls per run because some ports count time in whole ms)."""
    best = 1 << 30
    for _ in range(rounds):
        start = time.ticks_us()
        for _ in range(inner):
            fn()  # type: ignore[operator]
        best = min(best, time.ticks_diff(time.ticks_us(), start))
    return best / 1000 / inner


def run() -> dict[str, float]:
    raw = bytes.fromhex(ORG_PUBLIC)
    from hashlib import sha256

    keys = {sha256(raw).digest()[:4]: PublicKey(raw)}
    verdict = badge.verify(BADGE_TEXT, keys, set(), NOW, True)
    assert verdict.reason == "ok", verdict.reason
    signer = SigningKey(bytes(32))
    return {
        "verify_badge_ms": _ms(lambda: badge.verify(BADGE_TEXT, keys, set(), NOW, True), 5),
        "sha512_block_ms": _ms(lambda: sha512(b"x" * 100), 50),
        "sign_batch_1kb_ms": _ms(lambda: signer.sign(b"r" * 1024), 2),
    }


def main() -> None:
    print(json.dumps(run()))
