"""The revocation list the running hub keeps on the broker once phones exist: the org's list
(cards) plus the hub's revoked phones, signed with the phone issuing key (docs/phone-badge.md).

The org folder owns the cards' list and publishes it (`presensi hub publish-fleet`) as before;
the hub listens on the retained fleet topics, checks every list against the org's keys (a list
it cannot verify is never merged: broker credentials must not become the phone key), learns the
org's newest list, and whenever that or the set of revoked phones changed, publishes the merged
list retained under the version `org version x 2^24 + revoked phones`. A bare org list that
overwrote the merged one (lower version: the stations ignore it) is replaced within seconds.

`heard` runs on the MQTT client's thread and only keeps the payload; `due` runs on the hub's
loop, reads the store and says what to publish.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING

from presensi.hub.phones import PHONE_SERIAL_BASE, PHONE_VERSION_BITS, merged_revocations
from presensi.protocol import topics
from presensi.protocol.errors import ProtocolError
from presensi.protocol.fleet import open_document, revocations_document
from presensi.protocol.keys import KeyRing, Revocations, SigningKey

if TYPE_CHECKING:
    from presensi.hub.store import Database

log = logging.getLogger(__name__)

EVERY_S = 2.0  # how often the hub looks for newly revoked phones
FLEET_TOPICS = (topics.FLEET_KEYS, topics.FLEET_REVOCATIONS)


class RevocationPublisher:
    def __init__(self, key: SigningKey, org_keys: KeyRing, keys_version: int = 0) -> None:
        self.key = key
        self.trusted = _with(org_keys, key)
        self.keys_version = keys_version
        self.org: Revocations | None = None  # the org's newest list the hub has verified
        self.on_broker: Revocations | None = None  # what the retained topic holds, as last known
        self._heard: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._phones_count = -1
        self._phones: list[int] = []
        self._warned_no_org = False

    def heard(self, topic: str, payload: bytes) -> None:
        """A retained fleet document arrived (the MQTT client's thread): kept for `due`."""
        with self._lock:
            self._heard[topic] = payload

    def forget_broker(self) -> None:
        """The broker went away: it may come back without its retained messages."""
        self.on_broker = None

    def due(self, db: Database) -> bytes | None:
        """The signed merged list to publish now, or None when the broker holds it already (or
        the org's list is not known yet: a list without the org's cards would un-revoke them)."""
        with self._lock:
            heard, self._heard = self._heard, {}
        if topics.FLEET_KEYS in heard:
            self._take_keys(heard[topics.FLEET_KEYS])
        if topics.FLEET_REVOCATIONS in heard:
            self._take_revocations(heard[topics.FLEET_REVOCATIONS])
        phones = self._revoked_phones(db)
        if self.org is None:
            if phones and not self._warned_no_org:
                self._warned_no_org = True
                log.warning(
                    "%d revoked phone(s), but no org revocation list on the broker yet: publish "
                    "it once (presensi hub publish-fleet --revocations ...) and the hub adds them",
                    len(phones),
                )
            return None
        merged = merged_revocations(self.org, phones)
        if self.on_broker is not None and self.on_broker.version >= merged.version:
            return None
        self.on_broker = merged
        log.info(
            "publishing revocation list version %d (org %d, %d revoked phone(s))",
            merged.version,
            self.org.version,
            len(phones),
        )
        return revocations_document(merged, self.key)

    def _revoked_phones(self, db: Database) -> list[int]:
        """The revoked phones' serials, read again only when their count changed (phones are
        never un-revoked)."""
        count = int(db.execute("SELECT COUNT(*) FROM phones WHERE revoked_ms IS NOT NULL")[0][0])
        if count != self._phones_count:
            self._phones = [
                int(r[0])
                for r in db.execute(
                    "SELECT serial FROM phones WHERE revoked_ms IS NOT NULL ORDER BY 1"
                )
            ]
            self._phones_count = count
        return self._phones

    def _take_keys(self, payload: bytes) -> None:
        """A newer org key list signed by a key the hub trusts replaces its ring, as at a
        station (a rotated org key keeps signing lists the hub accepts)."""
        try:
            doc = open_document(payload, self.trusted, "keys")
            if doc["version"] <= self.keys_version:
                return
            ring = KeyRing.from_json(doc)
        except ProtocolError as exc:
            log.warning("ignoring the org key list on the broker: %s", exc)
            return
        self.trusted, self.keys_version = _with(ring, self.key), doc["version"]

    def _take_revocations(self, payload: bytes) -> None:
        try:
            doc = open_document(payload, self.trusted, "revocations")
            listed = Revocations.from_json(doc)
            signer = bytes.fromhex(json.loads(payload)["key_id"])
        except (ProtocolError, ValueError, KeyError) as exc:
            log.warning("ignoring the revocation list on the broker: %s", exc)
            return
        self.on_broker = listed
        org = org_part(listed, merged=signer == self.key.key_id)
        if self.org is None or org.version > self.org.version:
            self.org = org


def org_part(listed: Revocations, *, merged: bool) -> Revocations:
    """The org's list inside a list on the broker: itself, or, for a merged list (signed with a
    phone key, or with a version only a merged list has), the high bits of the version and the
    card serials (phones count from 2^31)."""
    if not merged and listed.version < 2**PHONE_VERSION_BITS:
        return listed
    return Revocations(
        listed.version >> PHONE_VERSION_BITS,
        frozenset(s for s in listed.serials if s < PHONE_SERIAL_BASE),
    )


def _with(ring: KeyRing, key: SigningKey) -> KeyRing:
    """`ring` and the hub's own phone key (its merged lists are recognised even if the org's
    key list does not name it yet)."""
    return KeyRing.of([*ring.keys.values(), key.public])
