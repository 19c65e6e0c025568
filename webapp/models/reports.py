"""Reports for staff: what was borrowed, by whom (as groups), and what sits unborrowed.

Every count of loans reads the loan's own snapshot of its borrower (BorrowerGroup,
BorrowerCategory: migrations 0014 and 0016), never the Users row, so anonymising
a loan or erasing a patron never changes a total (docs/reports.md). A loan is
dated by LoanDate, the library's day at the desk; a period includes both its days.

Plain functions of a sqlite3 connection, run on a reader (``db.read``): a report
never waits for, or holds up, the writer.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from webapp.report_periods import Period, month_label, new_year_offset, years_before

# What a row says when the snapshot is empty.
NO_CLASS = "No class"
NOT_RECORDED = "Not recorded"
UNKNOWN = "Unknown"
# Publication years before this are one row of the collection's age.
OLDEST_DECADE = 1900


@dataclass(frozen=True)
class Count:
    """One row of a report: loans, or copies for the collection's age."""

    label: str
    value: int


@dataclass(frozen=True)
class LoanBreakdown:
    """The period's loans counted four ways; each way adds up to ``total``."""

    total: int
    by_month: list[Count]
    by_class: list[Count]
    by_category: list[Count]
    by_item_type: list[Count]


def _natural_key(label: str) -> tuple:
    """ "Year 9" before "Year 10": digits compare as numbers."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in re.split(r"(\d+)", label)
        if part
    )


def _sorted_counts(counter: Counter[str], last: str) -> list[Count]:
    """By name in natural order, with the row for "none recorded" last."""
    labels = sorted((label for label in counter if label != last), key=_natural_key)
    if last in counter:
        labels.append(last)
    return [Count(label, counter[label]) for label in labels]


def loan_breakdown(conn: sqlite3.Connection, period: Period) -> LoanBreakdown:
    """Loans made in ``period``, by month, by class, by patron category and by item type.

    One pass over the period's loans, grouped by day and all three snapshots at once
    (the order of the Loans_ForReports index, so SQLite neither reads a row nor sorts)
    and added up here, so the four tables always agree. Class, category and item type
    are the loan's, as they were when it was lent. Every month of the period is listed,
    even one without loans.
    """
    rows = conn.execute(
        """
        SELECT LoanDate, BorrowerGroup, BorrowerCategory, CopyItemType, count(*) AS Loans
        FROM Loans WHERE LoanDate BETWEEN :start AND :end
        GROUP BY LoanDate, BorrowerGroup, BorrowerCategory, CopyItemType
        """,
        {"start": period.start.isoformat(), "end": period.end.isoformat()},
    )
    months: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    types: Counter[str] = Counter()
    for loan_date, group, category, item_type, loans in rows:
        months[loan_date[:7]] += loans
        classes[group or NO_CLASS] += loans
        categories[category or NOT_RECORDED] += loans
        types[item_type or UNKNOWN] += loans
    return LoanBreakdown(
        total=sum(months.values()),
        by_month=[Count(month_label(month), months[f"{month:%Y-%m}"]) for month in period.months()],
        by_class=_sorted_counts(classes, NO_CLASS),
        by_category=_sorted_counts(categories, NOT_RECORDED),
        by_item_type=_sorted_counts(types, UNKNOWN),
    )


@dataclass(frozen=True)
class Title:
    book_id: int
    title: str
    author: str
    loans: int


def most_borrowed(conn: sqlite3.Connection, period: Period, limit: int) -> list[Title]:
    """The titles lent most often in ``period``, most first (ties by title)."""
    rows = conn.execute(
        """
        SELECT b.BookID, b.Title, b.Author, t.Loans
        -- Walking the title index groups without sorting: at a million loans, cheaper
        -- than sorting a school year's loans by title (docs/benchmarks.md, Reports).
        FROM (SELECT BookID, count(*) AS Loans FROM Loans INDEXED BY Loans_ByBook
              WHERE LoanDate BETWEEN :start AND :end GROUP BY BookID) t
        JOIN Books b ON b.BookID = t.BookID
        ORDER BY t.Loans DESC, b.Title COLLATE NOCASE, b.BookID LIMIT :limit
        """,
        {"start": period.start.isoformat(), "end": period.end.isoformat(), "limit": limit},
    )
    return [Title(row["BookID"], row["Title"], row["Author"], row["Loans"]) for row in rows]


def least_borrowed(conn: sqlite3.Connection, period: Period, limit: int) -> list[Title]:
    """The titles lent least often in ``period`` (none at all first), among those that
    could have been: not withdrawn, a copy in stock, and catalogued before the period began."""
    rows = conn.execute(
        """
        SELECT b.BookID, b.Title, b.Author,
               (SELECT count(*) FROM Loans l
                WHERE l.BookID = b.BookID AND l.LoanDate BETWEEN :start AND :end) AS Loans
        FROM Books b
        WHERE b.WithdrawnAt IS NULL AND b.AddedAt < :start
          AND EXISTS (SELECT 1 FROM Copies c WHERE c.BookID = b.BookID AND c.Status = 'in_stock')
        ORDER BY Loans, b.Title COLLATE NOCASE, b.BookID LIMIT :limit
        """,
        {"start": period.start.isoformat(), "end": period.end.isoformat(), "limit": limit},
    )
    return [Title(row["BookID"], row["Title"], row["Author"], row["Loans"]) for row in rows]


def collection_by_publication(conn: sqlite3.Connection) -> list[Count]:
    """Copies in stock today by their title's decade of publication, oldest first."""
    rows = conn.execute(
        """
        SELECT CASE WHEN b.Year IS NULL THEN NULL
                    WHEN b.Year < :oldest THEN :oldest - 1
                    ELSE b.Year - b.Year % 10 END AS Decade,
               count(*) AS Copies
        FROM Copies c JOIN Books b ON b.BookID = c.BookID
        WHERE c.Status = 'in_stock'
        GROUP BY Decade ORDER BY Decade IS NULL, Decade
        """,
        {"oldest": OLDEST_DECADE},
    )
    counts = []
    for row in rows:
        decade = row["Decade"]
        if decade is None:
            label = UNKNOWN
        elif decade < OLDEST_DECADE:
            label = f"Before {OLDEST_DECADE}"
        else:
            label = f"{decade}s"
        counts.append(Count(label, row["Copies"]))
    return counts


