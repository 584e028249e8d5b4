# Under MicroPython: the uplink's ack/resend state machine over a fake transport (the test
# plays the broker: CONNACK, the hub's acks, a broken link). Prints what was published.
import json
import sys
from binascii import hexlify

from common import SmallFlash, draft, emit, rmtree
from halte import mqtt, record
from halte.ed25519 import SigningKey
from halte.journal import Journal
from halte.uplink import Uplink

seed = bytes.fromhex(sys.argv[1])
rmtree("/work/up")
j = Journal(SmallFlash("/work/up"), "halte-test-01", segment_records=8)
stored = [j.append(draft(n)) for n in range(1, 26)]
hashes = [record.digest(record.canonical(r)) for r in stored]


class FakeTransport:
    broken = False

    def __init__(self, host, port):
        if FakeTransport.broken:
            raise OSError(113, "EHOSTUNREACH")
        self.out = []
        self.incoming = b""
        transports.append(self)

    def send(self, data):
        if FakeTransport.broken:
            raise OSError(104, "ECONNRESET")
        self.out.append(bytes(data))

    def recv(self, n):
        if FakeTransport.broken:
            raise OSError(104, "ECONNRESET")
        data, self.incoming = self.incoming[:n], self.incoming[n:]
        return data

    def close(self):
        pass


transports = []
up = Uplink(
    "halte-test-01",
    {"host": "h", "port": 1, "username": "u", "password": "p"},
    j,
    SigningKey(seed),
    FakeTransport,
    "boot-1",
    batch_size=10,
    window=2,
    resend_ms=1000,
    telemetry_ms=10**9,
    backoff_min_ms=100,
    backoff_max_ms=400,
)


def published():
    """Scan batches sent since the last call: (first seq, last seq) each; and their payloads."""
    t = transports[-1]
    out, t.out = t.out, []
    ranges = []
    for data in out:
        if data[0] & 0xF0 != 0x30:
            continue
        n = int.from_bytes(data[data.index(b"presensi") - 2 : data.index(b"presensi")], "big")
        start = data.index(b"presensi")
        topic = data[start : start + n].decode()
        if topic.endswith("/scans"):
            body = data[start + n + 2 :].split(b"\n", 1)[1]
            seqs = [r["seq"] for r in json.loads(body)["records"]]
            ranges.append([seqs[0], seqs[-1]])
            payloads.append(hexlify(data[start + n + 2 :]).decode())
    return ranges


def ack(upto, digest=None, journal=None):
    body = record.canonical_text(
        {
            "forked": False,
            "hash": digest or hashes[upto - 1],
            "journal": journal or j.current,
            "upto": upto,
        }
    ).encode()
    transports[-1].incoming += mqtt.packet(0x31, mqtt._str(up.topic("ack")) + body)


def settle(t):
    """Step until the uplink has nothing more to do at time t (batches are signed in steps)."""
    for steps in range(1, 5000):
        up.step(t, 0)
        if up.job is None:
            up.step(t, 0)
            if up.job is None:
                return steps
    raise AssertionError("the uplink never settles")


payloads = []
up.step(0, 0)
transports[-1].incoming += b"\x20\x02\x00\x00"  # CONNACK accepted
signing_steps = settle(1)
emit({"at": "signing steps", "steps": signing_steps})
emit({"at": "connected", "batches": published(), "connected": up.connected()})
settle(500)
emit({"at": "no ack yet", "batches": published()})
settle(1600)
emit({"at": "resend", "batches": published(), "resends": up.stats["resends"]})
ack(10)
settle(1700)
emit({"at": "ack 10", "batches": published(), "acked": j.acked.get(j.current)})
ack(20, digest="ab" * 32)
settle(1800)
emit({"at": "foreign ack", "acked": j.acked.get(j.current), "foreign": up.stats["foreign_acks"]})
FakeTransport.broken = True
settle(1900)
emit({"at": "link broken", "connected": up.connected(), "drops": up.stats["drops"]})
for t in range(2000, 3000, 50):
    up.step(t, 0)
emit({"at": "while down", "connects": len(transports)})
FakeTransport.broken = False
for t in range(3000, 4000, 50):
    up.step(t, 0)
    if up.client is not None and not up.client.connected and not transports[-1].incoming:
        transports[-1].incoming += b"\x20\x02\x00\x00"
settle(4000)
emit({"at": "reconnected", "batches": published(), "connected": up.connected()})
ack(25)
settle(4100)
emit(
    {
        "at": "all acked",
        "backlog": j.backlog(),
        "segments": len(j.segments),
        "files": sorted(SmallFlash("/work/up").names()),
    }
)
ack(40, digest="cd" * 32)
old = j.current
settle(4200)
emit({"at": "hub ahead", "rotated": j.current != old, "rotations": up.stats["rotations"]})
emit({"payload": payloads[0]})

# a scan that arrives while a batch is being signed is stored and signalled at the next step
from common import FixedClock, settings, station_parts  # noqa: E402
from halte.station import Station  # noqa: E402

vectors = json.loads(sys.argv[2])
for n in range(26, 40):
    j.append(draft(n))
flash, uart, scanner, indicator, pins = station_parts("/work/up-st")
station = Station(settings(vectors), j, scanner, indicator, FixedClock(vectors["now"] * 1000), up)
for _ in range(20):
    station.step()
    if up.job is not None:
        break
before = j.last_seq()
uart.feed(vectors["cases"][0]["text"].encode() + b"\r\n")
station.step()
emit(
    {
        "at": "scan while signing",
        "signing": up.job is not None,
        "stored": j.last_seq() - before,
        "signal": indicator.shown[-1],
    }
)

# a link that goes silent (no PINGRESP, nothing): dropped after 1.5 keepalives
now = 10_000
up.job = None
for t in range(now, now + 50_000, 5_000):
    up.step(t, 0)
emit({"at": "silent link", "connected": up.connected(), "error": up.last_error})
# a broker that takes the TCP connection but never sends CONNACK: given up after 10 s
if up.client is not None:
    up.drop(60_000, "test")
t = up.next_attempt_ms
up.step(t, 0)
connecting = up.client is not None
for dt in range(0, 11_000, 1_000):
    up.step(t + dt, 0)
emit(
    {
        "at": "no connack",
        "connecting": connecting,
        "client": up.client is not None,
        "error": up.last_error,
    }
)
