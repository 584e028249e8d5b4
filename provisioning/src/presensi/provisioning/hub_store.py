"""The admin tools' one way into a hub's store (registering stations, syncing employees and
attendance points): opened, brought up to date, closed; its errors are ProvisioningErrors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from presensi.hub.errors import StoreError
from presensi.hub.store import SqlStore, open_store
from presensi.provisioning.errors import ProvisioningError


@contextlib.contextmanager
def hub_store(url: str) -> Iterator[SqlStore]:
    try:
        store = open_store(url)
        try:
            store.migrate()
            assert isinstance(store, SqlStore)
            yield store
        finally:
            store.close()
    except StoreError as exc:
        raise ProvisioningError(f"hub store {url}: {exc}") from exc
