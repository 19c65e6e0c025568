"""The end of the school year in a browser: next year's class list closes the accounts of
those who left (after confirmation, without JavaScript), the leavers list prints and emails
their letters, and every class moves up in one previewed step."""

from __future__ import annotations

import csv
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from webapp.school_year import next_group

from .conftest import (
    LiveServer,
    add_loan,
    add_patron,
    add_title,
    has_horizontal_scroll,
    log_in,
    serious_accessibility_violations,
)


def school_scenario(conn: sqlite3.Connection) -> None:
    """Ada stays (Year 12); Bo (email, a book out, a hold) and Cy (no email, a book out) leave
    after Year 13."""
    today = date.today()
    ada = add_patron(conn, "Ada Stay", "S6001", "ada@example.com")
    bo = add_patron(conn, "Bo Leave", "S6002", "bo@example.com")
    cy = add_patron(conn, "Cy Leave", "S6003")
    for user_id, group in ((ada, "Year 12"), (bo, "Year 13"), (cy, "Year 13")):
        conn.execute("UPDATE Users SET GroupName = ? WHERE UserID = ?", (group, user_id))
    (bo_copy,) = add_title(conn, "Atlas of Rivers", ["AR1"])
    (cy_copy,) = add_title(conn, "Book of Stars", ["BS1"])
    (held,) = add_title(conn, "Wanted Title", ["WT1"])
    add_loan(conn, bo, bo_copy, today - timedelta(days=20), today + timedelta(days=2))
    add_loan(conn, cy, cy_copy, today - timedelta(days=40), today - timedelta(days=5))
    add_loan(conn, ada, held, today - timedelta(days=3), today + timedelta(days=11))
    conn.execute(
        "INSERT INTO Holds (UserID, BookID) SELECT ?, BookID FROM Copies WHERE CopyID = ?",
        (bo, held),
    )


@pytest.fixture
def school_server(start_server) -> LiveServer:
    return start_server(school_scenario)


def next_years_list(database: Path, folder: Path) -> Path:
    """Next year's class list: every active pupil but Bo and Cy."""
    with sqlite3.connect(database) as conn:
        pupils = conn.execute(
            "SELECT Name, Email, CardNumber, GroupName FROM Users "
            "WHERE Role = 'Student' AND Active = 1 AND CardNumber NOT IN ('S6002', 'S6003')"
        ).fetchall()
    path = folder / "next-year.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "email", "card", "class"])
        writer.writerows(pupils)
    return path


def rows(database: Path, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql, params).fetchall()


def test_leavers_are_found_by_the_class_list_closed_and_sent_their_letters_without_javascript(
    school_server: LiveServer, open_page, tmp_path: Path
):
    page: Page = open_page(javascript=False)
    log_in(page, school_server, "bob@example.com")
    page.goto(school_server.url("/patrons"))
    page.get_by_role("link", name="next year's class list").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Next year's class list")
    page.get_by_label("Class list (CSV)").set_input_files(
        next_years_list(school_server.database, tmp_path)
    )
    page.get_by_role("button", name="Compare").click()

    missing = page.locator("#missing tbody tr")
    expect(missing).to_have_count(2)
    expect(page.locator("#missing")).to_contain_text("Bo Leave")
    expect(page.locator("#missing")).to_contain_text("Cy Leave")
    # Nothing has changed yet.
    assert rows(school_server.database, "SELECT count(*) FROM Users WHERE Active = 0") == [(0,)]

    page.get_by_role("button", name="Close the ticked accounts").click()
    expect(page.locator("#flash")).to_contain_text(
        "2 account(s) closed; 1 hold(s) cancelled (1 patron(s) told by email)."
    )
    assert rows(
        school_server.database,
        "SELECT Name FROM Users WHERE Active = 0 ORDER BY Name",
    ) == [("Bo Leave",), ("Cy Leave",)]
    assert rows(
        school_server.database,
        "SELECT h.Status FROM Holds h JOIN Users u USING (UserID) WHERE u.Name = 'Bo Leave'",
    ) == [("cancelled",)]
    assert rows(
        school_server.database, "SELECT Recipient FROM Outbox WHERE Kind = 'holds_cancelled'"
    ) == [("bo@example.com",)]

    # The leavers page lists both with what they still have out.
    expect(page.get_by_role("heading", level=1)).to_have_text("Leavers with items out")
    leavers = page.locator("#leavers")
    expect(leavers).to_contain_text("Atlas of Rivers (AR1)")
    expect(leavers).to_contain_text("Book of Stars (BS1)")
    expect(leavers).to_contain_text("Cy Leave (no email)")

    page.get_by_role("link", name="Printable letters").click()
    # One letter per leaver with items out (the demo library has closed accounts too).
    leavers_out = rows(
        school_server.database,
        "SELECT DISTINCT u.UserID, u.Email IS NOT NULL FROM Users u JOIN Loans l USING (UserID) "
        "WHERE u.Active = 0 AND l.ReturnedAt IS NULL",
    )
    expect(page.locator("article.letter")).to_have_count(len(leavers_out))
    bo_letter = page.locator("article.letter", has_text="Dear Bo Leave")
    expect(bo_letter).to_contain_text("Atlas of Rivers (copy AR1)")
    expect(bo_letter).not_to_contain_text("Book of Stars")
    page.emulate_media(media="print")
    expect(page.get_by_role("heading", level=1)).to_be_hidden()
    page.emulate_media(media="screen")

    page.get_by_role("link", name="Back to the leavers").click()
    page.get_by_role("button", name="Email each leaver their letter").click()
    with_email = sum(1 for _, has_email in leavers_out if has_email)
    expect(page.locator("#flash")).to_contain_text(
        f"{with_email} letter(s) queued in the outbox. "
        f"{len(leavers_out) - with_email} leaver(s) have no email address"
    )
    letters = dict(
        rows(
            school_server.database,
            "SELECT Recipient, BodyText FROM Outbox WHERE Kind = 'leaver_letter'",
        )
    )
    assert len(letters) == with_email
    assert "Atlas of Rivers" in letters["bo@example.com"]
    assert "Book of Stars" not in letters["bo@example.com"]


