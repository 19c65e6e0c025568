"""Importing MARC21 records (binary or MARCXML) through the book importer.

Each record becomes a ``BookRow``, so MARC imports share the CSV import's
checks, preview and all-or-nothing ``apply_books``.

Encoding: pymarc's reader decodes MARC-8 records (leader/09 blank) to Unicode
with ``to_unicode=True`` and reads UTF-8 records (leader/09 'a') as UTF-8;
the text is then put in NFC, since MARC-8 stores accents as combining marks
(an "é" arrives as "e" + U+0301) and search and display want one character.

Holdings: copies come from 852 fields (the MARC21 holdings location field),
one copy per 852: ``$p`` is the copy's barcode and ``$c`` (else ``$b``) its
shelf location. A record without an 852 gets the importer's default copies.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from collections.abc import Iterator
from xml.sax import make_parser
from xml.sax.handler import feature_namespaces

import pymarc
from pymarc.marcxml import XmlHandler

from webapp.importing.books import (
    BookRow,
    check_barcodes,
    check_year,
    clean_text,
    repair_isbn,
    shorten_authors,
)

MARCXML_START = re.compile(rb"^\s*(<\?xml|<(\w+:)?(collection|record)\b)")


def looks_like_marc(data: bytes) -> bool:
    """Whether ``data`` starts like MARC21 binary (a 24-character leader) or MARCXML."""
    if MARCXML_START.match(data[:200]):
        return True
    leader = data[:24]
    return len(leader) == 24 and leader[:5].isdigit() and leader[12:17].isdigit()


def _nfc(text: str | None) -> str | None:
    return unicodedata.normalize("NFC", text) if text is not None else None


XML_CHUNK = 64 * 1024  # bytes of MARCXML fed to the parser at a time


class _Pending(XmlHandler):
    """pymarc's MARCXML handler keeping only the records parsed since they were last
    taken (pymarc's documented way to stream: override ``process_record``)."""

    def process_record(self, record: pymarc.Record) -> None:
        self.records.append(record)

    def take(self) -> list[pymarc.Record]:
        taken, self.records = self.records, []
        return taken


def _xml_records(stream: io.BufferedReader) -> Iterator[pymarc.Record]:
    """MARCXML's records as the file is read: ``pymarc.parse_xml_to_array`` built them
    all as one list first, so a large file took memory in proportion. The parser is the
    one ``pymarc.parse_xml`` makes (the standard library's SAX parser, with namespaces),
    fed a chunk at a time."""
    handler = _Pending(normalize_form="NFC")
    parser = make_parser()
    parser.setContentHandler(handler)
    parser.setFeature(feature_namespaces, 1)
    try:
        while chunk := stream.read(XML_CHUNK):
            parser.feed(chunk)  # type: ignore[attr-defined]
            yield from handler.take()
        parser.close()  # type: ignore[attr-defined]
    except Exception as error:  # hostile or broken XML: any failure is the file's
        raise ValueError(f"the MARCXML file cannot be read: {error}") from error
    yield from handler.take()


def _records(stream: io.BufferedReader) -> Iterator[pymarc.Record | None]:
    if MARCXML_START.match(stream.peek(200)[:200]):
        yield from _xml_records(stream)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Binary MARC is read record by record: bounded memory at any file size.
        reader = pymarc.MARCReader(
            stream, to_unicode=True, force_utf8=False, utf8_handling="replace"
        )
        yield from reader


def _subfield(record: pymarc.Record, tags: tuple[str, ...], code: str) -> str | None:
    for tag in tags:
        for found in record.get_fields(tag):
            values = found.get_subfields(code)
            if values:
                return _nfc(values[0])
    return None


def _title(record: pymarc.Record) -> str | None:
    fields = record.get_fields("245")
    if not fields:
        return None
    parts = [*fields[0].get_subfields("a"), *fields[0].get_subfields("b")]
    text = " ".join(part.strip() for part in parts)
    return _nfc(text.rstrip(" /:;,.=").strip()) or None


def _year(record: pymarc.Record) -> int | None:
    date = _subfield(record, ("264", "260"), "c")
    match = re.search(r"\d{4}", date or "")
    if match:
        return int(match.group())
    fixed = record.get_fields("008")
    if fixed and fixed[0].data and fixed[0].data[7:11].isdigit():
        return int(fixed[0].data[7:11])
    return None


def _language(record: pymarc.Record) -> str | None:
    fixed = record.get_fields("008")
    if fixed and fixed[0].data and len(fixed[0].data) >= 38:
        code = fixed[0].data[35:38].strip()
        if code.isalpha():
            return code
    return None


def record_to_row(line: int, record: pymarc.Record) -> BookRow:
    """One MARC record as a ``BookRow``; ``line`` is the record's position in the file."""
    row = BookRow(line=line)
    try:
        title = _title(record)
        if title is None:
            raise ValueError("the record has no title (245 $a)")
        row.title = clean_text(title, 500)
        names = [
            unicodedata.normalize("NFC", value).rstrip(" ,.").strip()
            for tag in ("100", "110", "700", "710")
            for found in record.get_fields(tag)
            for value in found.get_subfields("a")
        ]
        authors = clean_text(", ".join(name for name in names if name), 20_000)
        row.author = shorten_authors(authors or "")
        for found in record.get_fields("020"):
            for value in found.get_subfields("a"):
                candidate = value.split()[0] if value.split() else ""
                try:
                    row.isbn = repair_isbn(candidate)
                except ValueError:
                    row.warnings.append(f"ISBN {candidate!r} is not valid; skipped")
                if row.isbn:
                    break
            if row.isbn:
                break
        subjects = [
            _nfc(" -- ".join(part.rstrip(" .") for part in found.get_subfields("a", "x", "z")))
            for found in record.get_fields("650", "651", "600")
        ]
        row.subjects = clean_text("; ".join(subject for subject in subjects if subject), 1000)
        publisher = _subfield(record, ("264", "260"), "b")
        row.publisher = clean_text(publisher.rstrip(" ,:;") if publisher else None, 300)
        row.series = clean_text(_subfield(record, ("490", "830"), "a"), 300)
        year = _year(record)
        row.year = None if year is None else check_year(year)
        row.language = _language(record)
        for holding in record.get_fields("852"):
            barcode = next(iter(holding.get_subfields("p")), None)
            if barcode:
                row.barcodes.append(barcode.strip())
            location = next(iter(holding.get_subfields("c") or holding.get_subfields("b")), None)
            if location and row.location is None:
                row.location = clean_text(_nfc(location), 100)
        check_barcodes(row.barcodes)
        if row.barcodes:
            row.copies = len(row.barcodes)
    except ValueError as error:
        row.error = str(error)
    return row


def iter_marc(stream: io.BufferedReader) -> Iterator[BookRow]:
    """Every record of a MARC21 binary or MARCXML file as a ``BookRow``, as it is read.

    A record pymarc cannot parse becomes an invalid row with the reason.
    """
    if not looks_like_marc(stream.peek(200)[:200]):
        raise ValueError("the file is not MARC21 (binary .mrc) or MARCXML")
    number = 0
    for number, record in enumerate(_records(stream), 1):
        if record is None:
            yield BookRow(line=number, error="the record is damaged and cannot be read")
        else:
            yield record_to_row(number, record)
    if not number:
        raise ValueError("the file holds no MARC records")


def read_marc(data: bytes) -> list[BookRow]:
    """``iter_marc`` over bytes, as a list (the command line and tests)."""
    return list(iter_marc(io.BufferedReader(io.BytesIO(data))))
