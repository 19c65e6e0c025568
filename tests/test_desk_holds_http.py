"""Holds at the desk over HTTP: the hold limit, renew all, cancelling, the hold box's title
search, the book page's queue, the hold shelf page and the printed slips."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest

from webapp.db import Database, connect_sync
from webapp.models import hold_shelf, holds, loans

from . import test_circulation_http as circulation
from .conftest import TEST_TODAY, log_in
from .test_circulation_http import HX, add_book, age_events, message_of, sql

# The circulation tests' fixtures: the demo library, a librarian at the desk,
# three student patrons and a shelf of two titles.
demo_database = circulation.demo_database
desk = circulation.desk
patrons = circulation.patrons
shelf = circulation.shelf
today = circulation.today


def lend_out(settings, barcode: str, user_id: int, today, due_in: int = 14) -> int:
    """Put the copy on loan to ``user_id`` (a loan made earlier, not at this desk)."""
    conn = connect_sync(settings.database)
    try:
        copy = conn.execute(
            "SELECT CopyID, BookID FROM Copies WHERE Barcode = ?", (barcode,)
        ).fetchone()
        return conn.execute(
            "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (?,?,?,?,?)",
            (
                user_id,
                copy["BookID"],
                copy["CopyID"],
                (today - timedelta(days=3)).isoformat(),
                (today + timedelta(days=due_in)).isoformat(),
            ),
        ).lastrowid
    finally:
        conn.close()


def titles_on_loan(settings, count: int, borrower: int, today, prefix: str = "Held") -> list[int]:
    """``count`` titles whose only copy is out on loan: titles a patron may hold."""
    book_ids = []
    for number in range(count):
        barcode = f"{prefix[:1]}H{number}"
        book_ids.append(add_book(settings, f"{prefix} Title {number}", (barcode,)))
        lend_out(settings, barcode, borrower, today)
    return book_ids


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def student(app, email: str):
    client = app.test_client()
    return client, await log_in(client, email)


def set_max_holds(settings, category: str, limit: int) -> None:
    sql(settings, "UPDATE PatronCategories SET MaxHolds = ? WHERE Name = ?", (limit, category))


def active_holds(settings, user_id: int) -> int:
    return sql(
        settings,
        "SELECT count(*) FROM Holds WHERE UserID = ? AND Status IN ('waiting', 'ready')",
        (user_id,),
    )[0][0]


# The hold limit


async def test_a_student_past_the_hold_limit_is_refused_with_the_reason_and_nothing_changes(
    app, desk, settings, patrons, today
):
    set_max_holds(settings, "Student", 2)
    books = titles_on_loan(settings, 3, patrons["finn"], today)
    eli, token = await student(app, "s9002@example.com")
    for book_id in books[:2]:
        response = await eli.post(f"/books/{book_id}/hold", form={"csrf_token": token})
        assert response.status_code == 303
    response = await eli.post(f"/books/{books[2]}/hold", form={"csrf_token": token}, headers=HX)
    assert response.status_code == 422
    assert (
        "Eli Park already has 2 holds, the most Student patrons may place."
        in await response.get_data(as_text=True)
    )
    assert active_holds(settings, patrons["eli"]) == 2
    # The desk is refused the same way, with the same reason.
    await desk.scan("S9002")
    response = await desk.post("/desk/hold", book=str(books[2]))
    assert response.status_code == 422
    assert "already has 2 holds" in message_of(await response.get_data(as_text=True))
    assert active_holds(settings, patrons["eli"]) == 2


async def test_concurrent_hold_requests_never_pass_the_limit(app, settings, patrons, today):
    set_max_holds(settings, "Student", 3)
    books = titles_on_loan(settings, 12, patrons["finn"], today)
    eli, token = await student(app, "s9002@example.com")
    responses = await asyncio.gather(
        *(
            eli.post(f"/books/{book_id}/hold", form={"csrf_token": token}, headers=HX)
            for book_id in books
        )
    )
    assert sorted(response.status_code for response in responses) == [200] * 3 + [422] * 9
    assert active_holds(settings, patrons["eli"]) == 3


async def test_an_admin_sets_the_hold_limit_of_a_patron_category(app, settings):
    admin = app.test_client()
    token = await log_in(admin, "carol@example.com")
    category = sql(settings, "SELECT CategoryID FROM PatronCategories WHERE Name = 'Student'")[0][0]
    page = await (await admin.get("/admin/rules")).get_data(as_text=True)
    assert f'id="category-{category}-max_holds"' in page
    form = {
        "csrf_token": token,
        "name": "Student",
        "max_loans": "5",
        "max_holds": "3",
        "renew_overdue_days": "0",
        "block_when_overdue": "on",
    }
    response = await admin.post(f"/admin/rules/categories/{category}", form=form)
    assert response.status_code == 303

    def limits():
        return dict(sql(settings, "SELECT Name, MaxHolds FROM PatronCategories"))

    assert limits()["Student"] == 3 and limits()["Librarian"] == 20
    response = await admin.post(
        f"/admin/rules/categories/{category}", form={**form, "max_holds": "-1"}
    )
    assert response.status_code == 422
    assert "Most holds (waiting or ready): a whole number from 0 to 1000." in text_of(
        await response.get_data(as_text=True)
    )
    assert limits()["Student"] == 3


# Renew all, cancel a hold


async def test_renew_all_renews_what_it_may_and_lists_each_refusal(
    desk, app, settings, shelf, patrons, today
):
    await desk.scan("S9001")
    await desk.scan("T1")
    await desk.scan("U1")
    # Eli waits for Umbrella Days, so Dana cannot renew it.
    conn = connect_sync(settings.database)
    umbrella = conn.execute("SELECT BookID FROM Books WHERE Title = 'Umbrella Days'").fetchone()[0]
    conn.execute("INSERT INTO Holds (UserID, BookID) VALUES (?, ?)", (patrons["eli"], umbrella))
    conn.execute(
        "UPDATE Loans SET LoanDate = ?, ReturnDate = ? WHERE UserID = ?",
        (
            (today - timedelta(days=10)).isoformat(),
            (today + timedelta(days=4)).isoformat(),
            patrons["dana"],
        ),
    )
    conn.close()
    response = await desk.post("/desk/renew-all", patron_id=str(patrons["dana"]))
    assert response.status_code == 200
    message = message_of(await response.get_data(as_text=True))
    assert "Renewed 1 of 2 loans for Dana Ito." in message
    assert "Renewed: Tidewater, now due" in message
    assert "Umbrella Days cannot be renewed. Another patron is waiting for this title" in message
    due = dict(
        sql(
            settings,
            "SELECT c.Barcode, l.ReturnDate FROM Loans l JOIN Copies c ON c.CopyID = l.CopyID "
            "WHERE l.UserID = ?",
            (patrons["dana"],),
        )
    )
    assert due == {
        "T1": (today + timedelta(days=14)).isoformat(),
        "U1": (today + timedelta(days=4)).isoformat(),
    }


async def test_renew_all_for_a_patron_no_longer_at_the_desk_changes_nothing(
    desk, settings, shelf, patrons, today
):
    await desk.scan("S9001")
    await desk.scan("T1")
    before = sql(
        settings, "SELECT ReturnDate, Renewals FROM Loans WHERE UserID = ?", (patrons["dana"],)
    )
    await desk.scan("S9002")  # Eli is at the desk now
    response = await desk.post("/desk/renew-all", patron_id=str(patrons["dana"]))
    assert response.status_code == 422
    assert "no longer at the desk" in message_of(await response.get_data(as_text=True))
    response = await desk.post("/desk/renew-all", patron_id=str(patrons["eli"]))
    assert response.status_code == 422
    assert "Eli Park has nothing on loan to renew." in message_of(
        await response.get_data(as_text=True)
    )
    after = sql(
        settings, "SELECT ReturnDate, Renewals FROM Loans WHERE UserID = ?", (patrons["dana"],)
    )
    assert [tuple(row) for row in after] == [tuple(row) for row in before]


async def test_the_desk_cancels_a_hold_of_the_patron_on_screen_only(desk, settings, patrons, today):
    (book_id,) = titles_on_loan(settings, 1, patrons["finn"], today)
    for card in ("S9001", "S9002"):
        await desk.scan(card)
        await desk.post("/desk/hold", book=str(book_id))
    dana_hold, eli_hold = [
        row[0] for row in sql(settings, "SELECT HoldID FROM Holds ORDER BY HoldID")
    ]
    # Eli is on screen: Dana's hold is not his to cancel.
    response = await desk.post(f"/desk/holds/{dana_hold}/cancel", confirmed="yes")
    assert response.status_code == 422
    assert "There is no such hold. Nothing was cancelled." in message_of(
        await response.get_data(as_text=True)
    )
    _, html = await desk.scan("S9002")
    assert f"/desk/holds/{eli_hold}/cancel" in html
    # Unconfirmed, it asks first (a page of its own) and changes nothing.
    response = await desk.post(f"/desk/holds/{eli_hold}/cancel", htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/desk/holds/{eli_hold}/cancel"
    question = await (await desk.client.get(response.headers["Location"])).get_data(as_text=True)
    assert "Cancel Eli Park&#39;s hold on “Held Title 0”?" in question
    assert (
        sql(settings, "SELECT Status FROM Holds WHERE HoldID = ?", (eli_hold,))[0][0] == "waiting"
    )
    response = await desk.post(f"/desk/holds/{eli_hold}/cancel", confirmed="yes")
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert "Hold cancelled: Held Title 0." in message_of(html)
    statuses = dict(sql(settings, "SELECT HoldID, Status FROM Holds"))
    assert statuses == {dana_hold: "waiting", eli_hold: "cancelled"}
    response = await desk.post("/desk/holds/99999999/cancel", confirmed="yes")
    assert response.status_code == 422


# Placing a hold by title


async def test_the_hold_box_lists_matching_titles_with_a_hold_button_each(
    desk, settings, patrons, today
):
    titles_on_loan(settings, 2, patrons["finn"], today, prefix="Quokka")
    add_book(settings, "Quokka Shelf Copy", ("QS1",))
    await desk.scan("S9002")
    response = await desk.client.get("/desk/holds/search?book=quokka", headers=HX)
    assert response.status_code == 200 and response.headers["Vary"] == "HX-Request"
    html = await response.get_data(as_text=True)
    assert "<html" not in html
    assert html.count("Hold for Eli Park") == 2
    assert "On the shelf: no hold needed." in html  # Quokka Shelf Copy
    assert "3 titles match “quokka”" in text_of(html)
    book_id = re.search(r'name="book" value="(\d+)"', html).group(1)
    response = await desk.post("/desk/hold", book=book_id)
    assert "Hold placed: Quokka Title" in message_of(await response.get_data(as_text=True))
    assert active_holds(settings, patrons["eli"]) == 1


async def test_the_hold_box_forgives_a_misspelt_title_as_search_does(
    desk, settings, patrons, today
):
    titles_on_loan(settings, 1, patrons["finn"], today, prefix="Platypus")
    await desk.scan("S9002")
    response = await desk.client.get("/desk/holds/search?book=platipus", headers=HX)
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Platypus Title 0" in text_of(html)
    assert html.count("Hold for Eli Park") == 1


async def test_without_javascript_a_typed_title_leads_to_a_page_of_the_same_choices(
    desk, settings, patrons, today
):
    titles_on_loan(settings, 1, patrons["finn"], today, prefix="Wombat")
    await desk.scan("S9002", htmx=False)
    response = await desk.post("/desk/hold", htmx=False, book="wombat title")
    assert response.status_code == 303
    assert response.headers["Location"] == "/desk/holds/search?book=wombat+title"
    page = await (await desk.client.get(response.headers["Location"])).get_data(as_text=True)
    assert "<h1>Hold a title for Eli Park</h1>" in page
    assert "Hold for Eli Park" in page and "Wombat Title 0" in page
    # A number, ISBN or barcode still places the hold at once.
    (book_id,) = [
        row[0] for row in sql(settings, "SELECT BookID FROM Books WHERE Title = 'Wombat Title 0'")
    ]
    response = await desk.post("/desk/hold", htmx=False, book="WH0")
    assert response.status_code == 303 and response.headers["Location"] == "/desk"
    assert sql(settings, "SELECT BookID FROM Holds")[0][0] == book_id


# The book page


async def test_the_book_page_shows_the_queue_and_a_holder_their_place_instead_of_the_button(
    app, settings, patrons, today
):
    (book_id,) = titles_on_loan(settings, 1, patrons["finn"], today)
    eli, eli_token = await student(app, "s9002@example.com")
    dana, dana_token = await student(app, "s9001@example.com")
    await eli.post(f"/books/{book_id}/hold", form={"csrf_token": eli_token})
    await dana.post(f"/books/{book_id}/hold", form={"csrf_token": dana_token})
    page = await (await dana.get(f"/books/{book_id}")).get_data(as_text=True)
    assert "2 people waiting" in page
    assert "You are number 2 in the queue." in page and "Place a hold" not in page
    response = await dana.post(
        re.search(r'action="(/account/holds/\d+/cancel)"', page).group(1),
        form={"csrf_token": dana_token},
    )
    assert response.status_code == 303
    page = await (await dana.get(f"/books/{book_id}")).get_data(as_text=True)
    assert "1 person waiting" in page and "Place a hold" in page
    anonymous = await (await app.test_client().get(f"/books/{book_id}")).get_data(as_text=True)
    assert "1 person waiting" in anonymous and "in the queue" not in anonymous


# The hold shelf


async def test_the_hold_shelf_lists_ready_holds_by_deadline_expired_ones_and_a_pull_list(
    desk, app, settings, patrons, today
):
    first, second, third = titles_on_loan(settings, 3, patrons["finn"], today)
    for card, book_id in (("S9001", first), ("S9002", second), ("S9001", third)):
        await desk.scan(card)
        await desk.post("/desk/hold", book=str(book_id))
    # Finn returns the first two: each is set aside; the first has been waiting too long.
    await desk.scan("HH0", mode="return")
    await desk.scan("HH1", mode="return")
    conn = connect_sync(settings.database)
    conn.execute(
        "UPDATE Holds SET PickupBy = ? WHERE BookID = ?",
        ((today - timedelta(days=1)).isoformat(), first),
    )
    # A second copy of the third title appears on the open shelf, in "Fiction B".
    conn.execute(
        "INSERT INTO Copies (BookID, Barcode, Location) VALUES (?, 'HX2', 'Fiction B')", (third,)
    )
    conn.close()
    response = await desk.client.get("/desk/hold-shelf")
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    ready = text_of(page.split('id="ready"')[1].split("</table>")[0])
    pickup = today + timedelta(days=7)
    assert "Eli Park Held Title 1 HH1" in ready and f"{pickup.day} {pickup:%b}" in ready
    assert "Held Title 0" not in ready
    reshelve = text_of(page.split('id="to-reshelve"')[1].split("</table>")[0])
    assert "Dana Ito Held Title 0 HH0" in reshelve and "expires tonight" in reshelve
    pull = text_of(page.split('id="pull-heading"')[1])
    assert "Fiction B Held Title 2 Test Author · 1 waiting Set aside HX2" in pull

    response = await desk.post("/desk/hold-shelf/set-aside", htmx=False, barcode="HX2")
    assert response.status_code == 303
    page = await (await desk.client.get("/desk/hold-shelf")).get_data(as_text=True)
    assert "Set aside: Held Title 2 (HX2) for Dana Ito" in page
    assert "Nothing to fetch." in page
    assert sql(settings, "SELECT Status FROM Holds WHERE BookID = ?", (third,))[0][0] == "ready"
    response = await desk.post("/desk/hold-shelf/set-aside", htmx=False, barcode="HX2")
    assert response.status_code == 422
    assert "is not on the open shelf" in await response.get_data(as_text=True)
    response = await desk.post("/desk/hold-shelf/set-aside", htmx=False, barcode="NOPE")
    assert response.status_code == 404


async def test_a_hold_expired_by_the_nightly_job_is_listed_to_reshelve_until_lent(
    desk, app, settings, patrons, today
):
    (book_id,) = titles_on_loan(settings, 1, patrons["finn"], today)
    await desk.scan("S9001")
    await desk.post("/desk/hold", book=str(book_id))
    await desk.scan("HH0", mode="return")  # returned by Finn, set aside for Dana
    async with Database(settings.database) as db:
        assert await db.write(holds.expire_ready_holds, today) == 0
        assert await db.write(holds.expire_ready_holds, today + timedelta(days=8)) == 1
        shelf = await db.read(hold_shelf.hold_shelf, today + timedelta(days=8))
        assert [(hold.barcode, hold.status) for hold in shelf.to_reshelve] == [("HH0", "expired")]
        assert shelf.ready == [] and shelf.pull_list == []
        later = await db.read(hold_shelf.hold_shelf, today + timedelta(days=15))
        assert later.to_reshelve == []
        outcome = await db.write(
            loans.lend,
            barcode="HH0",
            patron_id=patrons["eli"],
            actor_id=patrons["finn"],
            today=today + timedelta(days=9),
        )
        assert outcome.ok
        lent = await db.read(hold_shelf.hold_shelf, today + timedelta(days=9))
        assert lent.to_reshelve == []


def test_the_hold_shelf_queries_use_indexes_not_scans(database_path):
    """Every table is reached through an index, so the page reads holds, not the collection."""
    conn = connect_sync(database_path)
    statements = []
    conn.set_trace_callback(statements.append)
    hold_shelf.hold_shelf(conn, TEST_TODAY)
    conn.set_trace_callback(None)
    assert len(statements) == 4
    for statement in statements:
        steps = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}")]
        # "SCAN q" reads the materialised list of titles with waiting holds, no table.
        scans = [step for step in steps if step.startswith("SCAN") and step != "SCAN q"]
        assert all(" USING " in step for step in scans), steps


# Slips


async def test_the_hold_slip_names_the_patron_title_copy_and_deadline(
    desk, settings, patrons, today
):
    (book_id,) = titles_on_loan(settings, 1, patrons["finn"], today)
    await desk.scan("S9001")
    await desk.post("/desk/hold", book=str(book_id))
    (hold_id,) = [row[0] for row in sql(settings, "SELECT HoldID FROM Holds")]
    assert (await desk.client.get(f"/desk/holds/{hold_id}/slip")).status_code == 404  # waiting
    await desk.scan("HH0", mode="return")
    response = await desk.client.get(f"/desk/holds/{hold_id}/slip?paper=a4")
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert 'class="slip-page paper-a4"' in page and "slips.css" in page
    slip = text_of(page.split('<article class="slip"')[1])
    pickup = today + timedelta(days=7)
    assert "On hold for Dana Ito Card S9001" in slip
    assert "Title Held Title 0, Test Author Copy HH0" in slip
    assert f"Collect by {pickup:%A} {pickup.day} {pickup:%b}" in slip
    assert "data-print" in page
    assert "paper-80mm" in await (
        await desk.client.get(f"/desk/holds/{hold_id}/slip?paper=x")
    ).get_data(as_text=True)
    assert (await desk.client.get("/desk/holds/99999999/slip")).status_code == 404


async def test_the_due_date_slip_lists_what_was_borrowed_today_and_when_it_is_due(
    desk, settings, shelf, patrons, today
):
    lend_out(settings, "U1", patrons["dana"], today, due_in=5)
    await desk.scan("S9001")
    _, html = await desk.scan("T1")
    assert f'href="/desk/patrons/{patrons["dana"]}/slip"' in html
    response = await desk.client.get(f"/desk/patrons/{patrons['dana']}/slip")
    assert response.status_code == 200
    slip = text_of((await response.get_data(as_text=True)).split('<article class="slip"')[1])
    due = today + timedelta(days=14)
    earlier = today + timedelta(days=5)
    today_part, also = slip.split("Also on loan")
    assert f"Tidewater T1 Due {due:%a} {due.day} {due:%b}" in today_part
    assert "Umbrella Days" not in today_part
    assert f"Umbrella Days U1 Due {earlier:%a} {earlier.day} {earlier:%b}" in also
    assert "2 items on loan." in also
    assert (await desk.client.get("/desk/patrons/99999999/slip")).status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/desk/hold-shelf", "/desk/holds/1/slip", "/desk/patrons/1/slip", "/desk/holds/search?book=a"],
)
async def test_students_cannot_see_the_staff_hold_pages(app, path):
    client, _ = await student(app, "alice@example.com")
    assert (await client.get(path)).status_code == 403


# The visit receipt


def receipts(settings) -> list:
    return sql(settings, "SELECT * FROM Outbox WHERE Kind = 'receipt' ORDER BY MessageID")


async def test_a_patron_who_asked_is_emailed_one_receipt_per_visit(
    desk, settings, shelf, patrons, today
):
    sql(settings, "UPDATE Users SET EmailReceipts = 1 WHERE UserID = ?", (patrons["dana"],))
    lend_out(settings, "U1", patrons["dana"], today, due_in=5)
    await desk.scan("S9001")
    await desk.scan("T1")  # lent
    await desk.scan("T2")  # lent, then undone: not on the receipt
    await desk.post("/desk/undo")
    await desk.scan("U1")  # returned
    response = await desk.post("/desk/done")
    assert "Their receipt will be emailed to s9001@example.com." in message_of(
        await response.get_data(as_text=True)
    )
    (mail,) = receipts(settings)
    due = today + timedelta(days=14)
    assert mail["Recipient"] == "s9001@example.com" and mail["Status"] == "pending"
    assert (
        "Borrowed:\n  - Tidewater\n    barcode T1, due back " + f"{due:%A} {due.day}"
        in (mail["BodyText"])
    )
    assert "Returned:\n  - Umbrella Days (barcode U1)" in mail["BodyText"]
    assert "T2" not in mail["BodyText"]
    assert "<strong>Tidewater</strong>" in mail["BodyHtml"]
    # Done again, or another visit with nothing done, sends nothing more.
    await desk.post("/desk/done")
    await desk.scan("S9001")
    await desk.post("/desk/done")
    assert len(receipts(settings)) == 1
    # The next visit's receipt lists only that visit.
    age_events(settings, 5)  # past the scanner's repeat window for T2
    await desk.scan("S9001")
    await desk.scan("T2")
    await desk.post("/desk/done")
    second = receipts(settings)[1]
    assert "barcode T2" in second["BodyText"]
    assert "T1" not in second["BodyText"] and "Umbrella" not in second["BodyText"]


async def test_no_receipt_for_a_patron_who_did_not_ask_for_one(desk, settings, shelf, patrons):
    await desk.scan("S9002")
    await desk.scan("T1")
    response = await desk.post("/desk/done")
    assert message_of(await response.get_data(as_text=True)) == "Ready for the next patron."
    assert receipts(settings) == []


async def test_the_patron_form_turns_receipts_on_and_off(desk, settings, patrons):
    client = desk.client
    page = await (await client.get(f"/patrons/{patrons['eli']}/edit")).get_data(as_text=True)
    assert "Email a receipt after each visit" in page
    form = {
        "csrf_token": desk.token,
        "name": "Eli Park",
        "email": "s9002@example.com",
        "role": "Student",
        "card_number": "S9002",
        "group": "",
        "active": "1",
        "email_receipts": "1",
    }
    response = await client.post(f"/patrons/{patrons['eli']}/edit", form=form)
    assert response.status_code == 303
    chosen = "SELECT EmailReceipts FROM Users WHERE UserID = ?"
    assert sql(settings, chosen, (patrons["eli"],))[0][0] == 1
    del form["email_receipts"]
    await client.post(f"/patrons/{patrons['eli']}/edit", form=form)
    assert sql(settings, chosen, (patrons["eli"],))[0][0] == 0
