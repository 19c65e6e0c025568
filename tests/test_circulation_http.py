"""The desk, My account, holds and the rules page over HTTP, against a real SQLite file."""

from __future__ import annotations

import html as html_module
import re
import sqlite3
from datetime import date, timedelta

import pytest

from webapp import demo
from webapp.clock import library_today
from webapp.db import connect_sync
from webapp.models import holds, loans
from webapp.templating import short_date

from .conftest import log_in

HX = {"HX-Request": "true"}


@pytest.fixture
def demo_database(demo_copy):
    """The demo library, copied from the session's template rather than generated again."""
    return demo_copy


def sql(settings, statement: str, params=()) -> list[sqlite3.Row]:
    conn = connect_sync(settings.database)
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def add_book(settings, title: str, barcodes: tuple[str, ...]) -> int:
    conn = connect_sync(settings.database)
    try:
        book_id = conn.execute(
            "INSERT INTO Books (Title, Author) VALUES (?, 'Test Author')", (title,)
        ).lastrowid
        for barcode in barcodes:
            conn.execute("INSERT INTO Copies (BookID, Barcode) VALUES (?, ?)", (book_id, barcode))
        return book_id
    finally:
        conn.close()


def add_patron(
    settings, name: str, card: str, role: str = "Student", active: int = 1, email: str | None = None
) -> int:
    conn = connect_sync(settings.database)
    try:
        password_hash = conn.execute(
            "SELECT PasswordHash FROM Users WHERE Email = 'alice@example.com'"
        ).fetchone()[0]
        return conn.execute(
            "INSERT INTO Users (Name, Role, Email, CardNumber, PasswordHash, Active) VALUES (?,?,?,?,?,?)",
            (name, role, email or f"{card.lower()}@example.com", card, password_hash, active),
        ).lastrowid
    finally:
        conn.close()


@pytest.fixture
def today(settings) -> date:
    return library_today(settings)


@pytest.fixture
def shelf(settings) -> int:
    """A title with two copies on the shelf, T1 and T2, and one more title with copy U1."""
    book_id = add_book(settings, "Tidewater", ("T1", "T2"))
    add_book(settings, "Umbrella Days", ("U1",))
    return book_id


@pytest.fixture
def patrons(settings) -> dict[str, int]:
    return {
        "dana": add_patron(settings, "Dana Ito", "S9001"),
        "eli": add_patron(settings, "Eli Park", "S9002"),
        "finn": add_patron(settings, "Finn Moss", "S9003"),
    }


SHOWN_PATRON = re.compile(r'<input type="hidden" id="desk-patron" name="patron" value="(\d*)"')


class Desk:
    """A librarian's browser at the desk: like the page, each scan sends the patron the
    desk showed (the hidden ``patron`` field), as the last answer or page left it."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.token = token
        self.shown_patron = ""

    async def post(self, path: str, htmx: bool = True, **fields):
        headers = HX if htmx else {}
        response = await self.client.post(
            path, form={"csrf_token": self.token, **fields}, headers=headers
        )
        self._saw(await response.get_data(as_text=True))
        return response

    async def page(self) -> str:
        """The desk page, as the browser shows it after a plain form's redirect."""
        html = await (await self.client.get("/desk")).get_data(as_text=True)
        self._saw(html)
        return html

    def _saw(self, html: str) -> None:
        if shown := SHOWN_PATRON.search(html):
            self.shown_patron = shown.group(1)

    async def scan(self, code: str, mode: str = "auto", htmx: bool = True, **fields):
        fields.setdefault("patron", self.shown_patron)
        response = await self.post("/desk/scan", htmx=htmx, code=code, mode=mode, **fields)
        return response, await response.get_data(as_text=True)


@pytest.fixture
async def desk(app) -> Desk:
    client = app.test_client()
    return Desk(client, await log_in(client, "bob@example.com"))


def open_loans(settings, barcode: str) -> list[sqlite3.Row]:
    return sql(
        settings,
        "SELECT l.*, u.Name FROM Loans l JOIN Copies c ON c.CopyID = l.CopyID "
        "JOIN Users u ON u.UserID = l.UserID WHERE c.Barcode = ? AND l.ReturnedAt IS NULL",
        (barcode,),
    )


