"""Metric charts as plain geometry for an inline SVG template (no JS chart library, no inline styles)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 560, 230
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 42  # room for tick labels left and below, axis title below
MAX_POINTS = 400  # more points than pixels only slows the page


@dataclass(frozen=True)
class Tick:
    pos: str  # pixel coordinate along its axis, formatted for the template
    label: str


@dataclass
class Chart:
    name: str
    points: str  # "x,y x,y ..." for <polyline>
    latest: str
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    label: str = ""  # a readable title for a headline metric ("" = the metric's name)

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def x_label_x(self) -> str:
        return _px((self.left + self.right) / 2)

    @property
    def x_label_y(self) -> int:
        return self.height - 6

    @property
    def last_x(self) -> str:
        return self.points.rsplit(" ", 1)[-1].split(",")[0]

    @property
    def last_y(self) -> str:
        return self.points.rsplit(" ", 1)[-1].split(",")[1]


def fmt(value: float) -> str:
    """Format a number for an axis or a readout: 3 significant digits, no float noise."""
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.3g}"


def _px(value: float) -> str:
    return f"{value:.1f}"


def nice_ticks(low: float, high: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Return round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if high <= low:
        spread = abs(low) * 0.1 or 1.0
        low, high = low - spread, high + spread
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if integer:
        step = max(1, math.ceil(step))  # steps are whole numbers: no "1.5" on the step axis
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 0.5 and len(ticks) < 20:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _downsample(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = len(points) / MAX_POINTS
    picked = [points[int(i * stride)] for i in range(MAX_POINTS)]
    return [*picked[:-1], points[-1]]  # always keep the newest value


def line_chart(name: str, points: list[tuple[float, float]]) -> Chart:
    """Lay out one metric against the step."""
    points = _downsample(points)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs), integer=True), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    chart = Chart(name=name, points="", latest=fmt(ys[-1]))

    def sx(x: float) -> float:
        return chart.left + (x - x0) / (x1 - x0 or 1) * (chart.right - chart.left)

    def sy(y: float) -> float:
        return chart.bottom - (y - y0) / (y1 - y0 or 1) * (chart.bottom - chart.top)

    chart.points = " ".join(f"{_px(sx(x))},{_px(sy(y))}" for x, y in points)
    chart.x_ticks = [Tick(_px(sx(x)), fmt(x)) for x in x_ticks]
    chart.y_ticks = [Tick(_px(sy(y)), fmt(y)) for y in y_ticks]
    return chart


def run_charts(series: dict[str, list[tuple[float, float]]], headline: tuple[tuple[str, str], ...] = ()) -> list[Chart]:
    """One chart per metric: the kind's headline metrics first (titled), then loss, then alphabetical."""
    titles = dict(headline)
    order = {name: i for i, (name, _) in enumerate(headline)}
    names = sorted(series, key=lambda n: (order.get(n, len(order)), 0 if n == "loss" else 1, n))
    charts = []
    for name in names:
        if series[name]:
            chart = line_chart(name, series[name])
            chart.label = titles.get(name, "")
            charts.append(chart)
    return charts
