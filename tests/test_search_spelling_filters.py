"""Search forgives spelling and narrows with filters (issue #21), over HTTP and in pure parts."""

from __future__ import annotations

import pytest

from webapp import ranking, search_query
from webapp.db import connect_sync
from webapp.spelling import Vocabulary

HX = {"HX-Request": "true"}


def add_book(settings, title, author="", *, year=None, language=None, series=None, copies=1):
    conn = connect_sync(settings.database)
    book_id = conn.execute(
        "INSERT INTO Books (Title, Author, Year, Language, Series) VALUES (?, ?, ?, ?, ?)",
        (title, author, year, language, series),
    ).lastrowid
    for number in range(copies):
        conn.execute(
            "INSERT INTO Copies (BookID, Barcode) VALUES (?, ?)", (book_id, f"T{book_id}-{number}")
        )
    conn.close()
    return book_id


def test_a_word_is_near_words_one_edit_away_and_long_words_two():
    vocabulary = Vocabulary([("tolkien", 5), ("potter", 9), ("hobbit", 3), ("encyclopedia", 2)])
    assert ("tolkien", 1) in vocabulary.near_words("tolkein")  # swapped letters
    assert ("potter", 1) in vocabulary.near_words("poter")  # a letter dropped
    assert ("encyclopedia", 2) in vocabulary.near_words("encylopedai")  # 11 letters: two edits
    assert vocabulary.near_words("hobit") == [("hobbit", 1)]
    assert vocabulary.near_words("pot") == []  # under four letters: typed exactly
    assert vocabulary.near_words("pottter") == [("potter", 1)]
    assert vocabulary.near_prefixes("tolkei") == [("tolkien", 1)]  # the unfinished last word


def test_added_words_are_found_at_once():
    vocabulary = Vocabulary([("potter", 9)])
    vocabulary.add([("quidditch", 1)])
    assert vocabulary.near_words("quiditch") == [("quidditch", 1)]


def test_filters_come_from_get_parameters_and_bad_ones_are_refused():
    filters = search_query.parse_filters(
        {
            "available": "1",
            "language": "fr",
            "year_from": "1990",
            "year_to": "2000",
            "sort": "title",
        }
    )
    assert filters.params() == {
        "available": "1",
        "language": "fr",
        "year_from": "1990",
        "year_to": "2000",
        "sort": "title",
    }
    for bad in ({"sort": "price"}, {"year_from": "199x"}, {"year_from": "2001", "year_to": "1990"}):
        with pytest.raises(search_query.BadFilter):
            search_query.parse_filters(bad)


def test_titles_sort_without_their_leading_article():
    assert ranking.title_sort_key("The Hobbit") < ranking.title_sort_key("Ivanhoe")
    assert ranking.series_parts("Harry Potter, #2") == ("Harry Potter", "2")


async def test_a_misspelt_search_finds_the_book_and_offers_the_correction(client):
    html = await (await client.get("/search?q=gatbsy", headers=HX)).get_data(as_text=True)
    assert "The Great <mark>Gatsby</mark>" in html
    assert 'Did you mean <a href="/search?q=gatsby">gatsby</a>?' in html


async def test_a_book_added_while_serving_is_found_misspelt(client, settings):
    await client.get("/search?q=gatsby")  # the vocabulary is read
    add_book(settings, "Quidditch Through the Ages", "Kennilworthy Whisp")
    html = await (await client.get("/search?q=quiditch", headers=HX)).get_data(as_text=True)
    assert "<mark>Quidditch</mark> Through the Ages" in html


async def test_available_language_and_years_narrow_the_results(client, settings):
    add_book(settings, "Zebra Tales", year=1950, language="fr")
    add_book(settings, "Zebra Songs", year=2010, language="en")
    add_book(settings, "Zebra Dreams", year=2011, language="en", copies=0)
    found = {}
    for params in ("", "&language=fr", "&year_from=2000", "&year_to=1999", "&available=1"):
        html = await (await client.get(f"/search?q=zebra{params}", headers=HX)).get_data(
            as_text=True
        )
        found[params] = {title for title in ("Tales", "Songs", "Dreams") if title in html}
    assert found[""] == {"Tales", "Songs", "Dreams"}
    assert found["&language=fr"] == {"Tales"}
    assert found["&year_from=2000"] == {"Songs", "Dreams"}
    assert found["&year_to=1999"] == {"Tales"}
    assert found["&available=1"] == {"Tales", "Songs"}


