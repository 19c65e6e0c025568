"""The stocktake pages over HTTP: scans answered for htmx and plain forms, refusals with a
reason and a 4xx that change nothing, closing that asks first, the report and its CSV."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest

from . import test_circulation_http as circulation
from .security_helpers import table_checksums

demo_database = circulation.demo_database
desk = circulation.desk
sql = circulation.sql

HX = {"HX-Request": "true"}
SHELF = "Test shelf"


@pytest.fixture
def shelf(settings) -> None:
    """Three copies on the test shelf, one of a title a spreadsheet would run as a formula."""
    book = sql(settings, "INSERT INTO Books (Title, Author) VALUES ('Tidewater', 'T. Author') "
               "RETURNING BookID")[0][0]  # fmt: skip
    formula = sql(settings, "INSERT INTO Books (Title) VALUES ('=HYPERLINK(\"http://x\")') "
                  "RETURNING BookID")[0][0]  # fmt: skip
    for book_id, barcode in ((book, "T1"), (book, "T2"), (formula, "T3")):
        sql(
            settings,
            "INSERT INTO Copies (BookID, Barcode, Location) VALUES (?, ?, ?)",
            (book_id, barcode, SHELF),
        )


def text_of(body: str) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", body).split()))


async def start(desk, name: str = "Test stocktake") -> str:
    """Start a stocktake of the test shelf; its page's path."""
    response = await desk.post(
        "/stocktakes", htmx=False, name=name, scope="locations", location=SHELF
    )
    assert response.status_code == 303
    return response.headers["Location"]


async def test_starting_needs_a_name_and_a_location_some_copy_has(desk, settings, shelf):
    before = table_checksums(settings.database)
    nameless = await desk.post("/stocktakes", htmx=False, name="  ", scope="whole")
    assert nameless.status_code == 422
    assert "Give the stocktake a name" in text_of(await nameless.get_data(as_text=True))
    nowhere = await desk.post(
        "/stocktakes", htmx=False, name="Odd", scope="locations", location="Nowhere"
    )
    assert nowhere.status_code == 422
    assert "No copy is at “Nowhere”" in text_of(await nowhere.get_data(as_text=True))
    none_chosen = await desk.post("/stocktakes", htmx=False, name="Odd", scope="locations")
    assert none_chosen.status_code == 422
    assert table_checksums(settings.database) == before


async def test_a_plain_form_scan_is_shown_once_on_the_stocktake_page(desk, settings, shelf):
    page = await start(desk)
    scanned = await desk.post(f"{page}/scan", htmx=False, code="T1", shelf=SHELF)
    assert scanned.status_code == 303 and scanned.headers["Location"] == page
    shown = text_of(await (await desk.client.get(page)).get_data(as_text=True))
    assert "Counted: Tidewater (T1), Test shelf." in shown
    assert "1 of 3 expected copies scanned (33%)" in shown
    again = text_of(await (await desk.client.get(page)).get_data(as_text=True))
    assert "Counted: Tidewater" not in again
    # The shelf chosen stays chosen for the next scan.
    assert f'<option value="{SHELF}" selected>' in await (await desk.client.get(page)).get_data(
        as_text=True
    )


async def test_an_htmx_scan_answers_with_its_message_and_the_count(desk, settings, shelf):
    page = await start(desk)
    response = await desk.post(f"{page}/scan", code="t2", shelf="")
    body = await response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert 'id="stocktake-message"' in body
    assert "Counted: Tidewater (T2)" in text_of(body)
    assert "1 copy counted so far" in text_of(body)
    repeat = await desk.post(f"{page}/scan", code="T2", shelf="")
    assert repeat.status_code == 200
    assert "Already counted" in text_of(await repeat.get_data(as_text=True))
    # The progress fragment the page polls.
    progress = await desk.client.get(page, headers=HX)
    assert "1 of 3 expected copies scanned" in text_of(await progress.get_data(as_text=True))
    assert "<h1" not in await progress.get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({"code": ""}, 422, "Scan a copy barcode first."),
        ({"code": "X" * 255}, 422, "too long to be a barcode"),
        ({"code": "T1", "shelf": "S" * 101}, 422, "not sent by the stocktake page"),
        ({"code": "T1", "shelf": "Nowhere"}, 422, "No copy belongs at “Nowhere”"),
    ],
)
async def test_a_bad_scan_is_refused_with_the_reason_and_changes_nothing(
    desk, settings, shelf, fields, status, reason
):
    page = await start(desk)
    before = table_checksums(settings.database)
    for htmx in (True, False):
        response = await desk.post(f"{page}/scan", htmx=htmx, **fields)
        if htmx:
            assert response.status_code == status
            assert reason in text_of(await response.get_data(as_text=True))
        else:
            assert response.status_code == 303
            shown = text_of(await (await desk.client.get(page)).get_data(as_text=True))
            assert "Refused:" in shown and reason in shown
    assert table_checksums(settings.database) == before