def collection_by_year_added(conn: sqlite3.Connection, zone: ZoneInfo, today: date) -> list[Count]:
    """Copies in stock today by the library year they were added (Copies.AddedAt), oldest first.

    AddedAt is a UTC stamp: it is moved by the zone's offset at New Year before its year
    is read.
    """
    rows = conn.execute(
        "SELECT strftime('%Y', AddedAt, :offset) AS Year, count(*) AS Copies FROM Copies "
        "WHERE Status = 'in_stock' GROUP BY Year ORDER BY Year",
        {"offset": new_year_offset(zone, today.year)},
    )
    return [Count(row["Year"] or UNKNOWN, row["Copies"]) for row in rows]


@dataclass(frozen=True)
class Unborrowed:
    book_id: int
    title: str
    author: str
    year: int | None
    added_at: str
    last_lent: str | None
    copies: int


def weeding_list(
    conn: sqlite3.Connection, today: date, years: int, limit: int | None = None
) -> tuple[int, list[Unborrowed]]:
    """Titles with a copy in stock that nobody has borrowed for ``years`` years (or ever),
    among those catalogued before then: how many, and the first ``limit`` (all without),
    never-lent first, then the longest unborrowed.

    One pass: each title's last loan is one step into Loans_ByBook, and the window
    count gives the total before LIMIT cuts the list.
    """
    rows = conn.execute(
        """
        WITH Candidates AS (
            SELECT b.BookID, b.Title, b.Author, b.Year, b.AddedAt,
                   (SELECT max(LoanDate) FROM Loans l WHERE l.BookID = b.BookID) AS LastLent
            FROM Books b
            WHERE b.WithdrawnAt IS NULL AND b.AddedAt < :cutoff
              AND EXISTS (SELECT 1 FROM Copies c
                          WHERE c.BookID = b.BookID AND c.Status = 'in_stock'))
        SELECT *, count(*) OVER () AS Total,
               (SELECT count(*) FROM Copies c
                WHERE c.BookID = Candidates.BookID AND c.Status = 'in_stock') AS Copies
        FROM Candidates WHERE LastLent IS NULL OR LastLent < :cutoff
        ORDER BY LastLent IS NOT NULL, LastLent, Title COLLATE NOCASE, BookID
        LIMIT :limit
        """,
        {
            "cutoff": years_before(today, years).isoformat(),
            "limit": -1 if limit is None else limit,
        },
    ).fetchall()
    return rows[0]["Total"] if rows else 0, [
        Unborrowed(
            row["BookID"],
            row["Title"],
            row["Author"],
            row["Year"],
            row["AddedAt"],
            row["LastLent"],
            row["Copies"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Overdue:
    group: str
    loans: int
    patrons: int
    oldest_due: date


def overdue_by_class(conn: sqlite3.Connection, today: date) -> list[Overdue]:
    """Items out and past due today, by the borrower's class now: whom a teacher chases.

    An open loan always names its borrower (only returned loans are anonymised, and a
    patron with items out cannot be erased), so the class is read from the account.
    """
    rows = conn.execute(
        """
        SELECT nullif(u.GroupName, '') AS GroupName, count(*) AS Loans,
               count(DISTINCT l.UserID) AS Patrons, min(l.ReturnDate) AS OldestDue
        FROM Loans l JOIN Users u ON u.UserID = l.UserID
        WHERE l.ReturnedAt IS NULL AND l.ReturnDate < :today
        GROUP BY 1
        """,
        {"today": today.isoformat()},
    ).fetchall()
    found = {row["GroupName"] or NO_CLASS: row for row in rows}
    labels = sorted((label for label in found if label != NO_CLASS), key=_natural_key)
    if NO_CLASS in found:
        labels.append(NO_CLASS)
    return [
        Overdue(
            label,
            found[label]["Loans"],
            found[label]["Patrons"],
            date.fromisoformat(found[label]["OldestDue"]),
        )
        for label in labels
    ]
