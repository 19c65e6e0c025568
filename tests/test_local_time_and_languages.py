"""Staff pages show the library's local time and language names, not UTC stamps and codes:
one Jinja filter each (webapp/templating.py), used wherever a stamp or a language is shown."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from webapp import create_app
from webapp.db import connect_sync
from webapp.languages import language_name
from webapp.templating import local_time

from .conftest import log_in, make_settings

NEW_YORK = ZoneInfo("America/New_York")


def test_a_utc_stamp_is_shown_on_the_librarys_clock():
    this_year = date.today().year
    assert local_time(f"{this_year}-07-01T03:30:00.000Z", NEW_YORK) == "30 Jun, 23:30"
    assert local_time("2020-12-02T14:05:09Z", ZoneInfo("Europe/London")) == "2 Dec 2020, 14:05"
    # Summer time in London: an hour ahead of UTC.
    assert local_time("2020-07-01T14:05:09", ZoneInfo("Europe/London")) == "1 Jul 2020, 15:05"
    assert local_time(None, NEW_YORK) == ""


@pytest.mark.parametrize(
    ("code", "name"),
    [("en", "English"), ("eng", "English"), ("fre", "French"), ("FRA", "French"), ("cy", "Welsh")],
)
def test_language_codes_of_either_standard_are_named(code, name):
    assert language_name(code) == name


def test_an_unknown_language_code_is_shown_as_it_is():
    assert language_name("tlh") == "tlh"
    assert language_name(None) == ""


async def test_the_event_log_and_the_book_page_use_them(demo_database):
    conn = connect_sync(demo_database)
    try:
        conn.execute("UPDATE Books SET Language = 'fre' WHERE BookID = 1")
        (user_id,) = conn.execute(
            "SELECT UserID FROM Users WHERE Email = 'alice@example.com'"
        ).fetchone()
        # 03:30 UTC on 1 July is 23:30 the evening before in New York.
        stamp = "2026-07-01T03:30:07.000Z"
        conn.execute(
            "INSERT INTO Events (At, Kind, UserID, Detail) VALUES (?, 'renew', ?, 'by hand')",
            (stamp, user_id),
        )
    finally:
        conn.close()
    app = create_app(make_settings(demo_database, timezone="America/New_York"))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        await log_in(client, "bob@example.com")
        book = await (await client.get("/books/1")).get_data(as_text=True)
        assert "<dd>French</dd>" in book
        patron = await (await client.get(f"/patrons/{user_id}")).get_data(as_text=True)
    assert "When (UTC)" not in patron
    assert f"<td>{local_time(stamp, NEW_YORK)}</td>" in patron
    assert "30 Jun" in local_time(stamp, NEW_YORK) and "03:30:07" not in patron
