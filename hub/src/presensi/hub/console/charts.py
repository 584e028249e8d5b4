"""Small line charts drawn on the server as SVG coordinates (no script, no chart library): a
station's telemetry over the last day or week. A line breaks where the station sent nothing
for longer than two samples, so an outage shows as a gap, not as a straight line across it."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from presensi.hub.console.timefmt import Clock
from presensi.hub.telemetry import BUCKET_MS, Sample

WIDTH = 600.0
HEIGHT = 120.0
LEFT = 60.0  # room for the value labels
BOTTOM = 18.0  # room for the time labels
TOP = 6.0

# the time ranges a station page offers: query value -> (hours, hours between time labels)
RANGES: dict[str, tuple[int, int]] = {"24j": (24, 6), "7h": (24 * 7, 24)}
DEFAULT_RANGE = "24j"


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in the chart's coordinates
    label: str


@dataclass(frozen=True)
class Chart:
    key: str  # names the series: its i18n label is "chart.<key>"
    lines: tuple[str, ...]  # SVG polyline "points", one per unbroken stretch
    dots: tuple[tuple[float, float], ...]  # lone samples, which a polyline would not draw
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    latest: str  # the last value, as text ("-" with none)

    @property
    def empty(self) -> bool:
        return not self.lines and not self.dots


def _nice_top(value: float) -> float:
    """The round number (1, 2 or 5 times a power of ten) at or above `value`: the y-axis top."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return 10.0 * power  # pragma: no cover (the loop always returns)


def count(value: float) -> str:
    """A count for an axis label, short enough for its margin: '40', '1.5k', '120k'."""
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:.3g}"


def seconds(value: float) -> str:
    return f"{value:.3g} s"


def line_chart(
    key: str,
    samples: Sequence[Sample],
    value: Callable[[Sample], float | None],
    *,
    start_ms: int,
    end_ms: int,
    clock: Clock,
    label_every_h: int,
    fmt: Callable[[float], str] = count,
    min_top: float = 0.0,
) -> Chart:
    span = max(end_ms - start_ms, 1)
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - TOP - BOTTOM
    points = [(s.bucket_ms, v) for s in samples if (v := value(s)) is not None]
    low = min((v for _, v in points), default=0.0)
    bottom = -_nice_top(-low) if low < 0 else 0.0  # a clock offset may be negative
    top = _nice_top(max(max((v for _, v in points), default=0.0), min_top))

    kx, ky = plot_w / span, plot_h / (top - bottom)

    def xy(at_ms: int, v: float) -> tuple[float, float]:
        return round(LEFT + kx * (at_ms - start_ms), 1), round(TOP + ky * (top - v), 1)

    stretches: list[list[tuple[int, float]]] = []
    previous: int | None = None
    for at_ms, v in points:
        if previous is None or at_ms - previous > 2 * BUCKET_MS:
            stretches.append([])
        stretches[-1].append((at_ms, v))
        previous = at_ms
    lines = tuple(
        " ".join(f"{LEFT + kx * (t - start_ms):.1f},{TOP + ky * (top - v):.1f}" for t, v in s)
        for s in (_per_pixel(s, start_ms, kx) for s in stretches if len(s) > 1)
    )
    dots = tuple(xy(*s[0]) for s in stretches if len(s) == 1)
    middle = 0.0 if bottom < 0 else top / 2
    y_ticks = tuple(Tick(xy(start_ms, v)[1], fmt(v)) for v in (bottom, middle, top))
    return Chart(
        key,
        lines,
        dots,
        y_ticks,
        _time_ticks(start_ms, end_ms, clock, label_every_h, plot_w),
        fmt(points[-1][1]) if points else "-",
    )


def _per_pixel(
    points: list[tuple[int, float]], start_ms: int, kx: float
) -> list[tuple[int, float]]:
    """The points a line needs at the chart's width: where several fall on one pixel column
    (a week of 5-minute samples is 2,016 points on 540 pixels), its lowest and highest in time
    order, so a spike or a dip still shows and the line stays the same to the eye."""
    if len(points) <= WIDTH - LEFT:
        return points
    out: list[tuple[int, float]] = []
    column: list[tuple[int, float]] = []
    at = -1
    for p in points:
        x = int(kx * (p[0] - start_ms))
        if x != at and column:
            out += _extremes(column)
            column = []
        at = x
        column.append(p)
    return out + _extremes(column, keep_last=True)


def _extremes(
    column: list[tuple[int, float]], *, keep_last: bool = False
) -> list[tuple[int, float]]:
    """A pixel column's lowest and highest point (and, at the chart's right edge, its newest:
    the line ends on the value the station reports now)."""
    if len(column) <= 2:
        return column
    low = min(column, key=lambda p: p[1])
    high = max(column, key=lambda p: p[1])
    return sorted({low, high, column[-1]} if keep_last else {low, high})


def _time_ticks(
    start_ms: int, end_ms: int, clock: Clock, every_h: int, plot_w: float
) -> tuple[Tick, ...]:
    """Labels on the operator's whole hours (every `every_h`), or days for a week."""
    first = clock.local(start_ms).replace(minute=0, second=0, microsecond=0)
    first += dt.timedelta(hours=1)
    while first.hour % every_h:  # (every 24 h: at midnight)
        first += dt.timedelta(hours=1)
    ticks: list[Tick] = []
    at = first
    while (ms := int(at.timestamp() * 1000)) <= end_ms:
        x = LEFT + plot_w * (ms - start_ms) / (end_ms - start_ms)
        if x > WIDTH - 16:  # a label at the very end would be cut off
            break
        label = f"{at:%H:%M}" if every_h < 24 else f"{at.day}/{at.month}"
        ticks.append(Tick(round(x, 1), label))
        at += dt.timedelta(hours=every_h)
    return tuple(ticks)
