"""Dates and months from a query string, as the pages and the API take them: within the years
the hub can keep attendance for (2000-2100), so that no day or month arithmetic on them can
leave Python's calendar (9999-12-31 plus a day) or reach before the hub's first scan by
centuries. A refusal says which value and what would do."""

from __future__ import annotations

import datetime as dt
import re

FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2100, 12, 31)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
# the same bounds as patterns, for the OpenAPI document
DAY_PATTERN = r"^(20\d{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
MONTH_PATTERN = r"^(20\d{2}|2100)-(0[1-9]|1[0-2])$"


class BadDate(ValueError):
    """A date or month that cannot be used; `key` names the message, `value` what was given."""

    def __init__(self, key: str, value: str) -> None:
        super().__init__(f"{value!r}: {key}")
        self.key = key
        self.value = value[:40]


def day(raw: str) -> dt.date:
    """YYYY-MM-DD between FIRST_DAY and LAST_DAY."""
    if not _DAY.fullmatch(raw):
        raise BadDate("error.bad_date", raw)
    try:
        found = dt.date.fromisoformat(raw)
    except ValueError:
        raise BadDate("error.bad_date", raw) from None
    if not FIRST_DAY <= found <= LAST_DAY:
        raise BadDate("error.bad_date", raw)
    return found


def month(raw: str) -> dt.date:
    """YYYY-MM between FIRST_DAY's and LAST_DAY's months: its first day."""
    found = _MONTH.fullmatch(raw)
    if not found:
        raise BadDate("error.bad_month", raw)
    first = dt.date(int(found.group(1)), int(found.group(2)), 1)
    if not FIRST_DAY <= first <= LAST_DAY:
        raise BadDate("error.bad_month", raw)
    return first


def month_after(first: dt.date) -> dt.date:
    """The first day of the next month (LAST_DAY's month: still a date, 2101-01-01)."""
    return (first + dt.timedelta(days=32)).replace(day=1)


def fields() -> dict[str, str]:
    """The bounds, for the messages."""
    return {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()}
