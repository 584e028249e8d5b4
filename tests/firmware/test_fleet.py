"""Fleet documents on the halte (under MicroPython): signed by a trusted org key, newer than
what the station has, of the topic's kind; stored and verified again at boot."""

from __future__ import annotations

import json

from presensi.protocol import topics
from presensi.protocol.badge import parse
from presensi.protocol.fleet import keys_document, revocations_document, sign_document
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from tests.firmware.wasm import run_mp
from tests.protocol.make_record_vectors import OUT as RECORD_VECTORS
from tests.protocol.make_vectors import OUT as BADGE_VECTORS


def test_revocations_and_keys_from_the_hub() -> None:
    vectors = json.loads(BADGE_VECTORS.read_text())
    vectors["station_private_seed_hex"] = json.loads(RECORD_VECTORS.read_text())[
        "station_private_seed_hex"
    ]
    org = SigningKey.from_seed(bytes.fromhex(vectors["org_private_seed_hex"]))
    new_org = SigningKey.from_seed(b"\x42" * 32)
    stranger = SigningKey.from_seed(b"\x07" * 32)
    serial = parse(vectors["cases"][0]["text"]).serial
    rev, keys = topics.FLEET_REVOCATIONS, topics.FLEET_KEYS
    revoke = revocations_document(Revocations(2, frozenset({666, serial})), org).decode()
    tampered = revoke.replace(f"{serial}", f"{serial + 1}")
    docs = [
        (
            "stranger",
            rev,
            revocations_document(Revocations(5, frozenset({serial})), stranger).decode(),
        ),
        ("tampered", rev, tampered),
        ("garbage", rev, "{not json"),
        ("wrong kind", keys, revoke),
        ("revoked", rev, revoke),
        ("older", rev, revocations_document(Revocations(1, frozenset()), org).decode()),
        # keys v1: only the new key; then revocations signed by it lift the revocation
        ("keys rotated", keys, keys_document(KeyRing.of([new_org.public]), 1, org).decode()),
        (
            "lifted by new key",
            rev,
            revocations_document(Revocations(3, frozenset()), new_org).decode(),
        ),
        (
            "old key now unknown",
            rev,
            revocations_document(Revocations(4, frozenset({serial})), org).decode(),
        ),
        (
            "too large",
            rev,
            sign_document(
                {"kind": "revocations", "version": 9, "serials": list(range(9000))}, org
            ).decode(),
        ),
    ]
    out = {o["at"]: o for o in run_mp("fleet_docs.py", json.dumps(vectors), json.dumps(docs))}
    assert out["before"]["reason"] == "ok"
    for name, code in [
        ("stranger", "fleet_unknown_key"),
        ("tampered", "fleet_bad_signature"),
        ("garbage", "fleet_malformed"),
        ("wrong kind", "fleet_wrong_kind"),
    ]:
        assert out[name]["reason"] == "ok", name
        assert out[name]["faults"][code] == 1, name
    assert out["revoked"]["reason"] == "revoked"
    assert out["revoked"]["versions"] == {"keys": 0, "revocations": 2}
    assert out["older"]["reason"] == "revoked"  # an older list changes nothing
    # the badge's key is gone from the ring: unknown_key, whatever the revocations say
    assert out["keys rotated"]["reason"] == "unknown_key"
    assert out["lifted by new key"]["versions"] == {"keys": 1, "revocations": 3}
    assert out["old key now unknown"]["faults"]["fleet_unknown_key"] == 2
    assert out["too large"]["faults"]["fleet_too_large"] == 1
    # after a reboot the stored documents are verified and applied again
    assert out["after reboot"]["versions"] == {"keys": 1, "revocations": 3}
    assert out["after reboot"]["reason"] == "unknown_key"
    # an edited revocations file on flash is ignored with a fault; the keys file still applies
    assert out["edited file"]["versions"] == {"keys": 1, "revocations": 1}
    assert out["edited file"]["faults"] == {"stored_fleet_unknown_key": 1}
