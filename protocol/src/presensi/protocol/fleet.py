"""Signed fleet documents: the org key list and the revocation list, as the hub publishes them
(retained) to every station. Signed by an org badge key, so a station accepts a new list only
from a key it already trusts; a broker or a hub cannot forge one.

    {"doc": {"kind": "revocations", "version": N, ...}, "key_id": "<hex>", "sig": "<Base64>"}
    signature = Ed25519 over "presensi/fleet/v1\\0" + canonical JSON of doc
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidSignature

from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import KeyRing, Revocations, SigningKey

DOMAIN = b"presensi/fleet/v1\x00"


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_document(doc: dict[str, Any], key: SigningKey) -> bytes:
    signature = key.sign(DOMAIN + _canonical(doc))
    return _canonical(
        {"doc": doc, "key_id": key.key_id.hex(), "sig": base64.b64encode(signature).decode()}
    )


MAX_DOCUMENT_BYTES = 1024 * 1024  # = wire.MAX_FLEET_BYTES


def open_document(payload: bytes, trusted: KeyRing, kind: str) -> dict[str, Any]:
    if len(payload) > MAX_DOCUMENT_BYTES:
        raise ProtocolError(f"fleet document too large ({len(payload)} bytes)")
    try:
        outer = json.loads(payload)
        doc, key_id, sig = outer["doc"], bytes.fromhex(outer["key_id"]), outer["sig"]
        signature = base64.b64decode(sig, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ProtocolError(f"not a signed fleet document: {exc}") from exc
    except RecursionError:
        raise ProtocolError("not a signed fleet document: nested too deeply") from None
    key = trusted.get(key_id)
    if key is None:
        raise ProtocolError(f"fleet document signed by unknown key {key_id.hex()}")
    try:
        key.verify(signature, DOMAIN + _canonical(doc))
    except InvalidSignature:
        raise ProtocolError("fleet document signature does not verify") from None
    if (
        not isinstance(doc, dict)
        or doc.get("kind") != kind
        or not isinstance(doc.get("version"), int)
    ):
        raise ProtocolError(f"fleet document is not a versioned {kind} list")
    return doc


def revocations_document(revoked: Revocations, key: SigningKey) -> bytes:
    return sign_document({"kind": "revocations", **revoked.to_json()}, key)


def keys_document(ring: KeyRing, version: int, key: SigningKey) -> bytes:
    return sign_document({"kind": "keys", "version": version, **ring.to_json()}, key)
