"""Cards, copy barcodes and emails never clash, whatever the case: in the database (migration
0007), at the desk's lookup, on the forms and in the importers; an older database with clashes
upgrades and lists them."""

from __future__ import annotations

import re
import sqlite3

import pytest

from webapp import demo
from webapp.db import connect_sync, migrate, migration_files
from webapp.importing.books import plan_books, read_books_csv
from webapp.importing.marc import read_marc
from webapp.importing.patrons import apply_patrons, plan_patrons, read_patrons_csv
from webapp.models import codes
from webapp.models.patrons import find_patron
from webapp.resources import MIGRATIONS

from .conftest import TEST_TODAY, log_in
from .test_import_marc import make_record
from .test_import_web import upload

HX = {"HX-Request": "true"}


@pytest.fixture
def demo_database(demo_copy):
    return demo_copy


@pytest.fixture
def conn(demo_database):
    connection = connect_sync(demo_database)
    yield connection
    connection.close()


def a_barcode(conn) -> tuple[str, str]:
    row = conn.execute(
        "SELECT c.Barcode, b.Title FROM Copies c JOIN Books b USING (BookID) LIMIT 1"
    ).fetchone()
    return row[0], row[1]


# The database


def test_the_database_refuses_every_clash_whatever_the_case(conn):
    barcode, _ = a_barcode(conn)
    insert_user = (
        "INSERT INTO Users (Name, Role, Email, CardNumber) VALUES ('Zed', 'Student', ?, ?)"
    )
    for email, card, reason in [
        (None, "s0001", "another patron's card"),  # Alice's card is S0001
        (None, barcode.lower(), "a copy's barcode"),
        (None, "ALICE@example.com", "another patron's email"),
        ("s0001@example.org", "Z1", None),  # fine: nothing clashes
    ]:
        if reason is None:
            conn.execute(insert_user, (email, card))
            continue
        with pytest.raises(sqlite3.IntegrityError, match=f"code clash: .*{re.escape(reason)}"):
            conn.execute(insert_user, (email, card))
    conn.execute("UPDATE Users SET CardNumber = 'Z1@x.org' WHERE Email = 's0001@example.org'")
    with pytest.raises(sqlite3.IntegrityError, match="the email is another patron's card"):
        conn.execute("UPDATE Users SET Email = 'z1@X.org' WHERE Name = 'Alice Smith'")
    with pytest.raises(sqlite3.IntegrityError, match="the barcode is a patron's card number"):
        conn.execute("INSERT INTO Copies (BookID, Barcode) VALUES (1, 'l0001')")
    with pytest.raises(sqlite3.IntegrityError, match="the barcode is a patron's card number"):
        conn.execute("UPDATE Copies SET Barcode = 'S0001' WHERE Barcode = ?", (barcode,))
    with pytest.raises(sqlite3.IntegrityError, match="the card number is a copy's barcode"):
        conn.execute("UPDATE Users SET CardNumber = ? WHERE Name = 'Alice Smith'", (barcode,))
    # Assigning a patron's own values again is no clash (the patron form assigns every column).
    conn.execute("UPDATE Users SET CardNumber = CardNumber, Email = Email")


def test_the_desk_finds_a_card_exactly_in_any_case_and_prefers_the_exact_one(conn):
    assert find_patron(conn, "s0001").name == "Alice Smith"
    assert find_patron(conn, " S0001 ").name == "Alice Smith"
    assert find_patron(conn, "alice@EXAMPLE.com").name == "Alice Smith"
    assert find_patron(conn, "S000") is None and find_patron(conn, "%") is None


def version_6_library(tmp_path) -> sqlite3.Connection:
    """A database at the schema before 0007, with data and the clashes it allowed."""
    connection = connect_sync(tmp_path / "old.sqlite3")
    migrate(connection, MIGRATIONS, target=6)
    demo.load(connection, books=30, patrons=10, seed=3, today=TEST_TODAY, show_progress=False)
    barcode, _ = a_barcode(connection)
    connection.execute(
        "INSERT INTO Users (Name, Role, CardNumber) VALUES ('Sam Lower', 'Student', 's0001'), "
        "('Cody Copy', 'Student', ?)",
        (barcode.lower(),),
    )
    return connection


