"""Organisation signing keys (Ed25519), the key ring stations verify with, and revocations.

A key id is the first 4 bytes of SHA-256 over the raw 32-byte public key, so it needs no registry
and two keys of one organisation practically never share one (the ring refuses if they do).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from presensi.protocol.errors import ProtocolError

KEY_ID_BYTES = 4


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(raw_public(key)).digest()[:KEY_ID_BYTES]


@dataclass(frozen=True)
class SigningKey:
    """An organisation's private badge key, with its id."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> bytes:
        return key_id_of(self.public)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


@dataclass(frozen=True)
class KeyRing:
    """The public keys a station accepts badges from, by key id."""

    keys: Mapping[bytes, Ed25519PublicKey] = field(default_factory=dict)

    @classmethod
    def of(cls, keys: Iterable[Ed25519PublicKey]) -> KeyRing:
        ring: dict[bytes, Ed25519PublicKey] = {}
        for key in keys:
            kid = key_id_of(key)
            if kid in ring and raw_public(ring[kid]) != raw_public(key):
                raise ProtocolError(f"two keys share the key id {kid.hex()}: generate another key")
            ring[kid] = key
        return cls(ring)

    def get(self, key_id: bytes) -> Ed25519PublicKey | None:
        return self.keys.get(key_id)

    def to_json(self) -> dict[str, object]:
        return {
            "keys": [
                {"key_id": kid.hex(), "public_key": base64.b64encode(raw_public(k)).decode()}
                for kid, k in sorted(self.keys.items())
            ]
        }

    @classmethod
    def from_json(cls, data: object) -> KeyRing:
        try:
            entries = data["keys"]  # type: ignore[index]
            keys = [
                Ed25519PublicKey.from_public_bytes(base64.b64decode(e["public_key"], validate=True))
                for e in entries
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"not a key list: {exc}") from exc
        return cls.of(keys)


@dataclass(frozen=True)
class Revocations:
    """Revoked badge serials, versioned so a station applies only newer lists."""

    version: int = 0
    serials: frozenset[int] = frozenset()

    def __contains__(self, serial: object) -> bool:
        return serial in self.serials

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "serials": sorted(self.serials)}

    @classmethod
    def from_json(cls, data: object) -> Revocations:
        try:
            version = data["version"]  # type: ignore[index]
            serials = data["serials"]  # type: ignore[index]
            if not isinstance(version, int) or not all(isinstance(s, int) for s in serials):
                raise TypeError("version and serials must be integers")
            return cls(version, frozenset(serials))
        except (KeyError, TypeError) as exc:
            raise ProtocolError(f"not a revocation list: {exc}") from exc


def save_signing_key(path: str | Path, key: SigningKey) -> None:
    """Write a private key as PKCS#8 PEM, readable by its owner only (0600)."""
    pem = key.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def load_signing_key(path: str | Path) -> SigningKey:
    try:
        key = load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ProtocolError(f"{path}: not a readable private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ProtocolError(f"{path}: not an Ed25519 key")
    return SigningKey(key)
