"""MARC import: records made here with pymarc, in MARC-8 and UTF-8, binary and MARCXML."""

from __future__ import annotations

import io
import tracemalloc

import pytest
from pymarc import Field, Record, Subfield, record_to_xml

from webapp.cli import main
from webapp.db import connect_sync
from webapp.importing.books import apply_books
from webapp.importing.marc import iter_marc, read_marc

from .conftest import log_in
from .test_import_web import upload

# MARC-8 writes an accent as a combining mark BEFORE its letter: 0xE2 is the
# acute, 0xE8 the umlaut. Written through latin-1, "\xe2e" is the bytes E2 65.
MARC8_ACUTE, MARC8_UMLAUT = "\u00e2", "\u00e8"


def make_record(
    *, utf8: bool, title: str, author: str, isbn: str | None, holdings=(), subjects=("Philosophy",)
):
    record = Record(
        to_unicode=utf8,
        force_utf8=utf8,
        leader="00000nam a2200000 a 4500" if utf8 else "00000nam  2200000   4500",
    )
    record.add_field(Field(tag="008", data="850101s1942    fr            000 1 fre d"))
    if isbn:
        record.add_field(
            Field(tag="020", indicators=[" ", " "], subfields=[Subfield("a", f"{isbn} (pbk.)")])
        )
    record.add_field(
        Field(tag="100", indicators=["1", " "], subfields=[Subfield("a", author + ",")])
    )
    record.add_field(
        Field(
            tag="245",
            indicators=["1", "0"],
            subfields=[Subfield("a", title + " /"), Subfield("c", "x.")],
        )
    )
    record.add_field(
        Field(
            tag="264",
            indicators=[" ", "1"],
            subfields=[
                Subfield("a", "Paris :"),
                Subfield("b", "Gallimard,"),
                Subfield("c", "c1942."),
            ],
        )
    )
    for subject in subjects:
        record.add_field(
            Field(tag="650", indicators=[" ", "0"], subfields=[Subfield("a", subject + ".")])
        )
    for barcode, shelf in holdings:
        record.add_field(
            Field(
                tag="852",
                indicators=[" ", " "],
                subfields=[Subfield("c", shelf), Subfield("p", barcode)],
            )
        )
    return record


def marc8_file() -> bytes:
    return (
        make_record(
            utf8=False,
            title=f"L'{MARC8_ACUTE}etranger",
            author="Camus, Albert",
            isbn="2070360024",
            holdings=[("M-0001", "Fiction A-F"), ("M-0002", "Fiction A-F")],
        ).as_marc()
        + make_record(
            utf8=False,
            title=f"Die Bl{MARC8_UMLAUT}utezeit",
            author=f"M{MARC8_UMLAUT}uller, Herta",
            isbn=None,
        ).as_marc()
    )


def utf8_file() -> bytes:
    return (
        make_record(
            utf8=True,
            title="Le Petit Prince",
            author="Saint-Exupéry, Antoine de",
            isbn="9782070612758",
            holdings=[("M-0100", "Jeunesse")],
            subjects=("Enfance", "Aviateurs"),
        ).as_marc()
        + make_record(
            utf8=True, title="Война и мир", author="Толстой, Лев", isbn="not-an-isbn"
        ).as_marc()
    )


def test_marc8_records_become_correct_utf8_text_with_holdings():
    first, second = read_marc(marc8_file())
    assert first.title == "L'étranger" and len(first.title) == 10  # é is one character (NFC)
    assert first.author == "Camus, Albert"
    assert first.isbn == "9782070360024"
    assert (first.publisher, first.year, first.language) == ("Gallimard", 1942, "fre")
    assert first.subjects == "Philosophy"
    assert first.barcodes == ["M-0001", "M-0002"] and first.location == "Fiction A-F"
    assert second.title == "Die Blütezeit" and second.author == "Müller, Herta"
    assert second.isbn is None and second.barcodes == []


def test_utf8_records_keep_non_latin_text_and_report_a_bad_isbn():
    prince, war = read_marc(utf8_file())
    assert prince.author == "Saint-Exupéry, Antoine de"
    assert prince.subjects == "Enfance; Aviateurs"
    assert war.title == "Война и мир" and war.author == "Толстой, Лев"
    assert war.isbn is None and any("not valid" in warning for warning in war.warnings)


