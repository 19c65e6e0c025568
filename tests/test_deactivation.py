"""A closed (inactive) account: its holds are cancelled with one notice, it cannot sign in or
borrow, and the reminder run still writes about the items it has out, and nothing else."""

from __future__ import annotations

from datetime import timedelta

from webapp.clock import library_today
from webapp.db import connect_sync
from webapp.demo import DEMO_PASSWORD
from webapp.models import deactivation, holds
from webapp.models.reminders import plan_tonight

from . import test_circulation_http as circulation
from .conftest import csrf_from
from .test_circulation_http import add_book, add_patron, message_of, sql
from .test_desk_holds_http import lend_out

demo_database = circulation.demo_database
desk = circulation.desk


def place(settings, book_id: int, patron_id: int) -> None:
    conn = connect_sync(settings.database)
    conn.execute("BEGIN IMMEDIATE")
    outcome = holds.place_hold(conn, book_id=book_id, patron_id=patron_id, actor_id=patron_id)
    conn.execute("COMMIT")
    conn.close()
    assert outcome.ok, outcome.message


async def test_closing_an_account_cancels_its_holds_with_a_notice_and_passes_a_ready_copy_on(
    desk, settings
):
    today = library_today(settings)
    leaver = add_patron(settings, "Lea Vere", "S8001", email="lea@example.com")
    next_reader = add_patron(settings, "Nex Treader", "S8002", email="nex@example.com")
    lender = add_patron(settings, "Len Der", "S8003")
    waiting_book = add_book(settings, "Still Out", ("SO1",))
    lend_out(settings, "SO1", lender, today)
    ready_book = add_book(settings, "On The Shelf", ("OS1",))
    lend_out(settings, "OS1", lender, today)
    place(settings, waiting_book, leaver)
    place(settings, ready_book, leaver)
    place(settings, ready_book, next_reader)
    # OS1 comes back: it is set aside for the leaver, first in the queue.
    await desk.scan("OS1", mode="return")
    assert (
        sql(
            settings,
            "SELECT Status FROM Holds WHERE UserID = ? AND BookID = ?",
            (leaver, ready_book),
        )[0][0]
        == "ready"
    )

    response = await desk.client.post(
        f"/patrons/{leaver}/edit",
        form={
            "csrf_token": desk.token,
            "name": "Lea Vere",
            "role": "Student",
            "email": "lea@example.com",
            "card_number": "S8001",
            "group": "Year 13",
        },
    )
    assert response.status_code == 303

    statuses = sql(
        settings, "SELECT BookID, Status FROM Holds WHERE UserID = ? ORDER BY BookID", (leaver,)
    )
    assert [tuple(row) for row in statuses] == [
        (waiting_book, "cancelled"),
        (ready_book, "cancelled"),
    ]
    assert (
        sql(settings, "SELECT Status FROM Holds WHERE UserID = ?", (next_reader,))[0][0] == "ready"
    )
    notices = sql(
        settings,
        "SELECT Kind, Recipient, Subject, BodyText FROM Outbox WHERE UserID = ? ORDER BY MessageID",
        (leaver,),
    )
    cancelled = [row for row in notices if row["Kind"] == "holds_cancelled"]
    assert len(cancelled) == 1
    assert cancelled[0]["Recipient"] == "lea@example.com"
    assert "holds were cancelled" in cancelled[0]["Subject"]
    assert "Still Out" in cancelled[0]["BodyText"] and "On The Shelf" in cancelled[0]["BodyText"]
    assert (
        sql(
            settings,
            "SELECT count(*) FROM Outbox WHERE UserID = ? AND Kind = 'hold_ready'",
            (next_reader,),
        )[0][0]
        == 1
    )

    # Saving the form again changes nothing more.
    await desk.client.post(
        f"/patrons/{leaver}/edit",
        form={
            "csrf_token": desk.token,
            "name": "Lea Vere",
            "role": "Student",
            "email": "lea@example.com",
            "card_number": "S8001",
            "group": "Year 13",
        },
    )
    assert sql(settings, "SELECT count(*) FROM Outbox WHERE UserID = ?", (leaver,))[0][0] == len(
        notices
    )


async def test_a_closed_account_cannot_sign_in_or_borrow(app, desk, settings):
    add_patron(settings, "Lea Vere", "S8001", email="lea@example.com", active=0)
    add_book(settings, "Not For You", ("NF1",))
    client = app.test_client()
    token = await csrf_from(client)
    refused = await client.post(
        "/login", form={"email": "lea@example.com", "password": DEMO_PASSWORD, "csrf_token": token}
    )
    assert refused.status_code == 401
    await desk.scan("S8001")
    response, html = await desk.scan("NF1", mode="lend")
    assert "account is inactive" in message_of(html)
    assert (
        sql(
            settings,
            "SELECT count(*) FROM Loans l JOIN Copies c USING (CopyID) WHERE c.Barcode = 'NF1'",
        )[0][0]
        == 0
    )


def test_the_reminder_run_still_writes_to_a_closed_account_about_items_it_has_out(settings):
    today = library_today(settings)
    leaver = add_patron(settings, "Lea Vere", "S8001", email="lea@example.com", active=0)
    quiet = add_patron(settings, "Qui Et", "S8004", email="quiet@example.com", active=0)
    book = add_book(settings, "Kept Too Long", ("KT1",))
    sql(
        settings,
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) "
        "SELECT ?, ?, CopyID, ?, ? FROM Copies WHERE Barcode = 'KT1'",
        (
            leaver,
            book,
            (today - timedelta(days=24)).isoformat(),
            (today - timedelta(days=10)).isoformat(),
        ),
    )
    conn = connect_sync(settings.database)
    plan = plan_tonight(conn, (-2, 1, 7, 21), today)
    conn.close()
    planned = {email.user_id: email for email in plan.emails}
    assert leaver in planned and planned[leaver].overdue == 1
    assert quiet not in planned


def test_the_nightly_sweep_releases_holds_of_accounts_closed_elsewhere_once(settings):
    today = library_today(settings)
    leaver = add_patron(settings, "Lea Vere", "S8001", email="lea@example.com")
    lender = add_patron(settings, "Len Der", "S8003")
    book = add_book(settings, "Imported Away", ("IA1",))
    lend_out(settings, "IA1", lender, today)
    place(settings, book, leaver)
    # An import (or a hand edit) closes the account without touching the holds.
    sql(settings, "UPDATE Users SET Active = 0 WHERE UserID = ?", (leaver,))
    conn = connect_sync(settings.database)
    for expected in (deactivation.Released(1, 1, 1), deactivation.Released()):
        conn.execute("BEGIN IMMEDIATE")
        done = deactivation.release_holds(
            conn, actor_id=None, today=today, library_name="Test Library"
        )
        conn.execute("COMMIT")
        assert done == expected
    conn.close()
    assert (
        sql(settings, "SELECT Status FROM Holds WHERE UserID = ?", (leaver,))[0][0] == "cancelled"
    )
