"""Charts drawn on the server as accessible SVG: pure functions, no chart library.

The SVG is an image with a name and a description (``role="img"`` labelled by
its ``<title>`` and ``<desc>``); the page shows the same numbers in a table
for anyone who cannot see the picture. Colours come from CSS classes, so the
chart follows the light and dark themes and the CSP's ban on style attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 40, 10, 10, 30


@dataclass(frozen=True)
class DailyCounts:
    day: date
    loans: int
    returns: int


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… that is at least ``value``: the axis top."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def activity_chart(days: Sequence[DailyCounts], chart_id: str = "activity-chart") -> Markup:
    """Loans and returns per day as side-by-side bars, with a described, labelled SVG."""
    if not days:
        raise ValueError("the chart needs at least one day")
    total_loans = sum(day.loans for day in days)
    total_returns = sum(day.returns for day in days)
    busiest = max(days, key=lambda day: (day.loans + day.returns, day.day))
    top = nice_ceiling(max(max(day.loans, day.returns) for day in days))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_width / len(days)
    bar = max(slot * 0.4, 1)

    def y(value: int) -> float:
        return MARGIN_TOP + plot_height * (1 - value / top)

    title = f"Loans and returns per day, {days[0].day:%-d %b} to {days[-1].day:%-d %b %Y}"
    description = (
        f"{total_loans} loans and {total_returns} returns over {len(days)} days. "
        f"Busiest day: {busiest.day:%-d %b} with {busiest.loans} loans and "
        f"{busiest.returns} returns."
    )
    ident = escape(chart_id)
    parts = [
        (
            f'<svg class="chart" id="{ident}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">'
        ),
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]
    for value in sorted({0, top // 2, top}):
        parts.append(
            f'<line class="chart-grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" '
            f'y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
            f'<text class="chart-label" x="{MARGIN_LEFT - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{value}</text>'
        )
    for index, day in enumerate(days):
        left = MARGIN_LEFT + index * slot + (slot - 2 * bar) / 2
        for offset, value, kind in ((0, day.loans, "loans"), (bar, day.returns, "returns")):
            parts.append(
                f'<rect class="chart-{kind}" x="{left + offset:.1f}" y="{y(value):.1f}" '
                f'width="{bar:.1f}" height="{plot_height * value / top:.1f}">'
                f"<title>{escape(f'{day.day:%-d %b}: {value} {kind}')}</title></rect>"
            )
        if index % 7 == 0 or (index == len(days) - 1 and index % 7 >= 3):
            parts.append(
                f'<text class="chart-label" x="{left + bar:.1f}" y="{HEIGHT - 10}" '
                f'text-anchor="middle">{escape(f"{day.day:%-d %b}")}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Bar:
    label: str
    value: int


# Narrower than the activity chart, with larger text: on a 360 px phone the chart is
# drawn at about two thirds of this size and its labels stay readable (and the CSS
# keeps it from growing past about 1.2 times on a wide screen).
BAR_WIDTH = 480
BAR_ROW = 26
BAR_LABEL_WIDTH = 190
BAR_LABEL_CHARACTERS = 22


def bar_chart(bars: Sequence[Bar], *, title: str, description: str, chart_id: str) -> Markup:
    """One labelled horizontal bar per row (a month, a class, a decade), its value at its end.

    Horizontal, so that long names (a category, an item type) stay readable; a label
    too long for its column is shortened, its bar's tooltip and the page's table
    keep it whole.
    """
    if not bars:
        raise ValueError("the chart needs at least one bar")
    top = nice_ceiling(max(bar.value for bar in bars))
    height = MARGIN_TOP + len(bars) * BAR_ROW + MARGIN_TOP
    # Room on the right for the largest value's digits.
    plot_width = BAR_WIDTH - BAR_LABEL_WIDTH - 70
    ident = escape(chart_id)
    parts = [
        (
            f'<svg class="chart chart-bars" id="{ident}" role="img" '
            f'viewBox="0 0 {BAR_WIDTH} {height}" '
            f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">'
        ),
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]
    for index, bar in enumerate(bars):
        y = MARGIN_TOP + index * BAR_ROW
        label = bar.label
        if len(label) > BAR_LABEL_CHARACTERS:
            label = label[: BAR_LABEL_CHARACTERS - 1] + "…"
        width = plot_width * bar.value / top
        parts.append(
            f'<text class="chart-label chart-bar-label" x="{BAR_LABEL_WIDTH - 8}" y="{y + 18}" '
            f'text-anchor="end">{escape(label)}</text>'
            f'<rect class="chart-loans" x="{BAR_LABEL_WIDTH}" y="{y + 4}" width="{width:.1f}" '
            f'height="{BAR_ROW - 8}"><title>{escape(f"{bar.label}: {bar.value:,}")}</title></rect>'
            f'<text class="chart-label chart-bar-label" x="{BAR_LABEL_WIDTH + width + 6:.1f}" '
            f'y="{y + 18}">'
            f"{bar.value:,}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
