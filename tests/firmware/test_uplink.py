"""The uplink's ack/resend state machine under MicroPython, with the test as the broker."""

from __future__ import annotations

import json

from presensi.protocol import wire
from presensi.protocol.keys import SigningKey, raw_public
from tests.firmware.wasm import run_mp
from tests.protocol.make_record_vectors import OUT as RECORD_VECTORS
from tests.protocol.make_vectors import OUT as BADGE_VECTORS


def test_resend_until_the_hubs_cumulative_ack() -> None:
    vectors = json.loads(RECORD_VECTORS.read_text())
    seed = vectors["station_private_seed_hex"]
    badges = json.loads(BADGE_VECTORS.read_text())
    badges["station_private_seed_hex"] = seed
    out = run_mp("uplink_states.py", seed, json.dumps(badges))
    last = next(s for s in out if "payload" in s)
    by = {s["at"]: s for s in out if "at" in s}
    # a batch is signed in many small steps (one SHA-512 block or 16 scalar bits each)
    assert by["signing steps"]["steps"] > 50
    # a scan arriving mid-signature is stored and signalled at the very next step
    assert by["scan while signing"] == {
        "at": "scan while signing",
        "signing": True,
        "stored": 1,
        "signal": "accepted_in",
    }
    assert by["connected"] == {"at": "connected", "batches": [[1, 10], [11, 20]], "connected": True}
    assert by["no ack yet"]["batches"] == []  # within resend_ms: nothing again
    assert by["resend"]["batches"] == [[1, 10], [11, 20]]  # no ack for resend_ms: from the mark
    assert by["resend"]["resends"] == 1
    assert by["ack 10"]["acked"] == 10
    assert by["ack 10"]["batches"] == [[21, 25]]  # the window moved
    assert by["foreign ack"] == {"at": "foreign ack", "acked": 10, "foreign": 1}
    assert by["link broken"]["connected"] is False
    assert by["link broken"]["drops"] == 1
    assert by["reconnected"]["connected"] is True
    assert by["reconnected"]["batches"][0] == [11, 20]  # after a reconnect: from the mark
    assert by["all acked"]["backlog"] == 0
    assert by["all acked"]["segments"] == 1  # only the newest segment is kept
    assert by["hub ahead"]["rotated"] is True
    assert by["silent link"] == {
        "at": "silent link",
        "connected": False,
        "error": "keepalive_timeout",
    }
    assert by["no connack"] == {
        "at": "no connack",
        "connecting": True,
        "client": False,
        "error": "connack_timeout",
    }
    # the batch is one the hub's own parser accepts, signed by this station's key
    key = SigningKey.from_seed(bytes.fromhex(seed))
    batch = wire.open_batch(
        bytes.fromhex(last["payload"]), {"halte-test-01": key.public}, "halte-test-01"
    )
    assert [r.seq for r in batch.records] == list(range(1, 11))
    assert raw_public(key.public).hex() == vectors["station_public_key_hex"]
