"""Every row the import cannot take is found by the preview, with its line and reason, and
the confirm then does exactly what the preview said: no 500, no refusal (#17 item 9)."""

from __future__ import annotations

import pytest
from pymarc import Field, Subfield

from .conftest import log_in
from .test_import_marc import make_record
from .test_import_web import count, stat, table_rows, upload


@pytest.fixture
async def staff(client):
    return await log_in(client, "bob@example.com")


def next_barcode(settings) -> str:
    return "C" + str(
        count(settings, "SELECT Value FROM LibrarySettings WHERE Key = 'barcode_next'")
    )


async def preview(client) -> str:
    response = await client.get("/admin/import/preview")
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_data(as_text=True)


def lists(html: str, line: int, reason: str, word: str = "line") -> bool:
    return any(reason in row and f"{word} {line}" in row for row in table_rows(html))


async def test_years_and_barcodes_that_the_database_would_refuse_are_found_by_the_preview(
    client, staff, settings
):
    generated = next_barcode(settings)  # what the import will give the first row without one
    books = count(settings, "SELECT count(*) FROM Books")
    data = (
        "title,author,year,barcodes\n"
        "Infinite Jest,A,inf,\n"
        "Huge Year,A,1e400,\n"
        "Twice Given,A,2001,X1;x1\n"
        "Gets A Generated Code,A,2001,\n"
        f"Holds That Code,A,2001,{generated}\n"
    )
    await upload(client, staff, data.encode())

    html = await preview(client)

    assert (stat(html, "new"), stat(html, "invalid")) == (2, 3)
    assert lists(html, 2, "year &#39;inf&#39; is not a number")
    assert lists(html, 3, "year &#39;1e400&#39; is not a number")
    assert lists(html, 4, "barcode x1 is given twice in this row")
    confirmed = await client.post("/admin/import/confirm", form={"csrf_token": staff})
    assert confirmed.status_code == 303
    done = await (await client.get("/admin/import")).get_data(as_text=True)
    assert "2 new, 0 updated, 0 duplicate, 3 invalid; 2 copies added" in done
    assert count(settings, "SELECT count(*) FROM Books") == books + 2
    # The row that named the code keeps it; the generated one skipped it.
    assert count(
        settings,
        "SELECT Title FROM Books JOIN Copies USING (BookID) WHERE Barcode = ?",
        (generated,),
    ) == ("Holds That Code")


async def test_a_cell_longer_than_the_csv_limit_is_refused_alike_by_preview_and_confirm(
    client, staff, settings
):
    books = count(settings, "SELECT count(*) FROM Books")
    data = "title,author\nFine,A\n" + "Long," + "x" * 131_073 + "\nAlso Fine,B\n"
    await upload(client, staff, data.encode())

    response = await client.get("/admin/import/preview")
    message = "line 3: a cell is longer than 131,072 characters"
    assert response.status_code == 422
    assert message in await response.get_data(as_text=True)
    confirmed = await client.post("/admin/import/confirm", form={"csrf_token": staff})
    assert confirmed.status_code == 422
    assert f"Nothing was imported: {message}" in await confirmed.get_data(as_text=True)
    assert count(settings, "SELECT count(*) FROM Books") == books


async def test_a_marc_year_out_of_range_is_an_invalid_record_in_the_preview(
    client, staff, settings
):
    books = count(settings, "SELECT count(*) FROM Books")
    future = make_record(utf8=True, title="Far Future", author="Doe, Jane", isbn=None)
    future.remove_fields("264")
    future.add_field(Field(tag="264", indicators=[" ", "1"], subfields=[Subfield("c", "9999.")]))
    fine = make_record(utf8=True, title="Present Day", author="Doe, John", isbn=None)
    await upload(client, staff, future.as_marc() + fine.as_marc(), kind="marc", filename="x.mrc")

    html = await preview(client)

    assert (stat(html, "new"), stat(html, "invalid")) == (1, 1)
    assert lists(html, 1, "year 9999 is out of range", word="record")
    confirmed = await client.post("/admin/import/confirm", form={"csrf_token": staff})
    assert confirmed.status_code == 303
    assert count(settings, "SELECT count(*) FROM Books") == books + 1
