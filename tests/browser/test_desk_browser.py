"""The desk in a real browser, by keyboard alone, as with a keyboard-wedge scanner."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date, timedelta

from playwright.sync_api import Locator, Page, expect

from .conftest import LiveServer, add_loan, add_patron, add_title, log_in

# Far more than the desk has controls: reaching this many means the target is not reachable.
MAX_TABS = 40


def _kim_and_three_copies(conn: sqlite3.Connection) -> None:
    """Kim Keys, a student with nothing out; three copies on the shelf; and a title whose
    only copy is out with someone else, so it can be held."""
    add_patron(conn, "Kim Keys", "K001")
    add_title(conn, "Keyboard Tales", ["KB-1"])
    add_title(conn, "Tab Order", ["KB-2"])
    add_title(conn, "Enter and Escape", ["KB-3"])
    [copy_out] = add_title(conn, "The Waiting Game", ["WG-1"])
    borrower = add_patron(conn, "Otto Other", "O001")
    today = date.today()
    add_loan(conn, borrower, copy_out, today - timedelta(days=2), today + timedelta(days=12))


def _desk_as_librarian(page: Page, server: LiveServer) -> None:
    log_in(page, server, "bob@example.com")
    page.goto(server.url("/desk"))
    expect(page.locator("#scan")).to_be_focused()


def _scan(page: Page, code: str) -> None:
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def _tab_to(page: Page, target: Locator, key: str = "Tab") -> None:
    """Press Tab (or ``key``, e.g. Shift+Tab) until ``target`` has the focus, as a
    keyboard user would."""
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{MAX_TABS} presses of {key} never reached {target}")


def test_a_scanner_selects_the_patron_lends_and_the_focus_stays_in_the_scan_box(
    start_server: Callable[..., LiveServer], page: Page
):
    server = start_server(prepare=_kim_and_three_copies)
    _desk_as_librarian(page, server)
    scan_box = page.locator("#scan")
    message = page.locator("#scan-log > li").first

    _scan(page, "K001")
    expect(message).to_contain_text("Patron: Kim Keys")
    expect(page.locator("#desk-panel")).to_contain_text("Nothing on loan")
    expect(scan_box).to_be_focused()

    # The box empties as each scan is sent, so the next scan starts afresh.
    _scan(page, "KB-1")
    expect(message).to_contain_text("Lent: Keyboard Tales to Kim Keys")
    expect(page.locator("#desk-loans")).to_contain_text("Keyboard Tales")
    expect(scan_box).to_be_focused()

    _scan(page, "KB-1")
    expect(message).to_contain_text("Scanned twice, counted once")
    expect(scan_box).to_be_focused()
    expect(scan_box).to_have_value("")
    expect(page.locator("#scan-log > li")).to_have_count(3)


def test_a_librarian_lends_returns_renews_and_holds_by_keyboard_alone(
    start_server: Callable[..., LiveServer], page: Page
):
    server = start_server(prepare=_kim_and_three_copies)
    _desk_as_librarian(page, server)
    scan_box = page.locator("#scan")
    message = page.locator("#scan-log > li").first
    loans = page.locator("#desk-loans")

    _scan(page, "K001")
    expect(message).to_contain_text("Patron: Kim Keys")
    expect(scan_box).to_be_focused()

    for barcode, title in [
        ("KB-1", "Keyboard Tales"),
        ("KB-2", "Tab Order"),
        ("KB-3", "Enter and Escape"),
    ]:
        _scan(page, barcode)
        expect(message).to_contain_text(f"Lent: {title} to Kim Keys")
        expect(loans).to_contain_text(title)
        expect(scan_box).to_be_focused()
    expect(loans.locator("tbody tr")).to_have_count(3)

    # Scanning a copy lent a moment ago counts as a scanner's double read in the
    # "Lend or return" mode, so the librarian switches to "Return only" first.
    _tab_to(page, page.get_by_role("radio", name="Lend or return"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("radio", name="Return only")).to_be_checked()
    _tab_to(page, scan_box, key="Shift+Tab")
    _scan(page, "KB-2")
    expect(message).to_contain_text("Returned: Tab Order")
    expect(loans.locator("tbody tr")).to_have_count(2)
    expect(loans).not_to_contain_text("Tab Order")
    expect(scan_box).to_be_focused()

    # Due in two days, so that the renewal moves the date (on the day of lending it is too soon).
    conn = sqlite3.connect(server.database)
    with conn:
        conn.execute(
            "UPDATE Loans SET ReturnDate = date('now', '+2 days') WHERE ReturnedAt IS NULL "
            "AND CopyID = (SELECT CopyID FROM Copies WHERE Barcode = 'KB-1')"
        )
    conn.close()
    # The panel's own actions answer in the message under the scan box.
    message = page.locator("#desk-message")
    _tab_to(page, page.get_by_role("button", name="Renew Keyboard Tales"))
    page.keyboard.press("Enter")
    expect(message).to_contain_text("Renewed: Keyboard Tales")
    expect(message).to_contain_text("renewal 1 of 2")
    expect(scan_box).to_be_focused()

    _tab_to(page, page.get_by_label("Hold a title for Kim Keys"))
    page.keyboard.type("WG-1")
    page.keyboard.press("Enter")
    expect(message).to_contain_text(
        "Hold placed: The Waiting Game for Kim Keys, number 1 in the queue."
    )
    expect(page.locator("#desk-holds")).to_contain_text("The Waiting Game")
    expect(scan_box).to_be_focused()

    # Back in the scan box, the next scan works straight away.
    _scan(page, "KB-3")
    expect(page.locator("#scan-log > li").first).to_contain_text("Returned: Enter and Escape")
    expect(scan_box).to_be_focused()
