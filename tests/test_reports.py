"""Reports (issue 24): periods, the reports against raw SQL, anonymisation, the page and CSV."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from webapp import create_app, demo
from webapp.charts import Bar, bar_chart
from webapp.db import connect_sync, migrate, migration_files
from webapp.models import privacy, reports
from webapp.models.accounts import hash_password
from webapp.report_periods import (
    Period,
    default_period,
    new_year_offset,
    parse_period,
    parse_years,
    school_year_start,
    years_before,
)
from webapp.resources import MIGRATIONS

from .conftest import TEST_TODAY, log_in, make_settings
from .privacy_helpers import generate_history

SVG = "{http://www.w3.org/2000/svg}"
LONDON = ZoneInfo("Europe/London")

# --- Periods (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(
    "today, start",
    [
        (date(2026, 11, 29), date(2026, 9, 1)),
        (date(2026, 9, 1), date(2026, 9, 1)),
        (date(2026, 8, 31), date(2025, 9, 1)),
        (date(2027, 1, 15), date(2026, 9, 1)),
    ],
)
def test_the_default_period_is_this_school_year_so_far(today, start):
    assert school_year_start(today) == start
    assert default_period(today) == Period(start, today)
    assert parse_period(None, "", today) == (Period(start, today), {})


def test_a_period_is_two_dates_both_included_and_a_blank_end_takes_the_default():
    today = date(2026, 11, 29)
    assert parse_period("2025-01-01", "2025-12-31", today) == (
        Period(date(2025, 1, 1), date(2025, 12, 31)),
        {},
    )
    assert parse_period(" 2026-10-01 ", "", today)[0] == Period(date(2026, 10, 1), today)
    assert parse_period("", "2026-10-31", today)[0] == Period(date(2026, 9, 1), date(2026, 10, 31))
    assert parse_period("2026-10-05", "2026-10-05", today)[0].months() == [date(2026, 10, 1)]


@pytest.mark.parametrize(
    "start, end, field, words",
    [
        ("2026-13-01", "", "from", "like 2026-09-01"),
        ("yesterday", "", "from", "like 2026-09-01"),
        ("20260901", "", "from", "like 2026-09-01"),
        ("", "2026-02-30", "to", "like 2027-07-20"),
        ("<script>", "", "from", "like 2026-09-01"),
        ("2026-10-02", "2026-10-01", "to", "before the first day"),
        ("2010-01-01", "2026-10-01", "to", "at most 10 years"),
    ],
)
def test_a_bad_or_reversed_period_is_refused_with_the_reason(start, end, field, words):
    period, errors = parse_period(start, end, date(2026, 11, 29))
    assert words in errors[field]
    assert period == default_period(date(2026, 11, 29))


def test_the_weeding_years_are_a_whole_number_from_1_to_50():
    assert parse_years(None) == (3, None)
    assert parse_years("7") == (7, None)
    for bad in ("0", "51", "-1", "2.5", "²", "many"):
        assert parse_years(bad)[1] == "Enter a number of years from 1 to 50."


def test_months_span_the_period_and_years_before_keeps_the_day():
    period = Period(date(2025, 11, 30), date(2026, 2, 1))
    assert period.months() == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
    assert years_before(date(2028, 2, 29), 1) == date(2027, 2, 28)
    assert years_before(date(2026, 11, 29), 3) == date(2023, 11, 29)


def test_the_new_year_offset_is_the_zones_own_in_january():
    assert new_year_offset(LONDON, 2026) == "+0 seconds"
    assert new_year_offset(ZoneInfo("Pacific/Auckland"), 2026) == "+46800 seconds"
    assert new_year_offset(ZoneInfo("America/New_York"), 2026) == "-18000 seconds"


# --- The chart ---------------------------------------------------------------------------


def test_the_bar_chart_is_an_accessible_svg_with_a_bar_and_a_value_per_row():
    bars = [Bar("Year 7", 12), Bar("A very long patron category name indeed", 3), Bar("Staff", 0)]
    svg = str(bar_chart(bars, title="Loans by class", description="15 loans", chart_id="c"))
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c-title c-desc"
    assert root.find(f"{SVG}title").text == "Loans by class"
    rects = root.findall(f"{SVG}rect")
    assert [rect.find(f"{SVG}title").text for rect in rects] == [
        "Year 7: 12",
        "A very long patron category name indeed: 3",
        "Staff: 0",
    ]
    widths = [float(rect.get("width")) for rect in rects]
    assert widths[0] > widths[1] > widths[2] == 0
    assert "style=" not in svg
    with pytest.raises(ValueError):
        bar_chart([], title="t", description="d", chart_id="c")


# --- The reports against raw SQL ------------------------------------------------------------

WIDE = Period(TEST_TODAY - timedelta(days=4 * 365), TEST_TODAY)
LAST_YEAR = Period(date(2025, 9, 1), date(2026, 8, 31))


@pytest.fixture
def history(database_path: Path) -> Path:
    """Three years of loans by 300 pupils in Year 7 to 13, whose patron categories are their
    years; titles published and catalogued over the decades before."""
    generate_history(database_path, today=TEST_TODAY, years=3, pupils=300)
    conn = connect_sync(database_path)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "UPDATE Users SET CategoryID = (SELECT CategoryID FROM PatronCategories pc "
        "WHERE pc.Name = Users.GroupName) WHERE GroupName LIKE 'Year %'"
    )
    # As if the snapshot had been taken under these categories.
    conn.execute(
        "UPDATE Loans SET BorrowerCategory = (SELECT pc.Name FROM Users u "
        "JOIN PatronCategories pc USING (CategoryID) WHERE u.UserID = Loans.UserID)"
    )
    conn.execute(
        "UPDATE Books SET Year = 1890 + BookID % 140, "
        "AddedAt = strftime('%Y-%m-%dT09:00:00Z', '2015-01-01', '+' || (BookID * 17) || ' days')"
    )
    conn.execute(
        "UPDATE Copies SET AddedAt = (SELECT AddedAt FROM Books b WHERE b.BookID = Copies.BookID)"
    )
    conn.execute("UPDATE Copies SET Status = 'withdrawn' WHERE CopyID % 11 = 0")
    # Titles that sit on the shelf: ten never lent, ten last lent in 2021.
    pupil = conn.execute("SELECT min(UserID) FROM Users WHERE Role = 'Student'").fetchone()[0]
    for n in range(20):
        conn.execute(
            "INSERT INTO Books (BookID, Title, Year, AddedAt) "
            "VALUES (?, ?, ?, '2016-03-01T09:00:00Z')",
            (1000 + n, f"Shelf Sitter {n}", 1950 + n),
        )
        copy_id = conn.execute(
            "INSERT INTO Copies (BookID, Barcode, AddedAt) VALUES (?, ?, '2016-03-01T09:00:00Z')",
            (1000 + n, f"SS{n}"),
        ).lastrowid
        if n >= 10:
            lent = f"2021-05-{n:02d}"
            conn.execute(
                "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (pupil, 1000 + n, copy_id, lent, lent, f"{lent}T15:00:00Z"),
            )
    conn.execute("COMMIT")
    conn.close()
    return database_path


def _raw(conn, sql: str, params=()) -> dict:
    return {row[0]: row[1] for row in conn.execute(sql, params)}


def test_the_loan_breakdown_agrees_with_raw_sql_four_ways(history):
    conn = connect_sync(history)
    span = {"s": LAST_YEAR.start.isoformat(), "e": LAST_YEAR.end.isoformat()}
    where = "WHERE LoanDate BETWEEN :s AND :e"
    found = reports.loan_breakdown(conn, LAST_YEAR)
    total = conn.execute(f"SELECT count(*) FROM Loans {where}", span).fetchone()[0]
    assert total > 1000 and found.total == total
    by_month = _raw(
        conn, f"SELECT substr(LoanDate, 1, 7), count(*) FROM Loans {where} GROUP BY 1", span
    )
    assert [row.label for row in found.by_month][:2] == ["Sep 2025", "Oct 2025"]
    assert len(found.by_month) == 12
    assert [row.value for row in found.by_month] == [
        by_month.get(f"{month:%Y-%m}", 0) for month in LAST_YEAR.months()
    ]
    by_class = _raw(
        conn,
        f"SELECT coalesce(BorrowerGroup, 'No class'), count(*) FROM Loans {where} GROUP BY 1",
        span,
    )
    assert {row.label: row.value for row in found.by_class} == by_class
    years = [row.label for row in found.by_class if row.label.startswith("Year")]
    assert years == [f"Year {year}" for year in range(7, 14)]
    by_category = _raw(
        conn,
        f"SELECT coalesce(BorrowerCategory, 'Not recorded'), count(*) FROM Loans {where} GROUP BY 1",
        span,
    )
    assert {row.label: row.value for row in found.by_category} == by_category
    by_type = _raw(
        conn,
        "SELECT it.Name, count(*) FROM Loans l JOIN Copies c USING (CopyID) "
        f"JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID {where} GROUP BY 1",
        span,
    )
    assert {row.label: row.value for row in found.by_item_type} == by_type
    # No copy changed its type since: each loan's snapshot names its copy's type.
    assert by_type == _raw(
        conn, f"SELECT CopyItemType, count(*) FROM Loans {where} GROUP BY 1", span
    )
    for way in (found.by_month, found.by_class, found.by_category, found.by_item_type):
        assert sum(row.value for row in way) == total
    conn.close()


def test_most_and_least_borrowed_agree_with_raw_sql(history):
    conn = connect_sync(history)
    span = (LAST_YEAR.start.isoformat(), LAST_YEAR.end.isoformat())
    counts = _raw(
        conn, "SELECT BookID, count(*) FROM Loans WHERE LoanDate BETWEEN ? AND ? GROUP BY 1", span
    )
    titles = _raw(conn, "SELECT BookID, Title FROM Books")
    most = reports.most_borrowed(conn, LAST_YEAR, 10)
    assert [row.loans for row in most] == sorted(counts.values(), reverse=True)[:10]
    assert all(counts[row.book_id] == row.loans for row in most)
    eligible = {
        row[0]
        for row in conn.execute(
            "SELECT b.BookID FROM Books b WHERE b.WithdrawnAt IS NULL AND b.AddedAt < ? "
            "AND EXISTS (SELECT 1 FROM Copies c WHERE c.BookID = b.BookID AND c.Status = 'in_stock')",
            (LAST_YEAR.start.isoformat(),),
        )
    }
    least = reports.least_borrowed(conn, LAST_YEAR, 10)
    expected = sorted(
        eligible, key=lambda book: (counts.get(book, 0), titles[book].casefold(), book)
    )
    assert [row.book_id for row in least] == expected[:10]
    assert [row.loans for row in least] == [counts.get(book, 0) for book in expected[:10]]
    conn.close()


def test_the_collections_age_counts_every_copy_in_stock_once(history):
    conn = connect_sync(history)
    in_stock = conn.execute("SELECT count(*) FROM Copies WHERE Status = 'in_stock'").fetchone()[0]
    by_decade = reports.collection_by_publication(conn)
    assert sum(row.value for row in by_decade) == in_stock
    assert by_decade[0].label == "Before 1900" and by_decade[1].label == "1900s"
    before_1900 = conn.execute(
        "SELECT count(*) FROM Copies c JOIN Books b USING (BookID) "
        "WHERE c.Status = 'in_stock' AND b.Year < 1900"
    ).fetchone()[0]
    assert by_decade[0].value == before_1900
    by_year = reports.collection_by_year_added(conn, LONDON, TEST_TODAY)
    assert sum(row.value for row in by_year) == in_stock
    assert {row.label: row.value for row in by_year} == _raw(
        conn,
        "SELECT substr(AddedAt, 1, 4), count(*) FROM Copies WHERE Status = 'in_stock' GROUP BY 1",
    )
    conn.close()


def test_the_weeding_list_is_every_title_in_stock_not_lent_since_the_cutoff(history):
    conn = connect_sync(history)
    cutoff = years_before(TEST_TODAY, 1).isoformat()
    last_lent = _raw(conn, "SELECT BookID, max(LoanDate) FROM Loans GROUP BY BookID")
    expected = [
        row[0]
        for row in conn.execute(
            "SELECT b.BookID FROM Books b WHERE b.WithdrawnAt IS NULL AND b.AddedAt < ? "
            "AND EXISTS (SELECT 1 FROM Copies c WHERE c.BookID = b.BookID AND c.Status = 'in_stock')",
            (cutoff,),
        )
        if last_lent.get(row[0]) is None or last_lent[row[0]] < cutoff
    ]
    total, rows = reports.weeding_list(conn, TEST_TODAY, 1)
    assert total == len(expected) == len(rows) and total > 0
    assert sorted(row.book_id for row in rows) == sorted(expected)
    assert all(row.last_lent == last_lent.get(row.book_id) for row in rows)
    lent = [row.last_lent for row in rows if row.last_lent]
    assert lent == sorted(lent) and rows[-1].last_lent is not None
    shown_total, shown = reports.weeding_list(conn, TEST_TODAY, 1, limit=5)
    assert shown_total == total and shown == rows[:5]
    conn.close()


def test_overdue_by_class_counts_open_loans_past_due_by_the_class_now(history):
    conn = connect_sync(history)
    # A month on, the loans still out (lent a week before TEST_TODAY) are overdue.
    later = TEST_TODAY + timedelta(days=30)
    expected = {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            "SELECT u.GroupName, count(*), count(DISTINCT l.UserID) FROM Loans l "
            "JOIN Users u USING (UserID) WHERE l.ReturnedAt IS NULL AND l.ReturnDate < ? GROUP BY 1",
            (later.isoformat(),),
        )
    }
    found = reports.overdue_by_class(conn, later)
    assert expected and {row.group: (row.loans, row.patrons) for row in found} == expected
    conn.close()


def _every_report(conn) -> tuple:
    return (
        reports.loan_breakdown(conn, WIDE),
        reports.loan_breakdown(conn, LAST_YEAR),
        reports.most_borrowed(conn, LAST_YEAR, 50),
        reports.least_borrowed(conn, LAST_YEAR, 50),
        reports.collection_by_publication(conn),
        reports.collection_by_year_added(conn, LONDON, TEST_TODAY),
        reports.weeding_list(conn, TEST_TODAY, 1),
    )


def test_anonymising_and_erasing_patrons_changes_no_report(history):
    conn = connect_sync(history)
    before = _every_report(conn)
    now = f"{TEST_TODAY.isoformat()}T03:00:00Z"
    while True:
        conn.execute("BEGIN IMMEDIATE")
        done = privacy.anonymise_batch(conn, before=TEST_TODAY - timedelta(days=60), now=now)
        conn.execute("COMMIT")
        if done.total == 0:
            break
    anonymised = conn.execute("SELECT count(*) FROM Loans WHERE UserID IS NULL").fetchone()[0]
    assert anonymised > 1000
    erasable = [
        row[0]
        for row in conn.execute(
            "SELECT UserID FROM Users u WHERE Role = 'Student' AND NOT EXISTS "
            "(SELECT 1 FROM Loans l WHERE l.UserID = u.UserID AND l.ReturnedAt IS NULL) "
            "AND NOT EXISTS (SELECT 1 FROM Holds h WHERE h.UserID = u.UserID "
            "AND h.Status IN ('waiting', 'ready')) LIMIT 5"
        )
    ]
    assert erasable
    for user_id in erasable:
        conn.execute("BEGIN IMMEDIATE")
        plan = privacy.erase_patron(
            conn, user_id=user_id, actor_id=None, today=TEST_TODAY, now=now, library_name="L"
        )
        conn.execute("COMMIT")
        assert plan is not None and plan.refusal is None
    assert _every_report(conn) == before
    # A redacted event keeps the category of its loan, as it keeps the class.
    assert (
        conn.execute(
            "SELECT count(*) FROM Events e JOIN Loans l USING (LoanID) WHERE e.RedactedBy IS NOT NULL "
            "AND e.BorrowerCategory IS NOT l.BorrowerCategory"
        ).fetchone()[0]
        == 0
    )
    assert privacy.event_log_problems(conn) == []
    conn.close()


# --- Dates at the edges -----------------------------------------------------------------------


def _lend_row(conn, copy_id: int, user_id: int, loan_date: str, created_at: str) -> None:
    book_id = conn.execute("SELECT BookID FROM Copies WHERE CopyID = ?", (copy_id,)).fetchone()[0]
    conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt, CreatedAt) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (user_id, book_id, copy_id, loan_date, loan_date, f"{loan_date}T23:59:00Z", created_at),
    )


def test_a_loan_counts_on_its_library_day_whatever_the_utc_clock_said(database_path):
    conn = connect_sync(database_path)
    conn.execute(
        "INSERT INTO Users (UserID, Name, Role, GroupName) VALUES (1, 'Pupil', 'Student', '7A')"
    )
    conn.execute("INSERT INTO Books (BookID, Title) VALUES (1, 'Edge')")
    conn.executemany(
        "INSERT INTO Copies (CopyID, BookID, Barcode) VALUES (?, 1, ?)",
        [(n, f"E{n}") for n in range(1, 5)],
    )
    # In New York: the day before the period, its first day, its last day at 23:30 local
    # time (04:30 UTC the next day), and the day after.
    _lend_row(conn, 1, 1, "2026-10-31", "2026-10-31T16:00:00Z")
    _lend_row(conn, 2, 1, "2026-11-01", "2026-11-01T04:30:00Z")
    _lend_row(conn, 3, 1, "2026-11-30", "2026-12-01T04:30:00Z")
    _lend_row(conn, 4, 1, "2026-12-01", "2026-12-01T15:00:00Z")
    november = Period(date(2026, 11, 1), date(2026, 11, 30))
    found = reports.loan_breakdown(conn, november)
    assert found.total == 2
    assert [(row.label, row.value) for row in found.by_month] == [("Nov 2026", 2)]
    assert reports.loan_breakdown(conn, Period(date(2026, 12, 1), date(2026, 12, 1))).total == 1
    assert reports.loan_breakdown(conn, Period(date(2026, 11, 30), date(2026, 11, 30))).total == 1
    # A copy added at 00:30 on New Year's Day in Auckland (11:30 UTC the day before)
    # was added in the new year there.
    conn.execute("UPDATE Copies SET AddedAt = '2025-06-01T12:00:00Z'")
    conn.execute("UPDATE Copies SET AddedAt = '2025-12-31T11:30:00Z' WHERE CopyID = 1")
    auckland = reports.collection_by_year_added(conn, ZoneInfo("Pacific/Auckland"), TEST_TODAY)
    assert [(row.label, row.value) for row in auckland] == [("2025", 3), ("2026", 1)]
    in_london = reports.collection_by_year_added(conn, LONDON, TEST_TODAY)
    assert [(row.label, row.value) for row in in_london] == [("2025", 4)]
    conn.close()


# --- The snapshot column ---------------------------------------------------------------------


def test_a_loan_and_a_hold_keep_the_category_and_item_type_they_were_made_under(database_path):
    conn = connect_sync(database_path)
    year7 = conn.execute(
        "SELECT CategoryID FROM PatronCategories WHERE Name = 'Year 7'"
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO Users (UserID, Name, Role, GroupName, CategoryID) "
        "VALUES (1, 'Pupil', 'Student', '7A', ?)",
        (year7,),
    )
    conn.execute("INSERT INTO Books (BookID, Title) VALUES (1, 'Kept')")
    conn.execute("INSERT INTO Copies (CopyID, BookID, Barcode) VALUES (1, 1, 'K1')")
    conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) "
        "VALUES (1, 1, 1, '2026-11-02', '2026-11-16')"
    )
    conn.execute("INSERT INTO Holds (UserID, BookID) VALUES (1, 1)")
    conn.execute("UPDATE PatronCategories SET Name = 'Lower school' WHERE CategoryID = ?", (year7,))
    conn.execute(
        "UPDATE Copies SET ItemTypeID = (SELECT ItemTypeID FROM ItemTypes WHERE Name = 'DVD')"
    )
    loan = conn.execute(
        "SELECT BorrowerCategory, BorrowerRole, BorrowerGroup, CopyItemType FROM Loans"
    ).fetchone()
    assert tuple(loan) == ("Year 7", "Student", "7A", "Book")
    assert conn.execute("SELECT BorrowerCategory FROM Holds").fetchone()[0] == "Year 7"
    conn.close()


def test_the_migration_backfills_the_category_and_leaves_search_versions_alone(tmp_path):
    conn = connect_sync(tmp_path / "old.sqlite3")
    # The version just before this migration, whatever number it lands with.
    ours = next(
        number for number, path in migration_files(MIGRATIONS) if path.name.endswith("_reports.sql")
    )
    migrate(conn, MIGRATIONS, target=ours - 1)
    demo.load(conn, books=30, patrons=12, seed=3, today=TEST_TODAY, show_progress=False)
    # Three loans anonymised as the nightly run did before this migration.
    conn.execute("BEGIN IMMEDIATE")
    redaction = conn.execute(
        "INSERT INTO Events (Kind, Detail) VALUES ('redaction', 'before categories')"
    ).lastrowid
    loan_ids = [
        row[0]
        for row in conn.execute(
            "SELECT LoanID FROM Loans WHERE ReturnedAt IS NOT NULL ORDER BY LoanID LIMIT 3"
        )
    ]
    marks = ", ".join("?" * len(loan_ids))
    conn.execute(
        f"UPDATE Loans SET UserID = NULL, AnonymisedAt = '2026-11-29T03:00:00Z' "
        f"WHERE LoanID IN ({marks})",
        loan_ids,
    )
    conn.execute(
        "UPDATE Events SET UserID = NULL, "
        "ActorID = CASE WHEN ActorID = UserID THEN NULL ELSE ActorID END, "
        "Detail = CASE WHEN Kind = 'override' THEN NULL ELSE Detail END, RedactedBy = ? "
        f"WHERE UserID IS NOT NULL AND LoanID IN ({marks})",
        [redaction, *loan_ids],
    )
    conn.execute("COMMIT")
    versions = conn.execute("SELECT * FROM SearchVersions").fetchall()
    migrate(conn, MIGRATIONS)
    assert conn.execute("SELECT * FROM SearchVersions").fetchall() == versions
    mismatched = conn.execute(
        "SELECT count(*) FROM Loans l JOIN Users u USING (UserID) "
        "JOIN PatronCategories pc ON pc.CategoryID = u.CategoryID "
        "WHERE l.BorrowerCategory IS NOT pc.Name"
    ).fetchone()[0]
    named = conn.execute("SELECT count(*) FROM Loans WHERE UserID IS NOT NULL").fetchone()[0]
    assert named > 0 and mismatched == 0
    # Every loan, anonymised or not, takes its copy's item type.
    assert (
        conn.execute(
            "SELECT count(*) FROM Loans l JOIN Copies c USING (CopyID) "
            "JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID WHERE l.CopyItemType IS NOT it.Name"
        ).fetchone()[0]
        == 0
    )
    assert (
        conn.execute(
            "SELECT count(*) FROM Loans WHERE UserID IS NULL AND BorrowerCategory IS NULL"
        ).fetchone()[0]
        == 3
    )
    assert privacy.event_log_problems(conn) == []
    conn.close()


# --- The page and the CSV files ---------------------------------------------------------------


@pytest.fixture
async def staff(demo_copy):
    app = create_app(make_settings(demo_copy))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        await log_in(client, "bob@example.com")
        yield client, demo_copy


async def test_the_page_shows_every_report_for_the_period_asked(staff):
    client, path = staff
    response = await client.get("/reports?from=2020-01-01&to=2026-11-30&years=1")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200
    conn = connect_sync(path)
    total = conn.execute(
        "SELECT count(*) FROM Loans WHERE LoanDate BETWEEN '2020-01-01' AND '2026-11-30'"
    ).fetchone()[0]
    conn.close()
    assert f"{total:,} loans" in body
    for heading in (
        "Loans by month",
        "Loans by class",
        "Loans by patron category",
        "Loans by item type",
        "Most borrowed titles",
        "Least borrowed titles",
        "Age of the collection",
        "Not borrowed for 1 year",
        "Overdue by class",
    ):
        assert f">{heading}" in body
    assert 'role="img"' in body
    assert (
        'href="/reports/loans-by-class.csv?from=2020-01-01&amp;to=2026-11-30&amp;years=1"' in body
    )


@pytest.mark.parametrize(
    "query, words",
    [
        ("from=2026-11-30&to=2026-11-01", "before the first day"),
        ("from=not-a-date", "like 2026-09-01"),
        ("years=0", "from 1 to 50"),
        ("from=" + "9" * 5000, "like 2026-09-01"),
    ],
)
async def test_a_bad_period_reshows_the_form_with_the_reason(staff, query, words):
    client, _ = staff
    response = await client.get(f"/reports?{query}")
    body = await response.get_data(as_text=True)
    assert response.status_code == 400
    assert words in body and 'aria-invalid="true"' in body
    assert "Loans by month" not in body
    csv_response = await client.get(f"/reports/loans-by-month.csv?{query}")
    assert csv_response.status_code == 400
    assert words in await csv_response.get_data(as_text=True)


async def test_an_unknown_report_is_not_found(staff):
    client, _ = staff
    assert (await client.get("/reports/everything.csv")).status_code == 404


async def test_the_csv_files_add_up_and_neutralise_formulas(staff):
    client, path = staff
    conn = connect_sync(path)
    conn.execute(
        "UPDATE Books SET Title = '=HYPERLINK(\"http://evil\")' WHERE BookID = ("
        "SELECT BookID FROM Loans GROUP BY BookID ORDER BY count(*) DESC, BookID LIMIT 1)"
    )
    total = conn.execute(
        "SELECT count(*) FROM Loans WHERE LoanDate BETWEEN '2020-01-01' AND '2026-11-30'"
    ).fetchone()[0]
    conn.close()
    span = "from=2020-01-01&to=2026-11-30"
    for report in ("loans-by-month", "loans-by-class", "loans-by-category", "loans-by-item-type"):
        response = await client.get(f"/reports/{report}.csv?{span}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert f"{report}-2020-01-01-to-2026-11-30.csv" in response.headers["Content-Disposition"]
        rows = list(
            csv.reader(io.StringIO((await response.get_data(as_text=True)).lstrip("\ufeff")))
        )
        assert rows[0][-1] == "loans"
        assert sum(int(row[-1]) for row in rows[1:]) == total
    most = await client.get(f"/reports/most-borrowed.csv?{span}")
    text = await most.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["title", "author", "loans"]
    assert '\'=HYPERLINK("http://evil")' in [row[0] for row in rows[1:]]
    assert not any(line.startswith(("=", '"=')) for line in text.splitlines())
    for report in (
        "least-borrowed",
        "collection-by-publication",
        "collection-by-year-added",
        "weeding",
        "overdue-by-class",
    ):
        response = await client.get(f"/reports/{report}.csv?{span}&years=1")
        assert response.status_code == 200, report
        assert not any(
            line.startswith("=") for line in (await response.get_data(as_text=True)).splitlines()
        )


async def test_an_empty_library_renders_every_report(database_path):
    conn = connect_sync(database_path)
    conn.execute(
        "INSERT INTO Users (Name, Role, Email, PasswordHash) VALUES (?, 'Librarian', ?, ?)",
        ("Libby", "libby@example.org", hash_password("a-long-password")),
    )
    conn.close()
    app = create_app(make_settings(database_path))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        await log_in(client, "libby@example.org", "a-long-password")
        response = await client.get("/reports")
        body = await response.get_data(as_text=True)
        assert response.status_code == 200
        assert "No loans in this period." in body and "There are no copies in stock." in body
        assert "Nothing is overdue." in body
        for report in ("loans-by-month", "most-borrowed", "weeding", "collection-by-year-added"):
            response = await client.get(f"/reports/{report}.csv")
            assert response.status_code == 200
