"""Stored XSS: markup typed into forms or imported from CSV and MARC comes out as text.

Payloads go in through the real paths (the book and patron forms, the closed-day
form, the web importer for CSV and MARC), then every page, fragment, email and
CSV export that shows them is read back: the markup must arrive escaped, and a
cell a spreadsheet would run as a formula must be neutralised. A real browser
then opens the pages and no script may run.
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil

import pytest
from pymarc import Field, Record, Subfield
from werkzeug.datastructures import FileStorage

from webapp.cli import main
from webapp.db import connect_sync
from webapp.emails import hold_ready

from .conftest import TEST_TODAY, log_in
from .server import running_server

PAYLOAD = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert("
RAW_MARKERS = ("<script>alert", "<img src=x", "<svg onload", '"><svg')
FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)")


def marc_file() -> bytes:
    record = Record(to_unicode=True, force_utf8=True)
    record.add_field(
        Field(tag="245", indicators=["0", "0"], subfields=[Subfield("a", "MARC " + PAYLOAD)]),
        Field(
            tag="100", indicators=["1", " "], subfields=[Subfield("a", "Marc Author " + PAYLOAD)]
        ),
        Field(
            tag="852",
            indicators=[" ", " "],
            subfields=[Subfield("p", "MARC-XSS-1"), Subfield("c", "Shelf " + PAYLOAD)],
        ),
    )
    return record.as_marc()


def books_csv() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["title", "author", "series", "subjects", "publisher", "barcodes", "location", "isbn"]
    )
    writer.writerow(
        [
            "CSV " + PAYLOAD,
            "CSV Author " + PAYLOAD,
            PAYLOAD,
            PAYLOAD,
            PAYLOAD,
            "CSV-XSS-1",
            "Shelf " + PAYLOAD,
            "",
        ]
    )
    writer.writerow([FORMULAS[0], FORMULAS[2], "", "", "", "CSV-XSS-2", FORMULAS[3], ""])
    # A row the preview refuses, quoting the bad value back.
    writer.writerow(["Bad ISBN row", "", "", "", "", "", "", PAYLOAD])
    return buffer.getvalue().encode()


def patrons_csv() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "email", "role", "card number", "class"])
    writer.writerow(["Imported " + PAYLOAD, "", "Student", "XSS-CARD-1", PAYLOAD])
    writer.writerow([FORMULAS[1], "formula@example.org", "Student", "XSS-CARD-2", FORMULAS[3]])
    return buffer.getvalue().encode()


async def import_file(client, token: str, kind: str, name: str, data: bytes) -> str:
    response = await client.post(
        "/admin/import",
        form={"kind": kind, "csrf_token": token},
        files={"file": FileStorage(io.BytesIO(data), name)},
    )
    assert response.status_code == 303, await response.get_data(as_text=True)
    preview = await (await client.get("/admin/import/preview")).get_data(as_text=True)
    confirmed = await client.post("/admin/import/confirm", form={"csrf_token": token})
    assert confirmed.status_code == 303
    return preview


@pytest.fixture
async def poisoned(app, client, settings):
    """Payloads stored through the forms and importers; returns the ids to visit."""
    token = await log_in(client, "carol@example.com")
    conn = connect_sync(settings.database)
    alice = conn.execute("SELECT UserID FROM Users WHERE Email = 'alice@example.com'").fetchone()[0]
    gatsby = conn.execute("SELECT BookID FROM Books WHERE Title = 'The Great Gatsby'").fetchone()[0]
    conn.close()
    edits = (
        (
            f"/patrons/{alice}/edit",
            {
                "name": "Alice " + PAYLOAD,
                "email": "alice@example.com",
                "role": "Student",
                "card_number": "S0001",
                "group": PAYLOAD,
                "active": "on",
            },
        ),
        (
            f"/books/{gatsby}/edit",
            {
                "title": "Gatsby " + PAYLOAD,
                "author": "Fitz " + PAYLOAD,
                "series": PAYLOAD,
                "subjects": PAYLOAD,
                "publisher": PAYLOAD,
                "language": "<b>en</b>",
            },
        ),
        (
            "/books/new",
            {"title": FORMULAS[0], "author": FORMULAS[1], "copies": "1", "location": FORMULAS[2]},
        ),
        ("/admin/rules/closed-days", {"day": "2026-12-26", "reason": PAYLOAD}),
    )
    for url, form in edits:
        response = await client.post(url, form={**form, "csrf_token": token})
        assert response.status_code in (302, 303), (url, await response.get_data(as_text=True))
    previews = [
        await import_file(client, token, "books", "books.csv", books_csv()),
        await import_file(client, token, "patrons", "patrons.csv", patrons_csv()),
        await import_file(client, token, "marc", "records.mrc", marc_file()),
    ]
    conn = connect_sync(settings.database)
    imported = conn.execute("SELECT UserID FROM Users WHERE CardNumber = 'XSS-CARD-1'").fetchone()[
        0
    ]
    marc_book = conn.execute("SELECT BookID FROM Books WHERE Title LIKE 'MARC %'").fetchone()[0]
    # An overdue loan for the imported patron, who has no email: the notify-by-hand list.
    copy = conn.execute("SELECT CopyID, BookID FROM Copies WHERE Barcode = 'MARC-XSS-1'").fetchone()
    conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (?, ?, ?, ?, ?)",
        (imported, copy["BookID"], copy["CopyID"], "2026-10-01", "2026-10-15"),
    )
    gatsby_barcode = conn.execute(
        "SELECT Barcode FROM Copies WHERE BookID = ? ORDER BY CopyID LIMIT 1", (gatsby,)
    ).fetchone()[0]
    conn.close()
    run = ["--database", str(settings.database), "run-reminders", "--date", TEST_TODAY.isoformat()]
    assert await asyncio.to_thread(main, run) == 0
    return {
        "token": token,
        "alice": alice,
        "gatsby": gatsby,
        "imported": imported,
        "marc_book": marc_book,
        "gatsby_barcode": gatsby_barcode,
        "previews": previews,
    }


def assert_escaped(body: str, what: str, shown: bool = True) -> None:
    """No payload markup in ``body``; when ``shown``, the payload is there as escaped text."""
    for marker in RAW_MARKERS:
        assert marker not in body, f"{what} shows {marker!r} unescaped"
    if shown:
        assert ESCAPED in body, f"{what} does not show the payload at all"


async def test_payloads_come_out_escaped_in_every_page_fragment_and_email(
    client, poisoned, settings
):
    ids = poisoned
    assert_escaped(ids["previews"][0], "the books import preview")
    for preview in ids["previews"]:
        assert not any(marker in preview for marker in RAW_MARKERS)
    pages = [
        "/search?q=Gatsby",
        "/search?q=CSV",
        "/search?q=MARC",
        f"/books/{ids['gatsby']}",
        f"/books/{ids['gatsby']}/edit",
        f"/books/{ids['gatsby']}/copies",
        f"/books/{ids['marc_book']}",
        f"/copies/{ids['gatsby_barcode']}",
        "/copies/MARC-XSS-1",
        "/patrons?q=Alice",
        "/patrons?q=Imported",
        f"/patrons/{ids['alice']}",
        f"/patrons/{ids['alice']}/edit",
        f"/patrons/{ids['imported']}",
        "/dashboard",
        "/admin/rules",
        "/admin/reminders/by-hand",
    ]
    # Lists that show no patron or book text (subjects, counts), checked for raw markup only.
    summaries = ["/admin/mailbox", "/admin/reminders"]
    for url in pages + summaries:
        for headers in ({}, {"HX-Request": "true"}):
            response = await client.get(url, headers=headers)
            assert response.status_code == 200, url
            shown = not headers and url in pages
            assert_escaped(await response.get_data(as_text=True), f"{url} {headers}", shown)
    await client.post(f"/patrons/{ids['alice']}/desk", form={"csrf_token": ids["token"]})
    assert_escaped(await (await client.get("/desk")).get_data(as_text=True), "/desk")

    conn = connect_sync(settings.database)
    messages = conn.execute(
        "SELECT MessageID, Subject, BodyText, BodyHtml FROM Outbox WHERE Recipient = 'alice@example.com'"
    ).fetchall()
    conn.close()
    assert messages, "the reminder run wrote Alice's email"
    for message in messages:
        assert PAYLOAD in message["BodyText"], "the plain-text part keeps the name as typed"
        assert_escaped(message["BodyHtml"], "the email's HTML part")
        for url in (
            f"/admin/mailbox/{message['MessageID']}",
            f"/admin/mailbox/{message['MessageID']}/html",
        ):
            assert_escaped(await (await client.get(url)).get_data(as_text=True), url)


async def test_alice_sees_her_own_name_and_loans_escaped(app, poisoned):
    alice = app.test_client()
    await log_in(alice, "alice@example.com")
    for url in ("/account", "/search?q=Gatsby"):
        assert_escaped(await (await alice.get(url)).get_data(as_text=True), url)


async def test_csv_exports_neutralise_formulas_and_keep_the_text(client, poisoned):
    seen = set()
    for kind in ("books", "patrons", "loans"):
        response = await client.get(f"/admin/export/{kind}.csv")
        text = (await response.get_data(as_text=True)).lstrip("\ufeff")
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        for cell in cells:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), f"{kind}: {cell!r}"
            seen.update(formula for formula in FORMULAS if cell == "'" + formula)
        assert any(PAYLOAD in cell for cell in cells), (
            f"the {kind} export keeps markup as plain text"
        )
    assert seen == set(FORMULAS)


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make browser-deps)"
)
async def test_no_payload_script_runs_in_a_real_browser(poisoned, settings):
    from playwright.async_api import async_playwright

    ids = poisoned
    pages = [
        "/search?q=Gatsby",
        f"/books/{ids['gatsby']}",
        f"/patrons/{ids['alice']}",
        "/dashboard",
        "/patrons?q=Imported",
        "/admin/rules",
        "/admin/reminders/by-hand",
        f"/books/{ids['marc_book']}",
        "/desk",
    ]
    with running_server(settings.database) as base:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                page = await browser.new_page()
                dialogs = []
                page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
                await page.goto(base + "/login")
                await page.fill("#email", "carol@example.com")
                await page.fill("#password", "demo")
                await page.click("button[type=submit]")
                await page.wait_for_url(lambda url: "/login" not in url)
                for url in pages:
                    await page.goto(base + url)
                    await page.wait_for_load_state("networkidle")
                    planted = await page.evaluate(
                        "document.querySelectorAll('script:not([src]), img[src=\"x\"], svg[onload]').length"
                    )
                    assert planted == 0, url
                    assert "<script>alert" in await page.inner_text("body") or url == "/desk", url
                # Live search swaps the results fragment in with htmx.
                await page.goto(base + "/search")
                await page.fill("input[name=q]", "Gatsby")
                await page.locator("text=Gatsby <script>").first.wait_for()
                assert dialogs == []
            finally:
                await browser.close()


def test_the_hold_ready_email_escapes_the_patron_and_the_title():
    mail = hold_ready(
        library_name="Shelfmark " + PAYLOAD,
        patron_name="Alice " + PAYLOAD,
        title="Gatsby " + PAYLOAD,
        author=PAYLOAD,
        barcode="B1",
        pickup_by=TEST_TODAY,
    )
    assert_escaped(mail.body_html, "the hold-ready email's HTML part")
    assert "Alice " + PAYLOAD in mail.body_text
