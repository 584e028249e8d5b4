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


def _ms(fn: object, rounds: int) -> float:
    start = time.ticks_us()
    for _ in range(rounds):
        fn()  # type: ignore[operator]
    return time.ticks_diff(time.ticks_us(), start) / 1000 / rounds


def run(rounds: int = 10) -> dict[str, float]:
    raw = bytes.fromhex(ORG_PUBLIC)
    from hashlib import sha256

    keys = {sha256(raw).digest()[:4]: PublicKey(raw)}
    verdict = badge.verify(BADGE_TEXT, keys, set(), NOW, True)
    assert verdict.reason == "ok", verdict.reason
    signer = SigningKey(bytes(32))
    return {
        "verify_badge_ms": _ms(lambda: badge.verify(BADGE_TEXT, keys, set(), NOW, True), rounds),
        "sha512_block_ms": _ms(lambda: sha512(b"x" * 100), rounds),
        "sign_batch_1kb_ms": _ms(lambda: signer.sign(b"r" * 1024), max(1, rounds // 2)),
    }


def main() -> None:
    print(json.dumps(run()))
