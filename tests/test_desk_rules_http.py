"""The desk's rules over HTTP: too-soon renewals, lost and found, claims returned and staff
overrides. Each refusal is a 4xx with the reason and changes nothing; students get none."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from webapp.clock import library_today

from .conftest import log_in
from .test_circulation_http import HX, Desk, add_book, add_patron, message_of, open_loans, sql


@pytest.fixture
def demo_database(demo_copy):
    return demo_copy


@pytest.fixture
def today(settings) -> date:
    return library_today(settings)


@pytest.fixture
async def desk(app) -> Desk:
    client = app.test_client()
    return Desk(client, await log_in(client, "bob@example.com"))


@pytest.fixture
def dana(settings) -> int:
    """Dana (a student, card S9001) and a title with copies T1, T2 and T3 on the shelf."""
    add_book(settings, "Tidewater", ("T1", "T2", "T3"))
    return add_patron(settings, "Dana Ito", "S9001")


def state(settings) -> tuple:
    """Everything an action may change: loans, copies' statuses and the event count."""
    return (
        [tuple(row) for row in sql(settings, "SELECT * FROM Loans ORDER BY LoanID")],
        [tuple(row) for row in sql(settings, "SELECT CopyID, Status FROM Copies ORDER BY CopyID")],
        sql(settings, "SELECT count(*) FROM Events")[0][0],
    )


async def lent(desk, settings, barcode: str = "T1") -> int:
    await desk.scan("S9001")
    response, html = await desk.scan(barcode, mode="lend")
    assert response.status_code == 200, message_of(html)
    return open_loans(settings, barcode)[0]["LoanID"]


async def test_a_renewal_on_the_day_of_lending_is_refused_as_too_soon(desk, settings, dana, today):
    loan_id = await lent(desk, settings)
    before = state(settings)
    response = await desk.post("/desk/renew", loan_id=str(loan_id))
    assert response.status_code == 422
    message = message_of(await response.get_data(as_text=True))
    assert "Tidewater cannot be renewed. Too soon to renew: it is already due" in message
    assert state(settings) == before


async def test_mark_lost_at_the_desk_closes_the_loan_and_a_scan_brings_the_copy_back(
    desk, settings, dana
):
    loan_id = await lent(desk, settings)
    panel = await (await desk.client.get("/desk", headers=HX)).get_data(as_text=True)
    # The panel links each loan's actions; they load when "More" opens (or as a page).
    assert f'href="/loans/{loan_id}/actions"' in panel
    actions = await desk.client.get(f"/loans/{loan_id}/actions", headers=HX)
    forms = await actions.get_data(as_text=True)
    assert f'action="/loans/{loan_id}/lost"' in forms and "Claims returned" in forms
    page = await (await desk.client.get(f"/loans/{loan_id}/actions")).get_data(as_text=True)
    assert "<html" in page and "Lent to" in page and f'action="/loans/{loan_id}/lost"' in page
    response = await desk.post(f"/loans/{loan_id}/lost")
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Marked lost: Tidewater (T1), Dana Ito's loan is closed" in message_of(html)
    (loan,) = sql(settings, "SELECT ClosedAs, ReturnedAt FROM Loans WHERE LoanID = ?", (loan_id,))
    assert loan["ClosedAs"] == "lost" and loan["ReturnedAt"]
    assert sql(settings, "SELECT Status FROM Copies WHERE Barcode = 'T1'")[0][0] == "lost"
    assert "Nothing on loan." in html

    # Found: scanned in return mode, or to lend while a patron is at the desk.
    response, html = await desk.scan("T1", mode="return")
    assert response.status_code == 200
    assert "Found: Tidewater (T1) is back in stock." in message_of(html)
    assert sql(settings, "SELECT Status FROM Copies WHERE Barcode = 'T1'")[0][0] == "in_stock"
    sql(settings, "UPDATE Copies SET Status = 'lost' WHERE Barcode = 'T2'")
    response, html = await desk.scan("T2")
    assert response.status_code == 200 and "Found: Tidewater (T2)" in message_of(html)
    assert open_loans(settings, "T2") == []
    kinds = [row[0] for row in sql(settings, "SELECT Kind FROM Events ORDER BY EventID")[-3:]]
    assert kinds == ["lost", "found", "found"]


