# Under MicroPython: a halte station scans badges, then its uplink delivers them through the
# bridged socket to a real Mosquitto until the hub has acked everything (or the time is up).
import json
import sys
import time

from common import FixedClock, emit, settings, station_parts
from halte.flash import Flash
from halte.fleet import Fleet
from halte.journal import Journal
from halte.net import Transport
from halte.station import Station
from halte.uplink import Uplink

vectors = json.loads(sys.argv[1])
port = int(sys.argv[2])
texts = json.loads(sys.argv[3])
flash, uart, scanner, indicator, pins = station_parts("/work/dl")
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
    batch_size=7,
    window=2,
    resend_ms=3000,
    telemetry_ms=1000,
)
fleet = Fleet(Flash("/work/dl-fleet"), s.keys, s.revoked, s.revocations_version)
station = Station(s, journal, scanner, indicator, clock, uplink, flash.free_bytes, fleet=fleet)
stored = []
for text in texts:
    rec = station.handle(text.encode())
    stored.append(rec["seq"])
emit({"stored": stored, "journal": journal.current, "boot_id": clock.boot_id})
deadline = time.ticks_add(time.ticks_ms(), 60000)
while journal.backlog() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
    station.step()
emit(
    {
        "backlog": journal.backlog(),
        "acked": journal.acked,
        "stats": uplink.stats,
        "segments": len(journal.segments),
    }
)
# a second round after the link was dropped on purpose: resend from the mark, still exactly once
uplink.drop(station.clock.ticks.ms(), "test")
uplink.next_attempt_ms = 0
for text in texts[:5]:
    station.handle(text.encode())
deadline = time.ticks_add(time.ticks_ms(), 60000)
while journal.backlog() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
    station.step()
emit({"backlog": journal.backlog(), "last_seq": journal.last_seq(), "stats": uplink.stats})
# the hub's retained revocation list arrived with the subscription: the next scan of that badge
rec = station.handle(texts[29].encode())
deadline = time.ticks_add(time.ticks_ms(), 60000)
while journal.backlog() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
    station.step()
emit(
    {
        "reason": rec["reason"],
        "versions": fleet.versions,
        "backlog": journal.backlog(),
        "last_seq": journal.last_seq(),
    }
)
