"""An alert's evidence in the reader's words: the cheating signals (presensi.hub.attendance.
signals) and the journals' alerts (a new journal, a fork, two live histories, an edited record, a
broken chain: presensi.hub.journals and the store) keep theirs as data, worded here from the
catalogue in the reader's language with times in the operator's zone, long hashes by their first
12 hex digits (the evidence and the API keep them whole). An alert without evidence (raised
before the hub kept it), or with evidence this console cannot read (a newer hub's), shows its
stored detail as it is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from presensi.hub.attendance import signals
from presensi.hub.console import i18n
from presensi.hub.console.timefmt import Clock
from presensi.hub.model import (
    ALERT_CHAIN_BREAK,
    ALERT_EDITED,
    ALERT_JOURNAL_FORK,
    ALERT_JOURNAL_NEW,
    ALERT_TWO_LIVE,
    AlertRow,
)

Evidence = Mapping[str, Any]

HASH_SHOWN = 12  # hex digits of a hash a sentence shows


@dataclass(frozen=True)
class Names:
    """What the hub calls the points and the people evidence names by id: location id -> its
    name (Lokasi), employee number -> name (Pegawai). An id it has no name for shows as it is."""

    places: Mapping[str, str] = field(default_factory=dict)
    people: Mapping[str, str] = field(default_factory=dict)


class Words:
    """The reader's catalogue and clock, and the pieces every signal's sentence is made of."""

    def __init__(self, language: str, clock: Clock, names: Names) -> None:
        self.language = language
        self.places = names.places
        self.people = names.people
        self.t = i18n.translator(language)
        self.name = i18n.named(language)
        self.clock = clock.speaking(language)

    def at(self, scan: Evidence, after: int | None = None) -> str:
        """'Terminal Mangkang (st-01) pukul 5 Des 2026 06:10:00 WIB'."""
        time = self.clock.moment(int(scan["at_ms"]), after)
        place = self.place(scan["location"])
        return self.t("evidence.at", place=place, station=scan["station"], time=time)

    def place(self, location: str) -> str:
        """A location's name ('Terminal Mangkang'), or its id when the hub has no name for it."""
        return self.places.get(location) or location

    def who(self, number: str) -> str:
        """'Budi Santoso (EMP-00012)', or the number alone when the hub has no name for it."""
        name = self.people.get(number)
        return f"{name} ({number})" if name else number

    def hash(self, value: str | None) -> str:
        """A record's hash by its first hex digits: 'ffffffffffff…' (a missing one as '-')."""
        if value is None:
            return "-"
        return value if len(value) <= HASH_SHOWN else f"{value[:HASH_SHOWN]}…"

    def number(self, value: float) -> str:
        """18.7 as its reader writes it: '18,7' in Bahasa Indonesia."""
        text = str(int(value)) if float(value).is_integer() else str(round(value, 1))
        return text.replace(".", ",") if self.language == "id" else text


def _travel(e: Evidence, w: Words) -> str:
    first, then = e["from"], e["to"]
    kmh = e["kmh"]
    speed = (
        w.t("evidence.travel.at_once")
        if kmh is None
        else w.t("evidence.travel.speed", kmh=w.number(kmh))
    )
    return w.t(
        "evidence.travel",
        employee=w.who(e["employee"]),
        first=w.at(first),
        then=w.at(then, int(first["at_ms"])),
        km=w.number(e["km"]),
        took=_took(int(then["at_ms"]) - int(first["at_ms"]), w),
        speed=speed,
        allowed=w.number(e["allowed_kmh"]),
    )


def _took(ms: int, w: Words) -> str:
    """'10 menit'; under a minute, '18 detik' (not '0 menit')."""
    if ms < 60_000:
        return w.t("evidence.travel.seconds", n=round(ms / 1000))
    return w.t("evidence.travel.minutes", n=round(ms / 60_000))


def _elsewhere(e: Evidence, w: Words) -> str:
    return w.t(
        "evidence.elsewhere",
        employee=w.who(e["employee"]),
        date=w.clock.day(dt.date.fromisoformat(e["work_date"])),
        at=w.at(e["scan"]),
        assigned=", ".join(w.place(loc) for loc in e["assigned"]),
    )


def _attempts(e: Evidence, w: Words) -> str:
    places = ", ".join(f"{w.place(p['location'])} ({p['station']})" for p in e["places"])
    return w.t(
        "evidence.attempts",
        employee=w.who(e["employee"]),
        count=e["count"],
        first=w.clock.moment(int(e["from_ms"])),
        last=w.clock.moment(int(e["to_ms"]), int(e["from_ms"])),
        reasons=", ".join(w.name("reason", r) for r in e["reasons"]),
        places=places,
    )


