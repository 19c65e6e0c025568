"""ISBN lookup against a local stand-in for Open Library and Google Books.

The lookup itself (webapp/isbn_lookup.py) and "New book" (/books/new?isbn=…),
including every way the service can fail: slow, 404, 500, not JSON.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest

from webapp import create_app, shelf_marks
from webapp.config import Settings
from webapp.isbn_lookup import IsbnLookup, Outcome, parse_openlibrary

from . import fake_book_services as fake
from .conftest import log_in, make_settings


@pytest.fixture(scope="module")
def services():
    with fake.fake_book_services() as server:
        yield server


def lookup_settings(services, **overrides) -> Settings:
    return Settings(
        openlibrary_url=services.url,
        openlibrary_covers_url=services.url,
        isbn_lookup_timeout=0.5,
        **overrides,
    )


async def look_up(settings: Settings, isbn: str):
    lookup = IsbnLookup(settings)
    try:
        return await lookup.lookup(isbn)
    finally:
        await lookup.aclose()


async def test_a_found_edition_fills_every_field_the_form_has(services):
    result = await look_up(lookup_settings(services), fake.FOX)
    assert result.outcome is Outcome.FOUND
    record = result.record
    assert record.title == "Fantastic Mr. Fox"
    assert record.author == "Roald Dahl"
    assert record.publisher == "Puffin"
    assert record.year == 1988
    assert record.language == "eng"
    assert record.pages == 96
    assert record.series == "Puffin books"
    assert "Juvenile fiction" in record.subjects
    assert shelf_marks.suggest(record.dewey, record.subjects, record.author) == "FIC DAH"


async def test_a_subtitle_joins_the_title_and_dewey_gives_the_shelf_mark(services):
    record = (await look_up(lookup_settings(services), fake.HAWKING)).record
    assert record.title == "A Brief History of Time: From the Big Bang to Black Holes"
    assert shelf_marks.suggest(record.dewey, record.subjects, record.author) == "523.1 HAW"


@pytest.mark.parametrize(
    ("isbn", "outcome"),
    [
        (fake.UNKNOWN, Outcome.NOT_FOUND),
        (fake.MISSING, Outcome.NOT_FOUND),
        (fake.BROKEN, Outcome.UNREACHABLE),
        (fake.GARBLED, Outcome.UNREACHABLE),
        (fake.SLOW, Outcome.UNREACHABLE),
    ],
    ids=["unknown", "404", "500", "not-json", "slow"],
)
async def test_a_failing_service_says_so_instead_of_a_record(services, isbn, outcome):
    result = await look_up(lookup_settings(services), isbn)
    assert result.outcome is outcome
    assert result.record is None
    assert "fill it in by hand" in result.message


async def test_the_timeout_bounds_the_whole_lookup_however_many_sources(services):
    """Both sources would each take the full timeout on a slow ISBN: the lookup gives up
    at the one budget, and the slow answer that arrives later changes nothing."""
    settings = lookup_settings(services, google_books_url=services.url)
    lookup = IsbnLookup(settings)
    try:
        result = await asyncio.wait_for(lookup.lookup(fake.SLOW), timeout=fake.SLOW_SECONDS)
    finally:
        await lookup.aclose()
    assert result.outcome is Outcome.UNREACHABLE


async def test_google_books_answers_what_open_library_does_not_know(services):
    result = await look_up(
        lookup_settings(services, google_books_url=services.url), fake.ALGORITHMS
    )
    assert result.outcome is Outcome.FOUND
    assert result.record.source == "Google Books"
    assert result.record.title == "Introduction to Algorithms: Third Edition"
    assert result.record.author.startswith("Thomas H. Cormen, Charles E. Leiserson")
    assert (result.record.year, result.record.pages, result.record.language) == (2009, 1313, "en")


async def test_without_its_url_google_books_is_never_asked(services):
    asked = services.requests[("google", fake.ALGORITHMS)]
    result = await look_up(lookup_settings(services), fake.ALGORITHMS)
    assert result.outcome is Outcome.NOT_FOUND
    assert services.requests[("google", fake.ALGORITHMS)] == asked


async def test_answers_are_cached_but_an_unreachable_service_is_asked_again(services):
    lookup = IsbnLookup(lookup_settings(services))
    try:
        asked = services.requests[("openlibrary", fake.HAWKING)]
        for _ in range(3):
            assert (await lookup.lookup(fake.HAWKING)).outcome is Outcome.FOUND
        assert services.requests[("openlibrary", fake.HAWKING)] == asked + 1
        broken = services.requests[("openlibrary", fake.BROKEN)]
        await lookup.lookup(fake.BROKEN)
        await lookup.lookup(fake.BROKEN)
        assert services.requests[("openlibrary", fake.BROKEN)] == broken + 2
    finally:
        await lookup.aclose()


@pytest.mark.parametrize(
    "body",
    [[], {"ISBN:1": "text"}, {"ISBN:1": {"details": None}}],
    ids=["list", "string-entry", "no-details"],
)
def test_an_answer_not_in_the_documented_shape_is_refused_not_guessed(body):
    with pytest.raises(ValueError):
        parse_openlibrary(body, fake.FOX)


def test_odd_types_inside_a_record_are_dropped_and_plain_names_kept():
    record = parse_openlibrary(
        {
            "ISBN:x": {
                "details": {
                    "title": "T",
                    "authors": [{"name": 3}, "x"],
                    "publishers": "P",
                    "number_of_pages": "many",
                    "publish_date": None,
                }
            }
        },
        fake.FOX,
    )
    assert (record.title, record.author, record.publisher, record.pages, record.year) == (
        "T",
        "x",
        None,
        None,
        None,
    )


# --- "New book" over HTTP -------------------------------------------------------------


@pytest.fixture
async def staff(demo_copy, services):
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


def field_value(page: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
    return match.group(1) if match else ""


async def test_new_book_opens_prefilled_from_the_isbn(staff):
    client, _, _ = staff
    response = await client.get(f"/books/new?isbn={fake.FOX}")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Found in Open Library" in page
    assert field_value(page, "title") == "Fantastic Mr. Fox"
    assert field_value(page, "author") == "Roald Dahl"
    assert field_value(page, "year") == "1988"
    assert field_value(page, "pages") == "96"
    assert field_value(page, "shelf_mark") == "FIC DAH"
    assert field_value(page, "isbn") == "978-0-14-032872-1"


@pytest.mark.parametrize(
    ("isbn", "said"),
    [
        (fake.UNKNOWN, "No record was found for this ISBN: fill it in by hand."),
        (fake.MISSING, "No record was found for this ISBN: fill it in by hand."),
        (fake.BROKEN, "The book service could not be reached: fill it in by hand."),
        (fake.GARBLED, "The book service could not be reached: fill it in by hand."),
        (fake.SLOW, "The book service could not be reached: fill it in by hand."),
    ],
    ids=["unknown", "404", "500", "not-json", "slow"],
)
async def test_new_book_opens_empty_with_a_clear_message_when_the_lookup_fails(staff, isbn, said):
    client, _, _ = staff
    response = await client.get(f"/books/new?isbn={isbn}")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert said in page
    assert field_value(page, "title") == ""
    assert field_value(page, "isbn").replace("-", "") == isbn


async def test_a_mistyped_isbn_is_a_message_on_the_field_and_no_lookup(staff, services):
    client, _, _ = staff
    response = await client.get("/books/new?isbn=9780140328722")
    assert response.status_code == 422
    assert "is not a valid ISBN" in await response.get_data(as_text=True)
    assert services.requests[("openlibrary", "9780140328722")] == 0


async def test_an_isbn_already_catalogued_goes_to_its_book_offering_a_copy(staff, services):
    client, token, database = staff
    conn = sqlite3.connect(database)
    book_id, isbn = conn.execute(
        "SELECT BookID, ISBN FROM Books WHERE ISBN IS NOT NULL LIMIT 1"
    ).fetchone()
    copies = conn.execute("SELECT count(*) FROM Copies WHERE BookID = ?", (book_id,)).fetchone()[0]
    conn.close()
    response = await client.get(f"/books/new?isbn={isbn}")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/books/{book_id}"
    assert services.requests[("openlibrary", isbn)] == 0
    page = await (await client.get(f"/books/{book_id}")).get_data(as_text=True)
    assert "is already in the catalogue" in page
    assert "Add a copy" in page
    response = await client.post(
        f"/books/{book_id}/copies", form={"copies": "1", "csrf_token": token}
    )
    assert response.status_code == 303
    conn = sqlite3.connect(database)
    assert (
        conn.execute("SELECT count(*) FROM Copies WHERE BookID = ?", (book_id,)).fetchone()[0]
        == copies + 1
    )
    conn.close()


async def test_saving_a_looked_up_book_fetches_its_cover_once(staff, services):
    client, token, database = staff
    response = await client.post(
        "/books/new",
        form={
            "title": "Fantastic Mr. Fox",
            "author": "Roald Dahl",
            "isbn": fake.FOX,
            "shelf_mark": "fic dah",
            "pages": "96",
            "copies": "1",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303, await response.get_data(as_text=True)
    book_id = int(response.headers["Location"].rsplit("/", 1)[1])
    for _ in range(100):
        conn = sqlite3.connect(database)
        version, mark = conn.execute(
            "SELECT CoverVersion, ShelfMark FROM Books WHERE BookID = ?", (book_id,)
        ).fetchone()
        conn.close()
        if version:
            break
        await asyncio.sleep(0.05)
    assert version == 1
    assert mark == "FIC DAH"
    assert services.requests[("covers", fake.FOX)] == 1
    page = await (await client.get(f"/books/{book_id}")).get_data(as_text=True)
    assert f'src="/covers/{book_id}-m.jpg?v=1"' in page
    assert 'alt="Cover of Fantastic Mr. Fox"' in page
    image = await client.get(f"/covers/{book_id}-m.jpg?v=1")
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/jpeg"


async def test_empty_urls_turn_the_lookup_and_cover_fetching_off(services):
    asked = sum(services.requests.values())
    settings = Settings(openlibrary_url="", openlibrary_covers_url="", isbn_lookup_timeout=0.5)
    lookup = IsbnLookup(settings)
    try:
        assert (await lookup.lookup(fake.FOX)).outcome is Outcome.UNREACHABLE
        assert await lookup.fetch_cover(fake.FOX) is None
    finally:
        await lookup.aclose()
    assert sum(services.requests.values()) == asked
