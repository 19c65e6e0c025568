"""Relevance on a real catalogue: goodbooks-10k imported through the real importer."""

from __future__ import annotations

import pytest

from bench import relevance
from webapp import search_query
from webapp.db import Database, connect_sync, migrate
from webapp.importing.books import apply_books, read_books_csv
from webapp.models import catalogue
from webapp.models.search_vocabulary import CatalogueWords
from webapp.resources import MIGRATIONS

from .conftest import GOODBOOKS_CSV

pytestmark = pytest.mark.skipif(
    not GOODBOOKS_CSV.exists(), reason=f"the goodbooks-10k catalogue is not at {GOODBOOKS_CSV}"
)


@pytest.fixture(scope="module")
def goodbooks_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("goodbooks") / "goodbooks.sqlite3"
    conn = connect_sync(path)
    migrate(conn, MIGRATIONS)
    _, rows = read_books_csv(GOODBOOKS_CSV.read_bytes())
    apply_books(conn, rows)
    conn.close()
    return path


@pytest.fixture
async def goodbooks(goodbooks_path):
    async with Database(goodbooks_path) as db:
        yield db


async def titles_for(db, text: str, count: int = 5) -> list[str]:
    page = (await catalogue.lookup(db, search_query.parse(text), per_page=count)).page
    return ["".join(part for part, _ in result.title_parts) for result in page.results]


@pytest.mark.parametrize(
    "typed, expected_first",
    [
        ("hunger gam", "The Hunger Games"),
        ("harry potter chamber", "Harry Potter and the Chamber of Secrets"),
        ("gatsby", "The Great Gatsby"),
        ("to kill a mock", "To Kill a Mockingbird"),
        ("fellowship of the ri", "The Fellowship of the Ring"),
        ("hobbit", "The Hobbit"),
    ],
)
async def test_typical_partial_queries_find_the_right_book_first(goodbooks, typed, expected_first):
    assert (await titles_for(goodbooks, typed))[0] == expected_first


async def test_an_author_query_finds_that_authors_books_first(goodbooks):
    page = (await catalogue.lookup(goodbooks, search_query.parse("tolkien"), per_page=5)).page
    authors = ["".join(part for part, _ in result.author_parts) for result in page.results]
    assert authors and all("Tolkien" in author for author in authors)


async def test_an_isbn10_that_lost_its_leading_zero_is_restored_and_findable(goodbooks):
    # books.csv holds "439023483" for The Hunger Games; the real ISBN-10 is 0439023483.
    query = search_query.parse("0439023483")
    book_id = await catalogue.find_book_by_isbn(goodbooks, query.isbn13)
    book = await catalogue.get_book(goodbooks, book_id)
    assert book.title == "The Hunger Games"
    assert book.isbn == "9780439023481"


async def test_the_series_in_brackets_is_kept_as_the_series(goodbooks):
    book_id = await catalogue.find_book_by_isbn(goodbooks, "9780439023481")
    book = await catalogue.get_book(goodbooks, book_id)
    assert book.series == "The Hunger Games, #1"
    assert (await titles_for(goodbooks, "hunger games #1"))[0] == "The Hunger Games"


async def test_non_latin_titles_and_accented_authors_are_searchable(goodbooks):
    page = (await catalogue.lookup(goodbooks, search_query.parse("grandpre"), per_page=3)).page
    authors = "".join(part for part, _ in page.results[0].author_parts)
    assert "GrandPré" in authors


async def test_the_first_keystrokes_reach_harry_potter_by_harr(goodbooks):
    for typed in ("h", "ha", "har"):
        assert await titles_for(goodbooks, typed, count=20), typed
    assert any(title.startswith("Harry Potter") for title in await titles_for(goodbooks, "harr"))


async def test_the_first_keystrokes_reach_tolkien_by_tolk(goodbooks):
    for typed in ("t", "to", "tol"):
        assert await titles_for(goodbooks, typed, count=20), typed
    page = (await catalogue.lookup(goodbooks, search_query.parse("tolk"), per_page=5)).page
    authors = ["".join(part for part, _ in result.author_parts) for result in page.results]
    assert "Tolkien" in authors[0]


async def test_a_one_letter_query_says_many_results_instead_of_counting(goodbooks):
    page = (await catalogue.lookup(goodbooks, search_query.parse("t"), per_page=20)).page
    assert page.total_is_capped and len(page.results) == 20


async def titles_forgiving(db, text: str, count: int = 5) -> list[str]:
    page = (
        await catalogue.lookup(db, search_query.parse(text), per_page=count, words=CatalogueWords())
    ).page
    return ["".join(part for part, _ in result.title_parts) for result in page.results]


async def test_partial_and_misspelt_queries_find_the_book_in_the_top_five(goodbooks):
    rates, missed = await relevance.measure(goodbooks, GOODBOOKS_CSV)
    assert rates.partial >= 0.95, missed
    assert rates.typo >= 0.80, missed


@pytest.mark.parametrize(
    "typed, author",
    [
        ("tolkein", "Tolkien"),
        ("dostoevsky", "Dostoyevsky"),
        ("dostoyevsky", "Dostoyevsky"),
        ("jk rowling", "J.K. Rowling"),
        ("tolkei", "Tolkien"),
    ],
)
async def test_names_people_get_wrong_are_found(goodbooks, typed, author):
    page = (
        await catalogue.lookup(
            goodbooks, search_query.parse(typed), per_page=5, words=CatalogueWords()
        )
    ).page
    authors = ["".join(part for part, _ in result.author_parts) for result in page.results]
    assert authors and all(author in found for found in authors), authors


async def test_a_misspelt_title_is_found_and_a_correction_offered(goodbooks):
    page = (
        await catalogue.lookup(
            goodbooks, search_query.parse("hary poter"), per_page=5, words=CatalogueWords()
        )
    ).page
    assert page.suggestion == "harry potter"
    assert "".join(part for part, _ in page.results[0].title_parts).startswith("Harry Potter")


async def test_exact_matches_rank_above_corrected_ones(goodbooks):
    # "dune" is a title; "dunne", "june", "dunes" are a letter away from it.
    titles = await titles_forgiving(goodbooks, "dune", count=20)
    exact = await titles_for(goodbooks, "dune", count=20)
    assert titles[: len(exact)] == exact


async def test_harry_potter_lists_the_novels_before_the_box_sets(goodbooks):
    titles = await titles_for(goodbooks, "harry potter", count=25)
    novels = [
        index for index, title in enumerate(titles) if title.startswith("Harry Potter and the")
    ]
    sets = [
        index
        for index, title in enumerate(titles)
        if any(word in title for word in ("Box", "Collection"))
    ]
    assert len(novels) >= 7 and sets and max(novels[:7]) < min(sets), titles
