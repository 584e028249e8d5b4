# Under MicroPython: corruption inside an older segment of the journal (not a torn tail), and a
# segment that went missing. Prints what the journal keeps and where new scans go.
import json

from common import SmallFlash, draft, emit, rmtree
from halte import record
from halte.journal import Journal


def fresh(folder):
    rmtree(folder)
    j = Journal(SmallFlash(folder), "halte-test-01", segment_records=4)
    stored = [j.append(draft(n)) for n in range(1, 13)]  # three segments of 4 records
    return j, stored


def state(j, folder, old):
    kept = [json.loads(b)["seq"] for b in j.records(old, 0, 100)]
    new = j.append(draft(99))
    return {
        "faults": j.faults,
        "kept": kept,
        "new_journal": j.current != old,
        "new_seq": new["seq"],
        "files": SmallFlash(folder).names(),
        "set_aside": j.set_aside,
    }


# a flipped byte in record 2 (segment 1 of 3)
j, stored = fresh("/work/cor")
old = j.current
name = j.segments[0].name
data = bytearray(open("/work/cor/" + name, "rb").read())
at = data.index(b'"seq":2,')
data[at + 6] ^= 0x01
with open("/work/cor/" + name, "wb") as f:
    f.write(data)
j2 = Journal(SmallFlash("/work/cor"), "halte-test-01", segment_records=4)
out = state(j2, "/work/cor", old)
out["case"] = "flipped"
emit(out)
# the hub acks what the broken journal still has: its segment is freed, the *.bad ones stay
h1 = record.digest(record.canonical(stored[0]))
emit(
    {
        "case": "ack",
        "outcome": j2.ack(old, 1, h1),
        "backlog": j2.backlog(),
        "files": SmallFlash("/work/cor").names(),
    }
)

# segment 2 of 3 deleted by someone
j, stored = fresh("/work/gap")
old = j.current
SmallFlash("/work/gap").remove(j.segments[1].name)
j2 = Journal(SmallFlash("/work/gap"), "halte-test-01", segment_records=4)
out = state(j2, "/work/gap", old)
out["case"] = "missing"
emit(out)