def _revoked(e: Evidence, w: Words) -> str:
    return w.t(
        "evidence.revoked", employee=w.who(e["employee"]), serial=e["serial"], at=w.at(e["scan"])
    )


def _phone_copy(e: Evidence, w: Words) -> str:
    first = e["first"]
    since = int(first["at_ms"])
    # which copies showed the very same code, when not all did (then `how` says so once)
    mixed = not e["same_code"]
    copies = "; ".join(
        w.at(c, since)
        + (f", {w.t('evidence.phone_copy.same')}" if mixed and c["same_code"] else "")
        for c in e["copies"]
    )
    how = w.t("evidence.phone_copy.screen" if e["same_code"] else "evidence.phone_copy.within")
    return w.t(
        "evidence.phone_copy",
        employee=w.who(e["employee"]),
        serial=e["serial"],
        first=w.at(first),
        copies=copies,
        how=how,
    )


def _journal_new(e: Evidence, w: Words) -> str:
    older = []
    for o in e["older"]:
        committed, reported = int(o["committed"]), o["reported"]
        tail = w.t("evidence.journal_new.committed", journal=o["journal"], committed=committed)
        if reported is not None and int(reported) > committed:
            tail += w.t(
                "evidence.journal_new.reported",
                reported=int(reported),
                missing=int(reported) - committed,
            )
        older.append(tail)
    return w.t(
        "evidence.journal_new",
        station=e["station"],
        journal=e["journal"],
        count=len(older),
        older="; ".join(older),
    )


def _journal_fork(e: Evidence, w: Words) -> str:
    return w.t(
        "evidence.journal_fork",
        station=e["station"],
        journal=e["journal"],
        seq=int(e["seq"]),
        branch=int(e["branch"]),
    )


def _two_live(e: Evidence, w: Words) -> str:
    first, second = e["histories"]
    since = int(e["from_ms"])
    return w.t(
        "evidence.two_live",
        station=e["station"],
        first=w.t("evidence.history", journal=first["journal"], branch=int(first["branch"])),
        second=w.t("evidence.history", journal=second["journal"], branch=int(second["branch"])),
        since=w.clock.moment(since),
        until=w.clock.moment(int(e["to_ms"]), since),
    )


def _edited(e: Evidence, w: Words) -> str:
    return w.t(
        "evidence.edited",
        station=e["station"],
        journal=e["journal"],
        seq=int(e["seq"]),
        scan=e["scan_id"],
        hash=w.hash(e["hash"]),
        stored=w.hash(e["stored_hash"]),
    )


def _chain_break(e: Evidence, w: Words) -> str:
    seq = int(e["seq"])
    return w.t(
        "evidence.chain_break",
        station=e["station"],
        journal=e["journal"],
        seq=seq,
        before=seq - 1,
        prev=w.hash(e["prev_hash"]),
    )


_SENTENCES: dict[str, Callable[[Evidence, Words], str]] = {
    signals.TRAVEL: _travel,
    signals.ELSEWHERE: _elsewhere,
    signals.ATTEMPTS: _attempts,
    signals.REVOKED: _revoked,
    signals.PHONE_COPY: _phone_copy,
    ALERT_JOURNAL_NEW: _journal_new,
    ALERT_JOURNAL_FORK: _journal_fork,
    ALERT_TWO_LIVE: _two_live,
    ALERT_EDITED: _edited,
    ALERT_CHAIN_BREAK: _chain_break,
}


def describe(alert: AlertRow, language: str, clock: Clock, names: Names | None = None) -> str:
    """The alert's detail for a reader of `language`, its times on `clock` (the operator's
    zone), its points and people by name where `names` has them; the stored detail when there
    is no evidence this console can word."""
    sentence = _SENTENCES.get(alert.kind)
    if sentence is None or alert.evidence is None:
        return alert.detail
    try:
        return sentence(alert.evidence, Words(language, clock, names or Names()))
    except Exception:  # noqa: BLE001 (evidence of another shape, a newer hub's or odd values
        # such as a time out of range: the alert's own words, never a broken page)
        return alert.detail


def describer(language: str, clock: Clock, names: Names) -> Callable[[AlertRow], str]:
    """`detail(alert)` for a page's template."""
    return lambda alert: describe(alert, language, clock, names)


def employees_named(alerts: Iterable[AlertRow]) -> set[str]:
    """The employee numbers the alerts' evidence names (to look their names up)."""
    found = set()
    for a in alerts:
        number = (a.evidence or {}).get("employee")
        if isinstance(number, str):
            found.add(number)
    return found
