"""The hub's error root."""

from __future__ import annotations


class HubError(Exception):
    """Something the hub cannot work around; the message says what to do."""


class StoreError(HubError):
    """The store cannot be opened, migrated, read or written (the database said why)."""
