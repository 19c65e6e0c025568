"""Live search over HTTP: page or fragment, escaping, nasty input, direct hits."""

from __future__ import annotations

import pytest

from webapp.db import connect_sync

from .test_search_query import NASTY

HX = {"HX-Request": "true"}


async def test_the_search_page_has_a_live_search_box_that_also_works_as_a_plain_form(client):
    response = await client.get("/search")
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'action="/search" method="get"' in html
    assert 'hx-get="/search"' in html and 'hx-push-url="true"' in html and "hx-sync=" in html
    assert "delay:250ms" in html
    assert "<html" in html


async def test_htmx_gets_only_the_fragment_and_every_answer_varies_on_hx_request(client):
    page = await client.get("/search?q=gatsby")
    fragment = await client.get("/search?q=gatsby", headers=HX)
    page_html = await page.get_data(as_text=True)
    fragment_html = await fragment.get_data(as_text=True)
    assert "<html" in page_html and "<html" not in fragment_html
    assert "The Great <mark>Gatsby</mark>" in fragment_html
    assert fragment_html.strip() in page_html
    for response in (page, fragment):
        assert "HX-Request" in response.headers["Vary"]


async def test_a_history_restore_request_gets_the_whole_page(client):
    response = await client.get(
        "/search?q=gatsby", headers={**HX, "HX-History-Restore-Request": "true"}
    )
    assert "<html" in await response.get_data(as_text=True)


async def test_words_match_as_prefixes_and_results_show_availability(client):
    html = await (await client.get("/search?q=gre gats", headers=HX)).get_data(as_text=True)
    assert "<mark>Great</mark> <mark>Gatsby</mark>" in html
    assert "F. Scott Fitzgerald" in html
    # Alice's copy of The Great Gatsby is out; the demo gives it 1–3 copies.
    assert "on the shelf" in html or "all out, next due back" in html


async def test_a_title_whose_only_copy_is_overdue_says_so_instead_of_a_past_due_date(
    client, settings
):
    conn = connect_sync(settings.database)
    book_id = conn.execute("INSERT INTO Books (Title) VALUES ('Overdue Odyssey')").lastrowid
    copy_id = conn.execute(
        "INSERT INTO Copies (BookID, Barcode) VALUES (?, 'OO-1')", (book_id,)
    ).lastrowid
    conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) "
        "SELECT UserID, ?, ?, '2025-03-01', '2025-03-15' FROM Users WHERE Name = 'Alice Smith'",
        (book_id, copy_id),
    )
    conn.close()
    for path in ("/search?q=overdue odys", f"/books/{book_id}"):
        html = await (await client.get(path)).get_data(as_text=True)
        assert "all out, due back 15 Mar 2025 (overdue)" in html, path
        assert "next due back" not in html, path


async def test_a_title_with_markup_is_escaped(client, settings):
    conn = connect_sync(settings.database)
    conn.execute(
        "INSERT INTO Books (Title, Author) VALUES (?, ?)",
        ("<script>alert('x')</script> Zebra Tales", '<img src=x onerror="alert(1)">'),
    )
    conn.close()
    for headers in ({}, HX):
        html = await (await client.get("/search?q=zebra", headers=headers)).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html


@pytest.mark.parametrize("text", NASTY)
async def test_nasty_queries_answer_200_with_results_or_a_friendly_message(client, text):
    for headers in ({}, HX):
        response = await client.get("/search", query_string={"q": text}, headers=headers)
        assert response.status_code == 200, text
        html = await response.get_data(as_text=True)
        assert "Something went wrong" not in html


async def test_an_isbn_submitted_goes_straight_to_the_book(client):
    response = await client.get("/search?q=978-0-7432-7356-5")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/books/1")
    submitted = await client.get(
        "/search?q=0743273567", headers={**HX, "HX-Trigger": "search-form"}
    )
    assert submitted.headers["HX-Redirect"] == "/books/1"


async def test_an_isbn_being_typed_shows_that_book_without_navigating(client):
    response = await client.get("/search?q=9780451524935", headers={**HX, "HX-Trigger": "q"})
    html = await response.get_data(as_text=True)
    assert "HX-Redirect" not in response.headers
    assert "1984" in html and "1 match" in html


async def test_a_copy_barcode_goes_to_its_book(client, settings):
    conn = connect_sync(settings.database)
    barcode = conn.execute("SELECT Barcode FROM Copies WHERE BookID = 2 LIMIT 1").fetchone()[0]
    conn.close()
    response = await client.get(f"/search?q={barcode}")
    assert response.headers["Location"].endswith("/books/2")


async def test_an_empty_query_suggests_books(client):
    html = await (await client.get("/search")).get_data(as_text=True)
    assert "Most borrowed" in html and "New in the library" in html


async def test_paging_links_work_without_javascript(client):
    first = await (await client.get("/search?q=the")).get_data(as_text=True)
    assert 'href="/search?q=the&amp;page=2"' in first
    second = await (await client.get("/search?q=the&page=2")).get_data(as_text=True)
    assert 'start="21"' in second
    odd = await client.get("/search?q=the&page=-4")
    assert odd.status_code == 200


async def test_the_book_page_lists_each_copy_and_an_unknown_book_is_a_404(client):
    html = await (await client.get("/books/1")).get_data(as_text=True)
    assert "The Great Gatsby" in html and "978-0-7432-7356-5" in html
    assert "On loan, due back 15 Mar 2025" in html
    missing = await client.get("/books/999999")
    assert missing.status_code == 404
    assert "There is no such page" in await missing.get_data(as_text=True)
    assert (await client.get("/books/not-a-number")).status_code == 404


async def test_healthz_reports_the_database(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert (await response.get_json())["status"] == "ok"


async def test_healthz_is_503_when_the_database_is_gone(app, client):
    await app.app.extensions["shelfmark.db"].close()
    response = await client.get("/healthz")
    assert response.status_code == 503
    await app.app.extensions["shelfmark.db"].open()


async def test_every_response_carries_the_security_headers(client):
    response = await client.get("/search")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


async def test_a_huge_match_set_says_many_results_and_still_shows_the_popular_book(
    client, settings
):
    conn = connect_sync(settings.database)
    conn.executemany(
        "INSERT INTO Books (Title, Author) VALUES (?, ?)",
        [(f"Quokka Tales {number}", "Ann Author") for number in range(1, 401)],
    )
    # The oldest of them, far outside the newest matches, is the one everyone borrows.
    conn.execute("UPDATE Books SET TimesBorrowed = 75 WHERE Title = 'Quokka Tales 1'")
    conn.close()
    html = await (await client.get("/search?q=quok", headers=HX)).get_data(as_text=True)
    assert "Many results" in html
    assert "400 matches" not in html
    first = html.index('class="result-title"')
    assert "Tales 1<" in html[first : first + 200]
    narrowed = await (await client.get("/search?q=quokka tales 17", headers=HX)).get_data(
        as_text=True
    )
    assert "Many results" not in narrowed and "matches" in narrowed
