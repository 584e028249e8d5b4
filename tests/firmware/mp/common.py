# Shared by the MicroPython test scripts: drafts, a flash with a capacity, a station on fakes.
import json
import os

import machine
from halte.clock import Clock, Ticks
from halte.flash import Flash
from halte.indicator import Indicator
from halte.scanner import Scanner
from halte.settings import Settings


def draft(n, wall_ms=1790000000000):
    return {
        "v": 2,
        "station": "",
        "journal": "",
        "seq": 0,
        "scan_id": "0199a8f0-2c40-7a3e-8b1f-%012d" % n,
        "employee": "E-%d" % n,
        "serial": 1000 + n,
        "outcome": "accepted",
        "reason": "ok",
        "direction": "in",
        "event": None,
        "payload_sha256": "00" * 16,
        "payload_len": 151,
        "wall_ms": wall_ms + n,
        "mono_ns": n * 1000000,
        "boot_id": "b",
        "clock_synced": True,
        "clock_last_sync_ms": None,
        "location": "halte-1",
        "config_version": 1,
        "prev_hash": "",
    }


class SmallFlash(Flash):
    """A flash with `capacity` bytes for the journal folder; optionally fails the next write
    after writing only `tear` bytes of it (a power cut or an I/O error mid-write)."""

    def __init__(self, folder, capacity=1 << 30):
        Flash.__init__(self, folder)
        self.capacity = capacity
        self.tear = None

    def used(self):
        return sum(self.size(n) for n in self.names())

    def free_bytes(self):
        return self.capacity - self.used()

    def append(self, name, data):
        if self.tear is not None:
            part, self.tear = data[: self.tear], None
            Flash.append(self, name, part)
            raise OSError(5, "EIO")
        if len(data) > self.free_bytes():
            raise OSError(28, "ENOSPC")
        Flash.append(self, name, data)


def rmtree(folder):
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for n in names:
        os.remove(folder + "/" + n)
    os.rmdir(folder)


def emit(value):
    print(json.dumps(value))


def settings(vectors, **over):
    data = {
        "station": "halte-test-01",
        "location": "halte-1",
        "mode": "auto",
        "utc_offset_min": 420,
        "duplicate_window_s": 120,
        "config_version": 1,
        "broker": {"host": "127.0.0.1", "port": 1883, "username": "", "password": ""},
        "station_seed": vectors["station_private_seed_hex"],
        "org_keys": [vectors["org_public_key_hex"]],
        "revocations": vectors["revocations"],
    }
    data.update(over)
    return Settings(data)


class FixedClock(Clock):
    """The wasm clock, but with the wall time the test says (the badge vectors' `now`)."""

    def __init__(self, wall_ms):
        Clock.__init__(self, Ticks())
        self.now_ms = wall_ms
        self.synced = True

    def wall_ms(self):
        return self.now_ms


def station_parts(folder, capacity=1 << 30):
    rmtree(folder)
    flash = SmallFlash(folder, capacity)
    uart = machine.UART(0)
    ticks = Ticks()
    green, red, buzzer = machine.Pin(14), machine.Pin(15), machine.PWM(machine.Pin(16))
    return flash, uart, Scanner(uart, ticks), Indicator(green, red, buzzer), (green, red, buzzer)
