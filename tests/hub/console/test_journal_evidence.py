"""The journals' alerts (a new journal, a fork, two live histories, an edited record, a broken
chain) keep their evidence as data, raised through the store as the hub raises them (SQLite and
PostgreSQL), and are worded for their reader: Bahasa Indonesia or English, times in the operator's
zone, hashes by their first 12 hex digits. An alert raised before the hub kept it shows its
stored detail."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import msgspec
from starlette.testclient import TestClient

from presensi.device.testbed import T0_MS as T0
from presensi.device.testbed import sample_chain as chain
from presensi.hub.console.evidence import describe
from presensi.hub.console.timefmt import Clock
from presensi.hub.model import AlertRow
from presensi.hub.store import SqlStore
from presensi.protocol.wire import JournalState

from ..test_store import OTHER_JOURNAL, batch, branch, ingest, seqs, spread

MakeClient = Callable[..., TestClient]
JAKARTA = Clock.named("Asia/Jakarta")
J = seqs("st-1", 1, 1)[0].journal  # st-1's sample journal
NEW = OTHER_JOURNAL  # the journal a replaced card began


def clear(store: SqlStore) -> None:
    """An empty hub again, for the next alert."""
    with store.database.transaction():
        for table in ("alerts", "rejects", "scans", "journals"):
            store.database.execute(f"DELETE FROM {table}")


def only(store: SqlStore, kind: str, station: str) -> AlertRow:
    [alert] = [a for a in store.alerts() if (a.kind, a.station) == (kind, station)]
    return alert


def journal_new(store: SqlStore, station: str = "st-1") -> AlertRow:
    """The card replaced an hour later; the old journal reported 25 and delivered 20."""
    old = seqs(station, 1, 20)
    ingest(store, batch(old))
    store.report_journals(station, {old[0].journal: JournalState(25, 20)}, T0)
    ingest(store, batch(spread(seqs(station, 1, 5, journal=NEW), 1000, start=T0 + 3_600_000)))
    return only(store, "journal_new", station)


def journal_fork(store: SqlStore, station: str = "st-1") -> AlertRow:
    """A card restored from an image of seqs 1..6 that scanned 7 and 8 before it reached the hub."""
    original = seqs(station, 1, 10)
    ingest(store, batch(original))
    ingest(store, batch(branch(seqs(station, 7, 8), prev=original[5].digest())))
    return only(store, "journal_fork", station)


def two_live(store: SqlStore, station: str = "st-1") -> AlertRow:
    """A cloned card: two histories of one journal scanning every 20 s, delivered interleaved."""
    a = spread(seqs(station, 1, 30), 20_000)
    b = branch(a, prev=a[0].prev_hash)
    for i in range(0, 30, 10):
        ingest(store, batch(a[i : i + 10]))
        ingest(store, batch(b[i : i + 10]))
    return only(store, "two_live_journals", station)


def edited(store: SqlStore, station: str = "st-1") -> AlertRow:
    """Seq 3 again under its scan id, another employee in it."""
    ingest(store, batch(seqs(station, 1, 5)))
    ingest(store, batch([msgspec.structs.replace(seqs(station, 3, 3)[0], employee="E2")]))
    return only(store, "conflicting_duplicate", station)


def chain_break(store: SqlStore, station: str = "st-1") -> AlertRow:
    """Seq 6 does not follow seq 5: its prev_hash is f...f."""
    ingest(store, batch(seqs(station, 1, 5)))
    ingest(store, batch(list(chain(station, 5, first=6, prev="f" * 64))))
    return only(store, "chain_break", station)


# each kind in both languages ({st}: the station, {j} its journal, {new} the replaced card's,
# {scan} the edited scan, {edited} and {stored} the first 12 hex digits of its two hashes).
# T0 is 2026-09-21 14:13:20 UTC, 21:13:20 WIB; the clone's histories overlap, on their synced
# clocks, from seq 1 (T0 + 20 s) to seq 10 (T0 + 200 s) when the second one's first ten arrive
EXPECTED: dict[str, tuple[Callable[[SqlStore, str], AlertRow], str, str]] = {
    "journal_new": (
        journal_new,
        "Stasiun {st} memulai jurnal {new} di samping 1 jurnal lama (kartu memorinya diganti "
        "atau di-flash ulang, atau stasiun mendapati hub lebih maju daripada kartu memorinya): "
        "{j}: tersimpan di hub sampai catatan ke-20 dari 25 yang dilaporkan stasiun (5 tidak "
        "pernah sampai)",
        "Station {st} began journal {new} beside 1 older (card replaced or re-flashed, or it "
        "found the hub ahead of its card): {j}: committed 20 of 25 it reported (5 never "
        "arrived)",
    ),
    "journal_fork": (
        journal_fork,
        "Stasiun {st} jurnal {j}: riwayat kedua mulai catatan ke-7 (disimpan sebagai cabang 1 "
        "di samping yang pertama): kartu memori yang dipulihkan dari salinan lama dan sudah "
        "memindai sebelum tersambung ke hub, atau kartu memori hasil kloning",
        "Station {st} journal {j}: a second history from seq 7 (kept as branch 1 beside the "
        "first): a card restored from an old image that scanned before it learned, or a cloned "
        "card",
    ),
    "two_live_journals": (
        two_live,
        "Stasiun {st} menulis pindaian ke dalam dua riwayat sekaligus ({j} cabang 0 dan {j} "
        "cabang 1, pindaian bertumpuk dari 21 Sep 2026 21:13:40 WIB sampai 21:16:40 WIB): "
        "identitasnya dipakai dua perangkat (kartu memori hasil kloning). Keduanya disimpan.",
        "Station {st} is scanning into two histories at once ({j} branch 0 and {j} branch 1, "
        "scans overlapping from 21 Sep 2026 21:13:40 WIB to 21:16:40 WIB): its identity is in "
        "use by two devices (a cloned card). Both are kept.",
    ),
    "conflicting_duplicate": (
        edited,
        "Stasiun {st} jurnal {j} catatan ke-3: pindaian {scan} datang lagi dengan isi berbeda "
        "(hash {edited}…, yang tersimpan {stored}…); yang tersimpan dipertahankan",
        "Station {st} journal {j} seq 3: scan {scan} arrived again with other content (hash "
        "{edited}…, stored {stored}…); kept the stored one",
    ),
    "chain_break": (
        chain_break,
        "Stasiun {st} jurnal {j} catatan ke-6: hash sebelumnya (prev_hash) ffffffffffff… bukan "
        "hash catatan ke-5",
        "Station {st} journal {j} seq 6: prev_hash ffffffffffff… is not the hash of its seq 5",
    ),
}


def expected(kind: str, station: str = "st-1") -> tuple[str, str]:
    """The alert of `kind` the maker raises for `station`, in Bahasa Indonesia and in English."""
    _, indonesian, english = EXPECTED[kind]
    stored = seqs(station, 3, 3)[0]
    facts = {
        "st": station,
        "j": stored.journal,
        "new": NEW,
        "scan": stored.scan_id,
        "edited": msgspec.structs.replace(stored, employee="E2").digest()[:12],
        "stored": stored.digest()[:12],
    }
    return indonesian.format(**facts), english.format(**facts)


def test_each_journal_alert_in_bahasa_indonesia_and_in_english(store: SqlStore) -> None:
    for kind, (make, _, _) in EXPECTED.items():
        clear(store)
        alert = make(store)
        indonesian, english = expected(kind)
        assert describe(alert, "id", JAKARTA) == indonesian, kind
        assert describe(alert, "en", JAKARTA) == english, kind
        assert alert.evidence is not None and alert.evidence["station"] == "st-1", kind


def test_the_evidence_is_data_and_the_detail_and_subject_are_as_before(store: SqlStore) -> None:
    new = journal_new(store)
    assert new.subject == NEW
    assert new.detail == (
        f"station st-1 began journal {NEW} beside 1 older (card replaced or re-flashed, or it "
        f"found the hub ahead of its card): {J}: committed 20 of 25 it reported (5 never arrived)"
    )
    assert new.evidence == {
        "station": "st-1",
        "journal": NEW,
        "older": [{"journal": J, "committed": 20, "reported": 25}],
    }


def test_a_fork_and_two_live_histories_keep_their_facts(store: SqlStore) -> None:
    fork = journal_fork(store)
    assert fork.subject == f"{J}/1"
    assert fork.detail == (
        f"station st-1 journal {J}: a second history from seq 7 (kept as branch 1 beside the "
        "first): a card restored from an old image that scanned before it learned, or a cloned card"
    )
    assert fork.evidence == {"station": "st-1", "journal": J, "seq": 7, "branch": 1}
    clear(store)
    live = two_live(store)
    assert live.subject == f"{J}/0+{J}/1"
    assert live.detail == (
        f"station st-1 is scanning into two histories at once ({J} branch 0 and {J} branch 1, "
        "scans overlapping for 180 s): its identity is in use by two devices (a cloned card). "
        "Both are kept."
    )
    assert live.evidence is not None
    assert (live.evidence["from_ms"], live.evidence["to_ms"]) == (T0 + 20_000, T0 + 200_000)
    assert [(h["journal"], h["branch"]) for h in live.evidence["histories"]] == [(J, 0), (J, 1)]


def test_an_edit_and_a_break_keep_the_whole_hashes(store: SqlStore) -> None:
    alert = edited(store)
    stored = seqs("st-1", 3, 3)[0]
    assert alert.subject == f"{J}/3" and "kept the stored one" in alert.detail
    assert alert.evidence == {
        "station": "st-1",
        "journal": J,
        "seq": 3,
        "scan_id": stored.scan_id,
        "hash": msgspec.structs.replace(stored, employee="E2").digest(),
        "stored_hash": stored.digest(),
    }
    clear(store)
    broken = chain_break(store)
    assert broken.subject == f"{J}/6"
    assert broken.detail == (
        f"station st-1 journal {J} seq 6: prev_hash {'f' * 64} is not the hash of its seq 5"
    )
    assert broken.evidence == {"station": "st-1", "journal": J, "seq": 6, "prev_hash": "f" * 64}


def test_a_journal_alert_raised_before_the_evidence_shows_its_stored_detail(
    store: SqlStore,
) -> None:
    for make in (journal_fork, chain_break):
        clear(store)
        old = dataclasses.replace(make(store), evidence=None)  # as raised before this change
        assert describe(old, "id", JAKARTA) == old.detail


def test_the_alerts_page_words_the_journal_alerts(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    journal_fork(store)
    with store.database.transaction():  # a chain break raised before the evidence was kept
        store.database.execute(
            "INSERT INTO alerts (raised_ms, station, journal, kind, subject, detail) "
            "VALUES (1, 'st-2', 'j', 'chain_break', 'j/6', 'station st-2 journal j seq 6: "
            "prev_hash eee is not the hash of its seq 5 (old words)')"
        )
    client = make_client("viewer")
    page = client.get("/peringatan").text
    assert expected("journal_fork")[0] in page and "(old words)" in page
    client.get("/bahasa?ke=en")
    page = client.get("/peringatan").text
    assert expected("journal_fork")[1] in page and "(old words)" in page
