"""The hold queue: placing, cancelling and expiring holds, and offering a copy to the queue.

A patron holds a title (not a copy) when no copy is on the shelf; the queue is
first come, first served. When a copy comes back (``loans.return_copy``), a
ready hold is cancelled or expires, or a patron borrows another copy of a title
whose copy was waiting for them, ``offer_to_queue`` sets it aside for the first
patron waiting and writes their "ready to collect" email into the Outbox, in
the same transaction, for the mailer to send. Each change appends its event.

Plain functions of a connection, run by ``Database.write``: the desk and My
account place and cancel holds, the nightly job expires them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date

from webapp import emails, outbox, rules
from webapp.clock import utc_now, utc_stamp
from webapp.config import Settings
from webapp.models import events, wording
from webapp.models.outcome import Outcome, refused
from webapp.models.rule_settings import hold_pickup_days, load_calendar, patron_rules, rule_for
from webapp.templating import short_date

DEFAULT_LIBRARY_NAME = Settings.library_name


@dataclass(frozen=True)
class SetAside:
    """A copy put on the hold shelf for the first patron waiting for its title."""

    hold_id: int
    patron_name: str
    title: str
    barcode: str
    pickup_by: date
    emailed: bool


def offer_to_queue(
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
    in the same second), among the patrons whose rule lets them hold this copy's
    item type (no Laptop or Reference copy is set aside). Returns None when nobody
    is waiting for it: the copy goes back on the shelf.
    """
    hold = _first_in_queue_for(conn, book_id, copy_id)
    if hold is None:
        return None
    pickup_by = rules.pickup_deadline(today, hold_pickup_days(conn), load_calendar(conn))
    conn.execute(
        "UPDATE Holds SET Status = 'ready', CopyID = ?, PickupBy = ? WHERE HoldID = ?",
        (copy_id, pickup_by.isoformat(), hold["HoldID"]),
    )
    events.log(
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
    book = conn.execute(
        "SELECT b.Title, b.Author, c.Barcode FROM Copies c JOIN Books b ON b.BookID = c.BookID "
        "WHERE c.CopyID = ?",
        (copy_id,),
    ).fetchone()
    if hold["Email"]:
        mail = emails.hold_ready(
            library_name=library_name,
            patron_name=hold["Name"],
            title=book["Title"],
            author=book["Author"],
            barcode=book["Barcode"],
            pickup_by=pickup_by,
            wording=wording.current(conn, "hold_ready"),
        )
        outbox.enqueue(
            conn,
            kind="hold_ready",
            user_id=hold["UserID"],
            recipient=hold["Email"],
            email=mail,
            header_message_id=outbox.hold_message_id(hold["HoldID"]),
        )
    return SetAside(
        hold["HoldID"],
        hold["Name"],
        book["Title"],
        book["Barcode"],
        pickup_by,
        emailed=bool(hold["Email"]),
    )


def _first_in_queue_for(conn: sqlite3.Connection, book_id: int, copy_id: int) -> sqlite3.Row | None:
    """The first waiting hold on the title whose patron may hold this copy's item type."""
    item_type_id = conn.execute(
        "SELECT ItemTypeID FROM Copies WHERE CopyID = ?", (copy_id,)
    ).fetchone()[0]
    waiting = conn.execute(
        "SELECT h.HoldID, h.UserID, u.Name, u.Email, u.CategoryID "
        "FROM Holds h JOIN Users u ON u.UserID = h.UserID "
        "WHERE h.BookID = ? AND h.Status = 'waiting' AND u.Active = 1 "
        "ORDER BY h.PlacedAt, h.HoldID",
        (book_id,),
    )
    allowed: dict[int, bool] = {}
    for hold in waiting:
        category_id = hold["CategoryID"]
        if category_id not in allowed:
            allowed[category_id] = rules.may_hold(rule_for(conn, category_id, item_type_id))
        if allowed[category_id]:
            return hold
    return None


def place_hold(conn: sqlite3.Connection, *, book_id: int, patron_id: int, actor_id: int) -> Outcome:
    """Queue the patron for a title with no copy on the shelf, within their category's hold
    limit, if the item type of one of its copies may be held."""
    book = conn.execute(
        "SELECT BookID, Title, WithdrawnAt FROM Books WHERE BookID = ?", (book_id,)
    ).fetchone()
    if book is None:
        return Outcome("not_found", "There is no such title.", patron_id)
    patron = conn.execute(
        "SELECT Name, CategoryID, Active FROM Users WHERE UserID = ?", (patron_id,)
    ).fetchone()
    if patron is None:
        return Outcome("not_found", "No such patron.")
    if not patron["Active"]:
        return refused(
            f"{patron['Name']}'s account is inactive: no holds until it is reactivated.",
            patron_id,
        )
    if book["WithdrawnAt"] is not None:
        return refused(f"{book['Title']} has been withdrawn: it cannot be held.", patron_id)
    # Counted in the same write transaction as the insert below, so requests
    # racing each other are serialised by the writer lock and cannot overshoot.
    active_holds = conn.execute(
        "SELECT count(*) FROM Holds WHERE UserID = ? AND Status IN ('waiting', 'ready')",
        (patron_id,),
    ).fetchone()[0]
    rules_of = patron_rules(conn, patron["CategoryID"])
    item_types = conn.execute(
        "SELECT DISTINCT ItemTypeID FROM Copies WHERE BookID = ? AND Status <> 'withdrawn'",
        (book_id,),
    ).fetchall()
    decision = rules.can_place_hold(
        patron_name=patron["Name"],
        rule=rules_of.general,
        active_holds=active_holds,
        title_rules=[rules_of.for_type(row[0]) for row in item_types],
    )
    if not decision:
        return refused(decision.reason, patron_id)
    availability = conn.execute(
        "SELECT Copies, Availability FROM BookAvailability WHERE BookID = ?", (book_id,)
    ).fetchone()
    if availability is None:
        return refused(f"The library has no copies of {book['Title']} to hold.", patron_id)
    if availability["Availability"] > 0:
        return refused(
            f"A copy of {book['Title']} is on the shelf: take it from there instead of holding it.",
            patron_id,
        )
    has_it = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM Loans "
        "WHERE UserID = ? AND BookID = ? AND ReturnedAt IS NULL)",
        (patron_id, book_id),
    ).fetchone()[0]
    if has_it:
        return refused(f"{patron['Name']} already has {book['Title']} on loan.", patron_id)
    try:
        hold_id = conn.execute(
            "INSERT INTO Holds (UserID, BookID) VALUES (?, ?)", (patron_id, book_id)
        ).lastrowid
    except sqlite3.IntegrityError as error:
        if "Holds.UserID" not in str(error):
            raise
        return refused(f"{patron['Name']} already has a hold on {book['Title']}.", patron_id)
    position = conn.execute(
        "SELECT count(*) FROM Holds WHERE BookID = ? AND Status = 'waiting'", (book_id,)
    ).fetchone()[0]
    events.log(
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


def cancel_hold(
    conn: sqlite3.Connection,
    *,
    hold_id: int,
    actor_id: int,
    today: date,
    owner_id: int | None = None,
    library_name: str = DEFAULT_LIBRARY_NAME,
) -> Outcome:
    """Cancel a waiting or ready hold; a ready hold's copy passes to the next in the queue.

    ``owner_id`` restricts it to that patron's own holds (My account).
    """
    hold = conn.execute(
        "SELECT h.*, b.Title FROM Holds h JOIN Books b ON b.BookID = h.BookID "
        "WHERE h.HoldID = ? AND h.Status IN ('waiting', 'ready')",
        (hold_id,),
    ).fetchone()
    if hold is None or (owner_id is not None and hold["UserID"] != owner_id):
        return Outcome("not_found", "There is no such hold.")
    conn.execute(
        "UPDATE Holds SET Status = 'cancelled', ClosedAt = ? WHERE HoldID = ?",
        (utc_stamp(utc_now()), hold_id),
    )
    events.log(
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
        set_aside = offer_to_queue(
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


def expire_ready_holds(
    conn: sqlite3.Connection,
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
    expiring = conn.execute(
        "SELECT HoldID, UserID, BookID, CopyID, PickupBy FROM Holds "
        "WHERE Status = 'ready' AND PickupBy < ? ORDER BY PickupBy, HoldID",
        (today.isoformat(),),
    ).fetchall()
    for hold in expiring:
        conn.execute(
            "UPDATE Holds SET Status = 'expired', ClosedAt = ? WHERE HoldID = ?",
            (utc_stamp(utc_now()), hold["HoldID"]),
        )
        events.log(
            conn,
            "hold_expired",
            actor_id,
            user_id=hold["UserID"],
            book_id=hold["BookID"],
            copy_id=hold["CopyID"],
            hold_id=hold["HoldID"],
            detail=f"not collected by {hold['PickupBy']}",
        )
        offer_to_queue(
            conn,
            copy_id=hold["CopyID"],
            book_id=hold["BookID"],
            today=today,
            actor_id=actor_id,
            library_name=library_name,
        )
    return len(expiring)


def set_aside_from_shelf(
    conn: sqlite3.Connection,
    *,
    barcode: str,
    actor_id: int,
    today: date,
    library_name: str = DEFAULT_LIBRARY_NAME,
) -> Outcome:
    """Set a copy fetched from the open shelf (the pull list) aside for the first patron waiting.

    The copy must still be on the shelf: in stock, not on loan, not already set
    aside; checked in this transaction, so two librarians pulling the same copy
    set it aside once.
    """
    copy = conn.execute(
        "SELECT c.CopyID, c.BookID, c.Barcode, c.Status, b.Title, "
        "EXISTS (SELECT 1 FROM Loans l WHERE l.CopyID = c.CopyID AND l.ReturnedAt IS NULL) "
        "AS OnLoan, "
        "EXISTS (SELECT 1 FROM Holds h WHERE h.CopyID = c.CopyID AND h.Status = 'ready') "
        "AS SetAside "
        "FROM Copies c JOIN Books b ON b.BookID = c.BookID WHERE c.Barcode = ?",
        (barcode,),
    ).fetchone()
    if copy is None:
        return Outcome("not_found", f"No copy has the barcode “{barcode}”.")
    if copy["Status"] != "in_stock" or copy["OnLoan"] or copy["SetAside"]:
        return refused(f"{copy['Title']} ({copy['Barcode']}) is not on the open shelf.")
    set_aside = offer_to_queue(
        conn,
        copy_id=copy["CopyID"],
        book_id=copy["BookID"],
        today=today,
        actor_id=actor_id,
        library_name=library_name,
    )
    if set_aside is None:
        return refused(f"Nobody is waiting for {copy['Title']}: it stays on the shelf.")
    told = "emailed" if set_aside.emailed else "no email address: tell them in person"
    return Outcome(
        "set_aside",
        f"Set aside: {copy['Title']} ({copy['Barcode']}) for {set_aside.patron_name}, "
        f"collect by {short_date(set_aside.pickup_by)} ({told}).",
    )
