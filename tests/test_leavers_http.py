"""The school year's pages refuse bad input with a reason and change nothing."""

from __future__ import annotations

import io

from quart.datastructures import FileStorage

from . import test_circulation_http as circulation
from .security_helpers import table_checksums

demo_database = circulation.demo_database
desk = circulation.desk


async def test_a_class_list_that_cannot_be_read_is_refused_with_the_reason(desk, settings):
    before = table_checksums(settings.database)
    empty = await desk.client.post("/leavers/class-list", form={"csrf_token": desk.token})
    assert empty.status_code == 422
    assert "Choose next year" in await empty.get_data(as_text=True)
    nameless = await desk.client.post(
        "/leavers/class-list",
        form={"csrf_token": desk.token},
        files={"file": FileStorage(io.BytesIO(b"colour,size\nred,3\n"), filename="list.csv")},
    )
    assert nameless.status_code == 422
    assert "no name column" in await nameless.get_data(as_text=True)
    assert table_checksums(settings.database) == before


async def test_a_promotion_with_an_overlong_name_changes_nothing(desk, settings):
    circulation.sql(settings, "UPDATE Users SET GroupName = 'Year 7' WHERE CardNumber = 'S0001'")
    before = table_checksums(settings.database)
    refused = await desk.client.post(
        "/groups/promote",
        form={"csrf_token": desk.token, "from-0": "Year 7", "to-0": "x" * 101, "confirm": "yes"},
    )
    assert refused.status_code == 422
    assert "at most 100 characters" in await refused.get_data(as_text=True)
    assert table_checksums(settings.database) == before
