"""Presensi halte scan head: MicroPython firmware (see firmware/halte/README.md)."""

VERSION = "0.1.0"
SOFTWARE = "presensi-halte/" + VERSION  # the station kind and version in birth and telemetry
