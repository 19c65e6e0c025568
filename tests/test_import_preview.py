"""The import preview says what the import will do (#22): how many copies it creates, the
first rows as they will be imported, and the rows it will not import grouped by reason
with a count and a few examples, however many there are."""

from __future__ import annotations

import re

import pytest

from bench.import_contention import write_csv

from .conftest import log_in
from .test_import_web import count, stat, table_rows, upload

ROWS = 10_000


@pytest.fixture
async def staff(client):
    return await log_in(client, "bob@example.com")


async def test_a_first_import_shows_its_copies_and_first_rows_and_a_reimport_groups_reasons(
    client, staff, settings, tmp_path
):
    source = tmp_path / "books.csv"
    write_csv(source, ROWS)
    await upload(client, staff, source.read_bytes())

    first = await (await client.get("/admin/import/preview")).get_data(as_text=True)

    assert stat(first, "new") == ROWS
    assert "The import will create <strong>10,000 copies</strong>" in first
    samples = [row for row in table_rows(first) if "Imp 00000" in row]
    assert len(samples) == 10
    assert re.search(r"\b2\s+new\s+Imp 0000000\s+A 0\s+\s*1900\s+1\b", samples[0])
    await client.post("/admin/import/confirm", form={"csrf_token": staff})
    assert count(settings, "SELECT count(*) FROM Books WHERE Title LIKE 'Imp 0%'") == ROWS

    await upload(client, staff, source.read_bytes())
    again = await (await client.get("/admin/import/preview")).get_data(as_text=True)

    assert stat(again, "duplicate") == ROWS and stat(again, "new") == 0
    (group,) = [row for row in table_rows(again) if "already in the catalogue" in row]
    assert "10,000" in group and "… and 9,995 more" in group
    assert again.count("already in the catalogue") <= 6  # the reason and five examples
    assert "will create" not in again
