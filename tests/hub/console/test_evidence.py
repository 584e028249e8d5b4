"""The cheating signals' alerts worded for their reader: Bahasa Indonesia with WIB times, or
English, from the evidence kept as data; an alert without it (raised before the hub kept it, or
of another kind) shows its stored detail. On the alerts page and in the API too."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable

from starlette.testclient import TestClient

from presensi.hub.attendance import signals
from presensi.hub.attendance.derive import Day
from presensi.hub.attendance.rules import Signals
from presensi.hub.console.evidence import Names, describe
from presensi.hub.console.timefmt import Clock
from presensi.hub.model import AlertRow, evidence_of
from presensi.hub.store import SqlStore

from ..attendance.factory import at

MakeClient = Callable[..., TestClient]
JAKARTA = Clock.named("Asia/Jakarta")
COORDS = {"term-mangkang": (-6.9728, 110.2966), "term-terboyo": (-6.9553, 110.4652)}


def seen(
    when: str, where: str, outcome: str = "accepted", reason: str = "ok", **more: object
) -> signals.Seen:
    scan = signals.Seen(f"id-{when}-{where}", at(when), f"st-{where}-01", where, outcome, reason, 7)
    return dataclasses.replace(scan, **more)  # type: ignore[arg-type]


def stored(signal: signals.Signal) -> AlertRow:
    """The alert as the store gives it back: its evidence through JSON."""
    evidence = json.loads(json.dumps(signal.evidence))
    return AlertRow(1, 0, signal.station, None, signal.kind, signal.subject, signal.detail, None,
                    None, evidence)  # fmt: skip


def travel() -> signals.Signal:
    fast = [seen("2026-12-07 05:00", "term-mangkang"), seen("2026-12-07 05:10", "term-terboyo")]
    return signals.travel("EMP-00012", fast, COORDS, Signals())[0]


def elsewhere() -> signals.Signal:
    day = Day(
        "EMP-00012", dt.date(2026, 12, 7), "pagi", at("2026-12-07 05:00"), at("2026-12-07 13:00"),
        at("2026-12-07 17:00"), at("2026-12-07 05:00"), None, 0, 0, ("H",), 0.0, ("term-terboyo",),
    )  # fmt: skip
    scans = [seen("2026-12-07 05:00", "term-terboyo")]
    return signals.elsewhere("EMP-00012", day, scans, frozenset({"term-mangkang"}))[0]


def attempts() -> signals.Signal:
    scans = [
        seen(f"2026-12-07 23:5{m}", "term-mangkang", "rejected", reason)
        for m, reason in ((0, "expired"), (4, "bad_signature"), (8, "expired"))
    ]
    return signals.attempts("EMP-00012", scans, Signals())[0]


def revoked() -> signals.Signal:
    scans = [seen("2026-12-07 06:30", "term-mangkang", "rejected", "revoked")]
    return signals.revoked("EMP-00012", scans)[0]


def phone_copy() -> signals.Signal:
    phone = {"serial": 2**31 + 5, "payload": "aa" * 16}
    first = seen("2026-12-07 05:00:05", "term-mangkang", **phone)
    copy = seen("2026-12-07 05:00:25", "term-terboyo", **phone)
    return signals.phone_copies("EMP-00012", [first, copy])[0]


# each kind in both languages: the Indonesian with its times in WIB (the scans are WIB times;
# the stored English detail says UTC: 05:00 WIB is 22:00 UTC the day before)
EXPECTED = {
    "travel": (
        travel,
        "EMP-00012: term-mangkang (st-term-mangkang-01) pukul 7 Des 2026 05:00:00 WIB, lalu "
        "term-terboyo (st-term-terboyo-01) pukul 05:10:00 WIB: 18,7 km dalam 10 menit "
        "(112 km/jam; aturan membolehkan 80 km/jam)",
        "EMP-00012: term-mangkang (st-term-mangkang-01) at 7 Dec 2026 05:00:00 WIB, then "
        "term-terboyo (st-term-terboyo-01) at 05:10:00 WIB: 18.7 km in 10 min (112 km/h; the "
        "rules allow 80 km/h)",
    ),
    "elsewhere": (
        elsewhere,
        "EMP-00012 pada 7 Des 2026: dipindai di term-terboyo (st-term-terboyo-01) pukul "
        "7 Des 2026 05:00:00 WIB; lokasi tugas: term-mangkang",
        "EMP-00012 on 7 Dec 2026: scanned at term-terboyo (st-term-terboyo-01) at 7 Dec 2026 "
        "05:00:00 WIB; assigned: term-mangkang",
    ),
    "attempts": (
        attempts,
        "EMP-00012: 3 pindaian ditolak dari 7 Des 2026 23:50:00 WIB sampai 23:58:00 WIB "
        "(tanda tangan palsu, kedaluwarsa) di term-mangkang (st-term-mangkang-01)",
        "EMP-00012: 3 refused scans from 7 Dec 2026 23:50:00 WIB to 23:58:00 WIB (forged "
        "signature, expired) at term-mangkang (st-term-mangkang-01)",
    ),
    "revoked": (
        revoked,
        "EMP-00012: kartu dicabut 7 ditunjukkan di term-mangkang (st-term-mangkang-01) pukul "
        "7 Des 2026 06:30:00 WIB",
        "EMP-00012: revoked badge 7 presented at term-mangkang (st-term-mangkang-01) at "
        "7 Dec 2026 06:30:00 WIB",
    ),
    "phone_copy": (
        phone_copy,
        "EMP-00012: kartu ponsel 2147483653 diterima di term-mangkang (st-term-mangkang-01) "
        "pukul 7 Des 2026 05:00:05 WIB, lalu di term-terboyo (st-term-terboyo-01) pukul "
        "05:00:25 WIB: kode yang sama (salinan layar); satu ponsel tidak mungkin "
        "berada di dua stasiun sekaligus (dihitung sekali: hari itu memakai masuk pertama dan "
        "pulang terakhir)",
        "EMP-00012: phone badge 2147483653 accepted at term-mangkang (st-term-mangkang-01) at "
        "7 Dec 2026 05:00:05 WIB, then at term-terboyo (st-term-terboyo-01) at 05:00:25 WIB: "
        "the same code (a copy of the screen); one phone cannot be at two stations "
        "at once (counted once: the day takes the first check-in and the last check-out)",
    ),
}


def test_each_signal_in_bahasa_indonesia_with_wib_times_and_in_english() -> None:
    for what, (make, indonesian, english) in EXPECTED.items():
        alert = stored(make())
        assert describe(alert, "id", JAKARTA) == indonesian, what
        assert describe(alert, "en", JAKARTA) == english, what
        assert "UTC" in alert.detail  # the stored fallback, unchanged
    # another zone names its own times (Makassar: WITA, an hour ahead)
    wita = describe(stored(revoked()), "id", Clock.named("Asia/Makassar"))
    assert wita.endswith("pukul 7 Des 2026 07:30:00 WITA")


def test_travel_at_once_and_a_fresh_phone_code_within_30_s() -> None:
    same = [seen("2026-12-07 05:00", "term-mangkang"), seen("2026-12-07 05:00", "term-terboyo")]
    at_once = stored(signals.travel("EMP-00012", same, COORDS, Signals())[0])
    assert "km dalam 0 detik (pada saat yang sama; aturan" in describe(at_once, "id", JAKARTA)
    soon = [seen("2026-12-07 05:00", "term-mangkang"), seen("2026-12-07 05:00:18", "term-terboyo")]
    quick = stored(signals.travel("EMP-00012", soon, COORDS, Signals())[0])
    assert ": 18,7 km dalam 18 detik (3742 km/jam;" in describe(quick, "id", JAKARTA)
    assert ": 18.7 km in 18 s (3742 km/h;" in describe(quick, "en", JAKARTA)
    assert "(at once; the rules" in describe(at_once, "en", JAKARTA)
    first = seen("2026-12-07 05:00:05", "term-mangkang", serial=2**31 + 5, payload="aa" * 16)
    fresh = seen("2026-12-07 05:00:30", "term-terboyo", serial=2**31 + 5, payload="bb" * 16)
    [copied] = signals.phone_copies("EMP-00012", [first, fresh])
    worded = describe(stored(copied), "id", JAKARTA)
    assert "pukul 05:00:30 WIB: dalam 30 detik;" in worded and "kode yang sama" not in worded
    # one copy with the same code, another a fresh code elsewhere: each copy says which it was
    screen = seen("2026-12-07 05:01:00", "term-terboyo", serial=2**31 + 5, payload="aa" * 16)
    [mixed] = signals.phone_copies("EMP-00012", [first, fresh, screen])
    worded = describe(stored(mixed), "en", JAKARTA)
    assert "at 05:00:30 WIB; term-terboyo (st-term-terboyo-01) at 05:01:00 WIB, same code: " in (
        worded
    )
    assert worded.count("same code") == 1 and "within 30 s;" in worded


def test_an_alert_without_evidence_shows_its_stored_detail() -> None:
    old = dataclasses.replace(stored(travel()), evidence=None)  # raised before migration 17
    assert describe(old, "id", JAKARTA) == old.detail
    other = AlertRow(2, 0, "st-1", "j1", "journal_fork", "j1/1", "a second history", None)
    assert describe(other, "id", JAKARTA) == "a second history"
    newer = dataclasses.replace(stored(travel()), evidence={"version": 2, "scans": []})
    assert describe(newer, "en", JAKARTA) == newer.detail  # a newer hub's shape: its own words
    # odd values (a time out of any calendar, a number JSON read back as infinity): its own
    # words too, never a broken page
    far = stored(travel())
    assert far.evidence is not None
    far.evidence["from"]["at_ms"] = 10**20
    assert describe(far, "id", JAKARTA) == far.detail
    endless = AlertRow(3, 0, "st-1", "j1", "journal_fork", "j1/1", "a second history", None,
                       None, evidence_of('{"station":"st-1","journal":"j1","seq":1e999,'
                                         '"branch":1}'))  # fmt: skip
    assert describe(endless, "en", JAKARTA) == "a second history"


def test_a_moment_is_named_by_its_zone_as_it_was_then() -> None:
    berlin = Clock.named("Europe/Berlin").speaking("en")
    summer = 1_782_907_200_000  # 2026-07-01 12:00 UTC
    winter = 1_767_268_800_000  # 2026-01-01 12:00 UTC
    assert berlin.moment(summer) == "1 Jul 2026 14:00:00 CEST"
    assert berlin.moment(winter) == "1 Jan 2026 13:00:00 CET"
    assert JAKARTA.moment(summer) == "1 Jul 2026 19:00:00 WIB"


def test_the_alerts_page_words_the_evidence(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    with store.database.transaction():
        signals.raise_signals(store.database, [travel(), revoked()], 1)
        store.database.execute(
            "INSERT INTO alerts (raised_ms, station, journal, kind, subject, detail) "
            "VALUES (2, 'st-term-mangkang-01', NULL, ?, 'EMP-00012 old', ?)",
            (signals.ELSEWHERE, "EMP-00012 on 2026-12-01: scanned at term-terboyo (old words)"),
        )
        # raised once: the same signals again add nothing
        assert signals.raise_signals(store.database, [travel(), revoked()], 3) == 0
    client = make_client("viewer")
    page = client.get("/peringatan").text
    assert EXPECTED["travel"][1] in page and EXPECTED["revoked"][1] in page
    assert "(old words)" in page  # the old alert as it was stored
    assert "UTC" not in page
    client.get("/bahasa?ke=en")
    page = client.get("/peringatan").text
    assert EXPECTED["travel"][2] in page and EXPECTED["revoked"][2] in page
    assert "(old words)" in page
    # once the hub knows EMP-00012 (the staff list synced), the page names them
    from presensi.hub.people import Person, sync_people

    sync_people(store.database, [Person("EMP-00012", "Sri Wahyuni", "Koridor I", "Pagi")], 4)
    page = client.get("/peringatan").text
    assert EXPECTED["revoked"][2].replace("EMP-00012:", "Sri Wahyuni (EMP-00012):") in page


def test_points_and_people_are_named_and_an_unnamed_one_keeps_its_id() -> None:
    names = Names({"term-mangkang": "Terminal Mangkang"})  # term-terboyo: not synced to the hub
    travelled = describe(stored(EXPECTED["travel"][0]()), "id", JAKARTA, names)
    assert travelled.startswith("EMP-00012: Terminal Mangkang (st-term-mangkang-01) pukul ")
    assert "lalu term-terboyo (st-term-terboyo-01) pukul 05:10:00 WIB" in travelled
    stray = describe(stored(EXPECTED["elsewhere"][0]()), "en", JAKARTA, names)
    assert stray.endswith("; assigned: Terminal Mangkang")
    tried = describe(stored(EXPECTED["attempts"][0]()), "id", JAKARTA, names)
    assert tried.endswith(" di Terminal Mangkang (st-term-mangkang-01)")
    known = Names(people={"EMP-00012": "Budi Santoso"})
    revoked_badge = describe(stored(EXPECTED["revoked"][0]()), "id", JAKARTA, known)
    assert revoked_badge.startswith("Budi Santoso (EMP-00012): kartu dicabut 7 ditunjukkan di ")
    assert describe(stored(EXPECTED["revoked"][0]()), "en", JAKARTA, Names()).startswith(
        "EMP-00012: revoked badge 7"
    )
