# Under MicroPython: a station on fake pins and UART scans the badge vectors, garbage and
# over-long lines, then a full flash. Prints each scan's record (or None) and signal.
import json
import sys

from common import FixedClock, emit, settings, station_parts
from halte.journal import Journal
from halte.station import Station
from halte.uplink import sign_batch

vectors = json.loads(sys.argv[1])
records = json.loads(sys.argv[2])
flash, uart, scanner, indicator, pins = station_parts("/work/st", capacity=int(sys.argv[3]))
s = settings(vectors)
journal = Journal(flash, s.station, reserve_bytes=2048)
clock = FixedClock(vectors["now"] * 1000)
station = Station(s, journal, scanner, indicator, clock, free_bytes=flash.free_bytes)


def scan(data):
    uart.feed(data)
    out = []
    for _ in range(200):
        line = scanner.poll()
        if line is None and not uart.any():
            import time

            time.sleep_ms(130)  # past the idle gap
            line = scanner.poll()
            if line is None:
                break
        if line is not None:
            rec = station.handle(line)
            out.append(
                {
                    "record": rec,
                    "signal": indicator.shown[-1],
                    "buzzer_on": pins[2].duty > 0,
                    "green": pins[0].value(),
                    "red": pins[1].value(),
                }
            )
    return out


for case in vectors["cases"]:
    emit({"case": case["name"], "scans": scan(case["text"].encode() + b"\r\n")})
valid = vectors["cases"][0]["text"].encode()
emit({"case": "again", "scans": scan(valid + b"\r\n")})
emit({"case": "garbage", "scans": scan(b"\x00\x02" + b"\x03\r\n" + b"\x00\x00\n")})
emit({"case": "not_utf8", "scans": scan(b"\xff\xfe\r\n")})
emit({"case": "noise_counted", "noise": scanner.noise})
emit({"case": "overlong", "scans": scan(b"A" * 2000 + b"\r\n"), "overlong": scanner.overlong})
uart.feed(valid[:40])
first_half = scanner.poll()  # a partial line stays buffered (within the idle gap)
emit({"case": "split", "first_half": first_half, "scans": scan(valid[40:] + b"\n")})
emit({"case": "no_terminator", "scans": scan(b"HELLO")})
# the batch test vector: the same records signed by the firmware give the same bytes
emit(
    {
        "case": "batch",
        "payload": sign_batch(
            s.key,
            "st-pool-mangkang-01",
            "5d41402abc4b2a76b9719d911017c592",
            [r.encode() for r in records],
        ).decode(),
    }
)
# fill the flash: scans go on until a record no longer fits, then a fault and no beep
n = 0
while True:
    n += 1
    out = scan(valid + b"\r\n")[0]
    if out["record"] is None:
        emit(
            {
                "case": "full",
                "after": n,
                "scan": out,
                "faults": station.faults,
                "last_seq": journal.last_seq(),
                "signalled": station.signalled,
            }
        )
        break
    if n > 5000:
        emit({"case": "never full"})
        break
emit({"case": "telemetry", "values": station.telemetry()})
