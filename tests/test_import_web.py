"""Importing from the web: upload, preview with counts and reasons, adjust columns, confirm."""

from __future__ import annotations

import logging
import re
from io import BytesIO

import pytest
from werkzeug.datastructures import FileStorage

from webapp.db import connect_sync
from webapp.importing.patrons import MAX_PATRONS_PER_FILE

from .conftest import GOODBOOKS_CSV, log_in

BAD_ROWS_CSV = (
    "title,authors,isbn,year,copies,barcodes\n"
    "Dune,Frank Herbert,0441172717,1965,1,\n"
    ",Nobody,,2001,1,\n"
    "Dune,Frank Herbert,0441172717,1965,1,\n"
    "Year Unknown,Someone,,soon,1,\n"
    "Too Many,Someone,,2001,9999,\n"
    "Bad Code,Someone,,2001,1,has space\n"
    "Taken Code,Someone,,2001,1,C100000\n"
    "The Great Gatsby,F. Scott Fitzgerald,9780743273565,1925,1,\n"
    '=HYPERLINK("x"),Mallory,,2001,1,\n'
)


def count(settings, sql, params=()):
    conn = connect_sync(settings.database)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


async def upload(client, token, data: bytes, kind="books", filename="books.csv"):
    return await client.post(
        "/admin/import",
        form={"kind": kind, "csrf_token": token},
        files={"file": _file(data, filename)},
    )


def _file(data: bytes, filename: str):
    return FileStorage(BytesIO(data), filename=filename, content_type="text/csv")


def stat(html: str, label: str) -> int:
    match = re.search(
        r'<span class="stat-value">([\d,]+)</span><span class="stat-label">' + re.escape(label),
        html,
    )
    assert match, f"no {label} count in the page"
    return int(match.group(1).replace(",", ""))


def table_rows(html: str) -> list[str]:
    """The text of each table row of a page, tags removed."""
    return [re.sub(r"<[^>]+>", " ", row) for row in re.findall(r"<tr>(.*?)</tr>", html, re.S)]


@pytest.fixture
async def staff(client):
    return await log_in(client, "bob@example.com")


async def test_a_file_with_bad_rows_is_previewed_with_counts_and_a_reason_per_row(
    client, staff, settings, caplog
):
    books_before = count(settings, "SELECT count(*) FROM Books")
    response = await upload(client, staff, BAD_ROWS_CSV.encode())
    assert response.status_code == 303 and response.headers["Location"] == "/admin/import/preview"
    html = await (await client.get("/admin/import/preview")).get_data(as_text=True)
    assert stat(html, "new") == 2  # Dune and the formula-looking title
    assert stat(html, "duplicate") == 2  # Dune again, and Gatsby (already in the catalogue)
    assert stat(html, "invalid") == 5
    for line, reason in [
        (3, "the title is empty"),
        (4, "repeats an earlier row of this file"),
        (5, "year &#39;soon&#39; is not a number"),
        (6, "copies &#39;9999&#39; is not a whole number"),
        (7, "barcode &#39;has space&#39; may hold only"),
        (8, "barcode C100000 is already in use"),
        (9, "already in the catalogue"),
    ]:
        assert any(reason in row and f"line {line}" in row for row in table_rows(html)), (
            line,
            reason,
        )
    assert count(settings, "SELECT count(*) FROM Books") == books_before

    with caplog.at_level(logging.INFO, logger="shelfmark"):
        confirmed = await client.post("/admin/import/confirm", form={"csrf_token": staff})
    assert confirmed.status_code == 303
    done = await (await client.get("/admin/import")).get_data(as_text=True)
    assert "2 new, 0 updated, 2 duplicate, 5 invalid; 2 copies added" in done
    # The operator's log has one line with the same counts (docs/operations.md, Logging).
    assert [r.getMessage() for r in caplog.records if r.name == "shelfmark"] == [
        "import of books.csv (books) by bob@example.com: "
        "2 new, 0 updated, 2 duplicate, 5 invalid, 2 copies added"
    ]
    assert count(settings, "SELECT count(*) FROM Books") == books_before + 2
    assert count(settings, "SELECT count(*) FROM Books WHERE Title = '=HYPERLINK(\"x\")'") == 1


async def test_columns_can_be_chosen_when_they_are_not_recognised(client, staff, settings):
    data = "Book Name,Writer,Code\nSolaris,Stanisław Lem,0156027607\n".encode()
    await upload(client, staff, data)
    first = await client.get("/admin/import/preview")
    html = await first.get_data(as_text=True)
    assert first.status_code == 422 and "no title column was found" in html
    assert (
        '<select id="map-title" name="map_title">' in html and "<option>Book Name</option>" in html
    )
    chosen = {"map_title": "Book Name", "map_author": "Writer", "map_isbn": "Code"}
    preview = await client.get("/admin/import/preview", query_string=chosen)
    html = await preview.get_data(as_text=True)
    assert preview.status_code == 200 and stat(html, "new") == 1
    assert '<input type="hidden" name="map_author" value="Writer">' in html
    await client.post("/admin/import/confirm", form={**chosen, "csrf_token": staff})
    assert (
        count(
            settings,
            "SELECT count(*) FROM Books WHERE Title = 'Solaris' AND Author = 'Stanisław Lem' "
            "AND ISBN = '9780156027601'",
        )
        == 1
    )


