"""The station page's charts, drawn on the server: the points, gaps where a station was silent,
time labels on the operator's hours, a y-axis that fits the values."""

from __future__ import annotations

import datetime as dt

import pytest

from presensi.hub.console.charts import HEIGHT, LEFT, WIDTH, count, line_chart, seconds
from presensi.hub.console.timefmt import Clock
from presensi.hub.telemetry import BUCKET_MS, Sample

WIB = Clock.named("Asia/Jakarta")
# 2026-12-04 00:00 WIB
START = int(dt.datetime(2026, 12, 4, tzinfo=WIB.zone).timestamp() * 1000)
DAY = 86_400_000


def sample(at_ms: int, backlog: int, offset_ms: int | None = 0) -> Sample:
    return Sample(at_ms, at_ms, backlog, backlog, None, 512, True, offset_ms, 10.0)


def chart(samples: list[Sample], **kw: object):  # type: ignore[no-untyped-def]
    return line_chart(
        "backlog",
        samples,
        lambda s: s.backlog_max,
        start_ms=START,
        end_ms=START + DAY,
        clock=WIB,
        label_every_h=6,
        **kw,  # type: ignore[arg-type]
    )


def points(line: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in line.split())]


def test_a_silent_station_breaks_the_line() -> None:
    # 07:00-07:15 WIB, silence, 09:00-09:10, then one lone sample at 12:00
    times = [7 * 3_600_000 + i * BUCKET_MS for i in range(4)]
    times += [9 * 3_600_000 + i * BUCKET_MS for i in range(3)]
    times += [12 * 3_600_000]
    c = chart([sample(START + t, backlog=i) for i, t in enumerate(times)])
    assert len(c.lines) == 2 and [len(points(line)) for line in c.lines] == [4, 3]
    assert len(c.dots) == 1 and c.latest == "7"
    x_first = points(c.lines[0])[0][0]
    assert abs(x_first - (LEFT + (WIDTH - LEFT) * 7 / 24)) < 0.2  # 07:00 of a 24 h axis


def test_values_sit_inside_the_plot_and_the_axis_ends_on_a_round_number() -> None:
    c = chart([sample(START + i * BUCKET_MS, backlog=v) for i, v in enumerate([0, 37, 140])])
    assert [t.label for t in c.y_ticks] == ["0", "100", "200"]
    ys = [y for line in c.lines for _, y in points(line)]
    assert all(0 <= y <= HEIGHT for y in ys)
    assert max(ys) == c.y_ticks[0].at  # a backlog of 0 sits on the axis' bottom line


def test_time_labels_fall_on_the_operators_hours() -> None:
    c = chart([])
    assert [t.label for t in c.x_ticks] == ["06:00", "12:00", "18:00"]  # 00:00: the edge
    assert c.empty and c.latest == "-"


def test_a_negative_clock_offset_is_drawn_below_zero() -> None:
    samples = [sample(START + i * BUCKET_MS, 0, offset_ms=o) for i, o in enumerate([-1500, 400])]
    c = line_chart(
        "clock",
        samples,
        lambda s: None if s.clock_offset_ms is None else s.clock_offset_ms / 1000,
        start_ms=START,
        end_ms=START + DAY,
        clock=WIB,
        label_every_h=6,
        fmt=seconds,
    )
    assert [t.label for t in c.y_ticks] == ["-2 s", "0 s", "0.5 s"] and c.latest == "0.4 s"
    zero = c.y_ticks[1].at
    first, second = points(c.lines[0])
    assert first[1] > zero > second[1]  # -1.5 s below the zero line, +0.4 s above it


def test_axis_labels_are_short() -> None:
    assert [count(v) for v in (0, 5, 0.5, 0.005, 1000, 1500, 20_000)] == [
        "0",
        "5",
        "0.5",
        "0.005",
        "1k",
        "1.5k",
        "20k",
    ]
    assert seconds(-2) == "-2 s" and seconds(0.25) == "0.25 s"


def test_a_week_is_drawn_at_the_charts_width_and_keeps_its_spike_and_its_dip() -> None:
    week = 7 * DAY
    values = [50] * (week // BUCKET_MS)
    values[1000], values[1500] = 1000, 0  # one spike, one dip, among 2,016 samples
    values[-1] = 700  # and the newest sample, between the two
    samples = [sample(START + i * BUCKET_MS, backlog=v) for i, v in enumerate(values)]
    c = line_chart(
        "backlog",
        samples,
        lambda s: s.backlog_max,
        start_ms=START,
        end_ms=START + week,
        clock=WIB,
        label_every_h=24,
    )
    drawn = points(c.lines[0])
    assert len(c.lines) == 1 and len(drawn) <= 2 * (WIDTH - LEFT)  # not 2,016 points
    ys = [y for _, y in drawn]
    assert min(ys) == c.y_ticks[2].at  # the spike reaches the axis' top (1000) ...
    assert max(ys) == c.y_ticks[0].at  # ... and the dip its bottom (0)
    assert [x for x, _ in drawn] == sorted(x for x, _ in drawn)  # in time order
    top, bottom = c.y_ticks[2].at, c.y_ticks[0].at
    assert drawn[-1][1] == pytest.approx(bottom + (top - bottom) * 0.7, abs=0.2)  # ends on 700
