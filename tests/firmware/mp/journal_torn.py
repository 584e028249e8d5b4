# Under MicroPython: a journal segment torn at every byte offset of its last record (and of the
# acks file's last ack), and every byte of the last record flipped. Prints one line per case.

from common import SmallFlash, draft, emit, rmtree
from halte import record
from halte.journal import Journal

folder = "/work/torn"
rmtree(folder)
j = Journal(SmallFlash(folder), "halte-test-01")
stored = [j.append(draft(n)) for n in range(1, 4)]
seg = j.segments[-1].name
full = open(folder + "/" + seg, "rb").read()
last_len = len(record.canonical(stored[-1])) + 9
start = len(full) - last_len
hash2 = record.digest(record.canonical(stored[1]))
emit({"start": start, "size": len(full), "journal": j.current})


def reopen(data):
    rmtree("/work/t2")
    f = SmallFlash("/work/t2")
    f.append(seg, data)
    k = Journal(f, "halte-test-01")
    after = k.append(draft(9))
    return k, after


for cut in range(start, len(full)):
    k, after = reopen(full[:cut])
    emit(
        {
            "case": "cut",
            "at": cut,
            "last_before": after["seq"] - 1,
            "next_seq": after["seq"],
            "chained": after["prev_hash"] == hash2,
            "faults": k.faults,
            "journal_kept": k.current == j.current,
        }
    )
for at in range(start, len(full)):
    data = bytearray(full)
    data[at] ^= 0x41
    k, after = reopen(bytes(data))
    emit(
        {
            "case": "flip",
            "at": at,
            "next_seq": after["seq"],
            "chained": after["prev_hash"] == hash2,
            "faults": k.faults,
        }
    )

# the acks file: acked 1 then 2; cut the second ack at every byte
h = [record.digest(record.canonical(r)) for r in stored]
assert j.ack(j.current, 1, h[0]) == "acked"
acks_before = open(folder + "/acks.log", "rb").read()
assert j.ack(j.current, 2, h[1]) == "acked"
acks = open(folder + "/acks.log", "rb").read()
for cut in range(len(acks_before), len(acks)):
    with open(folder + "/acks.log", "wb") as f:
        f.write(acks[:cut])
    k = Journal(SmallFlash(folder), "halte-test-01")
    emit({"case": "ack_cut", "at": cut, "acked": k.acked.get(j.current), "faults": k.faults})
