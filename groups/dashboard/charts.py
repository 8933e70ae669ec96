"""Server-rendered charts of the dashboard: the geometry of SVG column charts and share bars
(pure: values in, rectangles and labels out; the templates only draw them).

No chart library and nothing from a CDN: a chart is an inline `<svg>` whose every bar is a link
to the list it counts, with its number in words for screen readers and as a tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

# Room left of the plot for the value labels, below it for the column labels, and right of it
# for the half of the last column's label ("05 Dec") that stands past its column.
AXIS_LEFT = 44
AXIS_BOTTOM = 22
AXIS_RIGHT = 24
TOP = 10


@dataclass(frozen=True)
class Segment:
    """A part of a column or of a share bar: its value, its colour class, what it says and
    the list it links to (None: not a link)."""

    value: float
    css: str
    title: str
    href: str | None = None


@dataclass(frozen=True)
class Column:
    label: str
    segments: Sequence[Segment]  # stacked bottom-up
    show_label: bool = True


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str
    href: str | None


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str


@dataclass
class Chart:
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    ticks: list[Text] = field(default_factory=list)  # value labels, with a grid line at y
    labels: list[Text] = field(default_factory=list)  # column labels under the plot
    plot_left: int = AXIS_LEFT
    plot_right: int = 0
    baseline: float = 0


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `value` (1 for 0)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def column_chart(
    columns: Sequence[Column],
    *,
    height: int = 180,
    column_width: int = 22,
    gap: int = 6,
    unit: str = "",
) -> Chart:
    """Stacked columns side by side over a value axis from 0 to a round maximum with three
    grid lines; a segment of value 0 draws nothing."""
    plot_height = height - TOP - AXIS_BOTTOM
    top_value = nice_ceiling(max((sum(s.value for s in c.segments) for c in columns), default=0))
    scale = plot_height / top_value
    plot_right = AXIS_LEFT + len(columns) * (column_width + gap) + gap
    baseline = TOP + plot_height
    chart = Chart(
        width=plot_right + AXIS_RIGHT, height=height, plot_right=plot_right, baseline=baseline
    )
    for fraction in (0, 0.5, 1):
        value = top_value * fraction
        chart.ticks.append(Text(AXIS_LEFT - 6, baseline - value * scale, _number(value) + unit))
    for index, column in enumerate(columns):
        x = AXIS_LEFT + gap + index * (column_width + gap)
        y = baseline
        for segment in column.segments:
            if segment.value <= 0:
                continue
            size = segment.value * scale
            y -= size
            chart.rects.append(
                Rect(
                    round(x, 2),
                    round(y, 2),
                    column_width,
                    round(size, 2),
                    segment.css,
                    segment.title,
                    segment.href,
                )
            )
        if column.show_label:
            chart.labels.append(Text(x + column_width / 2, height - 6, column.label))
    return chart


def share_bar(segments: Sequence[Segment], *, width: int = 600, height: int = 30) -> Chart:
    """One bar across `width` split in proportion to the segments' values (an empty bar when
    they are all 0)."""
    chart = Chart(width=width, height=height, plot_left=0, plot_right=width, baseline=height)
    total = sum(segment.value for segment in segments)
    x = 0.0
    for segment in segments:
        if total <= 0 or segment.value <= 0:
            continue
        size = width * segment.value / total
        chart.rects.append(
            Rect(round(x, 2), 0, round(size, 2), height, segment.css, segment.title, segment.href)
        )
        x += size
    return chart