async def test_claims_returned_from_the_patron_page_shows_there_and_on_the_copy(
    desk, settings, dana
):
    loan_id = await lent(desk, settings)
    page = await (await desk.client.get(f"/patrons/{dana}")).get_data(as_text=True)
    assert f'action="/loans/{loan_id}/claims-returned"' in page
    assert 'name="back" value="patron"' in page
    response = await desk.post(f"/loans/{loan_id}/claims-returned", htmx=False, back="patron")
    assert response.status_code == 303 and response.headers["Location"] == f"/patrons/{dana}"
    page = await (await desk.client.get(f"/patrons/{dana}")).get_data(as_text=True)
    assert "Claims returned: Tidewater (T1)" in page  # the flash message
    assert "(claims returned)" in page  # the returned list
    copy_page = await (await desk.client.get("/copies/T1")).get_data(as_text=True)
    assert "the borrower says they returned it (claims returned)" in copy_page
    # The loan is closed: closing it again is refused and changes nothing.
    before = state(settings)
    response = await desk.post(f"/loans/{loan_id}/lost")
    assert response.status_code == 422
    assert "There is no such open loan." in message_of(await response.get_data(as_text=True))
    response = await desk.post(f"/loans/{loan_id}/lost", htmx=False, back="patron")
    assert response.status_code == 404
    assert state(settings) == before


async def test_lend_anyway_is_offered_after_a_limit_refusal_and_needs_a_reason(
    desk, settings, dana
):
    sql(settings, "UPDATE PatronCategories SET MaxLoans = 1 WHERE Name = 'Student'")
    await lent(desk, settings)
    response, html = await desk.scan("T2", mode="lend")
    assert response.status_code == 422
    assert 'id="lend-anyway"' in html and 'name="barcode" value="T2"' in html
    before = state(settings)
    for reason, says in [
        ("", "Give a reason for the override (3 to 500 characters)."),
        ("no", "Give a reason for the override"),
        ("x" * 501, "Keep the reason to 500 characters."),
    ]:
        response = await desk.post("/desk/lend-anyway", barcode="T2", reason=reason)
        html = await response.get_data(as_text=True)
        assert response.status_code == 422 and says in message_of(html)
        assert 'id="lend-anyway"' in html  # offered again
    assert state(settings) == before

    response = await desk.post("/desk/lend-anyway", barcode="T2", reason="class project")
    assert response.status_code == 200
    assert "Lent: Tidewater to Dana Ito" in message_of(await response.get_data(as_text=True))
    assert len(open_loans(settings, "T2")) == 1
    page = await (await desk.client.get(f"/patrons/{dana}")).get_data(as_text=True)
    overrides = page.split('id="overrides"')[1].split("</ul>")[0]
    assert "lent past a rule (Dana Ito has 1 loans, the limit for Student (1).)" in overrides
    assert "because: class project (by Bob Johnson)" in overrides


async def test_lend_anyway_never_lends_what_cannot_be_overridden(desk, settings, dana):
    sql(settings, "UPDATE Copies SET Status = 'withdrawn' WHERE Barcode = 'T3'")
    await desk.scan("S9001")
    response, html = await desk.scan("T3", mode="lend")
    assert response.status_code == 422 and 'id="lend-anyway"' not in html
    before = state(settings)
    for form in ({"barcode": "T3"}, {"barcode": "NOPE"}, {"barcode": ""}, {"barcode": "x" * 300}):
        response = await desk.post("/desk/lend-anyway", reason="because I say so", **form)
        assert response.status_code == 422, form
    response = await desk.post("/desk/lend-anyway", barcode="T3", reason="because I say so")
    assert "withdrawn and cannot be lent. That cannot be overridden." in message_of(
        await response.get_data(as_text=True)
    )
    await desk.post("/desk/done")
    response = await desk.post("/desk/lend-anyway", barcode="T1", reason="because I say so")
    assert response.status_code == 422
    assert "Scan the patron's card first" in message_of(await response.get_data(as_text=True))
    assert state(settings) == before


