"""The reports page for staff, and each report as CSV.

The period and the weeding list's years are GET parameters (``from``, ``to``,
``years``), so a report is a link that can be shared or bookmarked, and the page
is a plain form that needs no JavaScript. Reports are read one after another on
a single reader connection at a time, leaving the other readers (and the
writer) to the desk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from markupsafe import Markup
from quart import Blueprint, Response, render_template, request

from webapp import htmx, report_periods
from webapp.access import Access, allow
from webapp.charts import Bar, bar_chart
from webapp.clock import library_today
from webapp.exporting import BOM, csv_line
from webapp.models import reports
from webapp.report_periods import Period
from webapp.request_context import get_db, get_settings

blueprint = Blueprint("reports", __name__)

# Rows of the title lists on the page, and in their CSV files.
TITLES_SHOWN = 20
TITLES_EXPORTED = 1000
WEEDING_SHOWN = 100


@dataclass(frozen=True)
class Query:
    """What a report is asked for: the period, the weeding list's years, and the library's day."""

    period: Period
    years: int
    today: date
    zone: ZoneInfo


def _counts(rows: Sequence[reports.Count]) -> list[tuple]:
    return [(row.label, row.value) for row in rows]


def _titles(rows: Sequence[reports.Title]) -> list[tuple]:
    return [(row.title, row.author, row.loans) for row in rows]


def _weeding(conn: sqlite3.Connection, query: Query) -> list[tuple]:
    _, rows = reports.weeding_list(conn, query.today, query.years)
    return [
        (row.title, row.author, row.year, row.added_at[:10], row.last_lent or "never", row.copies)
        for row in rows
    ]


def _overdue(conn: sqlite3.Connection, query: Query) -> list[tuple]:
    return [
        (row.group, row.loans, row.patrons, row.oldest_due.isoformat())
        for row in reports.overdue_by_class(conn, query.today)
    ]


@dataclass(frozen=True)
class CsvReport:
    columns: tuple[str, ...]
    # The file's rows, read on a reader connection (``db.read``).
    rows: Callable[[sqlite3.Connection, Query], list[tuple]]
    # Whether the file's name carries the period (the other reports are of today).
    for_period: bool = True


CSV_REPORTS = {
    "loans-by-month": CsvReport(
        ("month", "loans"),
        lambda conn, query: _counts(reports.loan_breakdown(conn, query.period).by_month),
    ),
    "loans-by-class": CsvReport(
        ("class", "loans"),
        lambda conn, query: _counts(reports.loan_breakdown(conn, query.period).by_class),
    ),
    "loans-by-category": CsvReport(
        ("patron_category", "loans"),
        lambda conn, query: _counts(reports.loan_breakdown(conn, query.period).by_category),
    ),
    "loans-by-item-type": CsvReport(
        ("item_type", "loans"),
        lambda conn, query: _counts(reports.loan_breakdown(conn, query.period).by_item_type),
    ),
    "most-borrowed": CsvReport(
        ("title", "author", "loans"),
        lambda conn, query: _titles(reports.most_borrowed(conn, query.period, TITLES_EXPORTED)),
    ),
    "least-borrowed": CsvReport(
        ("title", "author", "loans"),
        lambda conn, query: _titles(reports.least_borrowed(conn, query.period, TITLES_EXPORTED)),
    ),
    "collection-by-publication": CsvReport(
        ("decade", "copies"),
        lambda conn, query: _counts(reports.collection_by_publication(conn)),
        for_period=False,
    ),
    "collection-by-year-added": CsvReport(
        ("year_added", "copies"),
        lambda conn, query: _counts(
            reports.collection_by_year_added(conn, query.zone, query.today)
        ),
        for_period=False,
    ),
    "weeding": CsvReport(
        ("title", "author", "year", "added", "last_lent", "copies"), _weeding, for_period=False
    ),
    "overdue-by-class": CsvReport(
        ("class", "overdue_items", "patrons", "oldest_due"), _overdue, for_period=False
    ),
}


def _read_query() -> tuple[Query, dict[str, str]]:
    settings = get_settings()
    today = library_today(settings)
    period, errors = report_periods.parse_period(
        request.args.get("from"), request.args.get("to"), today
    )
    years, years_error = report_periods.parse_years(request.args.get("years"))
    if years_error:
        errors["years"] = years_error
    return Query(period, years, today, settings.zone), errors


def _chart(chart_id: str, title: str, rows: Sequence[reports.Count], unit: str) -> Markup | None:
    """A bar chart of ``rows`` (None when there is nothing to draw), described in words."""
    if not any(row.value for row in rows):
        return None
    largest = max(rows, key=lambda row: row.value)
    description = (
        f"{sum(row.value for row in rows):,} {unit} in {len(rows)} rows; "
        f"the most, {largest.value:,}, in {largest.label}."
    )
    return bar_chart(
        [Bar(row.label, row.value) for row in rows],
        title=title,
        description=description,
        chart_id=chart_id,
    )


@blueprint.get("/reports")
@allow(Access.STAFF)
async def reports_page():
    """Every report for the period asked for (this school year so far by default)."""
    query, errors = _read_query()
    if errors:
        # What was typed comes back in the form, cut to a field's length.
        values = {name: request.args.get(name, "")[:40] for name in ("from", "to", "years")}
        body = await render_template(
            "reports/reports.html", errors=errors, values=values, query=None
        )
        return body, 400
    db = get_db()
    period = query.period
    breakdown = await db.read(reports.loan_breakdown, period)
    by_publication = await db.read(reports.collection_by_publication)
    by_year_added = await db.read(reports.collection_by_year_added, query.zone, query.today)
    weeding_total, weeding = await db.read(
        reports.weeding_list, query.today, query.years, WEEDING_SHOWN
    )
    span = f"{period.start:%-d %b %Y} to {period.end:%-d %b %Y}"
    charts = {
        "month": _chart("chart-month", f"Loans by month, {span}", breakdown.by_month, "loans"),
        "class": _chart("chart-class", f"Loans by class, {span}", breakdown.by_class, "loans"),
        "category": _chart(
            "chart-category", f"Loans by patron category, {span}", breakdown.by_category, "loans"
        ),
        "item_type": _chart(
            "chart-item-type", f"Loans by item type, {span}", breakdown.by_item_type, "loans"
        ),
        "publication": _chart(
            "chart-publication", "Copies in stock by decade of publication", by_publication,
            "copies",
        ),
        "year_added": _chart(
            "chart-year-added", "Copies in stock by year added", by_year_added, "copies"
        ),
    }  # fmt: skip
    return await render_template(
        "reports/reports.html",
        errors={},
        values={
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "years": str(query.years),
        },
        query=query,
        breakdown=breakdown,
        charts=charts,
        most=await db.read(reports.most_borrowed, period, TITLES_SHOWN),
        least=await db.read(reports.least_borrowed, period, TITLES_SHOWN),
        by_publication=by_publication,
        by_year_added=by_year_added,
        weeding=weeding,
        weeding_total=weeding_total,
        overdue=await db.read(reports.overdue_by_class, query.today),
    )


@blueprint.get("/reports/<report>.csv")
@allow(Access.STAFF)
async def report_csv(report: str):
    """One report as CSV, for the same GET parameters as the page."""
    chosen = CSV_REPORTS.get(report)
    if chosen is None:
        return await htmx.render_error(404, "There is no such report.")
    query, errors = _read_query()
    if errors:
        return await htmx.render_error(400, " ".join(errors.values()))
    rows = await get_db().read(chosen.rows, query)
    text = BOM + csv_line(chosen.columns) + "".join(csv_line(row) for row in rows)
    name = report
    if chosen.for_period:
        name += f"-{query.period.start.isoformat()}-to-{query.period.end.isoformat()}"
    else:
        name += f"-{query.today.isoformat()}"
    return Response(
        text,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"',
            "Cache-Control": "no-store",
        },
    )
