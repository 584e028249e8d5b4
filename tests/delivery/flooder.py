"""A hostile sender in a process of its own (so that it does not share the test's interpreter,
and its GIL, with the hub and the station it is meant to disturb): logs in with a station's own
credentials and publishes a mixed flood on that station's topics for a given time, at most
`--rate` messages a second, then prints how many it sent.

    python -m tests.delivery.flooder PORT USER PASSWORD SECONDS [--rate N]

The mix, one of each in turn: scans signed with a key that is not the station's, a status with
invalid UTF-8 in an unknown field, telemetry with invalid UTF-8 in an unknown field, telemetry
nested deeper than any parser goes, and a bare deeply nested array on the scans topic.
"""

from __future__ import annotations

import argparse
import time

from presensi.device.testbed import sample_record
from presensi.protocol import topics, wire
from presensi.protocol.keys import SigningKey
from tests.brokers import Probe

TELEMETRY = b'{"ts_ms":1790000000000,"last_seq":1,"acked_upto":1,"backlog":0'
STATUS = b'{"state":"online","boot_id":"b","version":"1","ts_ms":1790000000000'


def messages(station: str) -> list[tuple[str, bytes]]:
    forger = SigningKey.generate()
    journal = "ab" * 16
    records = [sample_record(station, seq, journal=journal) for seq in range(1, 6)]
    forged = wire.sign_batch(wire.batch_of(station, journal, records), forger)
    scans = topics.station_topic(station, "scans")
    status = topics.station_topic(station, "status")
    telemetry = topics.station_topic(station, "telemetry")
    return [
        (scans, forged),
        (status, STATUS + b',"note":"\xff\xfe not UTF-8"}'),
        (telemetry, TELEMETRY + b',"note":"\xff\xfe not UTF-8"}'),
        (telemetry, TELEMETRY + b',"note":' + b"[" * 5000 + b"]" * 5000 + b"}"),
        (scans, b"[" * 20000 + b"]" * 20000),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("user")
    parser.add_argument("password")
    parser.add_argument("seconds", type=float)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    mix = messages(args.user)
    sent = 0
    with Probe(
        args.port, f"{args.user}-stolen", username=args.user, password=args.password
    ).connect_ok() as thief:
        print("flooding", flush=True)
        start = time.monotonic()
        while (now := time.monotonic()) - start < args.seconds:
            if sent >= (now - start) * args.rate:
                time.sleep(0.001)
                continue
            topic, payload = mix[sent % len(mix)]
            thief.publish(topic, payload)
            sent += 1
    print(sent, flush=True)


if __name__ == "__main__":
    main()
