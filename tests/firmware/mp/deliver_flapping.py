# Under MicroPython: a halte scans a badge every ~100 ms while its link (bridged to a real
# Mosquitto) breaks every second, then delivers until the hub has acked everything.
import json
import sys
import time

from common import FixedClock, emit, settings, station_parts
from halte.journal import Journal
from halte.net import Transport
from halte.station import Station
from halte.uplink import Uplink

vectors = json.loads(sys.argv[1])
port = int(sys.argv[2])
texts = json.loads(sys.argv[3])
flash, uart, scanner, indicator, pins = station_parts("/work/flap")
s = settings(
    vectors,
    broker={"host": "127.0.0.1", "port": port, "username": "", "password": ""},
    duplicate_window_s=0,
)
journal = Journal(flash, s.station, segment_records=16)
clock = FixedClock(vectors["now"] * 1000)
uplink = Uplink(
    s.station,
    s.broker,
    journal,
    s.key,
    Transport,
    clock.boot_id,
    batch_size=4,
    window=2,
    resend_ms=2000,
    telemetry_ms=500,
    backoff_min_ms=100,
    backoff_max_ms=400,
)
station = Station(s, journal, scanner, indicator, clock, uplink, flash.free_bytes)
signalled = 0
next_scan = time.ticks_ms()
while signalled < len(texts):
    if time.ticks_diff(time.ticks_ms(), next_scan) >= 0:
        uart.feed(texts[signalled].encode() + b"\r\n")
        next_scan = time.ticks_add(time.ticks_ms(), 100)
    before = journal.last_seq()
    station.step()
    if journal.last_seq() > before and indicator.shown[-1].startswith("accepted"):
        signalled += 1
deadline = time.ticks_add(time.ticks_ms(), 90000)
while journal.backlog() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
    station.step()
emit(
    {
        "signalled": signalled,
        "last_seq": journal.last_seq(),
        "backlog": journal.backlog(),
        "stats": uplink.stats,
        "faults": station.faults,
    }
)
