"""Searches kept in memory: reused only while what they show is unchanged."""

from __future__ import annotations

from datetime import timedelta

from webapp.clock import library_today
from webapp.db import connect_sync
from webapp.search_cache import SearchCache, Versions
from webapp.templating import short_date

HX = {"HX-Request": "true"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_ranking_is_reused_until_the_catalogue_changes_or_it_grows_old():
    clock = FakeClock()
    cache = SearchCache(entries=4, max_age=60, clock=clock)
    cache.keep_ranking(("harr",), Versions(catalogue=7, circulation=1), "ranked harr")

    assert cache.ranking(("harr",), Versions(7, 2)) == "ranked harr"
    assert cache.ranking(("harr",), Versions(8, 2)) is None
    cache.keep_ranking(("harr",), Versions(8, 2), "ranked again")
    clock.now = 61
    assert cache.ranking(("harr",), Versions(8, 2)) is None


def test_a_built_page_is_reused_only_while_circulation_is_unchanged_too():
    cache = SearchCache(entries=4)
    versions = Versions(catalogue=3, circulation=10)
    cache.keep_ranking(("dune",), versions, "ranked")
    cache.keep_page(("dune",), versions, (1, 20), "page one")

    assert cache.page(("dune",), versions, (1, 20)) == "page one"
    assert cache.page(("dune",), versions, (2, 20)) is None
    assert cache.page(("dune",), Versions(3, 11), (1, 20)) is None
    assert cache.ranking(("dune",), Versions(3, 11)) == "ranked"


def test_the_least_recently_used_query_is_dropped_first():
    cache = SearchCache(entries=2)
    versions = Versions(1, 1)
    for key in (("a",), ("b",)):
        cache.keep_ranking(key, versions, key)
    cache.ranking(("a",), versions)
    cache.keep_ranking(("c",), versions, ("c",))

    assert cache.ranking(("a",), versions) == ("a",)
    assert cache.ranking(("b",), versions) is None
    assert cache.ranking(("c",), versions) == ("c",)


def test_a_cache_of_no_entries_keeps_nothing():
    cache = SearchCache(entries=0)
    cache.keep_ranking(("a",), Versions(1, 1), "ranked")
    assert cache.ranking(("a",), Versions(1, 1)) is None


async def _results(client, text: str) -> str:
    return await (await client.get("/search", query_string={"q": text}, headers=HX)).get_data(
        as_text=True
    )


async def test_a_book_added_by_another_process_shows_in_the_same_search_typed_again(
    client, settings
):
    assert "Zanzibar" not in await _results(client, "zanz")
    conn = connect_sync(settings.database)
    conn.execute("INSERT INTO Books (Title, Author) VALUES ('Zanzibar Nights', 'Ada Lovelace')")
    conn.close()

    assert "<mark>Zanzibar</mark> Nights" in await _results(client, "zanz")


async def test_a_retitled_book_shows_its_new_title_in_the_same_search(client, settings):
    assert "The Great <mark>Gatsby</mark>" in await _results(client, "gatsby")
    conn = connect_sync(settings.database)
    conn.execute("UPDATE Books SET Title = 'Gatsby the Great' WHERE BookID = 1")
    conn.close()

    html = await _results(client, "gatsby")
    assert "<mark>Gatsby</mark> the Great" in html and "The Great <mark>Gatsby</mark>" not in html


async def test_lending_the_last_copy_on_the_shelf_shows_in_the_same_search(client, settings):
    conn = connect_sync(settings.database)
    conn.execute("INSERT INTO Books (Title, Author) VALUES ('Quixotic Quests', 'Ada Lovelace')")
    book_id = conn.execute("SELECT BookID FROM Books WHERE Title = 'Quixotic Quests'").fetchone()[0]
    copy_id = conn.execute(
        "INSERT INTO Copies (BookID, Barcode) VALUES (?, 'QQ-1')", (book_id,)
    ).lastrowid
    assert "1 of 1 on the shelf" in await _results(client, "quixo")

    user_id = conn.execute("SELECT UserID FROM Users WHERE Name = 'Alice Smith'").fetchone()[0]
    due = library_today(settings) + timedelta(days=10)
    conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (?, ?, ?, ?, ?)",
        (user_id, book_id, copy_id, library_today(settings).isoformat(), due.isoformat()),
    )
    conn.close()

    assert f"all out, next due back {short_date(due)}" in await _results(client, "quixo")
