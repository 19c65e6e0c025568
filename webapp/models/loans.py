"""Lending, returning and renewing, and the desk scan that leads to them.

Every change happens in one write transaction together with the Events rows
that record it, so the log can never disagree with the loans and holds. The
decisions themselves (due dates, limits, renewals) are the pure functions of
``webapp.rules``; this module loads what they need (``rule_settings``) and
carries out the answer. A returned copy is offered to the hold queue
(``holds.offer_to_queue``) in the same transaction.

Each action is a plain function of a ``sqlite3`` connection that the caller
runs with ``Database.write`` (``await db.write(loans.lend, ...)``) in the
connection's own thread: one hand-off between the event loop and that thread
per action, instead of one per statement. At a busy desk those hand-offs, not
the SQL, were most of the server's work (docs/benchmarks.md, Circulation).

"A copy is on at most one open loan" is enforced by the partial unique index
``Loans_OneOpenLoanPerCopy``, not by a check here: ``lend`` simply inserts, and
the IntegrityError from a second desk that scanned the same copy at the same
instant becomes the "already on loan" refusal.

Callers: the desk and My account (webapp/views/circulation.py), undo (``close_loan``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date

from webapp import rules
from webapp.clock import utc_now, utc_stamp
from webapp.models import events
from webapp.models.holds import DEFAULT_LIBRARY_NAME, SetAside, offer_to_queue
from webapp.models.outcome import Outcome, refused
from webapp.models.patrons import find_patron
from webapp.models.records import PatronPanel, patron_panel
from webapp.models.rule_settings import load_calendar, rule_for
from webapp.templating import short_date

# The same barcode scanned again by the same librarian within this many seconds,
# asking for the same action for the same patron, is a double read by the scanner
# (or a double Enter), not a second action (``_repeat_scan``).
REPEAT_SCAN_SECONDS = 2

# The answers to the desk's question about a copy on loan to someone else (``desk_scan``).
RETURN_AND_LEND = "return_and_lend"
JUST_RETURN = "return"
CANCEL = "cancel"
ANSWERS = (RETURN_AND_LEND, JUST_RETURN, CANCEL)

# ReturnedAt is a UTC instant but the schema checks it against LoanDate, a date
# in the library's timezone. East of UTC a copy lent and returned on the same
# morning would come back "before" its loan date, so the instant is raised to
# the start of the loan date in that case (it is off by at most the UTC offset).
_CLOSE_LOAN = "UPDATE Loans SET ReturnedAt = max(?, LoanDate || 'T00:00:00Z') WHERE LoanID = ?"


def close_loan(conn: sqlite3.Connection, loan_id: int) -> None:
    """Mark the loan returned now (a return, or the undo of a lend)."""
    conn.execute(_CLOSE_LOAN, (utc_stamp(utc_now()), loan_id))


def _copy_by_barcode(conn: sqlite3.Connection, barcode: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT c.CopyID, c.BookID, c.Barcode, c.Status, c.ItemTypeID, b.Title, b.Author "
        "FROM Copies c JOIN CatalogueBooks b ON b.BookID = c.BookID WHERE c.Barcode = ?",
        (barcode,),
    ).fetchone()


def _repeat_scan(
    conn: sqlite3.Connection, actor_id: int, copy_id: int, mode: str, patron_id: int | None
) -> str | None:
    """The action ("lend" or "return") this scan repeats if it is a double read, else None.

    A repeat is a second read of the same copy within ``REPEAT_SCAN_SECONDS``
    that asks for what the first read did, for the same patron: a copy lent to
    the patron on screen (lend-only or "lend or return" mode, where the second
    read would return it again), or a copy just returned (return-only mode; in
    "lend or return" mode when it was the on-screen patron's own loan or nobody
    is on screen, where the second read would lend it straight back). Anything
    else (returned, then lent to another patron; lent, then returned in
    return-only mode) is a new action and is carried out.

    The memory is the event log itself rather than the browser session: Quart's
    session is a signed cookie, and a scanner's double read sends the second
    request before the answer to the first has updated the cookie. The event
    is written in the same transaction as the lend or return and read here under
    the writer lock, so check and action cannot interleave. It is keyed by the
    signed-in librarian, so two desks sharing one login share the window; a later
    action on the copy by someone else, or an undo, ends it.
    """
    # The copy's last lend, return or undo, by anyone, read newest first from Events_ByCopy
    # and stopped at the first: a copy's history grows with every loan, and filtering on
    # the librarian and the time inside the search would walk all of it for a fresh scan.
    row = conn.execute(
        "SELECT Kind, UserID FROM (SELECT Kind, UserID, ActorID, At FROM Events "
        "WHERE CopyID = ? AND Kind IN ('lend', 'return', 'undo') ORDER BY EventID DESC LIMIT 1) "
        "WHERE ActorID = ? AND At > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
        (copy_id, actor_id, f"-{REPEAT_SCAN_SECONDS} seconds"),
    ).fetchone()
    if row is None:
        return None
    kind, borrower = row
    if kind == "lend" and mode in ("lend", "auto") and borrower == patron_id:
        return kind
    if kind == "return" and (
        mode == "return" or (mode == "auto" and patron_id in (None, borrower))
    ):
        return kind
    return None


def _repeat_outcome(kind: str, copy: sqlite3.Row, patron_id: int | None) -> Outcome:
    done = "lent" if kind == "lend" else "returned"
    return Outcome(
        "repeat",
        f"Scanned twice, counted once: {copy['Title']} ({copy['Barcode']}) was {done} "
        "a moment ago.",
        patron_id,
    )


def _standing(
    conn: sqlite3.Connection, patron: sqlite3.Row, today: date, item_type_id: int
) -> rules.PatronStanding:
    """The patron's open and overdue loans, and how many of them are of ``item_type_id``."""
    row = conn.execute(
        "SELECT count(*) AS Open, count(*) FILTER (WHERE l.ReturnDate < ?) AS Overdue, "
        "count(*) FILTER (WHERE c.ItemTypeID = ?) AS OfType "
        "FROM Loans l JOIN Copies c ON c.CopyID = l.CopyID "
        "WHERE l.UserID = ? AND l.ReturnedAt IS NULL",
        (today.isoformat(), item_type_id, patron["UserID"]),
    ).fetchone()
    return rules.PatronStanding(
        name=patron["Name"],
        active=bool(patron["Active"]),
        open_loans=row["Open"],
        overdue_loans=row["Overdue"],
        open_of_type=row["OfType"],
    )


