"""A loan's staff actions (due date, renew anyway, lost, claims returned) and "Lend anyway" in
a real browser: on a 360 px phone and in dark mode, checked by axe-core, by keyboard, and
without JavaScript."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from .conftest import (
    LiveServer,
    add_loan,
    add_patron,
    add_title,
    has_horizontal_scroll,
    log_in,
    serious_accessibility_violations,
)

PHONE = {"width": 360, "height": 740}


def _rita_at_her_limit(conn: sqlite3.Connection) -> None:
    """Rita Rule, a student with one loan at the limit of one (renewed twice already), and
    a second copy on the shelf."""
    rita = add_patron(conn, "Rita Rule", "R001")
    [copy] = add_title(conn, "Rulebook", ["RB-1"])
    add_title(conn, "Second Rulebook", ["RB-2"])
    today = date.today()
    loan = add_loan(conn, rita, copy, today - timedelta(days=3), today + timedelta(days=2))
    conn.execute("UPDATE Loans SET Renewals = 2 WHERE LoanID = ?", (loan,))
    conn.execute("UPDATE PatronCategories SET MaxLoans = 1 WHERE Name = 'Student'")


def _rita_id(server: LiveServer) -> int:
    conn = sqlite3.connect(server.database)
    try:
        return conn.execute("SELECT UserID FROM Users WHERE CardNumber = 'R001'").fetchone()[0]
    finally:
        conn.close()


def test_the_patron_page_actions_fit_a_phone_and_pass_axe_in_light_and_dark(
    start_server, open_page
):
    server = start_server(prepare=_rita_at_her_limit)
    page: Page = open_page(**PHONE)
    log_in(page, server, "bob@example.com")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(server.url(f"/patrons/{_rita_id(server)}"))
        page.locator("details.loan-actions summary").first.click()
        expect(page.get_by_label("New due date")).to_be_visible()
        assert not has_horizontal_scroll(page)
        assert serious_accessibility_violations(page) == []


def test_the_patron_page_actions_work_without_javascript(start_server, open_page):
    # No page.evaluate here: with JavaScript off it never returns.
    server = start_server(prepare=_rita_at_her_limit)
    page: Page = open_page(**PHONE, javascript=False)
    log_in_without_js(page, server)
    page.goto(server.url(f"/patrons/{_rita_id(server)}"))
    page.locator("details.loan-actions summary").first.click()
    page.get_by_label("Reason", exact=True).fill("exam week")
    page.get_by_label("New due date").fill((date.today() + timedelta(days=10)).isoformat())
    page.get_by_role("button", name="Change due date of Rulebook").click()
    expect(page.locator("#flash")).to_contain_text("Due date changed: Rulebook")
    expect(page.locator("#overrides")).to_contain_text("because: exam week")
    page.locator("details.loan-actions summary").first.click()
    page.get_by_role("button", name="Mark lost Rulebook").click()
    expect(page.locator("#flash")).to_contain_text("Marked lost: Rulebook (RB-1)")
    expect(page.locator("#patron")).to_contain_text("(lost)")


def log_in_without_js(page: Page, server: LiveServer) -> None:
    page.goto(server.url("/login"))
    page.get_by_label("Email address").fill("bob@example.com")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#flash")).to_contain_text("Signed in as")


def test_lend_anyway_and_renew_anyway_at_the_desk_by_keyboard(start_server, open_page):
    server = start_server(prepare=_rita_at_her_limit)
    page: Page = open_page(dark=True)
    log_in(page, server, "bob@example.com")
    page.goto(server.url("/desk"))
    expect(page.locator("#scan")).to_be_focused()
    for code in ("R001", "RB-2"):
        page.keyboard.type(code)
        page.keyboard.press("Enter")
        # Each scan's answer is the newest line of the scan log.
        expect(page.locator("#scan-log li").first).to_contain_text(
            "Patron: Rita Rule" if code == "R001" else "the limit for Student (1)"
        )
    reason = page.get_by_label("Lend RB-2 anyway: reason (kept in the event log)")
    expect(reason).to_be_visible()
    assert serious_accessibility_violations(page) == []
    reason.focus()
    page.keyboard.type("class project")
    page.keyboard.press("Enter")
    expect(page.locator("#desk-message")).to_contain_text("Lent: Second Rulebook to Rita Rule")
    expect(page.locator("#desk-message")).to_contain_text("Override logged.")
    # The answer has settled once the scan box has the focus back (data-autofocus);
    # moving the focus before then would see it taken back to the scan box.
    expect(page.locator("#scan")).to_be_focused()

    first_loan = page.locator("#desk-loans tbody tr").filter(has_not_text="Second Rulebook")
    summary = first_loan.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    renew_reason = page.locator("#desk-loans").get_by_label("Renew past the limit (2): reason")
    expect(renew_reason).to_be_visible()
    assert serious_accessibility_violations(page) == []
    renew_reason.focus()
    page.keyboard.type("off sick")
    page.keyboard.press("Enter")
    expect(page.locator("#desk-message")).to_contain_text("Renewed: Rulebook")


def test_a_loans_actions_at_the_desk_open_as_a_page_without_javascript(start_server, open_page):
    """The desk loads a loan's actions when "More" opens; without JavaScript "More" holds a
    link to them as a page, whose forms answer with the desk again."""
    server = start_server(prepare=_rita_at_her_limit)
    page: Page = open_page(**PHONE, javascript=False)
    log_in_without_js(page, server)
    page.goto(server.url("/desk"))
    page.get_by_role("textbox", name="Scan a card or a copy barcode").fill("R001")
    page.get_by_role("button", name="Scan", exact=True).click()
    page.locator("details.loan-actions summary").first.click()
    page.locator("#desk-loans").get_by_role("link", name="Overrides, lost, claims returned").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rulebook (RB-1)")
    assert not has_horizontal_scroll(page)
    page.get_by_role("button", name="Mark lost Rulebook").click()
    expect(page.locator("#desk-message")).to_contain_text("Marked lost: Rulebook (RB-1)")
    expect(page.locator("#desk-panel")).to_contain_text("Nothing on loan.")
