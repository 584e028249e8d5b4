"""Verify time of a phone code next to a printed badge's, on this machine.

    .venv/bin/python -m presensi.protocol.phone_bench [samples]      # table
    .venv/bin/python -m presensi.protocol.phone_bench 2000 --json    # one JSON object

Distinct phone codes (each its own device key and certificate) and distinct printed badges are
verified in alternation, so both see the same machine load; the figures are per verify call.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from presensi.protocol import badge, phone
from presensi.protocol.keys import KeyRing, Revocations, SigningKey

TARGET_MS = 2.0


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def figures(samples: int = 1000) -> dict[str, float | int]:
    org = SigningKey.from_seed(b"\x08" * 32)
    ring = KeyRing.of([org.public])
    revoked = Revocations(1, frozenset(range(100_000, 110_000)))  # a realistic list
    now = 1_790_000_000
    cards, codes = [], []
    for i in range(samples):
        employee = f"EMP-{i:05d}"
        cards.append(badge.issue(org, employee, i + 1, now - 86_400, now + 86_400).to_text())
        device = phone.DeviceKey.generate()
        cert = phone.certify(org, employee, 50_000 + i, device.public_point, now - 1, now + 1)
        codes.append(device.code_at(cert, now).to_text())
    card_s: list[float] = []
    phone_s: list[float] = []
    clock = time.perf_counter
    for card, code in zip(cards, codes, strict=True):
        t0 = clock()
        ok_card = badge.verify(card, ring, revoked, now).ok
        t1 = clock()
        ok_code = phone.verify(code, ring, revoked, now).ok
        t2 = clock()
        if not (ok_card and ok_code):
            raise RuntimeError("a benchmark token did not verify")
        card_s.append(t1 - t0)
        phone_s.append(t2 - t1)
    card_ms = statistics.median(card_s) * 1000
    phone_ms = statistics.median(phone_s) * 1000
    return {
        "samples": samples,
        "phone_verify_ms_median": round(phone_ms, 3),
        "phone_verify_ms_p99": round(_quantile(phone_s, 0.99) * 1000, 3),
        "card_verify_ms_median": round(card_ms, 3),
        "card_verify_ms_p99": round(_quantile(card_s, 0.99) * 1000, 3),
        "ratio_phone_to_card": round(phone_ms / card_ms, 2),
        "phone_text_chars": len(codes[0]),
        "card_text_chars": len(cards[0]),
    }


def main(argv: list[str]) -> None:
    samples = int(next((a for a in argv if a.isdigit()), "1000"))
    result = figures(samples)
    if "--json" in argv:
        print(json.dumps(result))
        return
    for name, value in result.items():
        print(f"{name:26} {value}")
    verdict = "meets" if result["phone_verify_ms_median"] <= TARGET_MS else "MISSES"
    print(f"phone code verify median {verdict} the target of <= {TARGET_MS} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
