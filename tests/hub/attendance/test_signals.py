"""Cheating signals: one badge at two points faster than travel allows, a scan where the employee
is not assigned, repeated refused attempts, a revoked badge presented. Pure cases first, then
through ingest and the derivation into the store's alerts (SQLite and PostgreSQL): raised once,
with the evidence, never again after an operator clears them."""

from __future__ import annotations

import dataclasses
import datetime as dt

from presensi.hub.attendance import days, signals
from presensi.hub.attendance.derive import Day
from presensi.hub.attendance.rules import Signals
from presensi.hub.people import Person, sync_people
from presensi.hub.places import Place, sync_places
from presensi.hub.store import SqlStore, StationInfo
from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.wire import batch_of

from .factory import at, chain

COORDS = {
    "term-mangkang": (-6.9728, 110.2966),
    "pool-mangkang": (-6.9708, 110.299),  # 350 m from the terminal
    "term-terboyo": (-6.9553, 110.4652),  # 18.7 km east
}
RULES = Signals()


def seen(when: str, where: str, outcome: str = "accepted", reason: str = "ok") -> signals.Seen:
    return signals.Seen(
        f"id-{when.replace(' ', 'T')}-{where}",
        at(when),
        f"st-{where}-01",
        where,
        outcome,
        reason,
        7,
    )


def test_the_distance_between_two_points() -> None:
    km = signals.distance_km(COORDS["term-mangkang"], COORDS["term-terboyo"])
    assert 18.5 < km < 18.9
    assert signals.distance_km(COORDS["term-mangkang"], COORDS["term-mangkang"]) == 0


def test_two_points_faster_than_travel_allows() -> None:
    # Mangkang then Terboyo 10 minutes later: 112 km/h over 18.7 km
    fast = [seen("2026-12-07 05:00", "term-mangkang"), seen("2026-12-07 05:10", "term-terboyo")]
    [found] = signals.travel("EMP-00001", fast, COORDS, RULES)
    assert found.kind == signals.TRAVEL and found.station == "st-term-terboyo-01"
    assert "18.7 km in 10 min" in found.detail and "112 km/h" in found.detail
    # 40 minutes is a bus ride: no signal
    slow = [fast[0], seen("2026-12-07 05:40", "term-terboyo")]
    assert signals.travel("EMP-00001", slow, COORDS, RULES) == []
    # terminal then its pool next door, within a minute: closer than travel_min_km
    near = [fast[0], seen("2026-12-07 05:00:30", "pool-mangkang")]
    assert signals.travel("EMP-00001", near, COORDS, RULES) == []
    # the same second at two points: "at once"
    same = [fast[0], seen("2026-12-07 05:00", "term-terboyo")]
    assert "at once" in signals.travel("EMP-00001", same, COORDS, RULES)[0].detail
    # a refused scan is not a presence; a point without coordinates is not judged
    refused = [fast[0], seen("2026-12-07 05:10", "term-terboyo", "rejected", "expired")]
    assert signals.travel("EMP-00001", refused, COORDS, RULES) == []
    unknown = [fast[0], seen("2026-12-07 05:10", "halte-baru")]
    assert signals.travel("EMP-00001", unknown, COORDS, RULES) == []
    # the rules' speed decides
    strict = dataclasses.replace(RULES, travel_kmh=20)
    assert len(signals.travel("EMP-00001", slow, COORDS, strict)) == 1


def test_repeated_refused_attempts() -> None:
    def refused(when: str) -> signals.Seen:
        return seen(when, "term-mangkang", "rejected", "expired")

    two = [refused("2026-12-07 05:00"), refused("2026-12-07 05:03")]
    assert signals.attempts("EMP-00001", two, RULES) == []
    three = [*two, refused("2026-12-07 05:09")]
    [found] = signals.attempts("EMP-00001", three, RULES)
    assert found.kind == signals.ATTEMPTS and "3 refused scans" in found.detail
    # spread over more than the window: none
    spread = [*two, refused("2026-12-07 05:11")]
    assert signals.attempts("EMP-00001", spread, RULES) == []
    # two bursts: two alerts, each named by its first scan
    later = [refused(f"2026-12-07 09:0{k}") for k in range(3)]
    bursts = signals.attempts("EMP-00001", [*three, *later], RULES)
    assert [b.subject.split()[1] for b in bursts] == [three[0].scan_id, later[0].scan_id]


