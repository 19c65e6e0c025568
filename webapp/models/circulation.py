"""Circulation: lend, return, renew, undo, and the hold queue.

Every change happens in one write transaction together with the Events rows
that record it, so the log can never disagree with the loans and holds. The
decisions themselves (due dates, limits, renewals) are the pure functions of
``webapp.rules``; this module loads what they need and carries out the answer.

Each action is a synchronous function of a ``sqlite3`` connection run by
``Database.write`` (and each multi-query read by ``Database.read``) in the
connection's own thread: one hand-off between the event loop and that thread
per action, instead of one per statement. At a busy desk those hand-offs, not
the SQL, were most of the server's work (docs/benchmarks.md, Circulation).

"A copy is on at most one open loan" is enforced by the partial unique index
``Loans_OneOpenLoanPerCopy``, not by a check here: ``lend`` simply inserts, and
the IntegrityError from a second desk that scanned the same copy at the same
instant becomes the "already on loan" refusal.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from datetime import date

from webapp import emails, rules
from webapp.config import Settings
from webapp.db import Database
from webapp.models.accounts import timestamp, utc_now
from webapp.templating import short_date

# The same barcode scanned again by the same librarian within this many seconds
# is a double read by the scanner (or a double Enter), not a second action.
REPEAT_SCAN_SECONDS = 2
# How long after a lend or return the desk can still take it back.
UNDO_SECONDS = 60

DEFAULT_LIBRARY_NAME = Settings.library_name


@dataclass(frozen=True)
class Outcome:
    """What a circulation action did, in words for the desk.

    ``action`` is one of: lent, returned, renewed, undone, repeat (a double scan,
    applied once), hold_placed, hold_cancelled, refused, not_found; the desk adds
    selected and cleared for choosing and letting go of a patron.
    """

    action: str
    message: str
    patron_id: int | None = None
    loan_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.action not in ("refused", "not_found")


def _refused(message: str, patron_id: int | None = None) -> Outcome:
    return Outcome("refused", message, patron_id)


@dataclass(frozen=True)
class Patron:
    user_id: int
    name: str
    role: str
    email: str | None
    card_number: str | None
    group_name: str | None
    active: bool


@dataclass(frozen=True)
class LoanLine:
    loan_id: int
    book_id: int
    title: str
    author: str
    barcode: str
    loan_date: date
    due: date
    renewals: int
    returned_at: str | None
    days_overdue: int


@dataclass(frozen=True)
class HoldLine:
    hold_id: int
    book_id: int
    title: str
    status: str
    placed_at: str
    pickup_by: date | None
    barcode: str | None
    queue_position: int | None


@dataclass(frozen=True)
class PatronPanel:
    patron: Patron
    rule: rules.LoanRule
    loans: list[LoanLine]
    holds: list[HoldLine]

    @property
    def overdue(self) -> list[LoanLine]:
        return [loan for loan in self.loans if loan.days_overdue]

    @property
    def loans_left(self) -> int:
        return max(0, self.rule.max_loans - len(self.loans))

    @property
    def blocked_for_overdue(self) -> bool:
        return self.rule.block_when_overdue and bool(self.overdue)


@dataclass(frozen=True)
class EventLine:
    event_id: int
    at: str
    kind: str
    actor: str | None
    patron_id: int | None
    patron: str | None
    book_id: int | None
    title: str | None
    barcode: str | None
    detail: str | None


@dataclass(frozen=True)
class CopyRecord:
    copy_id: int
    book_id: int
    barcode: str
    title: str
    author: str
    location: str | None
    status: str
    current_loan: LoanLine | None
    current_borrower: Patron | None


def _one(conn: sqlite3.Connection, sql: str, params=()) -> sqlite3.Row | None:
    return conn.execute(sql, params).fetchone()


def _value(conn: sqlite3.Connection, sql: str, params=()):
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def _patron_from_row(row) -> Patron:
    return Patron(
        user_id=row["UserID"],
        name=row["Name"],
        role=row["Role"],
        email=row["Email"],
        card_number=row["CardNumber"],
        group_name=row["GroupName"],
        active=bool(row["Active"]),
    )


def _loan_from_row(row, today: date) -> LoanLine:
    due = date.fromisoformat(row["ReturnDate"])
    return LoanLine(
        loan_id=row["LoanID"],
        book_id=row["BookID"],
        title=row["Title"],
        author=row["Author"],
        barcode=row["Barcode"],
        loan_date=date.fromisoformat(row["LoanDate"]),
        due=due,
        renewals=row["Renewals"],
        returned_at=row["ReturnedAt"],
        days_overdue=0 if row["ReturnedAt"] else rules.days_overdue(due, today),
    )


def _rule_from_row(row) -> rules.LoanRule:
    return rules.LoanRule(
        role=row["Role"],
        loan_days=row["LoanDays"],
        max_loans=row["MaxLoans"],
        max_renewals=row["MaxRenewals"],
        block_when_overdue=bool(row["BlockWhenOverdue"]),
        renew_overdue_days=row["RenewOverdueDays"],
    )


def _loan_rules(conn: sqlite3.Connection) -> dict[str, rules.LoanRule]:
    return {row["Role"]: _rule_from_row(row) for row in conn.execute("SELECT * FROM LoanRules")}


async def load_rules(db: Database) -> dict[str, rules.LoanRule]:
    """The loan rule of each role."""
    return await db.read(_loan_rules)


def _library_setting(conn: sqlite3.Connection, key: str) -> str:
    return _value(conn, "SELECT Value FROM LibrarySettings WHERE Key = ?", (key,)) or ""


def _calendar(conn: sqlite3.Connection) -> rules.Calendar:
    return rules.Calendar(
        closed_days=frozenset(
            date.fromisoformat(row["Day"]) for row in conn.execute("SELECT Day FROM ClosedDays")
        ),
        closed_weekdays=rules.parse_closed_weekdays(_library_setting(conn, "closed_weekdays")),
    )


async def load_calendar(db: Database) -> rules.Calendar:
    return await db.read(_calendar)


def _hold_pickup_days(conn: sqlite3.Connection) -> int:
    raw = _library_setting(conn, "hold_pickup_days")
    return int(raw) if raw.isdigit() else 7


async def hold_pickup_days(db: Database) -> int:
    return await db.read(_hold_pickup_days)


async def closed_days(db: Database) -> list[sqlite3.Row]:
    return await db.fetch_all("SELECT Day, Reason FROM ClosedDays ORDER BY Day")


async def save_rules(
    db: Database,
    *,
    loan_rules: list[rules.LoanRule],
    closed_weekdays: frozenset[int],
    pickup_days: int,
    actor_id: int,
) -> list[str]:
    """Store the rules page; log each change as a 'rules_changed' event; return the changes."""
    return await db.write(
        _save_rules,
        loan_rules=loan_rules,
        closed_weekdays=closed_weekdays,
        pickup_days=pickup_days,
        actor_id=actor_id,
    )


def _save_rules(
    conn: sqlite3.Connection,
    *,
    loan_rules: list[rules.LoanRule],
    closed_weekdays: frozenset[int],
    pickup_days: int,
    actor_id: int,
) -> list[str]:
    before = _loan_rules(conn)
    changes = []
    for rule in loan_rules:
        old = before.get(rule.role)
        if old == rule:
            continue
        conn.execute(
            "UPDATE LoanRules SET LoanDays = ?, MaxLoans = ?, MaxRenewals = ?, "
            "BlockWhenOverdue = ?, RenewOverdueDays = ? WHERE Role = ?",
            (
                rule.loan_days,
                rule.max_loans,
                rule.max_renewals,
                int(rule.block_when_overdue),
                rule.renew_overdue_days,
                rule.role,
            ),
        )
        changes.append(
            f"{rule.role}: {rule.loan_days} days, {rule.max_loans} loans, "
            f"{rule.max_renewals} renewals, overdue items "
            f"{'block' if rule.block_when_overdue else 'do not block'} new loans, "
            f"renewable up to {rule.renew_overdue_days} days overdue"
        )
    weekdays = rules.format_closed_weekdays(closed_weekdays)
    if weekdays != _library_setting(conn, "closed_weekdays"):
        conn.execute(
            "UPDATE LibrarySettings SET Value = ? WHERE Key = 'closed_weekdays'", (weekdays,)
        )
        names = ", ".join(rules.WEEKDAY_NAMES[day] for day in sorted(closed_weekdays))
        changes.append(f"closed every {names}" if names else "open every weekday")
    if str(pickup_days) != _library_setting(conn, "hold_pickup_days"):
        conn.execute(
            "UPDATE LibrarySettings SET Value = ? WHERE Key = 'hold_pickup_days'",
            (str(pickup_days),),
        )
        changes.append(f"holds wait {pickup_days} days for collection")
    for change in changes:
        _log(conn, "rules_changed", actor_id, detail=change)
    return changes


async def add_closed_day(db: Database, *, day: date, reason: str | None, actor_id: int) -> bool:
    """Mark ``day`` closed; False when it already was."""
    return await db.write(_add_closed_day, day=day, reason=reason, actor_id=actor_id)


def _add_closed_day(
    conn: sqlite3.Connection, *, day: date, reason: str | None, actor_id: int
) -> bool:
    cursor = conn.execute(
        "INSERT INTO ClosedDays (Day, Reason) VALUES (?, ?) ON CONFLICT (Day) DO NOTHING",
        (day.isoformat(), reason or None),
    )
    if cursor.rowcount == 0:
        return False
    detail = f"closed on {day.isoformat()}" + (f" ({reason})" if reason else "")
    _log(conn, "rules_changed", actor_id, detail=detail)
    return True


async def remove_closed_day(db: Database, *, day: date, actor_id: int) -> bool:
    return await db.write(_remove_closed_day, day=day, actor_id=actor_id)


def _remove_closed_day(conn: sqlite3.Connection, *, day: date, actor_id: int) -> bool:
    cursor = conn.execute("DELETE FROM ClosedDays WHERE Day = ?", (day.isoformat(),))
    if cursor.rowcount == 0:
        return False
    _log(conn, "rules_changed", actor_id, detail=f"open again on {day.isoformat()}")
    return True


def _find_patron(conn: sqlite3.Connection, text: str) -> Patron | None:
    """The patron whose card number or email is ``text`` (emails in any case, cards as printed
    or typed in lower case)."""
    text = text.strip()
    if not text or len(text) > 254:
        return None
    row = _one(
        conn,
        "SELECT * FROM Users WHERE CardNumber = ? OR CardNumber = upper(?) OR Email = ? LIMIT 1",
        (text, text, text),
    )
    return _patron_from_row(row) if row else None


def _patron(conn: sqlite3.Connection, user_id: int) -> Patron | None:
    row = _one(conn, "SELECT * FROM Users WHERE UserID = ?", (user_id,))
    return _patron_from_row(row) if row else None


async def get_patron(db: Database, user_id: int) -> Patron | None:
    return await db.read(_patron, user_id)


_LOAN_COLUMNS = (
    "l.LoanID, l.UserID, l.BookID, l.LoanDate, l.ReturnDate, l.ReturnedAt, l.Renewals, "
    "b.Title, b.Author, c.Barcode"
)
_LOAN_TABLES = "Loans l JOIN Books b ON b.BookID = l.BookID JOIN Copies c ON c.CopyID = l.CopyID"


def _open_loans(conn: sqlite3.Connection, user_id: int, today: date) -> list[LoanLine]:
    """A patron's open loans, soonest due first."""
    rows = conn.execute(
        f"SELECT {_LOAN_COLUMNS} FROM {_LOAN_TABLES} WHERE l.UserID = ? AND l.ReturnedAt IS NULL "
        "ORDER BY l.ReturnDate, l.LoanID",
        (user_id,),
    )
    return [_loan_from_row(row, today) for row in rows]