def test_an_older_database_with_clashes_upgrades_keeping_every_loan_and_lists_them(tmp_path):
    old = version_6_library(tmp_path)
    loans_before = old.execute("SELECT * FROM Loans ORDER BY LoanID").fetchall()
    assert loans_before
    # 0007 and every later migration apply, in order.
    later = [number for number, _ in migration_files(MIGRATIONS) if number >= 7]
    assert migrate(old, MIGRATIONS) == later
    loans_after = old.execute("SELECT * FROM Loans ORDER BY LoanID").fetchall()
    columns = loans_before[0].keys()  # later migrations add columns; these keep their values
    assert [tuple(row[c] for c in columns) for row in loans_after] == [
        tuple(row) for row in loans_before
    ]
    assert {row["ClosedAs"] for row in loans_after} == {None}
    clashes = codes.existing_clashes(old)
    assert len(clashes) == 2
    assert "Alice Smith's card S0001 is also the card of Sam Lower." in clashes
    assert any(
        clash.startswith("Cody Copy's card") and "barcode of a copy" in clash for clash in clashes
    )
    # The scan picks the card typed exactly; the clashing patrons can still be edited.
    assert find_patron(old, "s0001").name == "Sam Lower"
    assert find_patron(old, "S0001").name == "Alice Smith"
    old.execute(
        "UPDATE Users SET GroupName = 'Year 7', CardNumber = 's0001' WHERE Name = 'Sam Lower'"
    )
    old.execute("UPDATE Users SET CardNumber = 'S0002X' WHERE Name = 'Sam Lower'")
    assert len(codes.existing_clashes(old)) == 1
    old.close()


# Forms


@pytest.fixture
async def staff(app):
    client = app.test_client()
    return client, await log_in(client, "bob@example.com")


PATRON = {"name": "Dana Scully", "email": "dana@example.org", "role": "Student", "active": "on"}


async def test_the_patron_form_refuses_a_card_that_is_a_barcode_or_another_card(staff, conn):
    client, token = staff
    barcode, title = a_barcode(conn)
    for card, message in [
        (barcode.lower(), f"{barcode.lower()} is the barcode of a copy of {title}"),
        ("l0001", "Another patron already has this card number. l0001 is Bob Johnson's card"),
        ("bob@example.com", "bob@example.com is Bob Johnson's email address"),
    ]:
        for headers in ({}, HX):
            response = await client.post(
                "/patrons/new",
                form={**PATRON, "card_number": card, "csrf_token": token},
                headers=headers,
            )
            html = await response.get_data(as_text=True)
            assert response.status_code == 422, html
            assert message in html.replace("&#39;", "'") and 'id="f-card_number-error"' in html
    assert conn.execute("SELECT count(*) FROM Users WHERE Name = 'Dana Scully'").fetchone()[0] == 0
    alice = conn.execute("SELECT UserID FROM Users WHERE CardNumber = 'S0001'").fetchone()[0]
    response = await client.post(
        f"/patrons/{alice}/edit",
        form={**PATRON, "email": "alice@example.com", "card_number": "L0001", "csrf_token": token},
    )
    assert response.status_code == 422
    assert (
        conn.execute("SELECT CardNumber FROM Users WHERE UserID = ?", (alice,)).fetchone()[0]
        == "S0001"
    )
    # Saving a patron whose card is unchanged is fine.
    response = await client.post(
        f"/patrons/{alice}/edit",
        form={**PATRON, "email": "alice@example.com", "card_number": "S0001", "csrf_token": token},
    )
    assert response.status_code == 303


async def test_new_copies_and_the_barcode_sequence_refuse_a_card_number(staff, conn):
    client, token = staff
    book_id = conn.execute("SELECT BookID FROM Books LIMIT 1").fetchone()[0]
    copies = conn.execute("SELECT count(*) FROM Copies").fetchone()[0]
    response = await client.post(
        f"/books/{book_id}/copies",
        form={"copies": "0", "barcodes": "NEW1 s0001", "csrf_token": token},
        headers=HX,
    )
    html = (await response.get_data(as_text=True)).replace("&#39;", "'")
    assert response.status_code == 422
    assert "s0001 is Alice Smith's card number: a copy's barcode cannot be a card number." in html
    response = await client.post(
        "/books/new",
        form={"title": "Fresh", "copies": "0", "barcodes": "L0001", "csrf_token": token},
    )
    assert response.status_code == 422
    assert conn.execute("SELECT count(*) FROM Copies").fetchone()[0] == copies

    conn.execute("UPDATE Users SET CardNumber = 'Q5' WHERE CardNumber = 'S0001'")
    response = await client.post(
        "/settings/barcodes",
        form={"barcode_prefix": "q", "barcode_next": "5", "csrf_token": token},
        headers=HX,
    )
    html = (await response.get_data(as_text=True)).replace("&#39;", "'")
    assert response.status_code == 422 and "The next barcode would be q5 is Alice Smith's" in html
    assert (
        conn.execute("SELECT Value FROM LibrarySettings WHERE Key = 'barcode_prefix'").fetchone()[0]
        == "C"
    )
    # A sequence that reaches a card skips it.
    conn.execute("UPDATE LibrarySettings SET Value = 'Q' WHERE Key = 'barcode_prefix'")
    conn.execute("UPDATE LibrarySettings SET Value = '4' WHERE Key = 'barcode_next'")
    response = await client.post(
        f"/books/{book_id}/copies", form={"copies": "2", "csrf_token": token}, headers=HX
    )
    assert response.status_code == 200
    new = {row[0] for row in conn.execute("SELECT Barcode FROM Copies WHERE Barcode LIKE 'Q%'")}
    assert new == {"Q4", "Q6"}


