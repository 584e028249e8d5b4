"""The hub service: the store, the ingest worker, and the retained fleet documents."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from presensi.hub import revocation_publisher
from presensi.hub.broker import TlsFiles
from presensi.hub.events import sheets
from presensi.hub.ingest import Ingest
from presensi.hub.revocation_publisher import RevocationPublisher
from presensi.hub.store import Database, Store, open_store
from presensi.protocol import systemd, topics

log = logging.getLogger(__name__)


class Hub:
    def __init__(
        self,
        store_url: str,
        broker: str,
        *,
        client_id: str = "presensi-hub",
        username: str = "",
        password: str = "",
        share_group: str | None = None,
        tls: TlsFiles | None = None,
        revocations: RevocationPublisher | None = None,
        derive: bool = True,
    ) -> None:
        self.broker, self.store_url = broker, store_url
        # with the phone key (hub run --phone-key): the merged revocation list, kept published
        self.revocations = revocations
        self.store: Store = open_store(store_url)
        self.store.migrate()
        self.ingest = Ingest(
            self.store,
            broker,
            client_id=client_id,
            username=username,
            password=password,
            share_group=share_group,
            tls=tls,
            fleet_listener=None if revocations is None else revocations.heard,
            derive=derive,
        )
        self.stop_event = threading.Event()
        self.sheets = sheets.Publisher()
        self._sheets_store: Store | None = None
        self._next_sheets = 0.0
        self._sheets_failed_logged = 0.0
        self._next_revocations = 0.0
        self._revocations_failed_logged = 0.0

    def start(self) -> None:
        self.ingest.start()

    def publish_fleet(self, *, keys: bytes | None = None, revocations: bytes | None = None) -> None:
        """Publish signed fleet documents (made by the admin tools) retained to every station."""
        if keys is not None:
            self.ingest.publish(topics.FLEET_KEYS, keys, retain=True)
        if revocations is not None:
            self.ingest.publish(topics.FLEET_REVOCATIONS, revocations, retain=True)

    def healthy(self) -> bool:
        return self.ingest.healthy()

    def run(self) -> None:
        """Ingest until stop(); under systemd (Type=notify) say READY, and feed the watchdog
        only while the hub can commit (a hub that cannot reach its database gets restarted,
        and is seen as down by whoever watches it)."""
        self.start()
        log.info(
            "hub %s ingesting from %s into %s",
            self.ingest.client_id,
            self.broker,
            redacted(self.store_url),
        )
        systemd.notify("READY=1")
        interval = systemd.watchdog_interval()
        was_healthy = True
        try:
            while not self.stop_event.wait(min(interval or 1.0, 1.0)):
                healthy = self.healthy()
                if healthy and interval:
                    systemd.notify("WATCHDOG=1")
                if healthy != was_healthy:
                    systemd.notify("STATUS=" + ("ingesting" if healthy else "store unreachable"))
                    was_healthy = healthy
                self.publish_event_sheets()
                self.publish_revocations()
        finally:
            systemd.notify("STOPPING=1")
            self.close()

    def publish_event_sheets(self, *, force: bool = False) -> int:
        """Every EVERY_S seconds (or now, with `force`): retain on each station's event topic
        the event it serves now or next, where that changed (presensi.hub.events.sheets). While
        the broker is away nothing is sent, and everything is sent again once it is back (a
        broker restarted without its persistence has forgotten them). How many were sent."""
        now = time.monotonic()
        if not force and now < self._next_sheets:
            return 0
        if not self.ingest.connected.is_set():
            self.sheets = sheets.Publisher()
            return 0
        self._next_sheets = now + sheets.EVERY_S
        try:
            db = self._loop_database()
            changed = self.sheets.changes(db)
            for topic, payload in changed:
                self.ingest.publish(topic, payload, retain=True)
            return len(changed)
        except Exception:  # the store or the broker: the next round tries again
            if now >= self._sheets_failed_logged:
                self._sheets_failed_logged = now + 300
                log.exception("could not publish the event sheets; trying again")
            self.sheets = sheets.Publisher()
            return 0

    def publish_revocations(self, *, force: bool = False) -> bool:
        """Every few seconds (or now, with `force`), with the phone key: publish the merged
        revocation list (the org's and the revoked phones) where the broker does not hold it
        yet (presensi.hub.revocation_publisher). Whether a list was sent."""
        if self.revocations is None:
            return False
        now = time.monotonic()
        if not force and now < self._next_revocations:
            return False
        if not self.ingest.connected.is_set():
            self.revocations.forget_broker()
            return False
        self._next_revocations = now + revocation_publisher.EVERY_S
        try:
            document = self.revocations.due(self._loop_database())
            if document is not None:
                self.ingest.publish(topics.FLEET_REVOCATIONS, document, retain=True)
            return document is not None
        except Exception:  # the store or the broker: the next round tries again
            if now >= self._revocations_failed_logged:
                self._revocations_failed_logged = now + 300
                log.exception("could not publish the revocation list; trying again")
            self.revocations.forget_broker()
            return False

    def _loop_database(self) -> Database:
        """The store of the hub's own loop (event sheets, revocations), beside the ingest's."""
        if self._sheets_store is None:
            self._sheets_store = open_store(self.store_url)
        return self._sheets_store.database  # type: ignore[attr-defined, no-any-return]

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        self.ingest.stop()
        self.store.close()
        if self._sheets_store is not None:
            self._sheets_store.close()


def redacted(url: str) -> str:
    """A store URL fit for a log: no password, no query (a libpq URI's may hold one)."""
    bare = url.split("?", 1)[0]
    parts = urlsplit(bare)
    if parts.password is None:
        return bare
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def read_secret(path: str | None) -> str:
    return Path(path).read_text().strip() if path else ""