async def past_loans(db: Database, user_id: int, today: date, limit: int = 50) -> list[LoanLine]:
    """A patron's returned loans, most recent first."""
    rows = await db.fetch_all(
        f"SELECT {_LOAN_COLUMNS} FROM {_LOAN_TABLES} "
        "WHERE l.UserID = ? AND l.ReturnedAt IS NOT NULL "
        "ORDER BY l.ReturnedAt DESC, l.LoanID DESC LIMIT ?",
        (user_id, limit),
    )
    return [_loan_from_row(row, today) for row in rows]


def _active_holds(conn: sqlite3.Connection, user_id: int) -> list[HoldLine]:
    """A patron's waiting and ready holds, with each waiting hold's place in its queue."""
    rows = conn.execute(
        """
        SELECT h.HoldID, h.BookID, b.Title, h.Status, h.PlacedAt, h.PickupBy, c.Barcode,
               CASE WHEN h.Status = 'waiting' THEN
                   (SELECT count(*) FROM Holds q
                    WHERE q.BookID = h.BookID AND q.Status = 'waiting'
                      AND (q.PlacedAt < h.PlacedAt
                           OR (q.PlacedAt = h.PlacedAt AND q.HoldID <= h.HoldID)))
               END AS Position
        FROM Holds h JOIN Books b ON b.BookID = h.BookID
        LEFT JOIN Copies c ON c.CopyID = h.CopyID
        WHERE h.UserID = ? AND h.Status IN ('waiting', 'ready')
        ORDER BY h.Status = 'ready' DESC, h.PlacedAt, h.HoldID
        """,
        (user_id,),
    )
    return [
        HoldLine(
            hold_id=row["HoldID"],
            book_id=row["BookID"],
            title=row["Title"],
            status=row["Status"],
            placed_at=row["PlacedAt"],
            pickup_by=date.fromisoformat(row["PickupBy"]) if row["PickupBy"] else None,
            barcode=row["Barcode"] if row["Status"] == "ready" else None,
            queue_position=row["Position"],
        )
        for row in rows
    ]