async def test_the_patrons_page_lists_clashes_left_from_before(staff, conn):
    client, _ = staff
    page = await (await client.get("/patrons")).get_data(as_text=True)
    assert "Card numbers to fix" not in page
    conn.execute("DROP TRIGGER Users_CodesAreFreeOnInsert")
    conn.execute(
        "INSERT INTO Users (Name, Role, CardNumber) VALUES ('Sam Lower', 'Student', 's0001')"
    )
    page = await (await client.get("/patrons")).get_data(as_text=True)
    assert "Card numbers to fix" in page
    assert "Alice Smith&#39;s card S0001 is also the card of Sam Lower." in page


# Importers


def test_the_patron_importer_lists_each_clashing_row_and_imports_none_of_them(conn):
    barcode, title = a_barcode(conn)
    data = (
        "Name,Email,Card\n"
        f"Cody Copy,cody@example.org,{barcode.lower()}\n"
        "Sam Lower,sam@example.org,s0001\n"
        "Mal Mail,mal@example.org,bob@example.com\n"
        "Lou Loop,L0001,\n"
        "Twin One,twin1@example.org,T77\n"
        "Twin Two,twin2@example.org,t77\n"
        "Fine Person,fine@example.org,F1\n"
    )
    _, rows = read_patrons_csv(data)
    summary = plan_patrons(conn, rows)
    reasons = dict(summary.problems)
    assert (
        reasons[2]
        == f"card number: {barcode.lower()} is the barcode of a copy of {title}: a card number cannot be a copy's barcode."
    )
    assert reasons[3].startswith(
        "card number: Another patron already has this card number. s0001 is Alice Smith's card"
    )
    assert reasons[4].startswith("card number: bob@example.com is Bob Johnson's email address")
    assert "email" in reasons[5]  # "L0001" is not an email address at all
    assert reasons[7] == "card number t77 is repeated in this file"
    assert (summary.new, summary.invalid) == (2, 5)
    applied = apply_patrons(conn, rows)
    assert applied.new == 2
    assert (
        conn.execute(
            "SELECT count(*) FROM Users WHERE Name IN ('Fine Person', 'Twin One')"
        ).fetchone()[0]
        == 2
    )


def test_the_book_importers_refuse_a_barcode_that_is_a_card(conn):
    _, rows = read_books_csv("title,barcodes\nCard Book,s0001\nFine Book,NEWCODE1\n")
    summary = plan_books(conn, rows)
    assert summary.problems == [
        (
            2,
            "barcode: s0001 is Alice Smith's card number: a copy's barcode cannot be a card number.",
        )
    ]
    assert (summary.new, summary.invalid) == (1, 1)
    marc = make_record(utf8=True, title="Marc Book", author="Doe, Jane", isbn=None,
                       holdings=[("l0001", "Fiction")]).as_marc()  # fmt: skip
    summary = plan_books(conn, read_marc(marc))
    assert summary.invalid == 1 and "Bob Johnson's card number" in summary.problems[0][1]


async def test_the_import_preview_shows_the_clashing_row_and_why(staff, conn):
    client, token = staff
    data = b"Name,Email,Card\nSam Lower,sam@example.org,s0001\n"
    response = await upload(client, token, data, kind="patrons", filename="patrons.csv")
    assert response.status_code == 303
    html = await (await client.get("/admin/import/preview")).get_data(as_text=True)
    assert re.search(r"<td>[^<]*s0001 is Alice Smith&#39;s card[^<]*</td>.*?line 2", html)
