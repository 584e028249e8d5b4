# Under MicroPython: a station receives signed fleet documents (built by the test with the
# protocol's own code) on the fleet topics, scans a badge before and after a revocation, and
# "reboots" (a new Fleet from the same flash). Prints what it decided.
import json
import sys

from common import FixedClock, emit, settings, station_parts
from halte.flash import Flash
from halte.fleet import Fleet
from halte.journal import Journal
from halte.station import Station

vectors = json.loads(sys.argv[1])
docs = json.loads(sys.argv[2])
valid = vectors["cases"][0]["text"].encode()


def boot(folder_new):
    flash, _, scanner, indicator, _ = station_parts("/work/fl-j" if folder_new else "/work/fl-j2")
    s = settings(vectors, duplicate_window_s=0)
    fleet = Fleet(Flash("/work/fl-fleet"), s.keys, s.revoked, s.revocations_version)
    journal = Journal(flash, s.station)
    return Station(s, journal, scanner, indicator, FixedClock(vectors["now"] * 1000), fleet=fleet)


station = boot(True)
emit({"at": "before", "reason": station.handle(valid)["reason"]})
for name, topic, payload in docs:
    station.receive(topic, payload.encode())
    emit(
        {
            "at": name,
            "reason": station.handle(valid)["reason"],
            "faults": station.faults,
            "versions": station.fleet.versions,
        }
    )
station = boot(False)
emit(
    {
        "at": "after reboot",
        "reason": station.handle(valid)["reason"],
        "versions": station.fleet.versions,
        "faults": station.faults,
    }
)
with open("/work/fl-fleet/revocations.json", "wb") as f:
    f.write(
        b'{"doc": {"kind": "revocations", "version": 99, "serials": []}, "key_id": "00", "sig": ""}'
    )
station = boot(False)
emit(
    {
        "at": "edited file",
        "reason": station.handle(valid)["reason"],
        "versions": station.fleet.versions,
        "faults": station.faults,
    }
)
