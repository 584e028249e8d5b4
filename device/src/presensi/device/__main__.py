"""`python -m presensi.device ...` is `presensi station ...`: how the bench, the kill test and the
tests start a station process without going through the launcher."""

from presensi.device.cli import station

station()