async def test_a_due_date_change_refuses_bad_dates_and_logs_a_good_one(desk, settings, dana, today):
    loan_id = await lent(desk, settings)
    sql(settings, "INSERT INTO ClosedDays (Day) VALUES (?)", ((today + timedelta(20)).isoformat(),))
    before = state(settings)
    for due, reason, says in [
        ((today - timedelta(1)).isoformat(), "exam week", "is in the past"),
        ((today + timedelta(20)).isoformat(), "exam week", "The library is closed on"),
        ((today + timedelta(400)).isoformat(), "exam week", "at most 365 days ahead"),
        ("2026-02-30", "exam week", "Choose the new due date"),
        ("soon", "exam week", "Choose the new due date"),
        ((today + timedelta(21)).isoformat(), "", "Give a reason"),
    ]:
        response = await desk.post(f"/loans/{loan_id}/due", due=due, reason=reason)
        assert response.status_code == 422, due
        assert says in message_of(await response.get_data(as_text=True)), due
        response = await desk.post(
            f"/loans/{loan_id}/due", htmx=False, due=due, reason=reason, back="patron"
        )
        assert response.status_code == 422 and says in await response.get_data(as_text=True)
    assert state(settings) == before

    new_due = today + timedelta(21)
    response = await desk.post(
        f"/loans/{loan_id}/due", htmx=False, due=new_due.isoformat(), reason="exam week",
        back="patron",
    )  # fmt: skip
    assert response.status_code == 303
    assert open_loans(settings, "T1")[0]["ReturnDate"] == new_due.isoformat()
    page = await (await desk.client.get(f"/patrons/{dana}")).get_data(as_text=True)
    assert "Due date changed: Tidewater" in page
    assert f"→ {new_due.isoformat()} because: exam week" in page.split('id="overrides"')[1]


async def test_renew_anyway_past_the_limit_needs_a_reason_and_is_logged(
    desk, settings, dana, today
):
    loan_id = await lent(desk, settings)
    sql(settings, "UPDATE Loans SET Renewals = 2, ReturnDate = ? WHERE LoanID = ?",
        ((today + timedelta(2)).isoformat(), loan_id))  # fmt: skip
    response = await desk.post("/desk/renew", loan_id=str(loan_id))
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    assert f'action="/loans/{loan_id}/renew-anyway"' in html
    before = state(settings)
    response = await desk.post(f"/loans/{loan_id}/renew-anyway", reason="  ")
    assert response.status_code == 422 and state(settings) == before
    response = await desk.post(f"/loans/{loan_id}/renew-anyway", reason="off sick all week")
    assert response.status_code == 200
    assert "Override logged" in message_of(await response.get_data(as_text=True))
    (loan,) = open_loans(settings, "T1")
    assert loan["Renewals"] == 3 and loan["ReturnDate"] == (today + timedelta(14)).isoformat()
    # Nothing to override for an unknown loan.
    response = await desk.post("/loans/999999/renew-anyway", reason="off sick all week")
    assert response.status_code == 422


async def test_students_get_no_overrides_and_cannot_close_loans(app, desk, settings, dana):
    loan_id = await lent(desk, settings)
    student = app.test_client()
    token = await log_in(student, "s9001@example.com")
    before = state(settings)
    for path, form in [
        (f"/loans/{loan_id}/lost", {}),
        (f"/loans/{loan_id}/claims-returned", {}),
        (f"/loans/{loan_id}/due", {"due": "2099-01-01", "reason": "I want it"}),
        (f"/loans/{loan_id}/renew-anyway", {"reason": "I want it"}),
        ("/desk/lend-anyway", {"barcode": "T2", "reason": "I want it"}),
    ]:
        response = await student.post(path, form={"csrf_token": token, **form}, headers=HX)
        assert response.status_code == 403, path
    assert (await student.get(f"/loans/{loan_id}/actions", headers=HX)).status_code == 403
    assert state(settings) == before


async def test_the_actions_of_an_unknown_or_returned_loan_are_not_found(desk, settings, dana):
    loan_id = await lent(desk, settings)
    await desk.scan("T1", mode="return")
    for path in (f"/loans/{loan_id}/actions", "/loans/999999/actions"):
        assert (await desk.client.get(path)).status_code == 404, path
