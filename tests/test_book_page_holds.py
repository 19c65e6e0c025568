"""The book page never offers "Place a hold" to a reader who already holds the title: a
waiting reader sees their place in the queue, a reader whose copy is set aside sees where
to collect it; everyone sees how many are waiting."""

from __future__ import annotations

from . import test_circulation_http as circulation
from .test_desk_holds_http import student, titles_on_loan

demo_database = circulation.demo_database
desk = circulation.desk
patrons = circulation.patrons
today = circulation.today


async def test_a_reader_whose_copy_is_set_aside_is_told_to_collect_it(
    app, desk, settings, patrons, today
):
    (book_id,) = titles_on_loan(settings, 1, patrons["finn"], today)
    eli, eli_token = await student(app, "s9002@example.com")
    dana, dana_token = await student(app, "s9001@example.com")
    await eli.post(f"/books/{book_id}/hold", form={"csrf_token": eli_token})
    await dana.post(f"/books/{book_id}/hold", form={"csrf_token": dana_token})
    # The copy comes back at the desk and is set aside for Eli, first in the queue.
    await desk.scan("HH0")

    page = await (await eli.get(f"/books/{book_id}")).get_data(as_text=True)
    assert "A copy is on the hold shelf for you" in page
    assert "Place a hold" not in page and "in the queue" not in page
    page = await (await dana.get(f"/books/{book_id}")).get_data(as_text=True)
    assert "1 person waiting" in page
    assert "You are number 1 in the queue." in page and "Place a hold" not in page
