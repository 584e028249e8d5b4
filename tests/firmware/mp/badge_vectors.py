# Under MicroPython: verify every badge-v1 test vector with the firmware; print the reasons.
# argv: the vectors file's JSON on stdin is not available here, so the test passes it as argv[1].
import json
import sys
from binascii import a2b_base64

from halte import badge
from halte.ed25519 import PublicKey

vectors = json.loads(sys.argv[1])
keys = {}
for entry in vectors["key_ring"]["keys"]:
    keys[bytes.fromhex(entry["key_id"])] = PublicKey(a2b_base64(entry["public_key"].encode()))
revoked = set(vectors["revocations"]["serials"])
for case in vectors["cases"]:
    verdict = badge.verify(case["text"], keys, revoked, vectors["now"], True)
    token = verdict.token
    print(
        json.dumps(
            {
                "name": case["name"],
                "reason": verdict.reason,
                "employee": token.employee if token else None,
                "serial": token.serial if token else None,
            }
        )
    )
