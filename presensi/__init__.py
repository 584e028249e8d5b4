"""Presensi: offline-first QR attendance for bus operators and city governments."""

__version__ = "0.1.0"
