"""Badge token v1 under MicroPython: the firmware gives every committed test vector the reason
the protocol (and the Pi station) gives it."""

from __future__ import annotations

import json

from presensi.protocol import badge
from presensi.protocol.keys import KeyRing, Revocations
from tests.firmware.wasm import run_mp
from tests.protocol.make_vectors import OUT as VECTORS


def test_every_badge_vector_under_micropython() -> None:
    vectors = json.loads(VECTORS.read_text())
    got = run_mp("badge_vectors.py", json.dumps(vectors))
    assert [g["name"] for g in got] == [c["name"] for c in vectors["cases"]]
    keys = KeyRing.from_json(vectors["key_ring"])
    revoked = Revocations.from_json(vectors["revocations"])
    for case, result in zip(vectors["cases"], got, strict=True):
        assert result["reason"] == case["reason"], case["name"]
        pi = badge.verify(case["text"], keys, revoked, vectors["now"])
        assert result["reason"] == pi.reason.value
        assert result["employee"] == (pi.token.employee if pi.token else None)
        assert result["serial"] == (pi.token.serial if pi.token else None)
    assert {g["reason"] for g in got} >= {"ok", "bad_signature", "malformed", "unknown_key"}