def test_each_signal_keeps_its_evidence_as_data() -> None:
    fast = [seen("2026-12-07 05:00", "term-mangkang"), seen("2026-12-07 05:10", "term-terboyo")]
    [travel] = signals.travel("EMP-00001", fast, COORDS, RULES)
    assert travel.evidence == {
        "employee": "EMP-00001",
        "from": {
            "location": "term-mangkang",
            "station": "st-term-mangkang-01",
            "at_ms": at("2026-12-07 05:00"),
        },
        "to": {
            "location": "term-terboyo",
            "station": "st-term-terboyo-01",
            "at_ms": at("2026-12-07 05:10"),
        },
        "km": 18.7,
        "kmh": 112,
        "allowed_kmh": RULES.travel_kmh,
    }
    same = [fast[0], seen("2026-12-07 05:00", "term-terboyo")]
    assert signals.travel("EMP-00001", same, COORDS, RULES)[0].evidence["kmh"] is None
    refused = [
        seen(f"2026-12-07 05:0{k}", "term-mangkang", "rejected", "expired") for k in (0, 3, 9)
    ]
    [attempts] = signals.attempts("EMP-00001", refused, RULES)
    assert attempts.evidence == {
        "employee": "EMP-00001",
        "count": 3,
        "from_ms": at("2026-12-07 05:00"),
        "to_ms": at("2026-12-07 05:09"),
        "reasons": ["expired"],
        "places": [{"location": "term-mangkang", "station": "st-term-mangkang-01"}],
    }
    day = Day(
        "EMP-00001", dt.date(2026, 12, 7), "pagi", at("2026-12-07 05:00"), at("2026-12-07 13:00"),
        at("2026-12-07 17:00"), at("2026-12-07 05:00"), None, 0, 0, ("H",), 0.0, ("term-terboyo",),
    )  # fmt: skip
    away = seen("2026-12-07 05:00", "term-terboyo")
    [elsewhere] = signals.elsewhere("EMP-00001", day, [away], frozenset({"term-mangkang"}))
    assert elsewhere.evidence == {
        "employee": "EMP-00001",
        "work_date": "2026-12-07",
        "scan": {"location": "term-terboyo", "station": "st-term-terboyo-01", "at_ms": away.at_ms},
        "assigned": ["term-mangkang"],
    }
    shown = seen("2026-12-07 05:00", "term-mangkang", "rejected", "revoked")
    [revoked] = signals.revoked("EMP-00001", [shown])
    assert revoked.evidence == {
        "employee": "EMP-00001",
        "serial": 7,
        "scan": {
            "location": "term-mangkang",
            "station": "st-term-mangkang-01",
            "at_ms": shown.at_ms,
        },
    }


def test_a_revoked_badge_presented() -> None:
    scans = [
        seen("2026-12-07 05:00", "term-mangkang", "rejected", "revoked"),
        seen("2026-12-07 05:01", "term-mangkang", "rejected", "revoked"),
        seen("2026-12-07 05:02", "term-mangkang", "rejected", "expired"),
    ]
    [found] = signals.revoked("EMP-00001", scans)  # one per badge per day
    assert found.kind == signals.REVOKED and "revoked badge 7" in found.detail


# -- through ingest --------------------------------------------------------------------------------


def _prepared(store: SqlStore) -> None:
    db = store.database
    sync_people(db, [Person("EMP-00001", "Budi Santoso", "Pramudi Koridor I", "Pagi")], 1)
    sync_places(
        db,
        [Place(i, i, "terminal", *c, "Asia/Jakarta") for i, c in COORDS.items()],
        1,
    )
    for station in ("st-term-mangkang-01", "st-term-terboyo-01"):
        store.register_station(StationInfo(station, bytes(32), station[3:-3]))


def _alerts(store: SqlStore) -> list[tuple[str, str]]:
    return sorted((a.kind, a.station) for a in store.alerts(open_only=False, limit=1000))


