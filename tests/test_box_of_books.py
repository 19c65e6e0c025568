"""The box of new books: ISBN after ISBN, each a new book or another copy, in one list."""

from __future__ import annotations

import sqlite3

import pytest

from webapp import create_app

from . import fake_book_services as fake
from .conftest import log_in, make_settings


@pytest.fixture(scope="module")
def services():
    with fake.fake_book_services() as server:
        yield server


@pytest.fixture
async def librarian(demo_copy, services):
    app = create_app(
        make_settings(
            demo_copy,
            openlibrary_url=services.url,
            openlibrary_covers_url=services.url,
            isbn_lookup_timeout=0.5,
        )
    )
    async with app.test_app() as test_app:
        client = test_app.test_client()
        token = await log_in(client, "bob@example.com")
        yield client, token, demo_copy


async def scan(client, token, isbn: str, htmx: bool = True):
    headers = {"HX-Request": "true"} if htmx else {}
    return await client.post(
        "/cataloguing/box", form={"isbn": isbn, "csrf_token": token}, headers=headers
    )


def rows(database, sql, *params):
    conn = sqlite3.connect(database)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def test_a_box_of_books_becomes_books_and_copies_reviewed_in_one_list(librarian):
    client, token, database = librarian
    for isbn in (fake.FOX, fake.HAWKING, fake.FOX, fake.UNKNOWN, fake.BROKEN):
        response = await scan(client, token, isbn)
        assert response.status_code == 200
    said = await response.get_data(as_text=True)
    assert "could not be reached" in said
    books = rows(
        database,
        "SELECT BookID, Title, ShelfMark FROM Books WHERE ISBN IN (?, ?)",
        fake.FOX,
        fake.HAWKING,
    )
    assert sorted((title, mark) for _, title, mark in books) == [
        ("A Brief History of Time: From the Big Bang to Black Holes", "523.1 HAW"),
        ("Fantastic Mr. Fox", "FIC DAH"),
    ]
    fox = next(book_id for book_id, title, _ in books if title == "Fantastic Mr. Fox")
    fox_copies = rows(database, "SELECT Barcode FROM Copies WHERE BookID = ? ORDER BY CopyID", fox)
    assert len(fox_copies) == 2
    page = await (await client.get("/cataloguing/box")).get_data(as_text=True)
    assert "In this box (5)" in page
    assert page.count("Fantastic Mr. Fox</a>") == 2
    for (barcode,) in fox_copies:
        assert f'<td data-label="Barcode">{barcode}</td>' in page
    assert "Not found: <a" in page and "Service unreachable: <a" in page
    assert f'href="/books/new?isbn={fake.UNKNOWN}"' in page
    # Every copy the box added waits for its labels.
    queued = {
        row[0]
        for row in rows(database, "SELECT c.Barcode FROM LabelQueue q JOIN Copies c USING (CopyID)")
    }
    assert {barcode for (barcode,) in fox_copies} <= queued
    response = await client.post("/cataloguing/box/close", form={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/labels"
    assert "In this box (0)" in await (await client.get("/cataloguing/box")).get_data(as_text=True)


async def test_a_bad_scan_is_a_422_that_adds_nothing(librarian):
    client, token, database = librarian
    before = rows(database, "SELECT count(*) FROM Copies")[0][0]
    response = await scan(client, token, "12345")
    assert response.status_code == 422
    assert "is not a valid ISBN" in await response.get_data(as_text=True)
    assert rows(database, "SELECT count(*) FROM Copies")[0][0] == before


async def test_without_javascript_a_scan_redirects_back_to_the_box(librarian):
    client, token, _ = librarian
    response = await scan(client, token, fake.HAWKING, htmx=False)
    assert response.status_code == 303
    page = await (await client.get("/cataloguing/box")).get_data(as_text=True)
    assert "New book: A Brief History of Time" in page
    assert "In this box (1)" in page