async def test_no_such_stocktake_is_a_404_everywhere(desk, settings):
    before = table_checksums(settings.database)
    for path in ("/stocktakes/999", "/stocktakes/999/report", "/stocktakes/999/report.csv",
                 "/stocktakes/999/close", "/stocktakes/999/mark-lost"):  # fmt: skip
        assert (await desk.client.get(path)).status_code == 404, path
    scanned = await desk.post("/stocktakes/999/scan", code="T1")
    assert scanned.status_code == 404
    assert "no such stocktake" in text_of(await scanned.get_data(as_text=True))
    assert (await desk.post("/stocktakes/999/scan", htmx=False, code="T1")).status_code == 404
    for action in ("close", "mark-lost"):
        response = await desk.post(f"/stocktakes/999/{action}", htmx=False, confirmed="yes")
        assert response.status_code == 404
    assert table_checksums(settings.database) == before


async def test_closing_asks_first_then_the_report_lists_the_missing_and_exports_them(
    desk, settings, shelf
):
    page = await start(desk)
    await desk.post(f"{page}/scan", code="T1", shelf=SHELF)
    unconfirmed = await desk.post(f"{page}/close", htmx=False)
    assert unconfirmed.status_code == 303 and unconfirmed.headers["Location"] == f"{page}/close"
    question = await desk.client.get(f"{page}/close")
    assert "Close the stocktake “Test stocktake”?" in text_of(await question.get_data(as_text=True))
    assert sql(settings, "SELECT State FROM Stocktakes")[-1][0] == "open"

    closed = await desk.post(f"{page}/close", htmx=False, confirmed="yes")
    assert closed.status_code == 303 and closed.headers["Location"] == f"{page}/report"
    report = text_of(await (await desk.client.get(f"{page}/report")).get_data(as_text=True))
    assert "Closed “Test stocktake”: 1 copy counted, 2 missing." in report
    assert "Missing (2)" in report and "T2" in report and "T3" in report

    scanned = await desk.post(f"{page}/scan", code="T2", shelf=SHELF)
    assert scanned.status_code == 409
    assert "is closed" in text_of(await scanned.get_data(as_text=True))
    twice = await desk.post(f"{page}/close", htmx=False, confirmed="yes")
    assert twice.status_code == 409

    exported = await desk.client.get(f"{page}/report.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO((await exported.get_data(as_text=True)).lstrip("\ufeff"))))
    assert rows[0][:3] == ["section", "barcode", "title"]
    assert [row[:3] for row in rows[1:]] == [
        ["missing", "T3", '\'=HYPERLINK("http://x")'],
        ["missing", "T2", "Tidewater"],
    ]


async def test_marking_the_missing_lost_asks_first_and_happens_once(desk, settings, shelf):
    page = await start(desk)
    await desk.post(f"{page}/scan", code="T1", shelf=SHELF)
    await desk.post(f"{page}/close", htmx=False, confirmed="yes")
    unconfirmed = await desk.post(f"{page}/mark-lost", htmx=False)
    assert unconfirmed.headers["Location"] == f"{page}/mark-lost"
    question = text_of(await (await desk.client.get(f"{page}/mark-lost")).get_data(as_text=True))
    assert "Mark the 2 missing copies lost?" in question
    assert sql(settings, "SELECT count(*) FROM Copies WHERE Status = 'lost' AND Location = ?",
               (SHELF,))[0][0] == 0  # fmt: skip

    marked = await desk.post(f"{page}/mark-lost", htmx=False, confirmed="yes")
    assert marked.status_code == 303
    lost = sql(settings, "SELECT Barcode FROM Copies WHERE Status = 'lost' AND Location = ? "
               "ORDER BY Barcode", (SHELF,))  # fmt: skip
    assert [row[0] for row in lost] == ["T2", "T3"]
    report = text_of(await (await desk.client.get(f"{page}/report")).get_data(as_text=True))
    assert "Marked 2 missing copies lost." in report
    again = await desk.post(f"{page}/mark-lost", htmx=False, confirmed="yes")
    assert again.status_code == 409
    assert "marked lost already" in text_of(await again.get_data(as_text=True))


async def test_a_copy_on_loan_found_on_the_shelf_is_checked_in_from_the_scan_log(
    desk, settings, shelf
):
    patron = sql(settings, "SELECT UserID FROM Users WHERE Email = 'alice@example.com'")[0][0]
    sql(
        settings,
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) "
        "SELECT ?, BookID, CopyID, '2026-11-20', '2026-12-04' FROM Copies WHERE Barcode = 'T1'",
        (patron,),
    )
    page = await start(desk)
    refused = await desk.post(f"{page}/check-in", code="T1")
    assert refused.status_code == 422
    scanned = await desk.post(f"{page}/scan", code="T1", shelf=SHELF)
    body = await scanned.get_data(as_text=True)
    assert "On loan: Tidewater (T1)" in text_of(body)
    assert f'action="{page}/check-in"' in body and "Check it in" in body
    checked_in = await desk.post(f"{page}/check-in", code="T1")
    assert checked_in.status_code == 200
    assert "Returned: Tidewater" in text_of(await checked_in.get_data(as_text=True))
    assert sql(settings, "SELECT count(*) FROM Loans l JOIN Copies c USING (CopyID) "
               "WHERE c.Barcode = 'T1' AND l.ReturnedAt IS NULL")[0][0] == 0  # fmt: skip
    again = await desk.post(f"{page}/check-in", code="T1")
    assert again.status_code == 409
    assert "is not on loan" in text_of(await again.get_data(as_text=True))