def test_signals_are_raised_once_from_ingested_scans(store: SqlStore) -> None:
    _prepared(store)
    mangkang = chain("st-term-mangkang-01", [("EMP-00001", "2026-12-07 05:00", "in")])
    terboyo = chain("st-term-terboyo-01", [("EMP-00001", "2026-12-07 05:10", "out")])
    for records in (mangkang, terboyo):
        store.ingest([batch_of(records[0].station, records[0].journal, records)], 1)
    days.derive_all(store.database, days.RulesInForce())
    assert _alerts(store) == [(signals.TRAVEL, "st-term-terboyo-01")]
    [alert] = store.alerts()
    assert "EMP-00001" in alert.detail and "term-mangkang" in alert.detail
    # the evidence kept as data too, for the console to word in its reader's language and zone
    assert alert.evidence is not None and alert.evidence["employee"] == "EMP-00001"
    assert alert.evidence["from"] == {
        "location": "term-mangkang",
        "station": "st-term-mangkang-01",
        "at_ms": at("2026-12-07 05:00"),
    }
    assert alert.evidence["to"]["at_ms"] == at("2026-12-07 05:10")
    # cleared by an operator, then the day derived again: not raised anew
    assert store.clear_alert(alert.id, 2, by="operator")
    days.mark_range(store.database, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    days.derive_all(store.database, days.RulesInForce())
    assert _alerts(store) == [(signals.TRAVEL, "st-term-terboyo-01")]
    assert store.alerts() == []


def test_refused_attempts_through_ingest(store: SqlStore) -> None:
    _prepared(store)
    records = chain(
        "st-term-mangkang-01",
        [("EMP-00001", f"2026-12-07 05:0{k}", "in") for k in range(3)],
        Outcome.REJECTED,
        Reason.EXPIRED,
    )
    store.ingest([batch_of(records[0].station, records[0].journal, records)], 1)
    days.derive_all(store.database, days.RulesInForce())
    assert _alerts(store) == [(signals.ATTEMPTS, "st-term-mangkang-01")]


# -- a phone badge at two stations --------------------------------------------------------------

PHONE = 2**31 + 5


def phone_seen(
    when: str, station: str, payload: str, location: str = "term-mangkang"
) -> signals.Seen:
    return signals.Seen(
        f"id-{when.replace(' ', 'T')}-{station}",
        at(when),
        station,
        location,
        "accepted",
        "ok",
        PHONE,
        payload,
    )


def test_one_phone_code_at_two_stations() -> None:
    first = phone_seen("2026-12-07 05:00:05", "st-a", "aa" * 16)
    # a screenshot of the same code shown at another station, 20 s later: one alert, the evidence
    copy = phone_seen("2026-12-07 05:00:25", "st-b", "aa" * 16, "term-terboyo")
    [found] = signals.phone_copies("EMP-00001", [copy, first])
    assert found.kind == signals.PHONE_COPY and found.station == "st-b"
    assert found.subject == f"EMP-00001 {PHONE} {first.scan_id}"
    assert "the same code" in found.detail and "term-terboyo (st-b)" in found.detail
    # the same text is a copy however late it is shown (a station whose clock lags)
    late = phone_seen("2026-12-07 05:09:00", "st-c", "aa" * 16)
    [found] = signals.phone_copies("EMP-00001", [first, copy, late])
    assert "st-b" in found.detail and "st-c" in found.detail  # still one alert
    # another code of the phone at another place within 30 s: a copy of a fresh code
    fresh = phone_seen("2026-12-07 05:00:30", "st-b", "bb" * 16, "term-terboyo")
    [found] = signals.phone_copies("EMP-00001", [first, fresh])
    assert "within 30 s" in found.detail
    # a fresh code at the next gate of the same place (the owner, after a missed beep): nothing
    retry = phone_seen("2026-12-07 05:00:15", "st-b", "dd" * 16)
    assert signals.phone_copies("EMP-00001", [first, retry]) == []
    # the owner at two stations a minute apart, with their own codes: nothing
    walked = phone_seen("2026-12-07 05:01:10", "st-b", "cc" * 16)
    assert signals.phone_copies("EMP-00001", [first, walked]) == []
    # the same station (it refuses a replay itself), a card, a refused scan: nothing
    again = phone_seen("2026-12-07 05:00:20", "st-a", "aa" * 16)
    assert signals.phone_copies("EMP-00001", [first, again]) == []
    card = dataclasses.replace(copy, serial=7)
    refused = dataclasses.replace(copy, outcome="rejected", reason="phone_expired_step")
    assert signals.phone_copies("EMP-00001", [first, card]) == []
    assert signals.phone_copies("EMP-00001", [first, refused]) == []


def test_one_phone_code_at_two_stations_through_ingest_counted_once(store: SqlStore) -> None:
    _prepared(store)
    code = {"serial": PHONE, "payload_sha256": "ab" * 16}
    # two stations at the same terminal (no travel signal), the same code 12 s apart
    store.register_station(StationInfo("st-term-mangkang-02", bytes(32), "term-mangkang"))
    owner = chain("st-term-mangkang-01", [("EMP-00001", "2026-12-07 05:00:03", "in")], **code)
    copy = chain("st-term-mangkang-02", [("EMP-00001", "2026-12-07 05:00:15", "in")], **code)
    for records in (owner, copy):
        store.ingest([batch_of(records[0].station, records[0].journal, records)], 1)
    days.derive_all(store.database, days.RulesInForce())
    assert _alerts(store) == [(signals.PHONE_COPY, "st-term-mangkang-02")]
    [alert] = store.alerts()
    assert owner[0].scan_id in alert.subject and "the same code" in alert.detail
    assert alert.evidence is not None and alert.evidence["same_code"] is True
    assert [c["station"] for c in alert.evidence["copies"]] == ["st-term-mangkang-02"]
    # attendance counts the day once, from the first check-in
    [day] = days.stored_days(
        store.database, dt.date(2026, 12, 7), dt.date(2026, 12, 7), "EMP-00001"
    )
    assert day.first_in_ms == at("2026-12-07 05:00:03")
    # derived again: not raised anew
    days.mark_range(store.database, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    days.derive_all(store.database, days.RulesInForce())
    assert len(store.alerts(open_only=False, limit=10)) == 1


def test_a_card_at_two_stations_of_one_place_is_not_looked_at(store: SqlStore) -> None:
    _prepared(store)
    store.register_station(StationInfo("st-term-mangkang-02", bytes(32), "term-mangkang"))
    a = chain("st-term-mangkang-01", [("EMP-00001", "2026-12-07 05:00:03", "in")])
    b = chain("st-term-mangkang-02", [("EMP-00001", "2026-12-07 05:00:15", "in")])
    for records in (a, b):
        store.ingest([batch_of(records[0].station, records[0].journal, records)], 1)
    days.derive_all(store.database, days.RulesInForce())
    assert _alerts(store) == []
