"""Installer and admin tools: org keys, locations, station enrollment, broker credentials."""