async def patron_panel(db: Database, user_id: int, today: date) -> PatronPanel | None:
    """What the desk shows about a patron: loans, holds, and how many more they may borrow."""
    return await db.read(_patron_panel, user_id, today)


def _patron_panel(conn: sqlite3.Connection, user_id: int, today: date) -> PatronPanel | None:
    patron = _patron(conn, user_id)
    if patron is None:
        return None
    return PatronPanel(
        patron=patron,
        rule=_loan_rules(conn)[patron.role],
        loans=_open_loans(conn, user_id, today),
        holds=_active_holds(conn, user_id),
    )


_EVENT_QUERY = """
    SELECT e.EventID, e.At, e.Kind, actor.Name AS Actor, e.UserID, patron.Name AS Patron,
           e.BookID, b.Title, c.Barcode, e.Detail
    FROM Events e
    LEFT JOIN Users actor ON actor.UserID = e.ActorID
    LEFT JOIN Users patron ON patron.UserID = e.UserID
    LEFT JOIN Books b ON b.BookID = e.BookID
    LEFT JOIN Copies c ON c.CopyID = e.CopyID
"""


def _event_from_row(row) -> EventLine:
    return EventLine(
        event_id=row["EventID"],
        at=row["At"],
        kind=row["Kind"],
        actor=row["Actor"],
        patron_id=row["UserID"],
        patron=row["Patron"],
        book_id=row["BookID"],
        title=row["Title"],
        barcode=row["Barcode"],
        detail=row["Detail"],
    )


async def events_for_patron(db: Database, user_id: int, limit: int = 200) -> list[EventLine]:
    """The circulation events about a patron, newest first."""
    rows = await db.fetch_all(
        f"{_EVENT_QUERY} WHERE e.UserID = ? ORDER BY e.EventID DESC LIMIT ?", (user_id, limit)
    )
    return [_event_from_row(row) for row in rows]


async def events_for_copy(db: Database, copy_id: int, limit: int = 200) -> list[EventLine]:
    """The circulation events about a copy, newest first."""
    rows = await db.fetch_all(
        f"{_EVENT_QUERY} WHERE e.CopyID = ? ORDER BY e.EventID DESC LIMIT ?", (copy_id, limit)
    )
    return [_event_from_row(row) for row in rows]


async def copy_record(db: Database, barcode: str, today: date) -> CopyRecord | None:
    """A copy by barcode, with its open loan and borrower if it is out."""
    if not barcode or len(barcode) > 64:
        return None
    return await db.read(_copy_record, barcode, today)


def _copy_record(conn: sqlite3.Connection, barcode: str, today: date) -> CopyRecord | None:
    row = _one(
        conn,
        "SELECT c.*, b.Title, b.Author FROM Copies c JOIN Books b ON b.BookID = c.BookID "
        "WHERE c.Barcode = ?",
        (barcode,),
    )
    if row is None:
        return None
    loan_row = _one(
        conn,
        f"SELECT {_LOAN_COLUMNS} FROM {_LOAN_TABLES} WHERE l.CopyID = ? AND l.ReturnedAt IS NULL",
        (row["CopyID"],),
    )
    return CopyRecord(
        copy_id=row["CopyID"],
        book_id=row["BookID"],
        barcode=row["Barcode"],
        title=row["Title"],
        author=row["Author"],
        location=row["Location"],
        status=row["Status"],
        current_loan=_loan_from_row(loan_row, today) if loan_row else None,
        current_borrower=_patron(conn, loan_row["UserID"]) if loan_row else None,
    )


async def copy_loans(
    db: Database, copy_id: int, today: date, limit: int = 50
) -> list[tuple[LoanLine, str]]:
    """A copy's loans, newest first, each with the borrower's name."""
    rows = await db.fetch_all(
        f"SELECT {_LOAN_COLUMNS}, u.Name AS Borrower FROM {_LOAN_TABLES} "
        "JOIN Users u ON u.UserID = l.UserID "
        "WHERE l.CopyID = ? ORDER BY l.LoanID DESC LIMIT ?",
        (copy_id, limit),
    )
    return [(_loan_from_row(row, today), row["Borrower"]) for row in rows]