def test_marcxml_reads_the_same_as_binary():
    records = [
        make_record(
            utf8=True,
            title="Café Society",
            author="Doe, Jane",
            isbn="0439023483",
            holdings=[("X-1", "Reference")],
        )
    ]
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<collection xmlns="http://www.loc.gov/MARC21/slim">'
        + b"".join(record_to_xml(record, namespace=False) for record in records)
        + b"</collection>"
    )
    (row,) = read_marc(xml)
    assert (row.title, row.author, row.isbn, row.barcodes) == (
        "Café Society",
        "Doe, Jane",
        "9780439023481",
        ["X-1"],
    )


def test_a_damaged_record_is_an_invalid_row_and_garbage_is_refused():
    rows = read_marc(utf8_file() + b"00099nam  2200049   4500garbage")
    assert [row.error for row in rows] == [None, None, "the record is damaged and cannot be read"]
    with pytest.raises(ValueError, match="not MARC21"):
        read_marc(b"title,author\nx,y\n")


def test_importing_marc_creates_books_with_their_barcodes_once(database_path):
    conn = connect_sync(database_path)
    summary = apply_books(conn, read_marc(marc8_file() + utf8_file()))
    assert (summary.new, summary.copies_added) == (4, 3 + 2)
    copies = conn.execute(
        "SELECT c.Barcode, c.Location FROM Copies c JOIN Books b USING (BookID) WHERE b.ISBN = '9782070360024' ORDER BY 1"
    ).fetchall()
    assert [tuple(copy) for copy in copies] == [
        ("M-0001", "Fiction A-F"),
        ("M-0002", "Fiction A-F"),
    ]
    assert (
        conn.execute("SELECT Title FROM BooksSearch WHERE BooksSearch MATCH 'etranger'").fetchone()[
            0
        ]
        == "L'étranger"
    )
    again = apply_books(conn, read_marc(marc8_file() + utf8_file()))
    assert (again.new, again.copies_added) == (0, 0)


def test_the_command_line_imports_a_marc_file(database_path, tmp_path, capsys):
    source = tmp_path / "records.mrc"
    source.write_bytes(marc8_file())
    assert main(["--database", str(database_path), "import", "marc", str(source)]) == 0
    assert "2 new, 0 updated, 0 duplicate, 0 invalid; 3 copies added." in capsys.readouterr().out


async def test_a_marc_file_is_previewed_and_imported_from_the_web(client, settings):
    token = await log_in(client, "bob@example.com")
    response = await upload(client, token, marc8_file(), kind="marc", filename="records.mrc")
    assert response.status_code == 303
    html = await (await client.get("/admin/import/preview")).get_data(as_text=True)
    assert (
        "2 rows read" in html
        and '<span class="stat-value">2</span><span class="stat-label">new' in html
    )
    await client.post("/admin/import/confirm", form={"csrf_token": token})
    page = await (await client.get("/search?q=etranger")).get_data(as_text=True)
    assert "L&#39;<mark>étranger</mark>" in page


def test_marcxml_is_read_as_a_stream_in_bounded_memory():
    """A large MARCXML file is read record by record, as binary MARC is: memory does not
    grow with the file (pymarc's parse_xml_to_array built every record first)."""
    record = record_to_xml(
        make_record(utf8=True, title="Streamed", author="Doe, Jane", isbn=None, holdings=[]),
        namespace=False,
    )
    count = 5_000
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<collection xmlns="http://www.loc.gov/MARC21/slim">' + record * count + b"</collection>"
    )
    stream = io.BufferedReader(io.BytesIO(xml))
    tracemalloc.start()
    try:
        seen = sum(1 for row in iter_marc(stream) if row.title == "Streamed")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    # The file is 3 MB; its records built at once took 13 MB, streamed 0.6 MB.
    assert len(xml) > 2_500_000 and peak < 2_000_000, (len(xml), peak)


def test_broken_marcxml_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="the MARCXML file cannot be read"):
        read_marc(b'<?xml version="1.0"?><collection><record><leader>bad</collection>')
