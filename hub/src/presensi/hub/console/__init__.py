"""The operators' console: server-rendered pages over the hub's store (docs/console.md)."""
