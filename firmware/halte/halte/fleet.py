"""Signed fleet documents from the hub (presensi.protocol.fleet): the org key list and the
revocation list, retained on presensi/v1/fleet/keys and .../revocations.

A document is accepted only when an org key the station already trusts signed it (Ed25519 over
"presensi/fleet/v1\\0" + canonical JSON of `doc`), its kind is the topic's, and its version is
newer than the station's; it is then stored on flash as received and verified again at every
boot (a corrupt or edited file is ignored with a fault code, the provisioned lists stay). A halte
keeps documents up to MAX_BYTES (about 4,000 revoked serials); a larger one is refused with
`fleet_too_large`, never half applied.
"""

import hashlib
import json
from binascii import a2b_base64, unhexlify

from halte import record
from halte.ed25519 import BadKey, PublicKey

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from halte.flash import Flash

DOMAIN = b"presensi/fleet/v1\x00"
MAX_BYTES = 32 * 1024
TOPICS = {"presensi/v1/fleet/keys": "keys", "presensi/v1/fleet/revocations": "revocations"}


class FleetError(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def open_document(payload: bytes, keys: dict[bytes, PublicKey], kind: str) -> dict[str, Any]:
    if len(payload) > MAX_BYTES:
        raise FleetError("fleet_too_large")
    try:
        outer = json.loads(payload)
        doc = outer["doc"]
        key_id = unhexlify(outer["key_id"])
        signature = a2b_base64(outer["sig"].encode())
        body = record.canonical_text(doc).encode()
    except (ValueError, KeyError, TypeError, AttributeError):
        raise FleetError("fleet_malformed")
    key = keys.get(key_id)
    if key is None:
        raise FleetError("fleet_unknown_key")
    if not key.verify(signature, DOMAIN + body):
        raise FleetError("fleet_bad_signature")
    if (
        not isinstance(doc, dict)
        or doc.get("kind") != kind
        or not isinstance(doc.get("version"), int)
    ):
        raise FleetError("fleet_wrong_kind")
    return doc


def key_ring(doc: dict[str, Any]) -> dict[bytes, PublicKey]:
    ring: dict[bytes, PublicKey] = {}
    try:
        for entry in doc["keys"]:
            raw = a2b_base64(entry["public_key"].encode())
            ring[hashlib.sha256(raw).digest()[:4]] = PublicKey(raw)
    except (KeyError, TypeError, ValueError, AttributeError, BadKey):
        raise FleetError("fleet_bad_keys")
    if not ring:
        raise FleetError("fleet_no_keys")
    return ring


def revoked_serials(doc: dict[str, Any]) -> set[int]:
    serials = doc.get("serials")
    if not isinstance(serials, list) or not all(isinstance(s, int) for s in serials):
        raise FleetError("fleet_bad_serials")
    return set(serials)


class Fleet:
    """The lists the station decides with: provisioned, then replaced by newer documents."""

    def __init__(
        self,
        flash: Flash,
        keys: dict[bytes, PublicKey],
        revoked: set[int],
        revocations_version: int,
    ) -> None:
        self.flash = flash
        self.keys = keys
        self.revoked = revoked
        self.versions = {"keys": 0, "revocations": revocations_version}
        self.faults: list[str] = []
        for kind in ("keys", "revocations"):  # keys first: they may sign the revocations
            name = kind + ".json"
            if name in flash.names():
                f = flash.open(name)
                try:
                    payload = f.read()
                finally:
                    f.close()
                try:
                    self.apply(kind, payload, store=False)
                except FleetError as exc:
                    self.faults.append("stored_" + exc.code)

    def apply(self, kind: str, payload: bytes, store: bool = True) -> bool:
        """Apply a document if it is newer; True if it was. Raises FleetError."""
        doc = open_document(payload, self.keys, kind)
        if doc["version"] <= self.versions[kind]:
            return False
        if kind == "keys":
            ring = key_ring(doc)
        else:
            serials = revoked_serials(doc)
        if store:
            self.flash.replace(kind + ".json", payload)
        if kind == "keys":
            self.keys.clear()
            self.keys.update(ring)
        else:
            self.revoked.clear()
            self.revoked.update(serials)
        self.versions[kind] = doc["version"]
        return True
