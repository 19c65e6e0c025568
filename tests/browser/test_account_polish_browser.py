"""My account on a phone and by keyboard: no sideways scrolling, the reason in place of a
Renew button the rules would refuse, and the focus kept on the row after Renew or Cancel."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from .conftest import LiveServer, add_loan, add_patron, add_title, has_horizontal_scroll, log_in

TODAY = date.today()
PHONE = {"width": 360, "height": 740}


def _sam_with_loans_and_holds(conn: sqlite3.Connection) -> None:
    sam = add_patron(conn, "Sam Student", "S9001", email="sam@example.com")
    [renewable] = add_title(conn, "Renewal Rules", ["RR-1"])
    add_loan(conn, sam, renewable, TODAY - timedelta(days=3), TODAY + timedelta(days=11))
    [twice] = add_title(conn, "Twice Renewed", ["TR-1"])
    loan = add_loan(conn, sam, twice, TODAY - timedelta(days=20), TODAY + timedelta(days=8))
    conn.execute("UPDATE Loans SET Renewals = 2 WHERE LoanID = ?", (loan,))
    [late] = add_title(conn, "A Rather Late Book", ["LB-1"])
    add_loan(conn, sam, late, TODAY - timedelta(days=30), TODAY - timedelta(days=3))
    [ready] = add_title(conn, "An Extraordinarily Long Title Waiting on the Hold Shelf", ["HS-1"])
    conn.execute(
        "INSERT INTO Holds (UserID, BookID, Status, CopyID, PickupBy) "
        "SELECT ?, BookID, 'ready', CopyID, ? FROM Copies WHERE CopyID = ?",
        (sam, (TODAY + timedelta(days=5)).isoformat(), ready),
    )
    [queued] = add_title(conn, "Queued Title", ["QT-1"])
    conn.execute(
        "INSERT INTO Holds (UserID, BookID) SELECT ?, BookID FROM Copies WHERE CopyID = ?",
        (sam, queued),
    )


def test_on_a_phone_my_account_fits_and_the_old_due_date_sits_with_its_value(
    start_server: Callable[..., LiveServer], open_page
):
    server = start_server(prepare=_sam_with_loans_and_holds)
    page: Page = open_page(**PHONE)
    log_in(page, server, "sam@example.com")
    page.goto(server.url("/account"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    assert not has_horizontal_scroll(page)
    badge = page.locator(".badge", has_text="Ready at the desk")
    assert badge.bounding_box()["x"] + badge.bounding_box()["width"] <= PHONE["width"]
    late_row = page.get_by_role("row").filter(has_text="A Rather Late Book")
    due_cell = late_row.locator("td[data-label=Due]")
    was_due = due_cell.locator("span", has_text="was due")
    label_width = due_cell.evaluate("cell => parseFloat(getComputedStyle(cell, '::before').width)")
    # "(was due …)" is in the value column, beside the label, not under it.
    assert was_due.bounding_box()["x"] > due_cell.bounding_box()["x"] + label_width
    assert abs(was_due.bounding_box()["y"] - due_cell.bounding_box()["y"]) < 20


def test_a_renewal_the_rules_refuse_shows_why_instead_of_a_button(
    start_server: Callable[..., LiveServer], page: Page
):
    server = start_server(prepare=_sam_with_loans_and_holds)
    log_in(page, server, "sam@example.com")
    page.goto(server.url("/account"))
    twice = page.get_by_role("row").filter(has_text="Twice Renewed")
    expect(twice).to_contain_text("Already renewed twice")
    expect(twice.get_by_role("button")).to_have_count(0)
    late = page.get_by_role("row").filter(has_text="A Rather Late Book")
    expect(late).to_contain_text("Overdue: bring it back")
    expect(late.get_by_role("button")).to_have_count(0)
    renewable = page.get_by_role("row").filter(has_text="Renewal Rules")
    expect(renewable.get_by_role("button", name="Renew Renewal Rules")).to_be_visible()


def test_after_renew_or_cancel_the_focus_stays_on_the_row(
    start_server: Callable[..., LiveServer], page: Page
):
    server = start_server(prepare=_sam_with_loans_and_holds)
    log_in(page, server, "sam@example.com")
    page.goto(server.url("/account"))
    page.get_by_role("button", name="Renew Renewal Rules").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#account-message")).to_contain_text("Renewed: Renewal Rules")
    # Renewed today, a second renewal would not move the date: the row says from when.
    row = page.get_by_role("row").filter(has_text="Renewal Rules")
    reason = row.locator(".renew-why")
    expect(reason).to_contain_text("Renew from")
    expect(reason).to_be_focused()

    page.get_by_role("button", name="Cancel hold on Queued Title").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#account-message")).to_contain_text("Queued Title")
    expect(page.get_by_role("row").filter(has_text="Queued Title")).to_have_count(0)
    expect(page.get_by_role("heading", name="Holds")).to_be_focused()
