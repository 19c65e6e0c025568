"""My account in a real browser: a student sees their loans and renews one."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from webapp.db import connect_sync
from webapp.templating import short_date

from .conftest import LiveServer, add_loan, add_patron, add_title, log_in

LENT = date.today() - timedelta(days=3)
DUE = date.today() + timedelta(days=11)


def _sam_with_a_renewable_loan(conn: sqlite3.Connection) -> None:
    sam = add_patron(conn, "Sam Student", "S9001", email="sam@example.com")
    [copy_id] = add_title(conn, "Renewal Rules", ["RR-1"])
    add_loan(conn, sam, copy_id, LENT, DUE)


def _due_date_of(server: LiveServer, barcode: str) -> date:
    conn = connect_sync(server.database)
    try:
        row = conn.execute(
            "SELECT l.ReturnDate FROM Loans l JOIN Copies c ON c.CopyID = l.CopyID "
            "WHERE c.Barcode = ? AND l.ReturnedAt IS NULL",
            (barcode,),
        ).fetchone()
    finally:
        conn.close()
    return date.fromisoformat(row[0])


def test_a_student_sees_a_loan_and_renews_it(start_server: Callable[..., LiveServer], page: Page):
    server = start_server(prepare=_sam_with_a_renewable_loan)
    log_in(page, server, "sam@example.com")
    expect(page).to_have_url(re.compile(r"/account$"))
    row = page.get_by_role("row").filter(has_text="Renewal Rules")
    expect(row).to_contain_text(f"due {short_date(DUE)}")
    expect(row).to_contain_text("0 of 2")

    row.get_by_role("button", name="Renew Renewal Rules").click()

    expect(page.locator("#account-message")).to_contain_text("Renewed: Renewal Rules")
    new_due = _due_date_of(server, "RR-1")
    assert new_due > DUE
    expect(row).to_contain_text(f"due {short_date(new_due)}")
    expect(row).to_contain_text("1 of 2")