def _log(
    conn: sqlite3.Connection,
    kind: str,
    actor_id: int | None,
    *,
    user_id: int | None = None,
    book_id: int | None = None,
    copy_id: int | None = None,
    loan_id: int | None = None,
    hold_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Append one row to the event log (never updated or deleted)."""
    conn.execute(
        "INSERT INTO Events (Kind, ActorID, UserID, BookID, CopyID, LoanID, HoldID, Detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, actor_id, user_id, book_id, copy_id, loan_id, hold_id, detail),
    )


def _copy_by_barcode(conn: sqlite3.Connection, barcode: str) -> sqlite3.Row | None:
    return _one(
        conn,
        "SELECT c.CopyID, c.BookID, c.Barcode, c.Status, b.Title, b.Author "
        "FROM Copies c JOIN Books b ON b.BookID = c.BookID WHERE c.Barcode = ?",
        (barcode,),
    )


def _repeat_scan(conn: sqlite3.Connection, actor_id: int, copy_id: int) -> str | None:
    """The desk action this librarian took on this copy in the last couple of seconds, if any.

    The memory is the event log itself rather than the browser session: Quart's
    session is a signed cookie, and a scanner's double read sends the second
    request before the answer to the first has updated the cookie. The event
    is written in the same transaction as the lend or return and read here under
    the writer lock, so check and action cannot interleave. It is keyed by the
    signed-in librarian, so two desks sharing one login share the window.
    """
    return _value(
        conn,
        "SELECT Kind FROM Events WHERE CopyID = ? AND ActorID = ? AND Kind IN ('lend', 'return') "
        "AND At > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) ORDER BY EventID DESC LIMIT 1",
        (copy_id, actor_id, f"-{REPEAT_SCAN_SECONDS} seconds"),
    )


def _repeat_outcome(kind: str, copy, patron_id: int | None) -> Outcome:
    done = "lent" if kind == "lend" else "returned"
    return Outcome(
        "repeat",
        f"Scanned twice: {copy['Title']} ({copy['Barcode']}) was {done} a moment ago; "
        "it was applied once.",
        patron_id,
    )


def _standing(conn: sqlite3.Connection, patron, today: date) -> rules.PatronStanding:
    row = _one(
        conn,
        "SELECT count(*) AS Open, count(*) FILTER (WHERE ReturnDate < ?) AS Overdue "
        "FROM Loans WHERE UserID = ? AND ReturnedAt IS NULL",
        (today.isoformat(), patron["UserID"]),
    )
    return rules.PatronStanding(
        name=patron["Name"],
        active=bool(patron["Active"]),
        open_loans=row["Open"],
        overdue_loans=row["Overdue"],
    )


def _holder_message(conn: sqlite3.Connection, copy) -> str:
    row = _one(
        conn,
        "SELECT u.Name, l.ReturnDate FROM Loans l JOIN Users u ON u.UserID = l.UserID "
        "WHERE l.CopyID = ? AND l.ReturnedAt IS NULL",
        (copy["CopyID"],),
    )
    if row is None:
        return f"{copy['Title']} ({copy['Barcode']}) is already on loan."
    return (
        f"{copy['Title']} ({copy['Barcode']}) is already on loan to {row['Name']}, "
        f"due {short_date(row['ReturnDate'])}."
    )


@dataclass(frozen=True)
class SetAside:
    hold_id: int
    patron_name: str
    pickup_by: date
    emailed: bool


def _offer_to_queue(
    conn: sqlite3.Connection,
    *,
    copy_id: int,
    book_id: int,
    today: date,
    actor_id: int | None,
    library_name: str,
    loan_id: int | None = None,
) -> SetAside | None:
    """Set this copy aside for the first patron waiting for its title, and write them a notice.

    The queue is first come, first served (PlacedAt, then HoldID for holds placed
    in the same second). Returns None when nobody is waiting: the copy goes back
    on the shelf.
    """
    hold = _one(
        conn,
        "SELECT h.HoldID, h.UserID, u.Name, u.Email "
        "FROM Holds h JOIN Users u ON u.UserID = h.UserID "
        "WHERE h.BookID = ? AND h.Status = 'waiting' AND u.Active = 1 "
        "ORDER BY h.PlacedAt, h.HoldID LIMIT 1",
        (book_id,),
    )
    if hold is None:
        return None
    pickup_by = rules.pickup_deadline(today, _hold_pickup_days(conn), _calendar(conn))
    conn.execute(
        "UPDATE Holds SET Status = 'ready', CopyID = ?, PickupBy = ? WHERE HoldID = ?",
        (copy_id, pickup_by.isoformat(), hold["HoldID"]),
    )
    _log(
        conn,
        "hold_ready",
        actor_id,
        user_id=hold["UserID"],
        book_id=book_id,
        copy_id=copy_id,
        loan_id=loan_id,
        hold_id=hold["HoldID"],
        detail=f"collect by {pickup_by.isoformat()}",
    )
    if hold["Email"]:
        book = _one(
            conn,
            "SELECT b.Title, b.Author, c.Barcode FROM Copies c JOIN Books b ON b.BookID = c.BookID "
            "WHERE c.CopyID = ?",
            (copy_id,),
        )
        mail = emails.hold_ready(
            library_name=library_name,
            patron_name=hold["Name"],
            title=book["Title"],
            author=book["Author"],
            barcode=book["Barcode"],
            pickup_by=pickup_by,
        )
        conn.execute(
            "INSERT INTO Outbox (Kind, UserID, Recipient, Subject, BodyText, BodyHtml, "
            "HeaderMessageID) VALUES ('hold_ready', ?, ?, ?, ?, ?, ?)",
            (
                hold["UserID"],
                hold["Email"],
                mail.subject,
                mail.body_text,
                mail.body_html,
                hold_message_id(hold["HoldID"]),
            ),
        )
    return SetAside(hold["HoldID"], hold["Name"], pickup_by, emailed=bool(hold["Email"]))


# ReturnedAt is a UTC instant but the schema checks it against LoanDate, a date
# in the library's timezone. East of UTC a copy lent and returned on the same
# morning would come back "before" its loan date, so the instant is raised to
# the start of the loan date in that case (it is off by at most the UTC offset).
CLOSE_LOAN = "UPDATE Loans SET ReturnedAt = max(?, LoanDate || 'T00:00:00Z') WHERE LoanID = ?"


def hold_message_id(hold_id: int) -> str:
    """A unique Message-ID for a hold notice; the prefix lets an undo find it again."""
    return f"<hold-ready-{hold_id}-{secrets.token_hex(8)}@shelfmark.invalid>"


def _set_aside_text(set_aside: SetAside) -> str:
    told = "emailed" if set_aside.emailed else "no email address: tell them in person"
    return (
        f" Set aside for {set_aside.patron_name}: put it on the hold shelf "
        f"(collect by {short_date(set_aside.pickup_by)}; {told})."
    )


async def lend(
    db: Database,
    *,
    barcode: str,
    patron_id: int,
    actor_id: int,
    today: date,
    library_name: str = DEFAULT_LIBRARY_NAME,
    ignore_repeat: bool = False,
) -> Outcome:
    """Lend the copy with ``barcode`` to the patron, if the rules allow.

    ``ignore_repeat`` (the desk's automatic scan mode) answers a second scan of
    a copy this librarian lent or returned in the last couple of seconds with a
    "scanned twice" note instead of acting again.
    """
    return await db.write(
        _lend,
        barcode=barcode,
        patron_id=patron_id,
        actor_id=actor_id,
        today=today,
        library_name=library_name,
        ignore_repeat=ignore_repeat,
    )


def _lend(
    conn: sqlite3.Connection,
    *,
    barcode: str,
    patron_id: int,
    actor_id: int,
    today: date,
    library_name: str,
    ignore_repeat: bool,
) -> Outcome:
    copy = _copy_by_barcode(conn, barcode)
    if copy is None:
        return _refused(f"No copy has the barcode “{barcode}”.", patron_id)
    if ignore_repeat and (kind := _repeat_scan(conn, actor_id, copy["CopyID"])):
        return _repeat_outcome(kind, copy, patron_id)
    patron = _one(conn, "SELECT * FROM Users WHERE UserID = ?", (patron_id,))
    if patron is None:
        return _refused("No such patron.")
    ready_hold = _one(
        conn,
        "SELECT h.HoldID, h.UserID, u.Name FROM Holds h JOIN Users u ON u.UserID = h.UserID "
        "WHERE h.CopyID = ? AND h.Status = 'ready'",
        (copy["CopyID"],),
    )
    set_aside_for = ready_hold["Name"] if ready_hold and ready_hold["UserID"] != patron_id else None
    rule = _loan_rules(conn)[patron["Role"]]
    decision = rules.can_lend(
        _standing(conn, patron, today),
        rule,
        copy_status=copy["Status"],
        set_aside_for=set_aside_for,
    )
    if not decision:
        return _refused(decision.reason, patron_id)
    due = rules.due_date(today, rule, _calendar(conn))
    try:
        loan_id = conn.execute(
            "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, LentBy) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                patron_id,
                copy["BookID"],
                copy["CopyID"],
                today.isoformat(),
                due.day.isoformat(),
                actor_id,
            ),
        ).lastrowid
    except sqlite3.IntegrityError as error:
        if "Loans.CopyID" not in str(error):
            raise
        return _refused(_holder_message(conn, copy), patron_id)
    _log(
        conn,
        "lend",
        actor_id,
        user_id=patron_id,
        book_id=copy["BookID"],
        copy_id=copy["CopyID"],
        loan_id=loan_id,
        detail=f"due {due.day.isoformat()} ({due.explanation})",
    )
    message = (
        f"Lent: {copy['Title']} to {patron['Name']}, due {short_date(due.day)} ({due.explanation})."
    )
    # The patron's own holds on this title are served by this loan, whichever copy it is.
    served = conn.execute(
        "SELECT HoldID, Status, CopyID FROM Holds WHERE UserID = ? AND BookID = ? "
        "AND Status IN ('waiting', 'ready')",
        (patron_id, copy["BookID"]),
    ).fetchall()
    for hold in served:
        conn.execute(
            "UPDATE Holds SET Status = 'filled', ClosedAt = ? WHERE HoldID = ?",
            (timestamp(utc_now()), hold["HoldID"]),
        )
        _log(
            conn,
            "hold_filled",
            actor_id,
            user_id=patron_id,
            book_id=copy["BookID"],
            copy_id=copy["CopyID"],
            loan_id=loan_id,
            hold_id=hold["HoldID"],
            detail=f"was {hold['Status']}",
        )
        message += " Their hold on this title is filled."
        if hold["Status"] == "ready" and hold["CopyID"] != copy["CopyID"]:
            set_aside = _offer_to_queue(
                conn,
                copy_id=hold["CopyID"],
                book_id=copy["BookID"],
                today=today,
                actor_id=actor_id,
                library_name=library_name,
            )
            if set_aside:
                message += " The copy they had on the hold shelf:" + _set_aside_text(set_aside)
    return Outcome("lent", message, patron_id, loan_id)


async def return_copy(
    db: Database,
    *,
    barcode: str,
    actor_id: int,
    today: date,
    library_name: str = DEFAULT_LIBRARY_NAME,
    ignore_repeat: bool = False,
    patron_id: int | None = None,
) -> Outcome:
    """Return the copy with ``barcode``, whoever had it; pass it to the hold queue.

    ``patron_id`` is only the patron the desk has selected, echoed back in the outcome.
    """
    return await db.write(
        _return_copy,
        barcode=barcode,
        actor_id=actor_id,
        today=today,
        library_name=library_name,
        ignore_repeat=ignore_repeat,
        patron_id=patron_id,
    )


def _return_copy(
    conn: sqlite3.Connection,
    *,
    barcode: str,
    actor_id: int,
    today: date,
    library_name: str,
    ignore_repeat: bool,
    patron_id: int | None,
) -> Outcome:
    copy = _copy_by_barcode(conn, barcode)
    if copy is None:
        return _refused(f"No copy has the barcode “{barcode}”.", patron_id)
    if ignore_repeat and (kind := _repeat_scan(conn, actor_id, copy["CopyID"])):
        return _repeat_outcome(kind, copy, patron_id)
    loan = _one(
        conn,
        "SELECT l.LoanID, l.UserID, l.ReturnDate, u.Name FROM Loans l "
        "JOIN Users u ON u.UserID = l.UserID WHERE l.CopyID = ? AND l.ReturnedAt IS NULL",
        (copy["CopyID"],),
    )
    if loan is None:
        return _refused(f"{copy['Title']} ({copy['Barcode']}) is not on loan.", patron_id)
    conn.execute(CLOSE_LOAN, (timestamp(utc_now()), loan["LoanID"]))
    due = date.fromisoformat(loan["ReturnDate"])
    late = rules.days_overdue(due, today)
    lateness = f"{late} day{'s' if late != 1 else ''} late" if late else "on time"
    _log(
        conn,
        "return",
        actor_id,
        user_id=loan["UserID"],
        book_id=copy["BookID"],
        copy_id=copy["CopyID"],
        loan_id=loan["LoanID"],
        detail=lateness,
    )
    message = f"Returned: {copy['Title']}, due {short_date(due)}, {lateness} (from {loan['Name']})."
    if copy["Status"] == "in_stock":
        set_aside = _offer_to_queue(
            conn,
            copy_id=copy["CopyID"],
            book_id=copy["BookID"],
            today=today,
            actor_id=actor_id,
            library_name=library_name,
            loan_id=loan["LoanID"],
        )
        if set_aside:
            message += _set_aside_text(set_aside)
    return Outcome("returned", message, patron_id, loan["LoanID"])


@dataclass(frozen=True)
class DeskScan:
    """What a scan at the desk did, and the selected patron's panel after it (None: nobody)."""

    outcome: Outcome
    panel: PatronPanel | None


async def desk_scan(
    db: Database,
    *,
    code: str,
    patron_id: int | None,
    actor_id: int,
    today: date,
    mode: str = "auto",
    library_name: str = DEFAULT_LIBRARY_NAME,
) -> DeskScan:
    """What a code scanned at the desk does, with the panel the desk shows next.

    A patron's card number or email selects them; anything else is a copy
    barcode, lent or returned (``_scan_copy``), and the panel is then that of
    the patron ``patron_id`` the desk has selected, as this scan left it. One
    write transaction whatever the code turns out to be: a card scan only
    reads, but looking the code up on a reader first would cost every copy
    scan, most of a desk's work, a second hand-off between threads.
    """
    return await db.write(
        _desk_scan,
        code=code,
        patron_id=patron_id,
        actor_id=actor_id,
        today=today,
        mode=mode,
        library_name=library_name,
    )


def _desk_scan(
    conn: sqlite3.Connection,
    *,
    code: str,
    patron_id: int | None,
    actor_id: int,
    today: date,
    mode: str,
    library_name: str,
) -> DeskScan:
    patron = _find_patron(conn, code)
    if patron is not None:
        note = "" if patron.active else " This account is inactive: they cannot borrow."
        return DeskScan(
            Outcome("selected", f"Patron: {patron.name}.{note}", patron.user_id),
            _patron_panel(conn, patron.user_id, today),
        )
    outcome = _scan_copy(
        conn,
        barcode=code,
        patron_id=patron_id,
        actor_id=actor_id,
        today=today,
        mode=mode,
        library_name=library_name,
    )
    return DeskScan(outcome, _patron_panel(conn, patron_id, today) if patron_id else None)


def _scan_copy(
    conn: sqlite3.Connection,
    *,
    barcode: str,
    patron_id: int | None,
    actor_id: int,
    today: date,
    mode: str,
    library_name: str,
) -> Outcome:
    """What a copy barcode scanned at the desk does.

    ``mode`` "auto": a copy out on loan is returned, one on the shelf is lent to
    the selected patron, and a repeat within ``REPEAT_SCAN_SECONDS`` is applied
    once. "lend" and "return" do only that (the desk's lend-only and
    return-only modes), so two desks lending the same copy at the same instant
    meet at the unique index and one of them is told "already on loan".
    """
    found = _one(
        conn,
        "SELECT EXISTS (SELECT 1 FROM Loans l WHERE l.CopyID = c.CopyID AND l.ReturnedAt IS NULL) "
        "AS OnLoan FROM Copies c WHERE c.Barcode = ?",
        (barcode,),
    )
    if found is None:
        return _refused(f"No patron or copy has the barcode “{barcode}”.", patron_id)
    ignore_repeat = mode == "auto"
    if mode == "auto":
        mode = "return" if found["OnLoan"] else "lend"
    if mode == "return":
        return _return_copy(
            conn,
            barcode=barcode,
            actor_id=actor_id,
            today=today,
            library_name=library_name,
            ignore_repeat=ignore_repeat,
            patron_id=patron_id,
        )
    if patron_id is None:
        return _refused("Scan the patron's card first, then the copies to lend them.")
    return _lend(
        conn,
        barcode=barcode,
        patron_id=patron_id,
        actor_id=actor_id,
        today=today,
        library_name=library_name,
        ignore_repeat=ignore_repeat,
    )


async def renew(
    db: Database,
    *,
    loan_id: int,
    actor_id: int,
    today: date,
    owner_id: int | None = None,
) -> Outcome:
    """Renew an open loan; ``owner_id`` restricts it to that patron's own loans (My account)."""
    return await db.write(
        _renew, loan_id=loan_id, actor_id=actor_id, today=today, owner_id=owner_id
    )


def _renew(
    conn: sqlite3.Connection,
    *,
    loan_id: int,
    actor_id: int,
    today: date,
    owner_id: int | None,
) -> Outcome:
    loan = _one(
        conn,
        "SELECT l.*, u.Role, b.Title FROM Loans l JOIN Users u ON u.UserID = l.UserID "
        "JOIN Books b ON b.BookID = l.BookID WHERE l.LoanID = ? AND l.ReturnedAt IS NULL",
        (loan_id,),
    )
    if loan is None or (owner_id is not None and loan["UserID"] != owner_id):
        return Outcome("not_found", "There is no such open loan.")
    rule = _loan_rules(conn)[loan["Role"]]
    due = date.fromisoformat(loan["ReturnDate"])
    held_by_another = _value(
        conn,
        "SELECT EXISTS (SELECT 1 FROM Holds WHERE BookID = ? AND Status = 'waiting' "
        "AND UserID <> ?)",
        (loan["BookID"], loan["UserID"]),
    )
    decision = rules.can_renew(
        rule=rule,
        renewals=loan["Renewals"],
        due=due,
        today=today,
        held_by_another=bool(held_by_another),
    )
    if not decision:
        return _refused(f"{loan['Title']} cannot be renewed. {decision.reason}", loan["UserID"])
    renewed = rules.renewed_due_date(today, due, rule, _calendar(conn))
    conn.execute(
        "UPDATE Loans SET ReturnDate = ?, Renewals = Renewals + 1 WHERE LoanID = ?",
        (renewed.day.isoformat(), loan_id),
    )
    _log(
        conn,
        "renew",
        actor_id,
        user_id=loan["UserID"],
        book_id=loan["BookID"],
        copy_id=loan["CopyID"],
        loan_id=loan_id,
        detail=f"due {due.isoformat()} → {renewed.day.isoformat()} ({renewed.explanation})",
    )
    used = loan["Renewals"] + 1
    return Outcome(
        "renewed",
        f"Renewed: {loan['Title']}, now due {short_date(renewed.day)} ({renewed.explanation}; "
        f"renewal {used} of {rule.max_renewals}).",
        loan["UserID"],
        loan_id,
    )


async def undo_last(db: Database, *, actor_id: int) -> Outcome:
    """Take back this librarian's last action if it was a lend or return within ``UNDO_SECONDS``.

    The event log is append-only, so nothing is deleted: undoing a lend closes
    the loan as returned now (and puts back on the hold shelf a hold that lend
    had filled); undoing a return reopens the loan, but only while the copy has
    not been lent again (the unique index says so), and takes back a hold the
    return had made ready, cancelling its notice if it has not been sent yet.
    Either way an 'undo' event records what was reversed.
    """
    return await db.write(_undo_last, actor_id=actor_id)


def _undo_last(conn: sqlite3.Connection, *, actor_id: int) -> Outcome:
    last = _one(
        conn,
        "SELECT *, At > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) AS Recent FROM Events "
        "WHERE ActorID = ? AND Kind IN ('lend', 'return', 'undo', 'renew', 'hold_placed') "
        "ORDER BY EventID DESC LIMIT 1",
        (f"-{UNDO_SECONDS} seconds", actor_id),
    )
    if last is None or last["Kind"] == "undo":
        return _refused("There is nothing to undo.")
    if last["Kind"] in ("renew", "hold_placed"):
        done = "a renewal" if last["Kind"] == "renew" else "a hold"
        return _refused(f"Only a lend or a return can be undone; your last action was {done}.")
    if not last["Recent"]:
        return _refused("Too late to undo: only the last minute's lend or return can be undone.")
    loan = _one(
        conn,
        "SELECT l.*, b.Title, u.Name FROM Loans l JOIN Books b ON b.BookID = l.BookID "
        "JOIN Users u ON u.UserID = l.UserID WHERE l.LoanID = ?",
        (last["LoanID"],),
    )
    if last["Kind"] == "lend":
        return _undo_lend(conn, loan, actor_id=actor_id)
    return _undo_return(conn, loan, return_event_id=last["EventID"], actor_id=actor_id)


def _undo_lend(conn: sqlite3.Connection, loan, *, actor_id: int) -> Outcome:
    if loan["ReturnedAt"] is not None:
        return _refused(
            f"{loan['Title']} has already been returned; nothing to undo.", loan["UserID"]
        )
    conn.execute(CLOSE_LOAN, (timestamp(utc_now()), loan["LoanID"]))
    message = f"Undone: {loan['Title']} is no longer lent to {loan['Name']}."
    filled = _one(
        conn,
        "SELECT h.HoldID, h.CopyID, h.PickupBy FROM Events e JOIN Holds h ON h.HoldID = e.HoldID "
        "WHERE e.LoanID = ? AND e.Kind = 'hold_filled' AND h.Status = 'filled'",
        (loan["LoanID"],),
    )
    if filled and filled["CopyID"] == loan["CopyID"] and filled["PickupBy"]:
        conn.execute(
            "UPDATE Holds SET Status = 'ready', ClosedAt = NULL WHERE HoldID = ?",
            (filled["HoldID"],),
        )
        message += " Their hold is ready again: put the copy back on the hold shelf."
    elif filled:
        conn.execute(
            "UPDATE Holds SET Status = 'waiting', CopyID = NULL, PickupBy = NULL, ClosedAt = NULL "
            "WHERE HoldID = ?",
            (filled["HoldID"],),
        )
        message += " Their hold is waiting again."
    _log(
        conn,
        "undo",
        actor_id,
        user_id=loan["UserID"],
        book_id=loan["BookID"],
        copy_id=loan["CopyID"],
        loan_id=loan["LoanID"],
        hold_id=filled["HoldID"] if filled else None,
        detail="lend undone: loan closed" + ("; their hold reopened" if filled else ""),
    )
    return Outcome("undone", message, loan["UserID"], loan["LoanID"])


def _undo_return(conn: sqlite3.Connection, loan, *, return_event_id: int, actor_id: int) -> Outcome:
    readied = _one(
        conn,
        "SELECT h.HoldID, h.UserID, u.Name FROM Events e JOIN Holds h ON h.HoldID = e.HoldID "
        "JOIN Users u ON u.UserID = h.UserID "
        "WHERE e.LoanID = ? AND e.Kind = 'hold_ready' AND e.EventID > ? "
        "AND h.Status = 'ready' AND h.CopyID = ?",
        (loan["LoanID"], return_event_id, loan["CopyID"]),
    )
    try:
        conn.execute("UPDATE Loans SET ReturnedAt = NULL WHERE LoanID = ?", (loan["LoanID"],))
    except sqlite3.IntegrityError as error:
        if "Loans.CopyID" not in str(error):
            raise
        return _refused(
            f"{loan['Title']} has been lent again since it was returned; nothing to undo."
        )
    message = f"Undone: {loan['Title']} is on loan to {loan['Name']} again."
    detail = "return undone: loan reopened"
    if readied:
        conn.execute(
            "UPDATE Holds SET Status = 'waiting', CopyID = NULL, PickupBy = NULL WHERE HoldID = ?",
            (readied["HoldID"],),
        )
        cancelled = conn.execute(
            "UPDATE Outbox SET Status = 'cancelled' "
            "WHERE Kind = 'hold_ready' AND Status = 'pending' "
            "AND HeaderMessageID LIKE ?",
            (f"<hold-ready-{readied['HoldID']}-%",),
        )
        told = "" if cancelled.rowcount else " (their notice had already been sent)"
        message += f" {readied['Name']}'s hold is waiting again{told}."
        detail += f"; {readied['Name']}'s hold waiting again"
    _log(
        conn,
        "undo",
        actor_id,
        user_id=loan["UserID"],
        book_id=loan["BookID"],
        copy_id=loan["CopyID"],
        loan_id=loan["LoanID"],
        hold_id=readied["HoldID"] if readied else None,
        detail=detail,
    )
    return Outcome("undone", message, loan["UserID"], loan["LoanID"])


async def place_hold(db: Database, *, book_id: int, patron_id: int, actor_id: int) -> Outcome:
    """Queue the patron for a title with no copy on the shelf."""
    return await db.write(_place_hold, book_id=book_id, patron_id=patron_id, actor_id=actor_id)


def _place_hold(
    conn: sqlite3.Connection, *, book_id: int, patron_id: int, actor_id: int
) -> Outcome:
    book = _one(conn, "SELECT BookID, Title, WithdrawnAt FROM Books WHERE BookID = ?", (book_id,))
    if book is None:
        return Outcome("not_found", "There is no such title.", patron_id)
    patron = _one(conn, "SELECT Name, Active FROM Users WHERE UserID = ?", (patron_id,))
    if patron is None:
        return Outcome("not_found", "No such patron.")
    if not patron["Active"]:
        return _refused(
            f"{patron['Name']}'s account is inactive: no holds until it is reactivated.",
            patron_id,
        )
    if book["WithdrawnAt"] is not None:
        return _refused(f"{book['Title']} has been withdrawn: it cannot be held.", patron_id)
    availability = _one(
        conn, "SELECT Copies, Availability FROM BookAvailability WHERE BookID = ?", (book_id,)
    )
    if availability is None:
        return _refused(f"The library has no copies of {book['Title']} to hold.", patron_id)
    if availability["Availability"] > 0:
        return _refused(
            f"A copy of {book['Title']} is on the shelf: take it from there instead of holding it.",
            patron_id,
        )
    has_it = _value(
        conn,
        "SELECT EXISTS (SELECT 1 FROM Loans "
        "WHERE UserID = ? AND BookID = ? AND ReturnedAt IS NULL)",
        (patron_id, book_id),
    )
    if has_it:
        return _refused(f"{patron['Name']} already has {book['Title']} on loan.", patron_id)
    try:
        hold_id = conn.execute(
            "INSERT INTO Holds (UserID, BookID) VALUES (?, ?)", (patron_id, book_id)
        ).lastrowid
    except sqlite3.IntegrityError as error:
        if "Holds.UserID" not in str(error):
            raise
        return _refused(f"{patron['Name']} already has a hold on {book['Title']}.", patron_id)
    position = _value(
        conn, "SELECT count(*) FROM Holds WHERE BookID = ? AND Status = 'waiting'", (book_id,)
    )
    _log(
        conn,
        "hold_placed",
        actor_id,
        user_id=patron_id,
        book_id=book_id,
        hold_id=hold_id,
        detail=f"position {position} in the queue",
    )
    return Outcome(
        "hold_placed",
        f"Hold placed: {book['Title']} for {patron['Name']}, number {position} in the queue.",
        patron_id,
    )


async def cancel_hold(
    db: Database,
    *,
    hold_id: int,
    actor_id: int,
    today: date,
    owner_id: int | None = None,
    library_name: str = DEFAULT_LIBRARY_NAME,
) -> Outcome:
    """Cancel a waiting or ready hold; a ready hold's copy passes to the next in the queue."""
    return await db.write(
        _cancel_hold,
        hold_id=hold_id,
        actor_id=actor_id,
        today=today,
        owner_id=owner_id,
        library_name=library_name,
    )


def _cancel_hold(
    conn: sqlite3.Connection,
    *,
    hold_id: int,
    actor_id: int,
    today: date,
    owner_id: int | None,
    library_name: str,
) -> Outcome:
    hold = _one(
        conn,
        "SELECT h.*, b.Title FROM Holds h JOIN Books b ON b.BookID = h.BookID "
        "WHERE h.HoldID = ? AND h.Status IN ('waiting', 'ready')",
        (hold_id,),
    )
    if hold is None or (owner_id is not None and hold["UserID"] != owner_id):
        return Outcome("not_found", "There is no such hold.")
    conn.execute(
        "UPDATE Holds SET Status = 'cancelled', ClosedAt = ? WHERE HoldID = ?",
        (timestamp(utc_now()), hold_id),
    )
    _log(
        conn,
        "hold_cancelled",
        actor_id,
        user_id=hold["UserID"],
        book_id=hold["BookID"],
        copy_id=hold["CopyID"],
        hold_id=hold_id,
        detail=f"was {hold['Status']}",
    )
    message = f"Hold cancelled: {hold['Title']}."
    if hold["Status"] == "ready":
        set_aside = _offer_to_queue(
            conn,
            copy_id=hold["CopyID"],
            book_id=hold["BookID"],
            today=today,
            actor_id=actor_id,
            library_name=library_name,
        )
        if set_aside:
            message += " The copy on the hold shelf passes to the next in the queue."
    return Outcome("hold_cancelled", message, hold["UserID"])


async def expire_ready_holds(
    db: Database,
    today: date,
    actor_id: int | None = None,
    *,
    library_name: str = DEFAULT_LIBRARY_NAME,
) -> int:
    """Expire ready holds whose pickup deadline has passed; return how many expired.

    For the nightly job. A hold may be collected on its PickupBy day itself, so
    only holds with PickupBy before ``today`` expire. Each expired hold's copy is
    set aside for the next patron waiting for the title (who is sent a notice
    through the Outbox) or goes back on the shelf. One transaction: running it
    twice on the same day expires nothing the second time.
    """
    return await db.write(
        _expire_ready_holds, today=today, actor_id=actor_id, library_name=library_name
    )


def _expire_ready_holds(
    conn: sqlite3.Connection, *, today: date, actor_id: int | None, library_name: str
) -> int:
    expiring = conn.execute(
        "SELECT HoldID, UserID, BookID, CopyID, PickupBy FROM Holds "
        "WHERE Status = 'ready' AND PickupBy < ? ORDER BY PickupBy, HoldID",
        (today.isoformat(),),
    ).fetchall()
    for hold in expiring:
        conn.execute(
            "UPDATE Holds SET Status = 'expired', ClosedAt = ? WHERE HoldID = ?",
            (timestamp(utc_now()), hold["HoldID"]),
        )
        _log(
            conn,
            "hold_expired",
            actor_id,
            user_id=hold["UserID"],
            book_id=hold["BookID"],
            copy_id=hold["CopyID"],
            hold_id=hold["HoldID"],
            detail=f"not collected by {hold['PickupBy']}",
        )
        _offer_to_queue(
            conn,
            copy_id=hold["CopyID"],
            book_id=hold["BookID"],
            today=today,
            actor_id=actor_id,
            library_name=library_name,
        )
    return len(expiring)
