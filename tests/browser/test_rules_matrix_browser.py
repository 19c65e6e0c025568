"""The rules matrix in a real browser: an admin edits one cell in place by keyboard, the desk
lends with it at once, a bad value is refused beside its field, and without JavaScript the
cell's own page does the same."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from .conftest import add_patron, add_title, log_in, serious_accessibility_violations


def _shelf(conn: sqlite3.Connection) -> None:
    add_patron(conn, "Mira Matrix", "M001")
    add_title(conn, "Matrix Tales", ["MX-1"])


def _cell(page: Page, name: str):
    """The matrix cell whose Edit or Set link is named for ``name`` ("Book × Student")."""
    link = page.get_by_role("link", name=f"the rule for {name}", exact=False)
    return link, page.locator("td.rule-cell").filter(has=link)


def test_an_admin_edits_a_cell_by_keyboard_and_the_desk_lends_with_it_at_once(
    start_server, open_page
):
    server = start_server(prepare=_shelf)
    page: Page = open_page(dark=True)
    log_in(page, server, "carol@example.com")
    page.goto(server.url("/admin/rules"))
    link, _ = _cell(page, "Book × Student")
    expect(link).to_have_text("Set the rule for Book × Student")
    link.focus()
    page.keyboard.press("Enter")
    days = page.get_by_label("Days", exact=True)
    expect(days).to_be_focused()
    days.fill("3")
    page.get_by_label("Renewals", exact=True).fill("0")
    assert serious_accessibility_violations(page) == []
    page.keyboard.press("Enter")  # submits the cell's form
    saved = page.locator("td.rule-cell", has_text="Saved: rule Book × Student")
    expect(saved).to_contain_text("3 days, no renewals")
    expect(saved.get_by_role("link", name="Edit the rule for Book × Student")).to_be_focused()

    page.goto(server.url("/desk"))
    expect(page.locator("#scan")).to_be_focused()
    for code, answer in (("M001", "Patron: Mira Matrix"), ("MX-1", "Book, Student: 3 days")):
        page.keyboard.type(code)
        page.keyboard.press("Enter")
        # Each scan's answer is the newest line of the scan log.
        expect(page.locator("#scan-log li").first).to_contain_text(answer)
    due = date.today() + timedelta(days=3)
    expect(page.locator("#desk-loans")).to_contain_text("Book, Student: 3 days, no renewals")
    conn = sqlite3.connect(server.database)
    try:
        assert conn.execute("SELECT ReturnDate FROM Loans ORDER BY LoanID DESC").fetchone()[0] == (
            due.isoformat()
        )
    finally:
        conn.close()


def test_a_bad_value_is_refused_in_the_cell_and_nothing_is_saved(start_server, open_page):
    server = start_server()
    page: Page = open_page(width=360, height=740)
    log_in(page, server, "carol@example.com")
    page.goto(server.url("/admin/rules"))
    link, _ = _cell(page, "DVD × any category")
    link.click()
    page.get_by_label("Days", exact=True).fill("400")
    page.get_by_role("button", name="Save the rule for DVD × any category").click()
    cell = page.locator("td.rule-cell.editing")
    expect(cell).to_contain_text("Nothing was saved: Loan period: a whole number of days")
    expect(page.get_by_label("Days", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Days", exact=True)).to_be_focused()
    assert serious_accessibility_violations(page) == []
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("td.rule-cell", has_text="7 days, 1 renewal, at most 2")).to_be_visible()


def test_without_javascript_a_cell_is_edited_on_its_own_page(start_server, open_page):
    server = start_server()
    page: Page = open_page(javascript=False)
    page.goto(server.url("/login"))
    page.get_by_label("Email address").fill("carol@example.com")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    page.goto(server.url("/admin/rules"))
    link, _ = _cell(page, "Laptop × any category")
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rule: Laptop × any category")
    page.get_by_label("Not for loan").check()
    page.get_by_role("button", name="Save the rule").click()
    expect(page.locator("main")).to_contain_text("Saved: rule Laptop × any category: Not for loan")
    expect(page.locator("td.rule-cell", has_text="Not for loan").first).to_be_visible()
