"""Corrections of attendance, with a trail: an authorised user sets a manual status (izin,
sakit, cuti, dinas luar, ...) or a missing check-in or check-out time for one employee's work
day, with a reason (and the name of an attachment, say the doctor's letter). Raw scans are
never edited. A correction applies once approved: at once when the rules do not ask for a
second person (`corrections_need_approval = false`), else when another user approves it. Each
step is written to the audit trail in the same transaction as the change itself.

A manual status replaces the day's codes; a manual time is one more punch for the derivation
(the day is derived again at once). Reports mark both as manual.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from presensi.hub.attendance.marks import DAY_MS, mark_day
from presensi.hub.attendance.rules import Rules

if TYPE_CHECKING:
    from presensi.hub.store import Database

Decision = Literal["approved", "refused"]
REASON_MAX = 500
ATTACHMENT_MAX = 200
_COLUMNS = (
    "id, employee, work_date, code, check_in_ms, check_out_ms, reason, attachment, "
    "requested_by, requested_ms, decision, decided_by, decided_ms"
)


class CorrectionError(ValueError):
    """A correction refused: the message says why, in English (the command line prints it as it
    is); `key` and `fields` name it for the console, which shows it in the reader's language
    (its catalogues' `correction.<key>`)."""

    def __init__(self, message: str, key: str = "", **fields: object) -> None:
        super().__init__(message)
        self.key = key
        self.fields = fields


@dataclass(frozen=True)
class Correction:
    id: int
    employee: str
    work_date: dt.date
    code: str | None
    check_in_ms: int | None
    check_out_ms: int | None
    reason: str
    attachment: str
    requested_by: str
    requested_ms: int
    decision: str | None
    decided_by: str | None
    decided_ms: int | None

    @property
    def approved(self) -> bool:
        return self.decision == "approved"


def _correction(r: Sequence[Any]) -> Correction:
    def opt(v: Any) -> int | None:
        return None if v is None else int(v)

    return Correction(
        int(r[0]),
        str(r[1]),
        dt.date.fromisoformat(str(r[2])),
        None if r[3] is None else str(r[3]),
        opt(r[4]),
        opt(r[5]),
        str(r[6]),
        str(r[7]),
        str(r[8]),
        int(r[9]),
        None if r[10] is None else str(r[10]),
        None if r[11] is None else str(r[11]),
        opt(r[12]),
    )


def _audit(db: Database, actor: str, action: str, subject: str, detail: str, now_ms: int) -> None:
    db.execute(
        "INSERT INTO audit (at_ms, actor, action, subject, detail, address) "
        "VALUES (?, ?, ?, ?, ?, '')",
        (now_ms, actor, action, subject, detail),
    )


def request(
    db: Database,
    rules: Rules,
    *,
    employee: str,
    work_date: dt.date,
    by: str,
    reason: str,
    now_ms: int,
    code: str | None = None,
    check_in_ms: int | None = None,
    check_out_ms: int | None = None,
    attachment: str = "",
) -> Correction:
    """Record a correction (approved at once unless the rules ask for a second person)."""
    reason, attachment = reason.strip(), attachment.strip()
    if not reason:
        raise CorrectionError("a correction needs a reason", "no_reason")
    if len(reason) > REASON_MAX or len(attachment) > ATTACHMENT_MAX:
        raise CorrectionError(
            f"reason at most {REASON_MAX}, attachment at most {ATTACHMENT_MAX} characters",
            "too_long",
            reason=REASON_MAX,
            attachment=ATTACHMENT_MAX,
        )
    if code is None and check_in_ms is None and check_out_ms is None:
        raise CorrectionError(
            "give a status code or a check-in or check-out time", "nothing_to_correct"
        )
    if code is not None and code not in rules.codes:
        known = ", ".join(rules.codes)
        raise CorrectionError(
            f"unknown status code {code!r}: one of {known}", "unknown_code", code=code, known=known
        )
    day_ms = (work_date - dt.date(1970, 1, 1)).days * DAY_MS
    for when in (check_in_ms, check_out_ms):
        if when is not None and not day_ms - DAY_MS <= when <= day_ms + 2 * DAY_MS:
            raise CorrectionError(
                "a manual time must fall on the work day or next to it", "time_off_day"
            )
    if now_ms < day_ms - 31 * DAY_MS:
        raise CorrectionError("a correction may be made at most a month ahead", "too_early")
    with db.transaction():
        if not db.execute("SELECT 1 FROM employees WHERE number = ?", (employee,)):
            raise CorrectionError(
                f"no employee {employee!r} at the hub", "no_employee", employee=employee
            )
        db.execute(
            "INSERT INTO attendance_corrections (employee, work_date, code, check_in_ms, "
            "check_out_ms, reason, attachment, requested_by, requested_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (employee, work_date.isoformat(), code, check_in_ms, check_out_ms, reason,
             attachment, by, now_ms),
        )  # fmt: skip
        new_id = int(db.execute("SELECT MAX(id) FROM attendance_corrections")[0][0])
        what = code or "time"
        _audit(db, by, "attendance.correct", f"{employee} {work_date}", f"{what}: {reason}", now_ms)
        if not rules.corrections_need_approval:
            _decide(db, new_id, "approved", by, now_ms)
        return _get(db, new_id)


def decide(
    db: Database, correction_id: int, decision: Decision, by: str, now_ms: int
) -> Correction:
    """Approve or refuse a pending correction; never by the person who asked for it."""
    with db.transaction():
        found = _get(db, correction_id)
        if found.decision is not None:
            raise CorrectionError(
                f"correction {correction_id} was already {found.decision}",
                f"already_{found.decision}",
                id=correction_id,
            )
        if found.requested_by == by:
            raise CorrectionError(
                "a second person must decide on a correction you asked for", "same_person"
            )
        _decide(db, correction_id, decision, by, now_ms)
        return _get(db, correction_id)


def _decide(db: Database, correction_id: int, decision: Decision, by: str, now_ms: int) -> None:
    db.execute(
        "UPDATE attendance_corrections SET decision = ?, decided_by = ?, decided_ms = ? "
        "WHERE id = ?",
        (decision, by, now_ms, correction_id),
    )
    found = _get(db, correction_id)
    _audit(db, by, f"attendance.{decision}", f"correction {correction_id}",
           f"{found.employee} {found.work_date}", now_ms)  # fmt: skip
    if decision == "approved" and (found.check_in_ms or found.check_out_ms):
        mark_day(db, found.employee, found.work_date)  # derive the day with the manual time


def _get(db: Database, correction_id: int) -> Correction:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM attendance_corrections WHERE id = ?",  # noqa: S608
        (correction_id,),
    )
    if not rows:
        raise CorrectionError(f"no correction {correction_id}", "no_correction", id=correction_id)
    return _correction(rows[0])


def corrections(
    db: Database, first: dt.date, last: dt.date, employee: str | None = None
) -> list[Correction]:
    """Every correction of work days `first`..`last` (optionally one employee's), oldest first."""
    where, params = "work_date >= ? AND work_date <= ?", [first.isoformat(), last.isoformat()]
    if employee is not None:
        where += " AND employee = ?"
        params.append(employee)
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM attendance_corrections WHERE {where} ORDER BY id",  # noqa: S608
        tuple(params),
    )
    return [_correction(r) for r in rows]


def pending(db: Database, limit: int = 200) -> list[Correction]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM attendance_corrections WHERE decision IS NULL "  # noqa: S608
        "ORDER BY id LIMIT ?",
        (limit,),
    )
    return [_correction(r) for r in rows]
