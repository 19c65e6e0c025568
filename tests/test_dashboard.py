"""The librarians' dashboard: counts, the overdue list, the activity chart, the term's favourites."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from webapp.charts import DailyCounts, activity_chart, nice_ceiling
from webapp.clock import library_today
from webapp.db import connect_sync
from webapp.models.dashboard import term_start

from .conftest import log_in

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    "today, expected",
    [
        (date(2026, 11, 29), date(2026, 9, 1)),
        (date(2026, 9, 1), date(2026, 9, 1)),
        (date(2026, 8, 31), date(2026, 4, 20)),
        (date(2026, 4, 19), date(2026, 1, 1)),
        (date(2026, 1, 1), date(2026, 1, 1)),
    ],
)
def test_this_term_starts_on_the_latest_of_1_sep_1_jan_and_20_apr(today, expected):
    assert term_start(today) == expected


def test_the_chart_is_an_accessible_svg_with_a_bar_per_day_and_series():
    days = [DailyCounts(date(2026, 11, 1) + timedelta(days=n), n % 4, n % 3) for n in range(30)]
    svg = str(activity_chart(days, chart_id="c1"))
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "Loans and returns per day, 1 Nov to 30 Nov 2026"
    description = root.find(f"{SVG}desc").text
    assert (
        f"{sum(n % 4 for n in range(30))} loans and {sum(n % 3 for n in range(30))} returns over 30 days"
        in description
    )
    assert len(root.findall(f"{SVG}rect[@class='chart-loans']")) == 30
    assert len(root.findall(f"{SVG}rect[@class='chart-returns']")) == 30
    assert "style=" not in svg
    tallest = max(float(rect.get("height")) for rect in root.iter(f"{SVG}rect"))
    empty = [
        rect
        for rect in root.iter(f"{SVG}rect")
        if rect.find(f"{SVG}title").text.endswith(": 0 loans")
    ]
    assert tallest > 0 and all(float(rect.get("height")) == 0 for rect in empty)


def test_the_axis_top_is_a_round_number_at_least_the_largest_value():
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 240)] == [1, 1, 5, 10, 10, 20, 500]


def test_an_empty_chart_is_refused():
    with pytest.raises(ValueError):
        activity_chart([])


def seed_loans(settings):
    """Four open loans for Alice (their barcodes are returned): due 3 and 1 days ago, today, tomorrow; one returned today; one hold ready."""
    today = library_today(settings)
    conn = connect_sync(settings.database)
    alice = conn.execute("SELECT UserID FROM Users WHERE Email = 'alice@example.com'").fetchone()[0]
    free = conn.execute(
        "SELECT c.CopyID, c.BookID, c.Barcode FROM Copies c JOIN Books b USING (BookID) "
        "WHERE c.CopyID NOT IN (SELECT CopyID FROM Loans WHERE ReturnedAt IS NULL) ORDER BY c.CopyID LIMIT 6"
    ).fetchall()
    barcodes = []
    for (copy_id, book_id, barcode), due_in in zip(free, (-3, -1, 0, 1), strict=False):
        conn.execute(
            "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (?,?,?,?,?)",
            (
                alice,
                book_id,
                copy_id,
                (today - timedelta(days=10)).isoformat(),
                (today + timedelta(days=due_in)).isoformat(),
            ),
        )
        barcodes.append(barcode)
    copy_id, book_id, _ = free[4]
    conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt) VALUES (?,?,?,?,?,?)",
        (
            alice,
            book_id,
            copy_id,
            today.isoformat(),
            today.isoformat(),
            f"{today.isoformat()}T12:00:00Z",
        ),
    )
    copy_id, book_id, _ = free[5]
    conn.execute(
        "INSERT INTO Holds (UserID, BookID, Status, CopyID, PickupBy) VALUES (?, ?, 'ready', ?, ?)",
        (alice, book_id, copy_id, (today + timedelta(days=7)).isoformat()),
    )
    expected = {
        "overdue": conn.execute(
            "SELECT count(*) FROM Loans WHERE ReturnedAt IS NULL AND ReturnDate < ?",
            (today.isoformat(),),
        ).fetchone()[0],
        "on loan": conn.execute("SELECT count(*) FROM Loans WHERE ReturnedAt IS NULL").fetchone()[
            0
        ],
        "titles": conn.execute("SELECT count(*) FROM Books").fetchone()[0],
        "active patrons": conn.execute("SELECT count(*) FROM Users WHERE Active = 1").fetchone()[0],
    }
    conn.close()
    return barcodes, expected


def stat(html: str, label: str) -> int:
    match = re.search(
        r'<span class="stat-value">([\d,]+)</span><span class="stat-label">' + re.escape(label),
        html,
    )
    assert match, label
    return int(match.group(1).replace(",", ""))


async def test_the_dashboard_shows_counts_overdue_loans_the_chart_and_favourites(client, settings):
    barcodes, expected = seed_loans(settings)
    await log_in(client, "bob@example.com")
    response = await client.get("/dashboard")
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert stat(html, "overdue") == expected["overdue"]
    assert stat(html, "on loan") == expected["on loan"]
    assert stat(html, "titles") == expected["titles"]
    assert stat(html, "active patrons") == expected["active patrons"]
    assert stat(html, "holds ready") == 1
    overdue = html[html.index('id="overdue"') : html.index('id="activity-heading"')]
    assert f">{barcodes[0]}<" in overdue and f">{barcodes[1]}<" in overdue
    assert (
        f">{barcodes[2]}<" not in overdue and f">{barcodes[3]}<" not in overdue
    )  # due today is not overdue
    assert '<a href="/patrons/' in overdue
    assert '<svg class="chart" id="activity-chart" role="img"' in html
    assert "The same numbers as a table" in html
    assert "Most borrowed this term" in html and "Since 1 Sep" in html


async def test_the_overdue_list_sorts_by_days_patron_or_title(client, settings):
    seed_loans(settings)
    await log_in(client, "bob@example.com")

    def days(html):
        return [int(n) for n in re.findall(r'<span class="overdue">(\d+)</span>', html)]

    def patrons(html):
        return re.findall(r'<a href="/patrons/\d+">([^<]+)</a>', html)

    by_days = await (
        await client.get("/dashboard?sort=days", headers={"HX-Request": "true"})
    ).get_data(as_text=True)
    assert "<html" not in by_days and days(by_days) == sorted(days(by_days), reverse=True)
    assert 'aria-sort="descending"' in by_days
    by_patron = await (
        await client.get("/dashboard?sort=patron", headers={"HX-Request": "true"})
    ).get_data(as_text=True)
    names = patrons(by_patron)
    assert names == sorted(names, key=str.casefold) and len(names) == len(days(by_days))
    odd = await client.get("/dashboard?sort=<script>")
    assert odd.status_code == 200


async def test_patrons_cannot_see_the_dashboard(client):
    await log_in(client, "alice@example.com")
    assert (await client.get("/dashboard")).status_code == 403
