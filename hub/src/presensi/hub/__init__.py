"""The hub: ingest from every station exactly once, the store, registry, attendance, dashboard."""