async def test_sorts_order_the_results(client, settings):
    add_book(settings, "The Yak Zone", "Amy Young", year=1990)
    add_book(settings, "A Yak Alphabet", "Zed Adams", year=2020)
    add_book(settings, "Yak Mountain", "Bea Brown", year=2005)
    orders = {}
    for sort in ("title", "author", "newest"):
        html = await (await client.get(f"/search?q=yak&sort={sort}", headers=HX)).get_data(
            as_text=True
        )
        orders[sort] = sorted(("Alphabet", "Mountain", "Zone"), key=html.index)
    assert orders["title"] == ["Alphabet", "Mountain", "Zone"]  # A Yak…, Yak M…, The Yak Z…
    assert orders["author"] == ["Alphabet", "Mountain", "Zone"]  # Adams, Brown, Young
    assert orders["newest"] == ["Alphabet", "Mountain", "Zone"]  # 2020, 2005, 1990


async def test_a_bad_filter_gets_a_clear_400(client):
    response = await client.get("/search?q=yak&sort=price")
    assert response.status_code == 400
    assert "sorted by" in await response.get_data(as_text=True)


async def test_the_search_page_has_filters_that_work_as_a_plain_form(client):
    html = await (await client.get("/search?q=gatsby&available=1&sort=title")).get_data(
        as_text=True
    )
    assert 'name="available" value="1" checked' in html
    assert '<option value="title" selected>' in html
    assert 'name="year_from"' in html and 'name="language"' in html


async def test_series_and_authors_link_and_a_series_page_lists_its_books_in_order(client, settings):
    add_book(settings, "Wombat Returns", "Kim Wu", series="Wombat Saga, #2")
    add_book(settings, "Wombat Rising", "Kim Wu", series="Wombat Saga, #1")
    add_book(settings, "Wombat Box Set", "Kim Wu", series="Wombat Saga, #1-2")
    html = await (await client.get("/search?q=wombat", headers=HX)).get_data(as_text=True)
    assert '<a href="/series?name=Wombat+Saga">Wombat Saga</a>, book 2' in html
    assert '<a href="/search?q=Kim+Wu">' in html
    page = await (await client.get("/series?name=Wombat+Saga")).get_data(as_text=True)
    assert page.index("Wombat Rising") < page.index("Wombat Returns") < page.index("Wombat Box")
    assert (await client.get("/series?name=Nothing+Here")).status_code == 404


async def test_the_book_page_links_author_series_and_subjects(client, settings):
    book_id = add_book(settings, "Lemur Nights", "Ann Lee", series="Lemurs, #3")
    conn = connect_sync(settings.database)
    conn.execute("UPDATE Books SET Subjects = 'Animals; Night' WHERE BookID = ?", (book_id,))
    conn.close()
    html = await (await client.get(f"/books/{book_id}")).get_data(as_text=True)
    assert '<a href="/search?q=Ann+Lee">Ann Lee</a>' in html
    assert '<a href="/series?name=Lemurs">Lemurs</a>, book 3' in html
    assert '<a href="/search?q=Animals">Animals</a>' in html


async def test_a_page_past_the_ranked_matches_does_not_say_no_matches(client):
    html = await (await client.get("/search?q=the&page=50", headers=HX)).get_data(as_text=True)
    assert "No matches" not in html
    assert "No more results" in html


async def test_a_plain_form_with_filters_left_unset_lands_on_the_short_address(client):
    response = await client.get("/search?q=gatsby&language=&year_from=&year_to=&sort=relevance")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/search?q=gatsby")
    kept = await client.get("/search?q=gatsby&language=&sort=title")
    assert kept.headers["Location"].endswith("/search?q=gatsby&sort=title")


async def test_an_item_type_narrows_the_results_to_titles_with_such_a_copy(client, settings):
    dvd = add_book(settings, "Walrus Documentary")
    add_book(settings, "Walrus Stories")
    conn = connect_sync(settings.database)
    conn.execute(
        "UPDATE Copies SET ItemTypeID = (SELECT ItemTypeID FROM ItemTypes WHERE Name = 'DVD') "
        "WHERE BookID = ?",
        (dvd,),
    )
    conn.close()
    found = {}
    for params in ("", "&item_type=DVD", "&item_type=dvd", "&item_type=Laptop"):
        html = await (await client.get(f"/search?q=walrus{params}", headers=HX)).get_data(
            as_text=True
        )
        found[params] = {title for title in ("Documentary", "Stories") if title in html}
    assert found[""] == {"Documentary", "Stories"}
    assert found["&item_type=DVD"] == found["&item_type=dvd"] == {"Documentary"}
    assert found["&item_type=Laptop"] == set()
    page = await (await client.get("/search?q=walrus&item_type=DVD")).get_data(as_text=True)
    assert '<option value="DVD" selected>DVD</option>' in page
    response = await client.get("/search?q=walrus&item_type=" + "x" * 41)
    assert response.status_code == 400
    assert "not the name of an item type" in await response.get_data(as_text=True)
