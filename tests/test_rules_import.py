"""Patron categories and item types travel through the CSV importers and exports: a class
list sets each patron's category, a book import the item type of its new copies."""

from __future__ import annotations

from webapp.db import connect_sync
from webapp.exporting import BOOKS, PATRONS, iter_csv
from webapp.importing.books import apply_books, plan_books, read_books_csv
from webapp.importing.patrons import apply_patrons, plan_patrons, read_patrons_csv

CLASS_LIST = (
    "Name,Card,Class,Category\n"
    "Ravi Patel,S7001,8B,Year 8\n"
    "Mei Chen,S7002,8B,year 8\n"
    "Tom Ode,S7003,9A,\n"
    "Ghost,S7004,9A,Year 42\n"
)
BOOK_LIST = (
    "Title,Author,Barcodes,Item type\n"
    "Planet Earth,BBC,DVD1;DVD2,DVD\n"
    "Atlas of the World,Collins,REF1,reference\n"
    "Tidewater,Ann Lee,TW1,\n"
    "Hovercraft,Eel,HC1,Hovercraft\n"
)


def test_a_class_list_sets_each_patrons_category(database_path):
    mapping, rows = read_patrons_csv(CLASS_LIST)
    assert mapping["category"] == "Category"
    conn = connect_sync(database_path)
    summary = plan_patrons(conn, rows)
    assert (summary.new, summary.invalid) == (3, 1)
    assert dict(summary.problems)[5] == "no patron category is called Year 42"
    apply_patrons(conn, rows)
    categories = dict(
        conn.execute(
            "SELECT u.Name, c.Name FROM Users u JOIN PatronCategories c USING (CategoryID)"
        ).fetchall()
    )
    assert categories == {"Ravi Patel": "Year 8", "Mei Chen": "Year 8", "Tom Ode": "Student"}
    # Importing the list again with a new year moves the patron: a known patron is updated.
    _, rows = read_patrons_csv("Name,Card,Category\nRavi Patel,S7001,Year 9\n")
    assert apply_patrons(conn, rows).updated == 1
    assert (
        conn.execute(
            "SELECT c.Name FROM Users u JOIN PatronCategories c USING (CategoryID) "
            "WHERE u.CardNumber = 'S7001'"
        ).fetchone()[0]
        == "Year 9"
    )


def test_a_book_import_sets_the_item_type_of_its_copies(database_path):
    mapping, rows = read_books_csv(BOOK_LIST)
    assert mapping["item_type"] == "Item type"
    conn = connect_sync(database_path)
    summary = plan_books(conn, rows)
    assert (summary.new, summary.invalid) == (3, 1)
    assert dict(summary.problems)[5] == "no item type is called Hovercraft"
    apply_books(conn, rows)
    types = dict(
        conn.execute(
            "SELECT c.Barcode, it.Name FROM Copies c JOIN ItemTypes it USING (ItemTypeID)"
        ).fetchall()
    )
    assert types == {"DVD1": "DVD", "DVD2": "DVD", "REF1": "Reference", "TW1": "Book"}


def test_the_exports_name_each_books_item_type_and_each_patrons_category(database_path):
    conn = connect_sync(database_path)
    apply_books(conn, read_books_csv(BOOK_LIST)[1])
    apply_patrons(conn, read_patrons_csv(CLASS_LIST)[1])
    books = "".join(line for _, line in iter_csv(conn, BOOKS))
    patrons = "".join(line for _, line in iter_csv(conn, PATRONS))
    assert books.splitlines()[0].endswith(",location,item_type")
    assert "Planet Earth,BBC,,,,,,,2,DVD1;DVD2,,DVD" in books
    assert patrons.splitlines()[0].endswith(",active,category")
    assert "Ravi Patel,,Student,S7001,8B,yes,Year 8" in patrons
