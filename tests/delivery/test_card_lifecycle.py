"""What happens to a station's SD card in the field, end to end: a real Mosquitto, a real hub,
real stations (journal, decider, uplink) scanning. A card replaced by a fresh one, a card
restored from an old image (with the hub reachable at boot, and without), and one card cloned
into two stations. In every case the hub ends up with every signalled scan exactly once,
nothing merged, and every station fully acked; what an operator must know is an alert."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from presensi.demo.mosquitto import Mosquitto
from presensi.device.testbed import StationFolder
from presensi.hub.store import StationInfo, Store
from presensi.protocol.keys import load_signing_key, raw_public
from presensi.protocol.record import ScanRecord
from tests.delivery.fleet import Fleet, FleetStation

FAST = {"batch_size": 50, "resend_s": 1, "telemetry_s": 0.3}


def wait_for(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def delivered(*stations: FleetStation) -> Callable[[], bool]:
    return lambda: all(s.station is not None and s.station.delivered() for s in stations)


def check_exactly_once(store: Store, station_id: str, recorded: list[ScanRecord]) -> None:
    """The hub holds each scan the station(s) signalled once, and nothing else."""
    held = store.scans(station_id)
    ids = [r.scan_id for r in held]
    assert len(ids) == len(set(ids)), "a scan is in the hub twice"
    assert sorted(ids) == sorted(r.scan_id for r in recorded)


def snapshot(journal: Path, to: Path) -> None:
    """A consistent copy of a live journal, as a backup image of the card would hold."""
    src, dst = sqlite3.connect(journal), sqlite3.connect(to)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def restore(station: FleetStation, image: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{station.folder.journal_path}{suffix}").unlink(missing_ok=True)
    shutil.copy(image, station.folder.journal_path)


def kinds(store: Store) -> list[str]:
    return sorted(a.kind for a in store.alerts())


def test_a_replaced_card_keeps_both_journals_and_shows_the_unsent_tail(fleet: Fleet) -> None:
    (st,) = fleet.add_stations(1, uplink=FAST)
    hub = fleet.start_hub()
    st.start()
    st.scan(20)
    assert wait_for(delivered(st))
    # the hub cannot take this station's batches for a while (here: its registered key is
    # wrong), while its telemetry still arrives: five scans stay on the card
    store = fleet.store()
    real_key = raw_public(load_signing_key(st.folder.folder / "station.key").public)
    store.register_station(StationInfo(st.id, bytes(32), "pool-test"))
    hub.ingest._keys.clear()
    st.scan(5)
    assert wait_for(lambda: any(j.reported_last_seq == 25 for j in store.journals(st.id)))
    # then the card dies; a fresh one is flashed with the same station bundle
    st.stop()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{st.folder.journal_path}{suffix}").unlink(missing_ok=True)
    store.register_station(StationInfo(st.id, real_key, "pool-test"))
    hub.ingest._keys.clear()
    lost = st.recorded[20:]
    st.recorded = st.recorded[:20]
    st.start()
    st.scan(5)
    assert wait_for(delivered(st))
    check_exactly_once(store, st.id, st.recorded)
    old, new = [j for j in store.journals(st.id) if j.fork == 0]
    assert (old.committed_upto, old.reported_last_seq, old.unsent) == (20, 25, 5)
    assert (new.committed_upto, new.journal) == (5, st.recorded[-1].journal)
    [row] = store.stations()
    assert (row.journals, row.unsent, row.committed_upto) == (2, 5, 5)
    assert kinds(store) == ["journal_new"]
    assert not {r.scan_id for r in lost} & {r.scan_id for r in store.scans(st.id)}
    store.close()


def test_a_card_restored_from_an_old_image_starts_a_new_journal_before_scanning(
    fleet: Fleet,
) -> None:
    (st,) = fleet.add_stations(1, uplink=FAST)
    fleet.start_hub()
    st.start()
    st.scan(6)
    assert wait_for(delivered(st))
    image = fleet.tmp / "image.db"
    snapshot(st.folder.journal_path, image)
    st.scan(4)  # the card goes on to seq 10, all delivered; then it dies
    assert wait_for(delivered(st))
    old_journal = st.recorded[-1].journal
    st.stop()
    restore(st, image)  # journal at seq 6, the hub at 10
    st.start()
    assert st.station is not None and st.station.uplink is not None
    # the hub's retained ack for this station says seq 10: the station starts a new journal
    assert wait_for(lambda: st.station is not None and st.station.uplink.state.rotations == 1)
    st.scan(5)
    assert wait_for(delivered(st))
    assert {r.journal for r in st.recorded[10:]} != {old_journal}
    assert [r.seq for r in st.recorded[10:]] == [1, 2, 3, 4, 5]
    store = fleet.store()
    try:
        check_exactly_once(store, st.id, st.recorded)
        assert store.committed_upto(st.id, old_journal) == 10
        assert all(j.fork == 0 for j in store.journals(st.id))  # no second history
        assert kinds(store) == ["journal_new"]
    finally:
        store.close()


def test_a_restored_card_that_scans_before_it_reaches_the_hub_is_kept_as_a_branch(
    fleet: Fleet, mosquitto: Mosquitto
) -> None:
    (st,) = fleet.add_stations(1, uplink=FAST)
    fleet.start_hub()
    st.start()
    st.scan(6)
    assert wait_for(delivered(st))
    image = fleet.tmp / "image.db"
    snapshot(st.folder.journal_path, image)
    st.scan(4)
    assert wait_for(delivered(st))
    old_journal = st.recorded[-1].journal
    st.stop()
    restore(st, image)
    mosquitto.stop()  # the network is down when the restored card boots
    st.start()
    st.scan(2)  # seq 7 and 8 again, other scans: the hub holds another 7 and 8
    mosquitto.start()
    assert wait_for(lambda: st.station is not None and st.station.uplink.state.rotations == 1)
    st.scan(3)
    assert wait_for(delivered(st))
    assert [(r.journal == old_journal, r.seq) for r in st.recorded[10:]] == [
        (True, 7),
        (True, 8),
        (False, 1),
        (False, 2),
        (False, 3),
    ]
    store = fleet.store()
    try:
        check_exactly_once(store, st.id, st.recorded)  # 10 + 2 + 3, nothing lost or merged
        branches = {(j.journal, j.fork): j for j in store.journals(st.id)}
        assert branches[old_journal, 0].committed_upto == 10
        assert (branches[old_journal, 1].fork_seq, branches[old_journal, 1].committed_upto) == (
            7,
            8,
        )
        assert kinds(store) == ["journal_fork", "journal_new"]
    finally:
        store.close()


def clone_of(st: FleetStation, where: Path) -> FleetStation:
    """Another station made from a copy of this one's card (same identity, same journal)."""
    copy = where / st.id
    shutil.copytree(st.folder.folder, copy)
    folder = StationFolder(copy, copy / "station.toml", st.folder.org, st.folder.tokens)
    twin = FleetStation(folder)
    twin.signalled = 1000  # scan other badges than the original
    return twin


def test_a_cloned_card_in_two_stations_keeps_every_scan_and_raises_alerts(fleet: Fleet) -> None:
    (a,) = fleet.add_stations(1, uplink={**FAST, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5})
    fleet.start_hub()
    a.start()
    a.scan(3)
    assert wait_for(delivered(a))
    a.stop()
    b = clone_of(a, fleet.tmp / "clone")  # the installer copied a prepared card
    a.start()
    b.start()
    # both scan for 6 s (the broker keeps taking their session); the two histories' scans
    # must overlap by more than LIVE_OVERLAP_MS (2 s) after one of them has rotated to a
    # journal of its own, which can take a second or two on a loaded machine (3 s was flaky)
    for _ in range(12):
        a.scan(2)
        b.scan(2)
        time.sleep(0.5)
    assert wait_for(delivered(a, b), timeout=60)
    store = fleet.store()
    try:
        check_exactly_once(store, a.id, a.recorded + b.recorded)
        assert {"journal_fork", "two_live_journals"} <= set(kinds(store))
    finally:
        store.close()
    assert a.station is not None and b.station is not None
    rotated = [s for s in (a, b) if s.station is not None and s.station.uplink.state.rotations]
    assert rotated, "one of the two started a journal of its own"
