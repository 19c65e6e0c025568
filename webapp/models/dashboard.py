"""The librarians' home: counts at a glance, overdue loans, activity, this term's favourites."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from webapp.charts import DailyCounts
from webapp.db import Database

# Terms start on these (month, day) each year: autumn, spring, summer. "This
# term" is from the latest of them on or before today.
TERM_STARTS = ((9, 1), (1, 1), (4, 20))

OVERDUE_SORTS = {
    "days": "l.ReturnDate, u.Name COLLATE NOCASE",
    "patron": "u.Name COLLATE NOCASE, l.ReturnDate",
    "title": "b.Title COLLATE NOCASE, l.ReturnDate",
}
OVERDUE_SHOWN = 200


def term_start(today: date) -> date:
    """The first day of the current term: the latest of 1 Sep, 1 Jan and 20 Apr not after today."""
    candidates = [
        date(year, month, day)
        for year in (today.year, today.year - 1)
        for month, day in TERM_STARTS
    ]
    return max(day for day in candidates if day <= today)


@dataclass(frozen=True)
class Counts:
    titles: int
    copies: int
    on_loan: int
    overdue: int
    holds_ready: int
    active_patrons: int


async def counts(db: Database, today: date) -> Counts:
    """Titles and copies in the collection, loans out and overdue, holds waiting, active patrons.

    Overdue means due before today (in the library's timezone) and not back:
    a loan due today is not overdue yet.
    """
    # Copies are counted whole, less those of an import not yet published (none, but
    # during a publication): through CatalogueCopies, each copy would cost a lookup
    # of its book.
    row = await db.fetch_row(
        """
        SELECT (SELECT count(*) FROM CatalogueBooks WHERE WithdrawnAt IS NULL) AS Titles,
               (SELECT count(*) FROM Copies WHERE Status = 'in_stock')
               - (SELECT count(*) FROM Books b JOIN Copies c ON c.BookID = b.BookID
                  WHERE b.ImportID IN (SELECT ImportID FROM ImportRuns WHERE Status <> 'published')
                    AND c.Status = 'in_stock') AS Copies,
               (SELECT count(*) FROM Loans WHERE ReturnedAt IS NULL) AS OnLoan,
               (SELECT count(*) FROM Loans
                 WHERE ReturnedAt IS NULL AND ReturnDate < :today) AS Overdue,
               (SELECT count(*) FROM Holds WHERE Status = 'ready') AS HoldsReady,
               (SELECT count(*) FROM Users WHERE Active = 1) AS ActivePatrons
        """,
        {"today": today.isoformat()},
    )
    return Counts(
        row["Titles"],
        row["Copies"],
        row["OnLoan"],
        row["Overdue"],
        row["HoldsReady"],
        row["ActivePatrons"],
    )


@dataclass(frozen=True)
class OverdueLoan:
    loan_id: int
    user_id: int
    patron: str
    card_number: str | None
    book_id: int
    title: str
    barcode: str
    due: date
    days_overdue: int


async def overdue_loans(db: Database, today: date, sort: str = "days") -> list[OverdueLoan]:
    """Open loans due before ``today``, sorted by days overdue (most first), patron or title."""
    order = OVERDUE_SORTS.get(sort, OVERDUE_SORTS["days"])
    rows = await db.fetch_all(
        f"""
        SELECT l.LoanID, l.UserID, u.Name, u.CardNumber, l.BookID, b.Title, c.Barcode, l.ReturnDate
        FROM Loans l JOIN Users u ON u.UserID = l.UserID JOIN Books b ON b.BookID = l.BookID
        JOIN Copies c ON c.CopyID = l.CopyID
        WHERE l.ReturnedAt IS NULL AND l.ReturnDate < ?
        ORDER BY {order}, l.LoanID LIMIT ?
        """,
        (today.isoformat(), OVERDUE_SHOWN),
    )
    loans = []
    for row in rows:
        due = date.fromisoformat(row["ReturnDate"])
        loans.append(
            OverdueLoan(
                row["LoanID"],
                row["UserID"],
                row["Name"],
                row["CardNumber"],
                row["BookID"],
                row["Title"],
                row["Barcode"],
                due,
                (today - due).days,
            )
        )
    return loans


async def daily_activity(
    db: Database, today: date, zone: ZoneInfo, days: int = 30
) -> list[DailyCounts]:
    """Loans made and copies returned on each of the last ``days`` library days, oldest first.

    ReturnedAt is a UTC instant: returns are counted per UTC hour in SQL and
    moved to the library's day here, so a return at 00:30 local time in summer
    counts on the right day.
    """
    first = today - timedelta(days=days - 1)
    loans = await db.fetch_all(
        "SELECT LoanDate, count(*) AS N FROM Loans "
        "WHERE LoanDate BETWEEN ? AND ? GROUP BY LoanDate",
        (first.isoformat(), today.isoformat()),
    )
    returns = await db.fetch_all(
        "SELECT substr(ReturnedAt, 1, 13) AS Hour, count(*) AS N FROM Loans "
        "WHERE ReturnedAt >= ? GROUP BY Hour",
        ((first - timedelta(days=1)).isoformat(),),
    )
    lent = {row["LoanDate"]: row["N"] for row in loans}
    returned: Counter[str] = Counter()
    for row in returns:
        if len(row["Hour"]) < 13:
            continue
        instant = datetime.strptime(row["Hour"], "%Y-%m-%dT%H").replace(tzinfo=UTC)
        returned[instant.astimezone(zone).date().isoformat()] += row["N"]
    return [
        DailyCounts(day, lent.get(day.isoformat(), 0), returned.get(day.isoformat(), 0))
        for day in (first + timedelta(days=offset) for offset in range(days))
    ]


@dataclass(frozen=True)
class Borrowed:
    book_id: int
    title: str
    author: str
    loans: int


async def most_borrowed_since(db: Database, since: date, limit: int = 10) -> list[Borrowed]:
    rows = await db.fetch_all(
        """
        SELECT b.BookID, b.Title, b.Author, count(*) AS Loans
        FROM Loans l JOIN Books b ON b.BookID = l.BookID
        WHERE l.LoanDate >= ?
        GROUP BY b.BookID ORDER BY Loans DESC, b.Title COLLATE NOCASE LIMIT ?
        """,
        (since.isoformat(), limit),
    )
    return [Borrowed(row["BookID"], row["Title"], row["Author"], row["Loans"]) for row in rows]