def test_classes_move_up_together_after_a_preview_and_loans_keep_their_class(
    school_server: LiveServer, open_page
):
    page: Page = open_page(width=360, height=740)
    log_in(page, school_server, "bob@example.com")
    page.goto(school_server.url("/patrons"))
    page.get_by_role("link", name="promote classes").click()
    expect(page.get_by_label("Year 12 becomes")).to_have_value("Year 13")
    expect(page.get_by_label("Year 13 becomes")).to_have_value("Leavers")
    assert not has_horizontal_scroll(page)
    assert serious_accessibility_violations(page) == []

    counts = dict(
        rows(
            school_server.database,
            "SELECT GroupName, count(*) FROM Users WHERE GroupName IS NOT NULL GROUP BY 1",
        )
    )
    changing = {group: n for group, n in counts.items() if next_group(group) != group}
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#promotion-preview")
    expect(preview).to_contain_text(f"Year 12 → Year 13 ({counts['Year 12']} patrons)")
    expect(preview).to_contain_text(f"Year 13 → Leavers ({counts['Year 13']} patrons)")
    expect(preview).to_contain_text(f"Year 7 → Year 8 ({counts['Year 7']} patrons)")
    assert rows(
        school_server.database, "SELECT count(*) FROM Users WHERE GroupName = 'Leavers'"
    ) == [(0,)], "a preview changes nothing"
    assert serious_accessibility_violations(page) == []

    page.get_by_role("button", name="Rename these groups").click()
    expect(page.locator("#flash")).to_contain_text(
        f"{len(changing)} group(s) renamed; {sum(changing.values())} patron(s) moved."
    )
    after = dict(
        rows(
            school_server.database,
            "SELECT GroupName, count(*) FROM Users WHERE GroupName IS NOT NULL GROUP BY 1",
        )
    )
    assert after["Leavers"] == counts["Year 13"] and after["Year 8"] == counts["Year 7"]
    assert "Year 7" not in after
    assert rows(
        school_server.database,
        "SELECT Name, GroupName FROM Users WHERE CardNumber LIKE 'S600%' ORDER BY Name",
    ) == [("Ada Stay", "Year 13"), ("Bo Leave", "Leavers"), ("Cy Leave", "Leavers")]
    # Bo's loan was made in Year 13 and stays counted there.
    assert rows(
        school_server.database,
        "SELECT l.BorrowerGroup FROM Loans l JOIN Users u USING (UserID) WHERE u.Name = 'Bo Leave'",
    ) == [("Year 13",)]
    (detail,) = rows(
        school_server.database, "SELECT Detail FROM Events WHERE Kind = 'groups_promoted'"
    )
    assert f"Year 12 → Year 13 ({counts['Year 12']}); Year 13 → Leavers" in detail[0]
    # The leavers page can now pick the Leavers group.
    page.goto(school_server.url("/leavers?group=Leavers"))
    expect(page.locator("#leavers")).to_contain_text("Bo Leave")
    expect(page.locator("#leavers")).to_contain_text("Cy Leave")
