"""Times as Indonesian operators read them: in the operator's zone, named WIB, WITA or WIT."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, replace

# Indonesia's three zones by IANA name; other zones show their own abbreviation
INDONESIAN_ZONES = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}


# short month names per language (Indonesian first); an unknown language reads Indonesian
MONTHS = {
    "id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


@dataclass(frozen=True)
class Clock:
    zone: zoneinfo.ZoneInfo
    months: tuple[str, ...] = MONTHS["id"]

    def speaking(self, language: str) -> Clock:
        """The same clock naming months in `language`."""
        return replace(self, months=MONTHS.get(language, MONTHS["id"]))

    @classmethod
    def named(cls, name: str) -> Clock:
        try:
            return cls(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}: use e.g. Asia/Jakarta") from None

    @property
    def abbreviation(self) -> str:
        """The zone's name now (the console's footer)."""
        return self.named_at(dt.datetime.now(self.zone))

    def named_at(self, when: dt.datetime) -> str:
        """The zone's name at `when` (WIB; a zone with summer time: the name it had then)."""
        known = INDONESIAN_ZONES.get(self.zone.key)
        return known or (when.tzname() or self.zone.key)

    def local(self, ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ms / 1000, self.zone)

    def time(self, ms: int | None) -> str:
        """'07:05:09 WIB' today, '3 Des 07:05 WIB' (English: '3 Dec') on another day; '-' for
        none."""
        if ms is None:
            return "-"
        when = self.local(ms)
        if when.date() == dt.datetime.now(self.zone).date():
            return f"{when:%H:%M:%S} {self.named_at(when)}"
        return f"{when.day} {self.months[when.month - 1]} {when:%H:%M} {self.named_at(when)}"

    def moment(self, ms: int, after: int | None = None) -> str:
        """A moment of evidence, to the second: '5 Des 2026 23:10:00 WIB' (English: '5 Dec');
        '23:40:05 WIB' when it falls on the same day as the moment `after` named before it."""
        when = self.local(ms)
        if after is not None and self.local(after).date() == when.date():
            return f"{when:%H:%M:%S} {self.named_at(when)}"
        return f"{self.day(when.date())} {when:%H:%M:%S} {self.named_at(when)}"

    def day(self, day: dt.date) -> str:
        """'5 Des 2026': a calendar day (a work date), as `date` names the day of a moment."""
        return f"{day.day} {self.months[day.month - 1]} {day.year}"

    def date(self, ms: int) -> str:
        """'3 Des 2026', the operator's calendar day of `ms`."""
        return self.day(self.local(ms).date())

    def start_of_today_ms(self, now_ms: int) -> int:
        day = self.local(now_ms).date()
        return int(dt.datetime.combine(day, dt.time(), self.zone).timestamp() * 1000)


def age(seconds: float) -> str:
    """A short age with SI units, read alike in both languages: '45 s', '12 min', '3 h', '2 d'."""
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 90 * 60:
        return f"{int(seconds // 60)} min"
    if seconds < 36 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def megabytes(mb: int | None) -> str:
    """Disk space as people read it: '812 MB', '78.2 GB'; '-' for none."""
    if mb is None:
        return "-"
    if mb < 1024:
        return f"{mb} MB"
    return f"{mb / 1024:.1f} GB"