def _holder_message(conn: sqlite3.Connection, copy: sqlite3.Row) -> str:
    row = conn.execute(
        "SELECT u.Name, l.ReturnDate FROM Loans l JOIN Users u ON u.UserID = l.UserID "
        "WHERE l.CopyID = ? AND l.ReturnedAt IS NULL",
        (copy["CopyID"],),
    ).fetchone()
    if row is None:
        return f"{copy['Title']} ({copy['Barcode']}) is already on loan."
    return (
        f"{copy['Title']} ({copy['Barcode']}) is already on loan to {row['Name']}, "
        f"due {short_date(row['ReturnDate'])}."
    )


def _set_aside_text(set_aside: SetAside) -> str:
    told = "emailed" if set_aside.emailed else "no email address: tell them in person"
    return (
        f" Set aside for {set_aside.patron_name}: put it on the hold shelf "
        f"(collect by {short_date(set_aside.pickup_by)}; {told})."
    )


def lend(
    conn: sqlite3.Connection,
    *,
    barcode: str,
    patron_id: int,
    actor_id: int,
    today: date,
    library_name: str = DEFAULT_LIBRARY_NAME,
    override_reason: str | None = None,
) -> Outcome:
    """Lend the copy with ``barcode`` to the patron, if the rules allow.

    The patron's own holds on the title are filled by the loan. A copy recorded as
    lost has turned up: it is checked back in (``_found``) instead, and scanned
    again to lend it.

    ``override_reason`` (staff only, checked against the actor's role) lends past
    the loan limit or the overdue block, and logs an ``override`` event with the
    reason; a refusal that staff may override names the copy in ``Outcome.overridable``.
    """
    copy = _copy_by_barcode(conn, barcode)
    if copy is None:
        return refused(f"No copy has the barcode “{barcode}”.", patron_id)
    if rules.is_found(copy["Status"]):
        return _found(
            conn,
            copy,
            actor_id=actor_id,
            today=today,
            library_name=library_name,
            patron_id=patron_id,
        )
    patron = conn.execute("SELECT * FROM Users WHERE UserID = ?", (patron_id,)).fetchone()
    if patron is None:
        return refused("No such patron.")
    ready_hold = conn.execute(
        "SELECT h.HoldID, h.UserID, u.Name FROM Holds h JOIN Users u ON u.UserID = h.UserID "
        "WHERE h.CopyID = ? AND h.Status = 'ready'",
        (copy["CopyID"],),
    ).fetchone()
    set_aside_for = ready_hold["Name"] if ready_hold and ready_hold["UserID"] != patron_id else None
    rule = rule_for(conn, patron["CategoryID"], copy["ItemTypeID"])
    standing = _standing(conn, patron, today, copy["ItemTypeID"])
    check = {"copy_status": copy["Status"], "set_aside_for": set_aside_for}
    decision = rules.can_lend(standing, rule, **check)
    overridden = ""
    if not decision:
        anyway = rules.can_lend_anyway(standing, rule, **check)
        permitted = rules.may_override(_role(conn, actor_id))
        if override_reason is None:
            overridable = barcode if anyway and permitted else None
            return Outcome("refused", decision.reason, patron_id, overridable=overridable)
        if not permitted or not anyway:
            return refused((permitted if not permitted else anyway).reason, patron_id)
        overridden = anyway.reason
    due = rules.due_date(today, rule, load_calendar(conn))
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
        return refused(_holder_message(conn, copy), patron_id)
    events.log(
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
    if overridden:
        events.log(
            conn,
            "override",
            actor_id,
            user_id=patron_id,
            book_id=copy["BookID"],
            copy_id=copy["CopyID"],
            loan_id=loan_id,
            detail=f"lent past a rule ({overridden}) because: {override_reason}",
        )
        message += " Override logged."
    set_aside = None
    # The patron's own holds on this title are served by this loan, whichever copy it is.
    served = conn.execute(
        "SELECT HoldID, Status, CopyID FROM Holds WHERE UserID = ? AND BookID = ? "
        "AND Status IN ('waiting', 'ready')",
        (patron_id, copy["BookID"]),
    ).fetchall()
    for hold in served:
        conn.execute(
            "UPDATE Holds SET Status = 'filled', ClosedAt = ? WHERE HoldID = ?",
            (utc_stamp(utc_now()), hold["HoldID"]),
        )
        events.log(
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
            set_aside = offer_to_queue(
                conn,
                copy_id=hold["CopyID"],
                book_id=copy["BookID"],
                today=today,
                actor_id=actor_id,
                library_name=library_name,
            )
            if set_aside:
                message += " The copy they had on the hold shelf:" + _set_aside_text(set_aside)
    return Outcome("lent", message, patron_id, loan_id, set_aside)


def return_copy(
    conn: sqlite3.Connection,
    *,
    barcode: str,
    actor_id: int,
    today: date,
    library_name: str = DEFAULT_LIBRARY_NAME,
    patron_id: int | None = None,
) -> Outcome:
    """Return the copy with ``barcode``, whoever had it; pass it to the hold queue.

    ``patron_id`` is only the patron the desk has selected, echoed back in the outcome.
    """
    copy = _copy_by_barcode(conn, barcode)
    if copy is None:
        return refused(f"No copy has the barcode “{barcode}”.", patron_id)
    loan = conn.execute(
        "SELECT l.LoanID, l.UserID, l.ReturnDate, u.Name FROM Loans l "
        "JOIN Users u ON u.UserID = l.UserID WHERE l.CopyID = ? AND l.ReturnedAt IS NULL",
        (copy["CopyID"],),
    ).fetchone()
    if loan is None:
        if rules.is_found(copy["Status"]):
            return _found(
                conn,
                copy,
                actor_id=actor_id,
                today=today,
                library_name=library_name,
                patron_id=patron_id,
            )
        return refused(f"{copy['Title']} ({copy['Barcode']}) is not on loan.", patron_id)
    close_loan(conn, loan["LoanID"])
    due = date.fromisoformat(loan["ReturnDate"])
    late = rules.days_overdue(due, today)
    lateness = f"{late} day{'s' if late != 1 else ''} late" if late else "on time"
    events.log(
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
    if rules.is_found(copy["Status"]):
        # Marked lost while still on loan (from the copy's form): it is back, so in stock.
        _back_in_stock(
            conn, copy, actor_id=actor_id, user_id=loan["UserID"], loan_id=loan["LoanID"]
        )
        message += " It was recorded as lost: back in stock."
    set_aside = None
    if copy["Status"] in ("in_stock", "lost"):
        set_aside = offer_to_queue(
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
    return Outcome("returned", message, patron_id, loan["LoanID"], set_aside)


@dataclass(frozen=True)
class LoanQuestion:
    """The desk's question before it acts on a copy out on loan to someone other than the
    patron on screen: return it and lend it to this patron, or just return it?"""

    barcode: str
    title: str
    borrower_name: str
    patron_id: int
    patron_name: str


def _role(conn: sqlite3.Connection, user_id: int) -> str | None:
    row = conn.execute("SELECT Role FROM Users WHERE UserID = ?", (user_id,)).fetchone()
    return None if row is None else row[0]


def _back_in_stock(
    conn: sqlite3.Connection,
    copy: sqlite3.Row,
    *,
    actor_id: int,
    user_id: int | None,
    loan_id: int | None,
    how: str = "lost",
) -> None:
    conn.execute("UPDATE Copies SET Status = 'in_stock' WHERE CopyID = ?", (copy["CopyID"],))
    events.log(
        conn,
        "found",
        actor_id,
        user_id=user_id,
        book_id=copy["BookID"],
        copy_id=copy["CopyID"],
        loan_id=loan_id,
        detail=f"was {how}; back in stock",
    )


def _found(
    conn: sqlite3.Connection,
    copy: sqlite3.Row,
    *,
    actor_id: int,
    today: date,
    library_name: str,
    patron_id: int | None,
) -> Outcome:
    """A copy recorded as lost was scanned: it is back in stock, offered to the hold queue,
    and logged against the patron whose loan was closed as lost or claims returned."""
    last = conn.execute(
        "SELECT LoanID, UserID, ClosedAs FROM Loans WHERE CopyID = ? ORDER BY LoanID DESC LIMIT 1",
        (copy["CopyID"],),
    ).fetchone()
    missing = last is not None and last["ClosedAs"] is not None
    _back_in_stock(
        conn,
        copy,
        actor_id=actor_id,
        user_id=last["UserID"] if missing else None,
        loan_id=last["LoanID"] if missing else None,
        how=rules.MISSING_CLOSINGS[last["ClosedAs"]] if missing else "lost",
    )
    message = f"Found: {copy['Title']} ({copy['Barcode']}) is back in stock."
    set_aside = offer_to_queue(
        conn,
        copy_id=copy["CopyID"],
        book_id=copy["BookID"],
        today=today,
        actor_id=actor_id,
        library_name=library_name,
    )
    if set_aside:
        message += _set_aside_text(set_aside)
    else:
        message += " Scan it again to lend it."
    return Outcome("found", message, patron_id, set_aside=set_aside)


def _open_loan(conn: sqlite3.Connection, loan_id: int) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT l.*, u.Role, u.Name, b.Title, c.Barcode, c.Status AS CopyStatus "
        "FROM Loans l JOIN Users u ON u.UserID = l.UserID JOIN Books b ON b.BookID = l.BookID "
        "JOIN Copies c ON c.CopyID = l.CopyID WHERE l.LoanID = ? AND l.ReturnedAt IS NULL",
        (loan_id,),
    ).fetchone()


def close_missing(
    conn: sqlite3.Connection, *, loan_id: int, closed_as: str, actor_id: int, today: date
) -> Outcome:
    """Close an open loan whose copy did not come back: ``closed_as`` "lost" (staff mark it
    lost) or "claims_returned" (the patron says they returned it).

    The loan row stays, closed now with Loans.ClosedAs saying how, so it leaves
    the patron's count, the overdue block and the reminders; the copy is recorded
    as lost until it is scanned back in (``_found``).
    """
    loan = _open_loan(conn, loan_id)
    if loan is None:
        return Outcome("not_found", "There is no such open loan.")
    decision = rules.can_close_missing(closed_as, copy_status=loan["CopyStatus"])
    if not decision:
        return refused(decision.reason, loan["UserID"])
    close_loan(conn, loan_id)
    conn.execute("UPDATE Loans SET ClosedAs = ? WHERE LoanID = ?", (closed_as, loan_id))
    conn.execute("UPDATE Copies SET Status = 'lost' WHERE CopyID = ?", (loan["CopyID"],))
    late = rules.days_overdue(date.fromisoformat(loan["ReturnDate"]), today)
    events.log(
        conn,
        closed_as,
        actor_id,
        user_id=loan["UserID"],
        book_id=loan["BookID"],
        copy_id=loan["CopyID"],
        loan_id=loan_id,
        detail=f"was due {loan['ReturnDate']}" + (f", {late} days overdue" if late else ""),
    )
    what = "Marked lost" if closed_as == "lost" else "Claims returned"
    return Outcome(
        "closed",
        f"{what}: {loan['Title']} ({loan['Barcode']}), {loan['Name']}'s loan is closed and the "
        "copy is recorded as missing until it is scanned back in.",
        loan["UserID"],
        loan_id,
    )


def change_due_date(
    conn: sqlite3.Connection,
    *,
    loan_id: int,
    new_due: date,
    reason: str,
    actor_id: int,
    today: date,
) -> Outcome:
    """Staff set an open loan's due date by hand, for a ``reason`` logged as an override."""
    loan = _open_loan(conn, loan_id)
    if loan is None:
        return Outcome("not_found", "There is no such open loan.")
    permitted = rules.may_override(_role(conn, actor_id))
    if not permitted:
        return refused(permitted.reason, loan["UserID"])
    current = date.fromisoformat(loan["ReturnDate"])
    decision = rules.can_change_due(
        new_due, current_due=current, today=today, calendar=load_calendar(conn)
    )
    if not decision:
        return refused(f"{loan['Title']}: {decision.reason}", loan["UserID"])
    conn.execute("UPDATE Loans SET ReturnDate = ? WHERE LoanID = ?", (new_due.isoformat(), loan_id))
    events.log(
        conn,
        "override",
        actor_id,
        user_id=loan["UserID"],
        book_id=loan["BookID"],
        copy_id=loan["CopyID"],
        loan_id=loan_id,
        detail=f"due date {current.isoformat()} → {new_due.isoformat()} because: {reason}",
    )
    return Outcome(
        "due_changed",
        f"Due date changed: {loan['Title']} is now due {short_date(new_due)}. Override logged.",
        loan["UserID"],
        loan_id,
    )


@dataclass(frozen=True)
class DeskScan:
    """What a scan at the desk did, and the selected patron's panel after it (None: nobody).

    ``question`` is set when nothing was done yet: the librarian must answer it
    (``answer`` in a second scan of the same code) first.
    """

    outcome: Outcome
    panel: PatronPanel | None
    question: LoanQuestion | None = None


def desk_scan(
    conn: sqlite3.Connection,
    *,
    code: str,
    patron_id: int | None,
    shown_patron_id: int | None,
    actor_id: int,
    today: date,
    mode: str = "auto",
    answer: str | None = None,
    library_name: str = DEFAULT_LIBRARY_NAME,
) -> DeskScan:
    """What a code scanned at the desk does, with the panel the desk shows next.

    A patron's card number or email selects them; anything else is a copy
    barcode, lent or returned (``_scan_copy``), and the panel is then that of
    the patron ``patron_id`` the desk has selected, as this scan left it. One
    write transaction whatever the code turns out to be: a card scan only
    reads, but looking the code up on a reader first would cost every copy
    scan, most of a desk's work, a second hand-off between threads.

    ``shown_patron_id`` is the patron the librarian's screen showed when the
    code was scanned: a copy scan is refused unless it is the desk's selected
    patron (another window, or an answer still on its way, changed it), so
    nothing is ever lent to anyone but the patron on screen. A code that is
    neither a card nor a copy lets go of the patron (the panel shows nobody),
    so that after a mistyped card the next copy cannot go to the previous one.
    ``answer`` answers the question a copy on loan to someone else raised.
    """
    patron = find_patron(conn, code)
    if patron is not None:
        note = "" if patron.active else " This account is inactive: they cannot borrow."
        return DeskScan(
            Outcome("selected", f"Patron: {patron.name}.{note}", patron.user_id),
            patron_panel(conn, patron.user_id, today),
        )
    copy = conn.execute(
        "SELECT c.CopyID, c.Barcode, c.Status, b.Title, l.UserID AS BorrowerID, "
        "u.Name AS BorrowerName "
        "FROM Copies c JOIN CatalogueBooks b ON b.BookID = c.BookID "
        "LEFT JOIN Loans l ON l.CopyID = c.CopyID AND l.ReturnedAt IS NULL "
        "LEFT JOIN Users u ON u.UserID = l.UserID WHERE c.Barcode = ?",
        (code,),
    ).fetchone()
    if copy is None:
        deselected = " No patron is selected now: scan their card again." if patron_id else ""
        return DeskScan(refused(f"No patron or copy has the barcode “{code}”.{deselected}"), None)
    if shown_patron_id != patron_id:
        panel = patron_panel(conn, patron_id, today) if patron_id else None
        return DeskScan(refused(_not_on_screen(panel), patron_id), panel)
    if (
        answer is None
        and mode == "auto"
        and patron_id is not None
        and copy["BorrowerID"] not in (None, patron_id)
    ):
        panel = patron_panel(conn, patron_id, today)
        if panel is None:  # the patron on screen was deleted meanwhile
            return DeskScan(refused(_not_on_screen(None), None), None)
        question = LoanQuestion(
            barcode=copy["Barcode"],
            title=copy["Title"],
            borrower_name=copy["BorrowerName"],
            patron_id=patron_id,
            patron_name=panel.patron.name,
        )
        return DeskScan(
            Outcome(
                "ask",
                f"{copy['Title']} ({copy['Barcode']}) is on loan to {copy['BorrowerName']}. "
                f"Return it and lend it to {panel.patron.name}, or just return it? "
                "Nothing is done until you answer.",
                patron_id,
            ),
            panel,
            question,
        )
    outcome = _scan_copy(
        conn,
        copy=copy,
        patron_id=patron_id,
        actor_id=actor_id,
        today=today,
        mode=mode,
        answer=answer,
        library_name=library_name,
    )
    return DeskScan(outcome, patron_panel(conn, patron_id, today) if patron_id else None)


def _not_on_screen(panel: PatronPanel | None) -> str:
    now = f"{panel.patron.name} is" if panel else "no patron is"
    return (
        "Not done: the patron on your screen is no longer the desk's patron "
        f"(another window changed it; {now} selected now). Check the patron and scan again."
    )


def _scan_copy(
    conn: sqlite3.Connection,
    *,
    copy: sqlite3.Row,
    patron_id: int | None,
    actor_id: int,
    today: date,
    mode: str,
    answer: str | None,
    library_name: str,
) -> Outcome:
    """What a copy scanned at the desk does, once the desk knows it may act.

    ``mode`` "auto" (lend or return): a copy on the shelf is lent to the
    selected patron, a copy out is returned when nobody is on screen or it is
    their own loan (a copy out to someone else was asked about in ``desk_scan``
    and comes back here with its ``answer``). "lend" and "return" do only that
    (the desk's lend-only and return-only modes), so two desks lending the same
    copy at the same instant meet at the unique index and one of them is told
    "already on loan". A true double read of the scanner is counted once
    (``_repeat_scan``); an answered question never is one.
    """
    barcode = copy["Barcode"]
    if answer == CANCEL:
        return Outcome("cancelled", f"Cancelled: nothing done with {copy['Title']} ({barcode}).")
    if answer is None and (kind := _repeat_scan(conn, actor_id, copy["CopyID"], mode, patron_id)):
        return _repeat_outcome(kind, copy, patron_id)
    if answer == RETURN_AND_LEND:
        if copy["BorrowerID"] is not None and copy["BorrowerID"] == patron_id:
            # The answer sent twice (a double click without JavaScript): it is theirs already.
            return refused(_holder_message(conn, copy), patron_id)
        returned = None
        if copy["BorrowerID"] is not None:
            returned = return_copy(
                conn,
                barcode=barcode,
                actor_id=actor_id,
                today=today,
                library_name=library_name,
                patron_id=patron_id,
            )
        if patron_id is None:
            return refused("Scan the patron's card first, then the copies to lend them.")
        lent = lend(
            conn,
            barcode=barcode,
            patron_id=patron_id,
            actor_id=actor_id,
            today=today,
            library_name=library_name,
        )
        if returned is None:
            return lent
        if not lent.ok:
            # The return stands (the copy is back), and the desk says why it was not lent.
            return Outcome(
                "returned",
                f"{returned.message} Not lent: {lent.message}",
                patron_id,
                returned.loan_id,
                returned.set_aside,
            )
        return Outcome("lent", f"{returned.message} {lent.message}", patron_id, lent.loan_id)
    if answer == JUST_RETURN:
        mode = "return"
    elif mode == "auto":
        # Out on loan, or recorded as lost and now in the librarian's hand: it comes back.
        out = copy["BorrowerID"] is not None or rules.is_found(copy["Status"])
        mode = "return" if out else "lend"
    if mode == "return":
        return return_copy(
            conn,
            barcode=barcode,
            actor_id=actor_id,
            today=today,
            library_name=library_name,
            patron_id=patron_id,
        )
    if patron_id is None:
        return refused("Scan the patron's card first, then the copies to lend them.")
    return lend(
        conn,
        barcode=barcode,
        patron_id=patron_id,
        actor_id=actor_id,
        today=today,
        library_name=library_name,
    )


def renew(
    conn: sqlite3.Connection,
    *,
    loan_id: int,
    actor_id: int,
    today: date,
    owner_id: int | None = None,
    override_reason: str | None = None,
) -> Outcome:
    """Renew an open loan; ``owner_id`` restricts it to that patron's own loans (My account).

    A renewal that would not move the due date later is refused ("too soon"), so
    it never uses up a renewal. ``override_reason`` (staff only) renews past the
    renewal limit and logs an ``override`` event with the reason.
    """
    loan = conn.execute(
        "SELECT l.*, u.CategoryID, c.ItemTypeID, b.Title FROM Loans l "
        "JOIN Users u ON u.UserID = l.UserID JOIN Copies c ON c.CopyID = l.CopyID "
        "JOIN Books b ON b.BookID = l.BookID WHERE l.LoanID = ? AND l.ReturnedAt IS NULL",
        (loan_id,),
    ).fetchone()
    if loan is None or (owner_id is not None and loan["UserID"] != owner_id):
        return Outcome("not_found", "There is no such open loan.")
    rule = rule_for(conn, loan["CategoryID"], loan["ItemTypeID"])
    due = date.fromisoformat(loan["ReturnDate"])
    held_by_another = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM Holds WHERE BookID = ? AND Status = 'waiting' "
        "AND UserID <> ?)",
        (loan["BookID"], loan["UserID"]),
    ).fetchone()[0]
    check = {
        "rule": rule,
        "renewals": loan["Renewals"],
        "due": due,
        "today": today,
        "held_by_another": bool(held_by_another),
    }
    decision = rules.can_renew(**check)
    overridden = ""
    if not decision and override_reason is not None:
        permitted = rules.may_override(_role(conn, actor_id))
        decision = rules.can_renew_anyway(**check) if permitted else permitted
        overridden = decision.reason
    if not decision:
        return refused(f"{loan['Title']} cannot be renewed. {decision.reason}", loan["UserID"])
    renewed = rules.renewed_due_date(today, due, rule, load_calendar(conn))
    moves = rules.renewal_moves_due(due, renewed)
    if not moves:
        return refused(f"{loan['Title']} cannot be renewed. {moves.reason}", loan["UserID"])
    conn.execute(
        "UPDATE Loans SET ReturnDate = ?, Renewals = Renewals + 1 WHERE LoanID = ?",
        (renewed.day.isoformat(), loan_id),
    )
    events.log(
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
    note = ""
    if overridden:
        events.log(
            conn,
            "override",
            actor_id,
            user_id=loan["UserID"],
            book_id=loan["BookID"],
            copy_id=loan["CopyID"],
            loan_id=loan_id,
            detail=f"renewed past a rule ({overridden}) because: {override_reason}",
        )
        note = " Override logged."
    return Outcome(
        "renewed",
        f"Renewed: {loan['Title']}, now due {short_date(renewed.day)} ({renewed.explanation}; "
        f"renewal {used} of {rule.max_renewals}).{note}",
        loan["UserID"],
        loan_id,
    )


def renew_all(conn: sqlite3.Connection, *, patron_id: int, actor_id: int, today: date) -> Outcome:
    """Renew each of the patron's open loans that the rules allow, in one transaction.

    The message lists every loan: its new due date, or why it cannot be
    renewed. A refusal of one loan changes nothing about it and does not stop
    the others; the outcome is a refusal only when nothing could be renewed.
    """
    name = conn.execute("SELECT Name FROM Users WHERE UserID = ?", (patron_id,)).fetchone()
    if name is None:
        return Outcome("not_found", "No such patron.")
    open_loans = conn.execute(
        "SELECT LoanID FROM Loans WHERE UserID = ? AND ReturnedAt IS NULL "
        "ORDER BY ReturnDate, LoanID",
        (patron_id,),
    ).fetchall()
    if not open_loans:
        return refused(f"{name[0]} has nothing on loan to renew.", patron_id)
    outcomes = [
        renew(conn, loan_id=row["LoanID"], actor_id=actor_id, today=today) for row in open_loans
    ]
    renewed = sum(outcome.ok for outcome in outcomes)
    summary = f"Renewed {renewed} of {len(outcomes)} loans for {name[0]}."
    message = " ".join([summary, *(outcome.message for outcome in outcomes)])
    if not renewed:
        return refused(message, patron_id)
    return Outcome("renewed", message, patron_id)
