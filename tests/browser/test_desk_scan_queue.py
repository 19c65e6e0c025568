"""The desk's scan queue on a slow network, as a barcode scanner uses it.

A scanner types a code in about 50 ms and presses Enter; at a real desk the next scan
follows 100 ms later, long before the answer to the last one is back. Chrome's network
emulation (DevTools protocol) adds the round-trip latency of a slow school network, and
the database, not the screen, says who got what.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from .conftest import (
    LiveServer,
    add_loan,
    add_patron,
    add_title,
    emulate_latency,
    log_in,
    serious_accessibility_violations,
)
from .test_desk_browser import _tab_to

# Codes alike in all but their last digits, as a library's barcodes are: a scan merged
# with the next (C102168C102169) or split (C102 / 168) would show at once.
COPIES = ["C102168", "C102169", "C102170", "C102171"]
# Scans in a row, the answers to which take seconds on a slow network.
QUEUE_TIMEOUT_MS = 30_000
# Counts the tones the desk plays: AudioContext's oscillators, wrapped before the page runs.
COUNT_TONES = """
window.tonesPlayed = 0;
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.tonesPlayed += 1;
  return createOscillator.call(this);
};
"""


def _library(conn: sqlite3.Connection) -> None:
    """Lena Lag at the desk, Otto Other with a copy out; four copies on the shelf, two more
    out to Lena, one out to Otto, and one out to Otto that Lena is waiting for. A student
    may borrow ten, so that all of it may be hers at once."""
    conn.execute("UPDATE PatronCategories SET MaxLoans = 10 WHERE Name = 'Student'")
    lena = add_patron(conn, "Lena Lag", "L001")
    otto = add_patron(conn, "Otto Other", "O001")
    for number, barcode in enumerate(COPIES):
        add_title(conn, f"Slow Network {number + 1}", [barcode])
    today = date.today()
    for borrower, barcode in [(lena, "R-LENA-1"), (lena, "R-LENA-2"), (otto, "R-OTTO-1")]:
        [copy] = add_title(conn, f"Out {barcode}", [barcode])
        add_loan(conn, borrower, copy, today - timedelta(days=3), today + timedelta(days=11))
    [held] = add_title(conn, "The Awaited Book", ["HOLD-1"])
    add_loan(conn, otto, held, today - timedelta(days=3), today + timedelta(days=11))
    conn.execute(
        "INSERT INTO Holds (UserID, BookID) SELECT ?, BookID FROM Copies WHERE CopyID = ?",
        (lena, held),
    )


def _open_loans(server: LiveServer) -> dict[str, str]:
    """Each copy on loan now, and who has it."""
    conn = sqlite3.connect(server.database)
    try:
        return dict(
            conn.execute(
                "SELECT c.Barcode, u.Name FROM Loans l JOIN Copies c ON c.CopyID = l.CopyID "
                "JOIN Users u ON u.UserID = l.UserID WHERE l.ReturnedAt IS NULL"
            ).fetchall()
        )
    finally:
        conn.close()


def _at_the_desk(page: Page, server: LiveServer, latency_ms: int = 0) -> None:
    page.add_init_script(COUNT_TONES)
    log_in(page, server, "bob@example.com")
    page.goto(server.url("/desk"))
    expect(page.locator("#scan")).to_be_focused()
    if latency_ms:
        emulate_latency(page, latency_ms)


def _scan_like_a_scanner(page: Page, codes: list[str]) -> None:
    """Type each code as a scanner does and press Enter, 100 ms after the last Enter."""
    for code in codes:
        page.keyboard.type(code, delay=5)
        page.keyboard.press("Enter")
        page.wait_for_timeout(100)


def _expect_log(page: Page, lines: list[str]) -> None:
    """The scan log shows exactly these lines, oldest first in ``lines`` (newest on top)."""
    log = page.locator("#scan-log > li")
    expect(log).to_have_count(len(lines), timeout=QUEUE_TIMEOUT_MS)
    for position, text in enumerate(reversed(lines)):
        expect(log.nth(position)).to_contain_text(text, timeout=QUEUE_TIMEOUT_MS)


@pytest.mark.parametrize("latency_ms", [400, 800])
@pytest.mark.parametrize("mode", ["Lend only", "Return only", "Lend or return"])
def test_four_copies_scanned_100_ms_apart_after_a_card_all_reach_the_right_patron(
    start_server: Callable[..., LiveServer], page: Page, latency_ms: int, mode: str
):
    server = start_server(prepare=_library)
    _at_the_desk(page, server, latency_ms)
    page.get_by_role("radio", name=mode).check()
    page.locator("#scan").focus()
    before = _open_loans(server)
    if mode == "Return only":
        copies = ["R-LENA-1", "R-LENA-2", "R-OTTO-1", "HOLD-1"]
    elif mode == "Lend or return":
        copies = [COPIES[0], "R-LENA-1", COPIES[1], "R-LENA-2"]  # her own come back
    else:
        copies = COPIES

    _scan_like_a_scanner(page, ["L001", *copies])
    if mode == "Return only":
        # HOLD-1 went to the hold shelf.
        page.get_by_role("button", name="OK", exact=True).press("Enter")
        expected = ["Returned: Out R-LENA-1", "Returned: Out R-LENA-2", "Returned: Out R-OTTO-1"]
        expected.append("Returned: The Awaited Book")
        lent = {}
    elif mode == "Lend or return":
        expected = [
            "Lent: Slow Network 1 to Lena Lag",
            "Returned: Out R-LENA-1",
            "Lent: Slow Network 2 to Lena Lag",
            "Returned: Out R-LENA-2",
        ]
        lent = {COPIES[0]: "Lena Lag", COPIES[1]: "Lena Lag"}
    else:
        expected = [f"Lent: Slow Network {n} to Lena Lag" for n in (1, 2, 3, 4)]
        lent = dict.fromkeys(COPIES, "Lena Lag")
    _expect_log(page, ["Patron: Lena Lag", *expected])

    loans = _open_loans(server)
    assert {code: loans.get(code) for code in copies} == {code: lent.get(code) for code in copies}
    # Each line names the code exactly as scanned: nothing merged or split.
    codes = page.locator("#scan-log .scan-code").all_inner_texts()
    assert codes == list(reversed(["L001", *copies]))
    changed = {code for code in set(before) | set(loans) if before.get(code) != loans.get(code)}
    assert changed == set(copies)
    expect(page.locator("#scan")).to_be_focused()


def test_an_unknown_card_then_a_copy_lends_nothing_and_the_refusals_stay_in_the_log(
    start_server: Callable[..., LiveServer], page: Page
):
    server = start_server(prepare=_library)
    _at_the_desk(page, server, 400)
    before = _open_loans(server)
    _scan_like_a_scanner(page, ["L001"])
    _scan_like_a_scanner(page, ["LOO1", COPIES[0]])  # a mistyped card, then a copy

    _expect_log(
        page,
        [
            "Patron: Lena Lag",
            "Refused: No patron or copy has the barcode “LOO1”. No patron is selected now",
            "Refused: Scan the patron's card first",
        ],
    )
    assert _open_loans(server) == before
    expect(page.locator("#desk-panel")).to_contain_text("No patron selected")
    refusals = page.locator("#scan-log > li .flash.error")
    expect(refusals).to_have_count(2)
    # Said to screen readers at once, and heard.
    expect(page.locator("#scan-refused")).to_have_text(
        "Refused: Scan the patron's card first, then the copies to lend them."
    )
    assert page.evaluate("window.tonesPlayed") > 0
    assert serious_accessibility_violations(page) == []


def test_sounds_can_be_turned_off_and_the_desk_remembers(
    start_server: Callable[..., LiveServer], page: Page
):
    server = start_server(prepare=_library)
    _at_the_desk(page, server)
    sounds = page.get_by_role("checkbox", name="Sounds")
    expect(sounds).to_be_checked()
    sounds.uncheck()
    page.reload()
    expect(page.get_by_role("checkbox", name="Sounds")).not_to_be_checked()
    page.locator("#scan").focus()
    _scan_like_a_scanner(page, ["NOBODY"])
    _expect_log(page, ["Refused: No patron or copy"])
    assert page.evaluate("window.tonesPlayed") == 0


def test_a_copy_out_to_someone_else_asks_first_and_later_scans_wait_for_the_answer(
    start_server: Callable[..., LiveServer], page: Page
):
    server = start_server(prepare=_library)
    _at_the_desk(page, server, 400)
    _scan_like_a_scanner(page, ["L001", "R-OTTO-1", COPIES[0]])

    _expect_log(
        page,
        [
            "Patron: Lena Lag",
            "Question: Out R-OTTO-1 (R-OTTO-1) is on loan to Otto Other.",
            "Waiting: answer the question",
        ],
    )
    expect(page.locator("#scan-refused")).to_contain_text("is on loan to Otto Other")
    loans = _open_loans(server)
    assert loans["R-OTTO-1"] == "Otto Other" and COPIES[0] not in loans
    expect(page.locator("#scan")).to_be_focused()
    assert serious_accessibility_violations(page) == []

    # Answered by keyboard: Tab from the scan box to the answer, Enter.
    _tab_to(page, page.get_by_role("button", name="Return it and lend it to Lena Lag"))
    page.keyboard.press("Enter")
    _expect_log(
        page,
        [
            "Patron: Lena Lag",
            "Lent: Out R-OTTO-1 to Lena Lag",
            "Lent: Slow Network 1 to Lena Lag",
        ],
    )
    expect(page.get_by_role("button", name="Just return it")).to_have_count(0)
    loans = _open_loans(server)
    assert loans["R-OTTO-1"] == "Lena Lag" and loans[COPIES[0]] == "Lena Lag"
    expect(page.locator("#scan")).to_be_focused()


@pytest.mark.parametrize("dark", [False, True])
def test_a_copy_set_aside_for_a_hold_opens_a_dialog_that_needs_a_key(
    start_server: Callable[..., LiveServer], open_page: Callable[..., Page], dark: bool
):
    server = start_server(prepare=_library)
    page = open_page(dark=dark)
    _at_the_desk(page, server)
    _scan_like_a_scanner(page, ["HOLD-1"])

    dialog = page.get_by_role("dialog", name="Put it on the hold shelf")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("The Awaited Book (HOLD-1) is set aside for Lena Lag")
    expect(dialog).to_contain_text("Collect by")
    assert dialog.get_attribute("data-hold-id").isdecimal()
    expect(page.locator("#scan-log > li").first).to_contain_text("Hold shelf: Returned")
    assert page.evaluate("window.tonesPlayed") > 0
    assert serious_accessibility_violations(page) == []

    # A scanner's next keys do not slip past it: only Enter, Escape or OK closes it.
    page.keyboard.type("C1", delay=5)
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape" if dark else "Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#scan")).to_be_focused()
