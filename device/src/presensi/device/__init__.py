"""Station firmware: scan loop, decisions, journal (outbox), config, service."""