async def test_a_column_the_file_does_not_have_is_refused(client, staff):
    await upload(client, staff, b"title\nSolaris\n")
    response = await client.get("/admin/import/preview?map_title=Nope")
    assert response.status_code == 422
    assert "the file has no column named &#39;Nope&#39;" in await response.get_data(as_text=True)


@pytest.mark.parametrize(
    "data, kind, message",
    [
        (b"title\n\xff\xfeSolaris\n", "books", "not UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "books", "holds binary data"),
        (b"", "patrons", "The file is empty."),
        (b"title\nSolaris\n", "marc", "That is not a MARC file"),
    ],
)
async def test_garbage_uploads_are_refused_with_a_clear_message(client, staff, data, kind, message):
    response = await upload(client, staff, data, kind=kind)
    assert response.status_code == 422
    assert message in await response.get_data(as_text=True)
    assert (await client.get("/admin/import/preview")).status_code == 409


async def test_confirm_without_an_upload_changes_nothing(client, staff):
    response = await client.post("/admin/import/confirm", form={"csrf_token": staff})
    assert response.status_code == 409
    assert "There is no upload waiting" in await response.get_data(as_text=True)


async def test_a_student_cannot_import_or_export(client):
    token = await log_in(client, "alice@example.com")
    assert (await upload(client, token, b"title\nx\n")).status_code == 403
    assert (await client.get("/admin/export/patrons.csv")).status_code == 403


@pytest.mark.skipif(
    not GOODBOOKS_CSV.exists(), reason="the goodbooks-10k catalogue is not available"
)
async def test_the_goodbooks_file_is_previewed_imported_and_reimported_adding_nothing(
    client, staff, settings
):
    books_before = count(settings, "SELECT count(*) FROM Books")
    await upload(client, staff, GOODBOOKS_CSV.read_bytes(), filename="books.csv")
    html = await (await client.get("/admin/import/preview")).get_data(as_text=True)
    assert "10,000 rows read" in html
    new = stat(html, "new")
    assert new + stat(html, "duplicate") + stat(html, "invalid") + stat(html, "updated") == 10_000
    assert new > 9_900
    assert "<option selected>isbn</option>" in html and "<option selected>authors</option>" in html
    await client.post("/admin/import/confirm", form={"csrf_token": staff})
    assert count(settings, "SELECT count(*) FROM Books") == books_before + new
    # A repaired ISBN-10 (books.csv has "439023483") finds its book by search.
    found = await client.get("/search?q=0439023483")
    assert found.status_code == 302
    assert "The Hunger Games" in await (await client.get(found.headers["Location"])).get_data(
        as_text=True
    )

    await upload(client, staff, GOODBOOKS_CSV.read_bytes(), filename="books.csv")
    again = await (await client.get("/admin/import/preview")).get_data(as_text=True)
    assert stat(again, "new") == 0 and stat(again, "updated") == 0
    await client.post("/admin/import/confirm", form={"csrf_token": staff})
    assert count(settings, "SELECT count(*) FROM Books") == books_before + new


async def test_a_patron_file_over_the_cap_is_refused_and_adds_nobody(client, staff, settings):
    users_before = count(settings, "SELECT count(*) FROM Users")
    pupils = MAX_PATRONS_PER_FILE + 1
    data = "name,email\n" + "".join(f"Pupil {n},pupil{n}@example.org\n" for n in range(pupils))
    await upload(client, staff, data.encode(), kind="patrons", filename="class.csv")
    preview = await client.get("/admin/import/preview")
    assert preview.status_code == 422
    assert "more than 20,000 patrons; split it" in await preview.get_data(as_text=True)
    response = await client.post("/admin/import/confirm", form={"csrf_token": staff})
    assert response.status_code == 422
    assert "Nothing was imported" in await response.get_data(as_text=True)
    assert count(settings, "SELECT count(*) FROM Users") == users_before


async def test_patrons_are_previewed_and_imported_from_the_web(client, staff, settings):
    data = "Full Name,Mail,Class,Card\nRavi Patel,ravi@example.org,Year 8,S7001\nBad,nope,Year 8,S7002\n"
    await upload(client, staff, data.encode(), kind="patrons", filename="class.csv")
    html = await (await client.get("/admin/import/preview")).get_data(as_text=True)
    assert '<label for="map-card_number">Card number</label>' in html
    assert stat(html, "new") == 1 and stat(html, "invalid") == 1
    assert "email: Type an email address like name@example.org." in html
    await client.post("/admin/import/confirm", form={"csrf_token": staff})
    assert (
        count(
            settings,
            "SELECT count(*) FROM Users WHERE Email = 'ravi@example.org' AND GroupName = 'Year 8' "
            "AND CardNumber = 'S7001' AND Role = 'Student'",
        )
        == 1
    )