def message_of(html: str) -> str:
    match = re.search(r'<div id="desk-message"[^>]*>(.*?)</div>\s*$', html, re.S)
    assert match, html
    return html_module.unescape(" ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()))


def age_events(settings, seconds: int) -> None:
    """Make every logged event look ``seconds`` older (the desk's time windows, without sleeping)."""
    conn = connect_sync(settings.database)
    try:
        (trigger,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'Events_AppendOnlyNoUpdate'"
        ).fetchone()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DROP TRIGGER Events_AppendOnlyNoUpdate")
        conn.execute(
            "UPDATE Events SET At = strftime('%Y-%m-%dT%H:%M:%fZ', At, ?)", (f"-{seconds} seconds",)
        )
        conn.execute(trigger)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_scanning_a_card_selects_the_patron_and_shows_loans_overdue_and_allowance(desk):
    response, html = await desk.scan("S0001")
    assert response.status_code == 200
    assert "Alice Smith" in html and "The Great Gatsby" in html
    assert re.search(r'class="badge overdue">\d+ days overdue', html)
    assert "more they may borrow" in html
    # An email selects the patron too, whatever its case.
    _, html = await desk.scan("ALICE@example.com")
    assert "Patron: Alice Smith" in message_of(html)


async def test_scanning_a_copy_lends_it_with_the_due_date_and_the_rule_that_gave_it(
    desk, settings, shelf, patrons, today
):
    await desk.scan("S9001")
    response, html = await desk.scan("T1")
    assert response.status_code == 200
    due = today + timedelta(days=14)
    assert f"Lent: Tidewater to Dana Ito, due {due.day} {due:%b}" in message_of(html)
    assert "Student: 14 days, 2 renewals" in message_of(html)
    (loan,) = open_loans(settings, "T1")
    assert loan["UserID"] == patrons["dana"] and loan["ReturnDate"] == due.isoformat()
    assert loan["LoanDate"] == today.isoformat()
    assert "Tidewater" in html.split('<div id="desk-message"')[0]  # the loan list shows it


async def test_scanning_a_copy_that_is_out_returns_it_whoever_had_it_and_says_how_late(
    desk, settings, shelf, patrons, today
):
    await desk.scan("S9001")
    await desk.scan("T1")
    conn = connect_sync(settings.database)
    conn.execute(
        "UPDATE Loans SET LoanDate = ?, ReturnDate = ? WHERE ReturnedAt IS NULL AND UserID = ?",
        (
            (today - timedelta(days=20)).isoformat(),
            (today - timedelta(days=3)).isoformat(),
            patrons["dana"],
        ),
    )
    conn.close()
    age_events(settings, 10)
    await desk.post("/desk/done")  # nobody at the desk now
    response, html = await desk.scan("T1")
    due = today - timedelta(days=3)
    assert response.status_code == 200
    assert f"Returned: Tidewater, due {due.day} {due:%b}" in message_of(html)
    assert "3 days late" in message_of(html) and "Dana Ito" in message_of(html)
    assert open_loans(settings, "T1") == []


async def test_a_copy_on_loan_to_someone_else_is_asked_about_never_silently_returned(
    desk, settings, shelf, patrons
):
    await desk.scan("S9001")
    await desk.scan("T1")
    await desk.scan("U1")
    age_events(settings, 10)
    await desk.scan("S9002")  # Eli is at the desk with Dana's books
    events_before = sql(settings, "SELECT count(*) FROM Events")[0][0]
    response, html = await desk.scan("T1")
    assert response.status_code == 200
    question = message_of(html)
    assert "Tidewater (T1) is on loan to Dana Ito" in question
    assert "Return it and lend it to Eli Park" in question and "Just return it" in question
    assert 'name="answer" value="return_and_lend"' in html
    assert 'name="answer" value="return"' in html and 'name="answer" value="cancel"' in html
    assert [loan["UserID"] for loan in open_loans(settings, "T1")] == [patrons["dana"]]
    assert sql(settings, "SELECT count(*) FROM Events")[0][0] == events_before

    response, html = await desk.scan("T1", answer="cancel")
    assert response.status_code == 200 and "Cancelled" in message_of(html)
    assert [loan["UserID"] for loan in open_loans(settings, "T1")] == [patrons["dana"]]

    response, html = await desk.scan("T1", answer="return_and_lend")
    assert response.status_code == 200
    assert "Returned: Tidewater" in message_of(
        html
    ) and "Lent: Tidewater to Eli Park" in message_of(html)
    assert [loan["UserID"] for loan in open_loans(settings, "T1")] == [patrons["eli"]]
    # The same answer sent again changes nothing: the copy is his already.
    response, html = await desk.scan("T1", answer="return_and_lend")
    assert response.status_code == 422 and "already on loan to Eli Park" in message_of(html)
    assert (
        len(
            sql(
                settings,
                "SELECT * FROM Loans WHERE CopyID = (SELECT CopyID FROM Copies WHERE Barcode = 'T1')",
            )
        )
        == 2
    )

    response, html = await desk.scan("U1", answer="return")
    assert response.status_code == 200 and "Returned: Umbrella Days" in message_of(html)
    assert open_loans(settings, "U1") == []
    assert "Eli Park" in html  # still Eli's desk


async def test_without_javascript_the_question_is_asked_and_answered_with_plain_forms(
    desk, settings, shelf, patrons
):
    await desk.scan("S9001")
    await desk.scan("T1")
    await desk.scan("S9002")
    response, _ = await desk.scan("T1", htmx=False)
    assert response.status_code == 303
    page = await desk.page()
    assert "Tidewater (T1) is on loan to Dana Ito" in page
    assert 'name="answer" value="return"' in page and 'action="/desk/scan" method="post"' in page
    response, _ = await desk.scan("T1", htmx=False, answer="return")
    assert response.status_code == 303
    assert "Returned: Tidewater" in await desk.page()
    assert open_loans(settings, "T1") == []


async def test_a_scan_made_while_the_screen_showed_another_patron_is_refused(
    desk, settings, shelf, patrons
):
    await desk.scan("S9001")
    shown_dana = desk.shown_patron
    await desk.scan("S9002")  # another window of the same desk selects Eli
    events_before = sql(settings, "SELECT count(*) FROM Events")[0][0]
    response, html = await desk.scan("T1", patron=shown_dana)
    assert response.status_code == 422
    assert "no longer the desk's patron" in message_of(html)
    assert "Eli Park is selected now" in message_of(html)
    assert open_loans(settings, "T1") == []
    # A screen that showed nobody cannot lend to the patron selected elsewhere either.
    response, _ = await desk.scan("T1", patron="")
    assert response.status_code == 422 and open_loans(settings, "T1") == []
    assert sql(settings, "SELECT count(*) FROM Events")[0][0] == events_before
    response, _ = await desk.scan("T1", patron="not a number")
    assert response.status_code == 422 and open_loans(settings, "T1") == []
    # The answer shows Eli, and the next scan from it lends to him.
    response, html = await desk.scan("T1")
    assert response.status_code == 200 and "Lent: Tidewater to Eli Park" in message_of(html)


async def test_an_unknown_card_lets_go_of_the_patron_so_the_next_copy_lends_nothing(
    desk, settings, shelf, patrons
):
    await desk.scan("S9001")
    response, html = await desk.scan("S9O01")  # a mistyped card
    assert response.status_code == 422
    assert "No patron is selected now" in message_of(html)
    assert "No patron selected" in html and desk.shown_patron == ""
    response, html = await desk.scan("T1")
    assert response.status_code == 422 and "Scan the patron's card first" in message_of(html)
    assert open_loans(settings, "T1") == []
    # Even a page that still showed Dana cannot lend to her now.
    response, _ = await desk.scan("T1", patron=str(patrons["dana"]))
    assert response.status_code == 422 and open_loans(settings, "T1") == []


async def test_without_javascript_a_scan_redirects_back_to_the_desk_which_shows_the_message(
    desk, settings, shelf, patrons
):
    response, _ = await desk.scan("S9001", htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == "/desk"
    assert "Patron: Dana Ito" in await desk.page()
    response, _ = await desk.scan("T2", htmx=False)
    assert response.status_code == 303
    page = await desk.page()
    assert "Lent: Tidewater to Dana Ito" in page and "Dana Ito" in page
    assert 'aria-live="polite"' in page and "data-autofocus" in page
    again = await (await desk.client.get("/desk")).get_data(as_text=True)
    assert "Lent: Tidewater" not in again  # the message is shown once
    assert len(open_loans(settings, "T2")) == 1


async def test_the_desk_page_has_one_scan_box_that_keeps_the_focus(desk):
    html = await (await desk.client.get("/desk")).get_data(as_text=True)
    assert html.count("data-autofocus") == 1
    assert re.search(r'<input id="scan" name="code"[^>]*autofocus data-autofocus', html)
    assert 'action="/desk/scan" method="post"' in html
    assert '<div id="desk-message" role="status" aria-live="polite">' in html
    # The scan log's announcements: refusals assertively, everything else politely.
    assert 'id="scan-refused" class="visually-hidden" role="alert" aria-live="assertive"' in html
    assert 'id="scan-said" class="visually-hidden" role="status" aria-live="polite"' in html
    assert '<input type="hidden" id="desk-patron" name="patron" value="">' in html


async def test_the_same_barcode_scanned_twice_within_two_seconds_is_applied_once(
    desk, settings, shelf, patrons
):
    await desk.scan("S9001")
    await desk.scan("T1")
    response, html = await desk.scan("T1")
    assert response.status_code == 200
    assert "Scanned twice, counted once: Tidewater (T1) was lent a moment ago" in message_of(html)
    assert len(open_loans(settings, "T1")) == 1
    age_events(settings, 3)
    _, html = await desk.scan("T1")
    assert "Returned: Tidewater" in message_of(html)
    assert open_loans(settings, "T1") == []


@pytest.mark.parametrize("mode", ["lend", "return"])
async def test_a_double_read_in_lend_only_or_return_only_mode_is_counted_once_not_refused(
    desk, settings, shelf, patrons, mode
):
    await desk.scan("S9001")
    await desk.scan("T1")
    if mode == "return":
        age_events(settings, 3)
        await desk.scan("T1", mode="return")
    events_before = sql(settings, "SELECT count(*) FROM Events")[0][0]
    response, html = await desk.scan("T1", mode=mode)
    assert response.status_code == 200
    done = "lent" if mode == "lend" else "returned"
    assert f"Scanned twice, counted once: Tidewater (T1) was {done}" in message_of(html)
    assert sql(settings, "SELECT count(*) FROM Events")[0][0] == events_before


async def test_a_second_scan_for_another_action_or_patron_is_not_swallowed_as_a_double_read(
    desk, settings, shelf, patrons
):
    await desk.scan("S9001")
    await desk.scan("T1")
    # Lent a moment ago, then scanned in return-only mode: a return, not a double read.
    response, html = await desk.scan("T1", mode="return")
    assert "Returned: Tidewater" in message_of(html)
    # Returned a moment ago (Dana's own loan), now Eli is at the desk: lent to him.
    await desk.scan("S9002")
    response, html = await desk.scan("T1")
    assert response.status_code == 200 and "Lent: Tidewater to Eli Park" in message_of(html)
    assert [loan["UserID"] for loan in open_loans(settings, "T1")] == [patrons["eli"]]


@pytest.mark.parametrize(
    ("setup", "code", "reason"),
    [
        ("none", "NOPE-123", "No patron or copy has the barcode “NOPE-123”"),
        ("withdrawn", "T1", "withdrawn"),
        ("limit", "T1", "has 1 loans, the limit for Student (1)"),
        ("overdue", "T1", "1 overdue item: it must come back"),
        ("inactive", "T1", "account is inactive"),
        ("no patron", "T1", "Scan the patron's card first"),
    ],
)
async def test_each_refusal_says_why_and_changes_nothing(
    desk, settings, shelf, patrons, today, setup, code, reason
):
    if setup in ("withdrawn", "lost"):
        sql(settings, "UPDATE Copies SET Status = ? WHERE Barcode = 'T1'", (setup,))
    patron_card = {"inactive": "S9099", "no patron": None}.get(setup, "S9001")
    if setup == "inactive":
        add_patron(settings, "Gus Ward", "S9099", active=0)
    if patron_card:
        await desk.scan(patron_card)
    if setup == "limit":
        sql(settings, "UPDATE PatronCategories SET MaxLoans = 1 WHERE Name = 'Student'")
        await desk.scan("U1")
    if setup == "overdue":
        await desk.scan("U1")
        sql(
            settings,
            "UPDATE Loans SET LoanDate = ?, ReturnDate = ? WHERE ReturnedAt IS NULL AND UserID = ?",
            (
                (today - timedelta(days=30)).isoformat(),
                (today - timedelta(days=1)).isoformat(),
                patrons["dana"],
            ),
        )
    loans_before = sql(settings, "SELECT count(*) FROM Loans")[0][0]
    events_before = sql(settings, "SELECT count(*) FROM Events")[0][0]
    response, html = await desk.scan(code)
    assert response.status_code == 422
    assert reason in message_of(html)
    assert 'class="flash error"' in html
    assert sql(settings, "SELECT count(*) FROM Loans")[0][0] == loans_before
    assert sql(settings, "SELECT count(*) FROM Events")[0][0] == events_before


async def test_a_blocked_patron_may_borrow_zero_more_and_the_panel_says_blocked(desk):
    _, html = await desk.scan("S0001")  # Alice has an overdue loan from 2025
    assert "Blocked: overdue items must come back" in html
    assert (
        '<span class="stat-value">0</span><span class="stat-label">more they may borrow: blocked'
        in html
    )


async def test_overdue_items_do_not_block_when_the_rule_allows_it(desk, settings, shelf):
    sql(settings, "UPDATE PatronCategories SET BlockWhenOverdue = 0 WHERE Name = 'Student'")
    await desk.scan("S0001")  # Alice has an overdue loan from 2025
    response, html = await desk.scan("T1")
    assert response.status_code == 200 and "Lent: Tidewater to Alice Smith" in message_of(html)


async def test_lend_only_mode_refuses_a_copy_already_on_loan_and_names_the_borrower(
    desk, settings, shelf, patrons
):
    await desk.scan("S9001")
    await desk.scan("T1")
    await desk.scan("S9002")
    response, html = await desk.scan("T1", mode="lend")
    assert response.status_code == 422
    assert "Tidewater (T1) is already on loan to Dana Ito" in message_of(html)
    assert [loan["UserID"] for loan in open_loans(settings, "T1")] == [patrons["dana"]]


async def test_return_only_mode_never_lends(desk, settings, shelf, patrons):
    await desk.scan("S9001")
    response, html = await desk.scan("T1", mode="return")
    assert response.status_code == 422 and "Tidewater (T1) is not on loan" in message_of(html)
    assert open_loans(settings, "T1") == []


async def test_a_copy_on_loan_is_shown_on_the_book_page_with_its_due_date(
    desk, app, shelf, patrons, today
):
    await desk.scan("S9001")
    await desk.scan("T1")
    html = await (await app.test_client().get(f"/books/{shelf}")).get_data(as_text=True)
    due = today + timedelta(days=14)
    assert f"On loan, due back {due.day} {due:%b}" in html


async def test_undo_of_a_lend_closes_the_loan_and_logs_it_without_deleting_anything(
    desk, settings, shelf, patrons
):
    await desk.scan("S9001")
    _, html = await desk.scan("T1")
    assert 'action="/desk/undo"' in html
    response = await desk.post("/desk/undo")
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Undone: Tidewater is no longer lent to Dana Ito" in message_of(html)
    assert open_loans(settings, "T1") == []
    kinds = [row["Kind"] for row in sql(settings, "SELECT Kind FROM Events ORDER BY EventID")]
    assert kinds[-2:] == ["lend", "undo"]
    assert (
        sql(
            settings,
            "SELECT count(*) FROM Loans l JOIN Copies c USING (CopyID) WHERE c.Barcode = 'T1'",
        )[0][0]
        == 1
    )
    second = await desk.post("/desk/undo")
    assert second.status_code == 422
    assert "nothing to undo" in message_of(await second.get_data(as_text=True))


async def test_undo_of_a_return_reopens_the_loan_unless_the_copy_was_lent_again(
    desk, settings, shelf, patrons
):
    await desk.scan("S9001")
    await desk.scan("T1")
    age_events(settings, 5)
    await desk.scan("T1")
    response = await desk.post("/desk/undo")
    assert "Undone: Tidewater is on loan to Dana Ito again" in message_of(
        await response.get_data(as_text=True)
    )
    assert [loan["UserID"] for loan in open_loans(settings, "T1")] == [patrons["dana"]]

    age_events(settings, 5)
    await desk.scan("T1")  # returned again
    other_desk_lends = await circulation_lend_from_another_desk(settings, "T1", patrons["eli"])
    assert other_desk_lends
    response = await desk.post("/desk/undo")
    assert response.status_code == 422
    assert "lent again since" in message_of(await response.get_data(as_text=True))
    assert [loan["UserID"] for loan in open_loans(settings, "T1")] == [patrons["eli"]]


async def circulation_lend_from_another_desk(settings, barcode: str, patron_id: int) -> bool:
    carol_id = sql(settings, "SELECT UserID FROM Users WHERE Email = 'carol@example.com'")[0][0]
    from webapp.db import Database

    async with Database(settings.database) as db:
        outcome = await db.write(
            loans.lend,
            barcode=barcode,
            patron_id=patron_id,
            actor_id=carol_id,
            today=library_today(settings),
        )
    return outcome.action == "lent"


async def test_undo_is_refused_after_the_window(desk, settings, shelf, patrons):
    await desk.scan("S9001")
    await desk.scan("T1")
    age_events(settings, 61)
    response = await desk.post("/desk/undo")
    assert response.status_code == 422
    assert "Too late to undo" in message_of(await response.get_data(as_text=True))
    assert len(open_loans(settings, "T1")) == 1


async def test_renewing_at_the_desk_moves_the_due_date_until_renewals_are_used_up(
    desk, settings, shelf, patrons, today
):
    await desk.scan("S9001")
    await desk.scan("T1")
    (loan,) = open_loans(settings, "T1")
    for renewal in (1, 2):
        # Due in two days: a renewal then moves the due date (one that would not is "too soon").
        sql(
            settings,
            "UPDATE Loans SET ReturnDate = ? WHERE LoanID = ?",
            ((today + timedelta(days=2)).isoformat(), loan["LoanID"]),
        )
        response = await desk.post("/desk/renew", loan_id=str(loan["LoanID"]))
        html = await response.get_data(as_text=True)
        assert response.status_code == 200
        assert f"renewal {renewal} of 2" in message_of(html)
    assert open_loans(settings, "T1")[0]["ReturnDate"] == (today + timedelta(days=14)).isoformat()
    response = await desk.post("/desk/renew", loan_id=str(loan["LoanID"]))
    assert response.status_code == 422
    assert "Already renewed 2 times" in message_of(await response.get_data(as_text=True))


async def test_an_overdue_loan_cannot_be_renewed_by_a_student_rule(desk, settings):
    await desk.scan("S0001")
    (loan,) = sql(settings, "SELECT LoanID FROM Loans WHERE UserID = 1 AND ReturnedAt IS NULL")
    response = await desk.post("/desk/renew", loan_id=str(loan[0]))
    assert response.status_code == 422
    assert "overdue loans cannot be renewed" in message_of(await response.get_data(as_text=True))


async def test_renewing_an_unknown_loan_is_a_clear_refusal(desk):
    for loan_id in ("999999", "abc", ""):
        response = await desk.post("/desk/renew", loan_id=loan_id)
        assert response.status_code == 422
        assert "no such open loan" in message_of(await response.get_data(as_text=True))


async def lend_everything(desk, card: str, *barcodes: str) -> None:
    await desk.scan(card)
    for barcode in barcodes:
        response, html = await desk.scan(barcode, mode="lend")
        assert response.status_code == 200, message_of(html)


async def test_a_hold_queue_sets_a_returned_copy_aside_and_writes_the_email_to_the_outbox(
    desk, app, settings, shelf, patrons, today
):
    await lend_everything(desk, "S9001", "T1", "T2")
    # Eli places a hold from the book page; Finn's is placed for him at the desk.
    eli = app.test_client()
    eli_token = await log_in(eli, "s9002@example.com")
    book_page = await (await eli.get(f"/books/{shelf}")).get_data(as_text=True)
    assert "Place a hold" in book_page
    response = await eli.post(f"/books/{shelf}/hold", form={"csrf_token": eli_token})
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    account = await (await eli.get("/account")).get_data(as_text=True)
    assert "Hold placed: Tidewater for Eli Park, number 1 in the queue" in account
    await desk.scan("S9003")
    response = await desk.post("/desk/hold", book="T1")
    assert "number 2 in the queue" in message_of(await response.get_data(as_text=True))
    age_events(settings, 5)

    # Dana (still selected? no: Finn is) returns T1: it is set aside for Eli, first in the queue.
    _, html = await desk.scan("T1", mode="return")
    assert "Set aside for Eli Park" in message_of(html)
    pickup = today + timedelta(days=7)
    (hold,) = sql(settings, "SELECT * FROM Holds WHERE UserID = ?", (patrons["eli"],))
    assert hold["Status"] == "ready" and hold["PickupBy"] == pickup.isoformat()
    (mail,) = sql(settings, "SELECT * FROM Outbox")
    assert mail["Kind"] == "hold_ready" and mail["Status"] == "pending"
    assert (
        mail["Recipient"] == "s9002@example.com"
        and mail["Subject"] == "Ready to collect: Tidewater"
    )
    assert "Dear Eli Park" in mail["BodyText"] and "<strong>Tidewater</strong>" in mail["BodyHtml"]
    assert mail["HeaderMessageID"].startswith("<hold-ready-")

    # Finn cannot take the set-aside copy; Eli can, which fills his hold.
    age_events(settings, 5)
    response, html = await desk.scan("T1")
    assert response.status_code == 422 and "set aside for Eli Park's hold" in message_of(html)
    await desk.scan("S9002")
    response, html = await desk.scan("T1")
    assert response.status_code == 200 and "Their hold on this title is filled" in message_of(html)
    kinds = [
        row[0]
        for row in sql(
            settings, "SELECT Kind FROM Events WHERE HoldID = ? ORDER BY EventID", (hold["HoldID"],)
        )
    ]
    assert kinds == ["hold_placed", "hold_ready", "hold_filled"]
    account = await (await eli.get("/account")).get_data(as_text=True)
    assert (
        "Tidewater" in account
        and "Number 1 in the queue" not in account
        and "Ready at the desk" not in account
    )


async def test_a_hold_is_refused_while_a_copy_is_on_the_shelf_and_twice_for_the_same_title(
    app, settings, shelf, patrons, desk
):
    eli = app.test_client()
    token = await log_in(eli, "s9002@example.com")
    page = await (await eli.get(f"/books/{shelf}")).get_data(as_text=True)
    assert "Place a hold" not in page
    await eli.post(f"/books/{shelf}/hold", form={"csrf_token": token})
    assert "is on the shelf" in await (await eli.get("/account")).get_data(as_text=True)
    await lend_everything(desk, "S9001", "T1", "T2")
    await eli.post(f"/books/{shelf}/hold", form={"csrf_token": token})
    await eli.post(f"/books/{shelf}/hold", form={"csrf_token": token})
    assert "already has a hold on Tidewater" in await (await eli.get("/account")).get_data(
        as_text=True
    )
    assert sql(settings, "SELECT count(*) FROM Holds")[0][0] == 1
    missing = await eli.post("/books/999999/hold", form={"csrf_token": token})
    assert missing.status_code == 404


async def test_a_ready_hold_past_its_deadline_expires_and_passes_to_the_next_in_the_queue(
    desk, app, settings, shelf, patrons, today
):
    await lend_everything(desk, "S9001", "T1", "T2")
    for card in ("S9002", "S9003"):
        await desk.scan(card)
        await desk.post("/desk/hold", book=str(shelf))
    age_events(settings, 5)
    await desk.scan("T1", mode="return")
    from webapp.db import Database

    async with Database(settings.database) as db:
        assert await db.write(holds.expire_ready_holds, today + timedelta(days=7)) == 0
        assert await db.write(holds.expire_ready_holds, today + timedelta(days=8)) == 1
        assert await db.write(holds.expire_ready_holds, today + timedelta(days=8)) == 0
    statuses = dict(sql(settings, "SELECT UserID, Status FROM Holds"))
    assert statuses == {patrons["eli"]: "expired", patrons["finn"]: "ready"}
    assert [row[0] for row in sql(settings, "SELECT Recipient FROM Outbox ORDER BY MessageID")] == [
        "s9002@example.com",
        "s9003@example.com",
    ]
    (expired,) = sql(settings, "SELECT ActorID FROM Events WHERE Kind = 'hold_expired'")
    assert expired[0] is None


async def test_renewal_is_refused_when_another_patron_holds_the_title(
    desk, settings, shelf, patrons
):
    await lend_everything(desk, "S9001", "T1", "T2")
    await desk.scan("S9002")
    await desk.post("/desk/hold", book=str(shelf))
    (loan,) = open_loans(settings, "T1")
    response = await desk.post("/desk/renew", loan_id=str(loan["LoanID"]))
    assert response.status_code == 422
    assert "Another patron is waiting for this title" in message_of(
        await response.get_data(as_text=True)
    )


async def test_a_past_loan_shows_the_library_day_it_came_back_not_the_utc_one(app, settings):
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (the settings' timezone, in summer time).
    (copy,) = sql(
        settings,
        "SELECT CopyID, BookID FROM Copies c WHERE NOT EXISTS "
        "(SELECT 1 FROM Loans l WHERE l.CopyID = c.CopyID) LIMIT 1",
    )
    sql(
        settings,
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt) "
        "SELECT UserID, ?, ?, '2026-06-20', '2026-07-04', '2026-07-01T23:30:00Z' "
        "FROM Users WHERE Email = 'alice@example.com'",
        (copy["BookID"], copy["CopyID"]),
    )
    alice = app.test_client()
    await log_in(alice, "alice@example.com")
    html = await (await alice.get("/account")).get_data(as_text=True)
    returned_cells = re.findall(r'<td data-label="Returned">([^<]*)</td>', html)
    assert short_date(date(2026, 7, 2)) in returned_cells
    assert short_date(date(2026, 7, 1)) not in returned_cells


async def test_my_account_shows_own_loans_overdue_marks_and_past_loans_only(app, settings):
    alice = app.test_client()
    await log_in(alice, "alice@example.com")
    html = await (await alice.get("/account")).get_data(as_text=True)
    assert "The Great Gatsby" in html and re.search(r"\d+ days overdue", html)
    assert "1984" not in html  # Bob's loan
    assert "bob@example.com" not in html
    # Students are blocked while anything is overdue, and their page says so.
    assert "Please bring back your overdue items" in html and "You may borrow" not in html


async def test_a_student_renews_and_cancels_only_their_own_things(
    desk, app, settings, shelf, patrons, today
):
    await lend_everything(desk, "S9001", "T1")
    await lend_everything(desk, "S9002", "T2")
    dana = app.test_client()
    token = await log_in(dana, "s9001@example.com")
    (mine,) = open_loans(settings, "T1")
    (theirs,) = open_loans(settings, "T2")
    sql(  # due in two days, so a renewal moves it (on the day of lending it is "too soon")
        settings,
        "UPDATE Loans SET ReturnDate = ? WHERE LoanID = ?",
        ((today + timedelta(days=2)).isoformat(), mine["LoanID"]),
    )
    response = await dana.post(
        f"/account/loans/{mine['LoanID']}/renew", form={"csrf_token": token}, headers=HX
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 200 and "Renewed: Tidewater" in html and "<html" not in html
    response = await dana.post(
        f"/account/loans/{theirs['LoanID']}/renew", form={"csrf_token": token}
    )
    assert response.status_code == 404
    assert open_loans(settings, "T2")[0]["Renewals"] == 0

    await desk.scan("S9003")
    await desk.post("/desk/hold", book=str(shelf))
    (finns_hold,) = sql(settings, "SELECT HoldID FROM Holds")
    response = await dana.post(f"/account/holds/{finns_hold[0]}/cancel", form={"csrf_token": token})
    assert response.status_code == 404
    finn = app.test_client()
    finn_token = await log_in(finn, "s9003@example.com")
    account = await (await finn.get("/account")).get_data(as_text=True)
    assert "Number 1 in the queue" in account
    response = await finn.post(
        f"/account/holds/{finns_hold[0]}/cancel", form={"csrf_token": finn_token}
    )
    assert response.status_code == 303
    assert sql(settings, "SELECT Status FROM Holds")[0][0] == "cancelled"


async def test_patron_and_copy_pages_show_the_event_log_with_who_and_when(
    desk, settings, shelf, patrons
):
    await lend_everything(desk, "S9001", "T1")
    patron_page = await (await desk.client.get(f"/patrons/{patrons['dana']}")).get_data(
        as_text=True
    )
    assert "Event log" in patron_page and ">lend<" in patron_page and "Bob Johnson" in patron_page
    copy_page = await (await desk.client.get("/copies/T1")).get_data(as_text=True)
    assert "On loan to" in copy_page and "Dana Ito" in copy_page and ">lend<" in copy_page
    assert (await desk.client.get("/copies/NOPE")).status_code == 404
    assert (await desk.client.get("/patrons/999999")).status_code == 404


async def test_serve_at_the_desk_selects_the_patron(desk, patrons):
    response = await desk.post(f"/patrons/{patrons['eli']}/desk", htmx=False)
    assert response.status_code == 303
    page = await (await desk.client.get("/desk")).get_data(as_text=True)
    assert "Hold a title for Eli Park" in page


async def test_the_event_log_cannot_be_changed(settings, desk, shelf, patrons):
    await lend_everything(desk, "S9001", "T1")
    conn = connect_sync(settings.database)
    try:
        for statement in ("UPDATE Events SET Kind = 'x'", "DELETE FROM Events"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
    finally:
        conn.close()


@pytest.fixture
async def admin(app) -> Desk:
    client = app.test_client()
    return Desk(client, await log_in(client, "carol@example.com"))


def student_category(settings) -> int:
    return sql(settings, "SELECT CategoryID FROM PatronCategories WHERE Name = 'Student'")[0][0]


async def test_an_admin_changes_a_rule_and_the_desk_uses_it_and_logs_the_change(
    admin, desk, settings, shelf, patrons, today
):
    category = student_category(settings)
    page = await (await admin.client.get("/admin/rules")).get_data(as_text=True)
    assert f'id="cell-{category}-any"' in page and "14 days, 2 renewals" in page
    response = await admin.post(
        f"/admin/rules/matrix/{category}/any",
        htmx=False,
        period="days",
        loan_days="21",
        max_renewals="2",
        holds="on",
    )
    assert response.status_code == 303
    page = await (await admin.client.get("/admin/rules")).get_data(as_text=True)
    assert "Saved: rule any item × Student: 21 days, 2 renewals (was: 14 days, 2 renewals)" in page
    await desk.scan("S9001")
    _, html = await desk.scan("T1")
    assert "Student: 21 days, 2 renewals" in message_of(html)
    assert open_loans(settings, "T1")[0]["ReturnDate"] == (today + timedelta(days=21)).isoformat()
    (event,) = sql(settings, "SELECT ActorID, Detail FROM Events WHERE Kind = 'rules_changed'")
    assert event["Detail"].startswith("rule any item × Student: 21 days")


async def test_closed_days_move_the_due_date_and_the_desk_says_so(
    admin, desk, settings, shelf, patrons, today
):
    natural = today + timedelta(days=14)
    response = await admin.post(
        "/admin/rules/closed-days", htmx=False, day=natural.isoformat(), reason="Inset day"
    )
    assert response.status_code == 303
    await desk.scan("S9001")
    _, html = await desk.scan("T1")
    assert "because the library is closed" in message_of(html)
    assert open_loans(settings, "T1")[0]["ReturnDate"] == (natural + timedelta(days=1)).isoformat()
    response = await admin.post(
        f"/admin/rules/closed-days/{natural.isoformat()}/delete", htmx=False
    )
    assert response.status_code == 303
    assert sql(settings, "SELECT count(*) FROM ClosedDays")[0][0] == 0


@pytest.mark.parametrize(
    "changes",
    [
        {f"closed-{day}": "on" for day in range(7)},
        {"hold_pickup_days": ""},
        {"hold_pickup_days": "61"},
    ],
)
async def test_a_bad_calendar_is_refused_with_422_and_nothing_is_saved(admin, settings, changes):
    before = sql(settings, "SELECT * FROM LibrarySettings ORDER BY Key")
    form = {"hold_pickup_days": "7", **changes}
    response = await admin.post("/admin/rules", htmx=False, **form)
    assert response.status_code == 422
    assert "Nothing was saved" in await response.get_data(as_text=True)
    after = sql(settings, "SELECT * FROM LibrarySettings ORDER BY Key")
    assert [tuple(row) for row in after] == [tuple(row) for row in before]


async def test_a_bad_closed_day_is_refused(admin):
    response = await admin.post("/admin/rules/closed-days", htmx=False, day="31/12/2026")
    assert response.status_code == 422
    response = await admin.post("/admin/rules/closed-days/not-a-date/delete", htmx=False)
    assert response.status_code == 404


STAFF_PAGES = ("/desk", "/patrons/1", "/copies/C100000")
ADMIN_PAGES = ("/admin/rules",)
STAFF_ACTIONS = (
    "/desk/scan",
    "/desk/renew",
    "/desk/undo",
    "/desk/hold",
    "/desk/done",
    "/patrons/1/desk",
)
ADMIN_ACTIONS = (
    "/admin/rules",
    "/admin/rules/closed-days",
    "/admin/rules/closed-days/2026-12-25/delete",
)
LOGGED_IN_ACTIONS = ("/account/loans/1/renew", "/account/holds/1/cancel", "/books/1/hold")


async def test_anonymous_visitors_are_sent_to_sign_in_for_everything_but_the_catalogue(app):
    client = app.test_client()
    for path in STAFF_PAGES + ADMIN_PAGES + ("/account",):
        response = await client.get(path)
        assert response.status_code == 302 and "/login?next=" in response.headers["Location"], path
    token = re.search(
        r'name="csrf-token" content="([^"]+)"',
        await (await client.get("/search")).get_data(as_text=True),
    ).group(1)
    for path in STAFF_ACTIONS + ADMIN_ACTIONS + LOGGED_IN_ACTIONS:
        response = await client.post(path, form={"csrf_token": token}, headers=HX)
        assert response.status_code == 401 and "/login" in response.headers["HX-Redirect"], path
    assert (await client.get("/books/1")).status_code == 200


@pytest.mark.parametrize(
    ("email", "staff", "admin_ok"),
    [
        ("alice@example.com", False, False),
        ("bob@example.com", True, False),
        ("carol@example.com", True, True),
    ],
)
async def test_each_role_reaches_exactly_its_routes(app, email, staff, admin_ok):
    client = app.test_client()
    token = await log_in(client, email)
    for path in STAFF_PAGES:
        assert (await client.get(path)).status_code == (200 if staff else 403), path
    for path in ADMIN_PAGES:
        assert (await client.get(path)).status_code == (200 if admin_ok else 403), path
    assert (await client.get("/account")).status_code == 200
    for path in STAFF_ACTIONS:
        response = await client.post(path, form={"csrf_token": token}, headers=HX)
        assert (response.status_code != 403) == staff, path
    for path in ADMIN_ACTIONS:
        response = await client.post(path, form={"csrf_token": token})
        assert (response.status_code != 403) == admin_ok, path


async def test_a_student_never_sees_another_patrons_page(app, patrons):
    client = app.test_client()
    await log_in(client, "alice@example.com")
    response = await client.get(f"/patrons/{patrons['dana']}")
    assert response.status_code == 403
    assert "s9001@example.com" not in await response.get_data(as_text=True)


async def test_nav_links_follow_the_role(app):
    for email, expected, absent in (
        ("alice@example.com", ["/account"], ["/desk", "/admin/rules"]),
        ("bob@example.com", ["/desk", "/account"], ["/admin/rules"]),
        ("carol@example.com", ["/desk", "/account", "/admin/rules"], []),
    ):
        client = app.test_client()
        await log_in(client, email)
        html = await (await client.get("/search")).get_data(as_text=True)
        nav = html.split('<nav class="site-nav"')[1].split("</nav>")[0]
        assert all(f'href="{link}"' in nav for link in expected), email
        assert not any(f'href="{link}"' in nav for link in absent), email


async def test_desk_actions_without_a_csrf_token_are_refused_and_change_nothing(
    desk, settings, shelf, patrons
):
    await desk.scan("S9001")
    response = await desk.client.post("/desk/scan", form={"code": "T1"}, headers=HX)
    assert response.status_code == 400
    response = await desk.client.post("/desk/scan", form={"code": "T1", "csrf_token": "forged"})
    assert response.status_code == 400
    assert open_loans(settings, "T1") == []
    assert demo.DEMO_PASSWORD == "demo"


async def test_undoing_a_return_that_set_a_copy_aside_puts_the_hold_back_and_cancels_its_email(
    desk, settings, shelf, patrons
):
    await lend_everything(desk, "S9001", "T1", "T2")
    await desk.scan("S9002")
    await desk.post("/desk/hold", book=str(shelf))
    age_events(settings, 5)
    _, html = await desk.scan("T1", mode="return")
    assert "Set aside for Eli Park" in message_of(html)
    (hold_id,) = sql(settings, "SELECT HoldID FROM Holds")[0]
    assert f'href="/desk/holds/{hold_id}/slip"' in html  # the slip to print, from the message
    slip = await desk.client.get(f"/desk/holds/{hold_id}/slip")
    assert slip.status_code == 200 and "Eli Park" in await slip.get_data(as_text=True)
    response = await desk.post("/desk/undo")
    html = await response.get_data(as_text=True)
    assert "on loan to Dana Ito again" in message_of(
        html
    ) and "Eli Park's hold is waiting again" in message_of(html)
    assert [loan["UserID"] for loan in open_loans(settings, "T1")] == [patrons["dana"]]
    (hold,) = sql(settings, "SELECT Status, CopyID FROM Holds")
    assert tuple(hold) == ("waiting", None)
    assert [row[0] for row in sql(settings, "SELECT Status FROM Outbox")] == ["cancelled"]


async def test_cancelling_a_ready_hold_passes_the_copy_to_the_next_in_the_queue(
    desk, app, settings, shelf, patrons
):
    await lend_everything(desk, "S9001", "T1", "T2")
    for card in ("S9002", "S9003"):
        await desk.scan(card)
        await desk.post("/desk/hold", book=str(shelf))
    age_events(settings, 5)
    await desk.scan("T1", mode="return")
    eli = app.test_client()
    token = await log_in(eli, "s9002@example.com")
    account = await (await eli.get("/account")).get_data(as_text=True)
    assert "Ready at the desk: collect by" in account
    (eli_hold,) = sql(settings, "SELECT HoldID FROM Holds WHERE UserID = ?", (patrons["eli"],))
    response = await eli.post(
        f"/account/holds/{eli_hold[0]}/cancel", form={"csrf_token": token}, headers=HX
    )
    assert "passes to the next in the queue" in await response.get_data(as_text=True)
    statuses = dict(sql(settings, "SELECT UserID, Status FROM Holds"))
    assert statuses == {patrons["eli"]: "cancelled", patrons["finn"]: "ready"}


async def test_my_account_lists_returned_loans_as_borrowed_before(
    desk, app, shelf, patrons, settings
):
    await lend_everything(desk, "S9001", "T1")
    age_events(settings, 5)
    await desk.scan("T1")
    dana = app.test_client()
    await log_in(dana, "s9001@example.com")
    account = await (await dana.get("/account")).get_data(as_text=True)
    past = account.split("Borrowed before")[1]
    assert "Tidewater" in past
    assert "You have nothing on loan" in account


async def test_placing_a_hold_at_the_desk_needs_a_patron_and_a_known_title(desk, shelf):
    response = await desk.post("/desk/hold", book=str(shelf))
    assert response.status_code == 422
    assert "Scan the patron's card first" in message_of(await response.get_data(as_text=True))
    await desk.scan("S0001")
    response = await desk.post("/desk/hold", book="no-such-title")
    assert response.status_code == 422
    assert "No title has that ISBN" in message_of(await response.get_data(as_text=True))


async def test_undo_after_a_renewal_does_not_reach_back_to_the_lend(desk, settings, shelf, patrons):
    await lend_everything(desk, "S9001", "T1")
    (loan,) = open_loans(settings, "T1")
    sql(  # due a week sooner, so that the renewal moves it
        settings,
        "UPDATE Loans SET ReturnDate = date(ReturnDate, '-7 days') WHERE LoanID = ?",
        (loan["LoanID"],),
    )
    renewed = await desk.post("/desk/renew", loan_id=str(loan["LoanID"]))
    assert renewed.status_code == 200
    response = await desk.post("/desk/undo")
    assert response.status_code == 422
    assert "your last action was a renewal" in message_of(await response.get_data(as_text=True))
    assert len(open_loans(settings, "T1")) == 1


async def test_the_book_page_offers_a_hold_only_when_every_copy_is_out(desk, app, shelf, patrons):
    anonymous = app.test_client()
    assert "Place a hold" not in await (await anonymous.get(f"/books/{shelf}")).get_data(
        as_text=True
    )
    await lend_everything(desk, "S9001", "T1", "T2")
    page = await (await anonymous.get(f"/books/{shelf}")).get_data(as_text=True)
    assert "Sign in to place a hold" in page and 'href="/copies/T1"' not in page
    staff_page = await (await desk.client.get(f"/books/{shelf}")).get_data(as_text=True)
    assert f'action="/books/{shelf}/hold"' in staff_page and 'href="/copies/T1"' in staff_page
