"""Years of library history, written fast with plain sqlite3, for the privacy tests.

``generate_history`` adds pupils in Year 7 to Year 13 (and a few teachers on
staff roles), books and copies, and for every school day over ``years`` years
some loans with their 'lend', 'renew' and 'return' events, reminder notices
with their emails, holds (filled, cancelled, expired) with their events, and a
few loans still out. A few pupils keep their history (Users.KeepHistory).
``statistics`` counts what a librarian reports on; ``loan_states`` records, per
loan, whom it and its events name.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path

from webapp.db import connect_sync

GROUPS = [f"Year {year}" for year in range(7, 14)]


def _stamp(day: date, hour: int = 12) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def generate_history(
    path: Path,
    *,
    today: date,
    years: int = 3,
    pupils: int = 300,
    loans_per_day: int = 25,
    seed: int = 23,
) -> None:
    rng = random.Random(seed)
    conn = connect_sync(path)
    try:
        conn.execute("BEGIN")
        first_user = conn.execute("SELECT coalesce(max(UserID), 0) + 1 FROM Users").fetchone()[0]
        users = [
            (
                first_user + n,
                f"Pupil {n}",
                "Student",
                f"pupil{n}@history.example",
                f"HIST{n:05d}",
                GROUPS[n % len(GROUPS)],
                int(n % 50 == 0),
            )
            for n in range(pupils)
        ]
        conn.executemany(
            "INSERT INTO Users (UserID, Name, Role, Email, CardNumber, GroupName, KeepHistory) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            users,
        )
        user_ids = [user[0] for user in users]
        first_book = conn.execute("SELECT coalesce(max(BookID), 0) + 1 FROM Books").fetchone()[0]
        books = [(first_book + n, f"History Title {n}") for n in range(200)]
        conn.executemany("INSERT INTO Books (BookID, Title) VALUES (?, ?)", books)
        first_copy = conn.execute("SELECT coalesce(max(CopyID), 0) + 1 FROM Copies").fetchone()[0]
        copies = [
            (first_copy + n, books[n % len(books)][0], f"HC{n:06d}") for n in range(len(books) * 3)
        ]
        conn.executemany("INSERT INTO Copies (CopyID, BookID, Barcode) VALUES (?, ?, ?)", copies)
        librarian = conn.execute("SELECT UserID FROM Users WHERE Role = 'Librarian'").fetchone()
        actor = librarian[0] if librarian else None

        loan_id = conn.execute("SELECT coalesce(max(LoanID), 0) FROM Loans").fetchone()[0]
        hold_id = conn.execute("SELECT coalesce(max(HoldID), 0) FROM Holds").fetchone()[0]
        message_id = conn.execute("SELECT coalesce(max(MessageID), 0) FROM Outbox").fetchone()[0]
        loans, events, holds, notices, messages = [], [], [], [], []
        # Copies are lent in turn, so no copy is ever on two loans at once.
        busy_until: dict[int, date] = {}
        start = today - timedelta(days=365 * years)
        day = start
        while day < today - timedelta(days=30):
            if day.weekday() < 5:
                for _ in range(loans_per_day):
                    copy_id, book_id, _ = copies[rng.randrange(len(copies))]
                    if busy_until.get(copy_id, start) > day:
                        continue
                    user_id = rng.choice(user_ids)
                    loan_id += 1
                    due = day + timedelta(days=14)
                    back = day + timedelta(days=rng.randint(1, 30))
                    busy_until[copy_id] = back + timedelta(days=1)
                    renewals = int(back > due)
                    loans.append(
                        (
                            loan_id,
                            user_id,
                            book_id,
                            copy_id,
                            day.isoformat(),
                            (due + timedelta(days=14 * renewals)).isoformat(),
                            _stamp(back, 15),
                            renewals,
                            actor,
                        )
                    )
                    events.append(
                        (
                            _stamp(day, 10),
                            "lend",
                            actor,
                            user_id,
                            book_id,
                            copy_id,
                            loan_id,
                            None,
                            f"due {due.isoformat()}",
                        )
                    )
                    if renewals:
                        # Pupils renew online: the pupil is the actor.
                        events.append(
                            (
                                _stamp(due - timedelta(days=1), 18),
                                "renew",
                                user_id,
                                user_id,
                                book_id,
                                copy_id,
                                loan_id,
                                None,
                                "renewed",
                            )
                        )
                    if back > due + timedelta(days=14 * renewals):
                        message_id += 1
                        messages.append(
                            (
                                message_id,
                                "reminder",
                                user_id,
                                f"pupil{user_id}@history.example",
                                "Overdue",
                                f"History Title {book_id} is overdue",
                                "<p>overdue</p>",
                                f"<{message_id}@history.example>",
                                "sent",
                                _stamp(back - timedelta(days=1), 2),
                            )
                        )
                        notices.append(
                            (
                                loan_id,
                                user_id,
                                1,
                                due.isoformat(),
                                (back - timedelta(days=1)).isoformat(),
                                message_id,
                            )
                        )
                        events.append(
                            (
                                _stamp(back, 15),
                                "override",
                                actor,
                                user_id,
                                book_id,
                                copy_id,
                                loan_id,
                                None,
                                f"due date moved because: Pupil {user_id} was ill",
                            )
                        )
                    events.append(
                        (
                            _stamp(back, 15),
                            "return",
                            actor,
                            user_id,
                            book_id,
                            copy_id,
                            loan_id,
                            None,
                            None,
                        )
                    )
                if rng.random() < 0.5:
                    hold_id += 1
                    user_id = rng.choice(user_ids)
                    book_id = rng.choice(books)[0]
                    status = rng.choice(["filled", "cancelled", "expired"])
                    closed = day + timedelta(days=rng.randint(1, 20))
                    holds.append(
                        (hold_id, user_id, book_id, _stamp(day, 9), status, _stamp(closed, 11))
                    )
                    events.append(
                        (
                            _stamp(day, 9),
                            "hold_placed",
                            user_id,
                            user_id,
                            book_id,
                            None,
                            None,
                            hold_id,
                            "position 1 in the queue",
                        )
                    )
                    events.append(
                        (
                            _stamp(closed, 11),
                            f"hold_{status}",
                            actor,
                            user_id,
                            book_id,
                            None,
                            None,
                            hold_id,
                            None,
                        )
                    )
            day += timedelta(days=1)
        conn.executemany(
            "INSERT INTO Loans (LoanID, UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt, "
            "Renewals, LentBy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            loans,
        )
        conn.executemany(
            "INSERT INTO Holds (HoldID, UserID, BookID, PlacedAt, Status, ClosedAt) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            holds,
        )
        conn.executemany(
            "INSERT INTO Outbox (MessageID, Kind, UserID, Recipient, Subject, BodyText, BodyHtml, "
            "HeaderMessageID, Status, CreatedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            messages,
        )
        conn.executemany(
            "INSERT INTO Notices (LoanID, UserID, Stage, DueDate, RunDate, MessageID) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            notices,
        )
        # A few loans still out, lent last week on copies free by then.
        for copy_id, book_id, _ in copies[:10]:
            if busy_until.get(copy_id, start) <= today - timedelta(days=7):
                loan_id += 1
                user_id = rng.choice(user_ids)
                lent = today - timedelta(days=7)
                conn.execute(
                    "INSERT INTO Loans (LoanID, UserID, BookID, CopyID, LoanDate, ReturnDate, "
                    "LentBy) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        loan_id,
                        user_id,
                        book_id,
                        copy_id,
                        lent.isoformat(),
                        (lent + timedelta(days=14)).isoformat(),
                        actor,
                    ),
                )
                events.append(
                    (
                        _stamp(lent, 10),
                        "lend",
                        actor,
                        user_id,
                        book_id,
                        copy_id,
                        loan_id,
                        None,
                        "due soon",
                    )
                )
        events.sort(key=lambda event: event[0])
        conn.executemany(
            "INSERT INTO Events (At, Kind, ActorID, UserID, BookID, CopyID, LoanID, HoldID, Detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def statistics(conn: sqlite3.Connection) -> dict:
    """What a librarian reports on: loans per title, per month, per class and role; holds per
    class; events per kind and class. Classes come from the snapshot each row keeps."""

    def counts(sql: str) -> dict:
        return {tuple(row[:-1]): row[-1] for row in conn.execute(sql)}

    return {
        "per_title": counts("SELECT BookID, count(*) FROM Loans GROUP BY BookID"),
        "times_borrowed": counts("SELECT BookID, TimesBorrowed FROM Books"),
        "per_month": counts("SELECT substr(LoanDate, 1, 7), count(*) FROM Loans GROUP BY 1"),
        "per_class": counts(
            "SELECT BorrowerRole, BorrowerGroup, count(*) FROM Loans GROUP BY 1, 2"
        ),
        "per_category": counts("SELECT BorrowerCategory, count(*) FROM Loans GROUP BY 1"),
        "holds_per_class": counts(
            "SELECT BorrowerGroup, Status, count(*) FROM Holds GROUP BY 1, 2"
        ),
        "events_per_class": counts(
            "SELECT e.Kind, substr(e.At, 1, 7), coalesce(e.BorrowerGroup, u.GroupName), count(*) "
            "FROM Events e LEFT JOIN Users u ON u.UserID = e.UserID "
            "WHERE e.Kind NOT IN ('redaction', 'privacy_changed') GROUP BY 1, 2, 3"
        ),
    }


def per_class_by_patron(conn: sqlite3.Connection) -> dict:
    """Loans per class read through each patron's current group (before anything is
    anonymised, and before a promotion, this must agree with the snapshot)."""
    return {
        (row[0], row[1]): row[2]
        for row in conn.execute(
            "SELECT u.Role, u.GroupName, count(*) FROM Loans l JOIN Users u ON u.UserID = l.UserID "
            "GROUP BY 1, 2"
        )
    }


def loan_states(conn: sqlite3.Connection) -> dict[int, tuple]:
    """Per loan: its borrower, whether it is anonymised, and the set of patrons its events name."""
    named: dict[int, set] = {}
    for loan_id, user_id in conn.execute(
        "SELECT LoanID, UserID FROM Events WHERE LoanID IS NOT NULL"
    ):
        named.setdefault(loan_id, set()).add(user_id)
    notices = {row[0] for row in conn.execute("SELECT DISTINCT LoanID FROM Notices")}
    return {
        row[0]: (row[1], row[2] is not None, frozenset(named.get(row[0], ())), row[0] in notices)
        for row in conn.execute("SELECT LoanID, UserID, AnonymisedAt FROM Loans")
    }
