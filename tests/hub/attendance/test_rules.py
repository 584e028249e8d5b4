"""The rules file: the defaults parse; a file with errors is refused whole, each problem named
with its line; a shift whose windows would let one scan count for two days is refused."""

from __future__ import annotations

import pytest

from presensi.hub.attendance.rules import DEFAULT_RULES, RulesError, default_rules, parse_rules


def test_the_defaults_are_the_indonesian_bands() -> None:
    rules = default_rules()
    assert [rules.band(rules.late, m) for m in (1, 30, 31, 60, 61, 90, 91, 600)] == [
        "TL1", "TL1", "TL2", "TL2", "TL3", "TL3", "TL4", "TL4",
    ]  # fmt: skip
    assert rules.band(rules.early, 45) == "PSW2"
    assert (rules.missing_in, rules.missing_out, rules.absent) == ("TL4", "PSW4", "TK")
    assert rules.deduction(("TL4", "PSW4", "TK")) == 3.0  # capped
    assert {"I", "S", "C", "DL"} <= set(rules.codes)
    assert rules.group_of("Unknown") == rules.groups["Pagi"]  # default_group


def refused(text: str) -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_rules(text)
    return caught.value.problems


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "needle", "says"),
    [
        ('start = "05:00"', 'start = "5 pagi"', 'start = "5 pagi"', "HH:MM"),
        (
            "in_window = [-120, 240]   #",
            "in_window = [240, 240]   #",
            "in_window = [240, 240]",
            "empty",
        ),
        (
            "out_window = [-240, 240]  #",
            "out_window = [-240, 1200]  #",
            "[shifts.pagi]",
            "two days",
        ),
        ('shift = "siang"', 'shift = "sore"', 'shift = "sore"', "names no shift"),
        ('["TL2", 31, 60]', '["TL2", 35, 60]', "late = ", "no gap"),
        ('absent = "TK"', 'absent = "XX"', 'absent = "XX"', "must name a code"),
        ('2026-12-25 = "Hari Raya Natal"', '2026-13-25 = "Natal"', "", "line"),
    ],
)
def test_an_error_is_named_with_its_line(old: str, new: str, needle: str, says: str) -> None:
    assert old in DEFAULT_RULES
    text = DEFAULT_RULES.replace(old, new, 1)
    problems = refused(text)
    assert any(says in p for p in problems), problems
    if needle:
        assert any(p.startswith(f"line {line_of(text, needle)}:") for p in problems), problems
    else:
        assert any("line" in p for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    text = DEFAULT_RULES.replace('start = "13:00"', 'start = "25:00"').replace(
        "daily_cap = 3.0", "daily_cap = -1"
    )
    problems = refused(text)
    assert len(problems) >= 3  # two shifts' starts and the cap
    assert any(p.startswith("line 1: shifts: at least one shift") for p in refused("[shifts]\n"))
