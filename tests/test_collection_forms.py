"""Editing books, copies and patrons over HTTP: success, every validation error, refusals."""

from __future__ import annotations

import pytest

from webapp.db import connect_sync

from .conftest import log_in

HX = {"HX-Request": "true"}

BOOK = {
    "title": "The Left Hand of Darkness",
    "author": "Ursula K. Le Guin",
    "isbn": "0-441-47812-3",
    "series": "Hainish Cycle",
    "subjects": "Science fiction; Gender",
    "publisher": "Ace",
    "year": "1969",
    "language": "en",
    "copies": "2",
    "barcodes": "",
    "location": "Fiction G–M",
}


def query(settings, sql, params=()):
    conn = connect_sync(settings.database)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
async def staff(client):
    """bob (a librarian) signed in; returns the CSRF token."""
    return await log_in(client, "bob@example.com")


async def test_a_student_cannot_reach_the_editing_pages(client):
    await log_in(client, "alice@example.com")
    for path in ("/books/new", "/books/1/edit", "/patrons", "/patrons/new", "/books/1/copies"):
        assert (await client.get(path)).status_code == 403, path


async def test_a_new_book_is_saved_with_a_normalised_isbn_and_generated_barcodes(
    client, staff, settings
):
    next_before = int(
        query(settings, "SELECT Value FROM LibrarySettings WHERE Key = 'barcode_next'")[0][0]
    )
    response = await client.post("/books/new", form={**BOOK, "csrf_token": staff})
    assert response.status_code == 303
    book_id = int(response.headers["Location"].rsplit("/", 1)[1])
    (book,) = query(settings, "SELECT * FROM Books WHERE BookID = ?", (book_id,))
    assert (
        book["ISBN"] == "9780441478125"
        and book["Year"] == 1969
        and book["Series"] == "Hainish Cycle"
    )
    barcodes = [
        row[0]
        for row in query(
            settings, "SELECT Barcode FROM Copies WHERE BookID = ? ORDER BY CopyID", (book_id,)
        )
    ]
    assert barcodes == [f"C{next_before}", f"C{next_before + 1}"]
    page = await (await client.get(f"/books/{book_id}")).get_data(as_text=True)
    assert "978-0-441-47812-5" in page and "Fiction G–M" in page


async def test_htmx_success_navigates_by_header(client, staff, settings):
    response = await client.post(
        "/books/new", form={**BOOK, "isbn": "", "csrf_token": staff}, headers=HX
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].startswith("/books/")


BOOK_ERRORS = [
    ("title", "   ", "This is required."),
    ("isbn", "0-441-47812-4", "is not a valid ISBN"),
    ("isbn", "12345", "is not a valid ISBN"),
    ("year", "nineteen", "Type the year as a number"),
    ("year", "99999", "Type the year as a number"),
    ("title", "x" * 501, "longer than 500 characters"),
    ("copies", "-1", "whole number from 0 to 50"),
    ("barcodes", "has space!", "A barcode is 1–64 letters"),
]


async def test_each_book_field_error_is_shown_next_to_the_field_and_nothing_is_saved(
    client, staff, settings
):
    books_before = query(settings, "SELECT count(*) FROM Books")[0][0]
    for (field, value, message), headers in (
        (case, headers) for case in BOOK_ERRORS for headers in ({}, HX)
    ):
        response = await client.post(
            "/books/new", form={**BOOK, field: value, "csrf_token": staff}, headers=headers
        )
        html = await response.get_data(as_text=True)
        assert response.status_code == 422, (field, value)
        assert message in html
        assert f'id="f-{field}-error"' in html and 'aria-invalid="true"' in html
        assert ("<html" in html) is (headers == {})
    assert query(settings, "SELECT count(*) FROM Books")[0][0] == books_before


async def test_a_duplicate_isbn_offers_to_add_a_copy_to_the_existing_book(client, staff, settings):
    response = await client.post(
        "/books/new",
        form={**BOOK, "title": "Gatsby again", "isbn": "978 0 7432 7356 5", "csrf_token": staff},
        headers=HX,
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 422
    assert "already in the catalogue" in html
    assert 'href="/books/1/copies"' in html and "Add a copy to the existing book" in html
    assert query(settings, "SELECT count(*) FROM Books WHERE Title = 'Gatsby again'")[0][0] == 0


async def test_a_typed_barcode_already_in_use_is_refused_and_nothing_is_saved(
    client, staff, settings
):
    taken = query(settings, "SELECT Barcode FROM Copies LIMIT 1")[0][0]
    response = await client.post(
        "/books/new", form={**BOOK, "barcodes": taken, "csrf_token": staff}
    )
    assert response.status_code == 422
    assert f"Barcode {taken} is already on another copy" in await response.get_data(as_text=True)
    assert not query(settings, "SELECT 1 FROM Books WHERE Title = ?", (BOOK["title"],))


async def test_editing_a_book_shows_the_isbn_hyphenated_and_saves_changes(client, staff, settings):
    form_html = await (await client.get("/books/1/edit")).get_data(as_text=True)
    assert 'value="978-0-7432-7356-5"' in form_html
    assert (
        'hx-post="/books/1/edit"' in form_html
        and 'action="/books/1/edit" method="post"' in form_html
    )
    response = await client.post(
        "/books/1/edit",
        form={
            "title": "The Great Gatsby",
            "author": "F. Scott Fitzgerald",
            "isbn": "0743273567",
            "year": "1925",
            "series": "",
            "subjects": "Jazz Age",
            "publisher": "Scribner",
            "language": "en",
            "csrf_token": staff,
        },
    )
    assert response.status_code == 303
    (book,) = query(settings, "SELECT Publisher, ISBN, Subjects FROM Books WHERE BookID = 1")
    assert tuple(book) == ("Scribner", "9780743273565", "Jazz Age")


async def test_editing_a_book_to_another_books_isbn_is_refused(client, staff):
    response = await client.post(
        "/books/1/edit",
        form={
            "title": "The Great Gatsby",
            "isbn": "9780451524935",
            "csrf_token": staff,
        },
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 422 and "Another book already has this ISBN" in html
    assert 'href="/books/2/copies"' in html


async def test_a_book_with_loan_history_cannot_be_deleted_but_can_be_withdrawn(
    client, staff, settings
):
    refused = await client.post("/books/1/delete", form={"csrf_token": staff})
    assert refused.status_code == 409
    assert "loan" in await refused.get_data(
        as_text=True
    ) and "Withdraw it instead" in await refused.get_data(as_text=True)
    # Unconfirmed, it asks first and changes nothing.
    asked = await client.post("/books/1/withdraw", form={"csrf_token": staff})
    assert asked.status_code == 303 and asked.headers["Location"] == "/books/1/withdraw"
    question = await (await client.get("/books/1/withdraw")).get_data(as_text=True)
    assert "Withdraw “The Great Gatsby”?" in question and 'name="confirmed"' in question
    assert query(settings, "SELECT WithdrawnAt FROM Books WHERE BookID = 1")[0][0] is None
    withdrawn = await client.post(
        "/books/1/withdraw", form={"csrf_token": staff, "confirmed": "yes"}
    )
    assert withdrawn.status_code == 303
    assert query(settings, "SELECT WithdrawnAt IS NOT NULL FROM Books WHERE BookID = 1")[0][0] == 1
    assert query(settings, "SELECT count(*) FROM Loans WHERE BookID = 1")[0][0] >= 1
    assert "has been withdrawn" in await (await client.get("/books/1")).get_data(as_text=True)
    reinstated = await client.post("/books/1/reinstate", form={"csrf_token": staff})
    assert reinstated.status_code == 303
    assert query(settings, "SELECT WithdrawnAt FROM Books WHERE BookID = 1")[0][0] is None


async def test_a_book_never_lent_can_be_deleted(client, staff, settings):
    created = await client.post("/books/new", form={**BOOK, "csrf_token": staff})
    book_id = int(created.headers["Location"].rsplit("/", 1)[1])
    response = await client.post(f"/books/{book_id}/delete", form={"csrf_token": staff})
    assert response.status_code == 303
    assert not query(settings, "SELECT 1 FROM Books WHERE BookID = ?", (book_id,))
    assert (await client.get(f"/books/{book_id}")).status_code == 404


async def test_copies_are_added_typed_or_generated_and_a_copy_is_marked_lost(
    client, staff, settings
):
    response = await client.post(
        "/books/2/copies",
        form={
            "copies": "2",
            "barcodes": "SCAN-001",
            "location": "Reference",
            "csrf_token": staff,
        },
        headers=HX,
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 200 and "Added 2 copies: SCAN-001, C" in html
    assert (
        '<td data-label="Barcode">SCAN-001</td>' in html and "<html" not in html
    )  # the list is refreshed too
    (copy_id,) = query(settings, "SELECT CopyID FROM Copies WHERE Barcode = 'SCAN-001'")[0]
    again = await client.post(
        "/books/2/copies", form={"copies": "1", "barcodes": "scan-001", "csrf_token": staff}
    )
    assert again.status_code == 422 and "already on another copy" in await again.get_data(
        as_text=True
    )
    edited = await client.post(
        f"/copies/{copy_id}/edit", form={"status": "lost", "location": "", "csrf_token": staff}
    )
    assert edited.status_code == 303
    assert tuple(
        query(settings, "SELECT Status, Location FROM Copies WHERE CopyID = ?", (copy_id,))[0]
    ) == ("lost", None)
    bad = await client.post(
        f"/copies/{copy_id}/edit", form={"status": "borrowed", "csrf_token": staff}, headers=HX
    )
    assert (
        bad.status_code == 422
        and "Choose on the shelf, withdrawn or lost" in await bad.get_data(as_text=True)
    )


async def test_a_copy_with_loans_cannot_be_deleted_and_an_unknown_copy_is_404(
    client, staff, settings
):
    (copy_id,) = query(settings, "SELECT CopyID FROM Loans LIMIT 1")[0]
    response = await client.post(f"/copies/{copy_id}/delete", form={"csrf_token": staff})
    assert response.status_code == 409
    assert "Mark it withdrawn or lost instead" in await response.get_data(as_text=True)
    assert (await client.get("/copies/999999/edit")).status_code == 404
    assert (await client.get("/books/999999/edit")).status_code == 404


PATRON = {
    "name": "Dana Scully",
    "email": "dana@example.org",
    "role": "Student",
    "card_number": "S9001",
    "group": "Year 9",
    "active": "1",
}


async def test_a_new_patron_is_saved_and_listed(client, staff, settings):
    response = await client.post("/patrons/new", form={**PATRON, "csrf_token": staff})
    assert response.status_code == 303
    (row,) = query(
        settings,
        "SELECT Name, Role, CardNumber, GroupName, Active FROM Users WHERE Email = 'dana@example.org'",
    )
    assert tuple(row) == ("Dana Scully", "Student", "S9001", "Year 9", 1)
    listing = await (await client.get("/patrons?q=scully")).get_data(as_text=True)
    assert "Dana Scully" in listing and "Year 9" in listing and "1 patron" in listing
    fragment = await (await client.get("/patrons?q=S9001", headers=HX)).get_data(as_text=True)
    assert "<html" not in fragment and "Dana Scully" in fragment


PATRON_ERRORS = [
    ("name", "", "This is required."),
    ("email", "not-an-email", "Type an email address like name@example.org."),
    ("email", "ALICE@example.com", "Another patron already has this email address."),
    ("card_number", "L0001", "Another patron already has this card number."),
    ("role", "Superuser", "Choose one of Student, Librarian, Admin."),
]


async def test_each_patron_field_error_is_shown_and_nothing_is_saved(client, staff, settings):
    for (field, value, message), headers in (
        (case, headers) for case in PATRON_ERRORS for headers in ({}, HX)
    ):
        response = await client.post(
            "/patrons/new", form={**PATRON, field: value, "csrf_token": staff}, headers=headers
        )
        html = await response.get_data(as_text=True)
        assert response.status_code == 422, html
        assert message in html and f'id="f-{field}-error"' in html
    assert not query(
        settings, "SELECT 1 FROM Users WHERE Name = 'Dana Scully' OR Email = 'dana@example.org'"
    )


async def test_only_an_admin_may_make_or_edit_an_admin(app, client, staff, settings):
    response = await client.post(
        "/patrons/new", form={**PATRON, "role": "Admin", "csrf_token": staff}
    )
    assert response.status_code == 403
    (carol,) = query(settings, "SELECT UserID FROM Users WHERE Email = 'carol@example.com'")[0]
    assert (await client.get(f"/patrons/{carol}/edit")).status_code == 403
    assert "<option>Admin</option>" not in await (await client.get("/patrons/new")).get_data(
        as_text=True
    )

    admin = app.test_client()
    token = await log_in(admin, "carol@example.com")
    promoted = await admin.post(
        "/patrons/new", form={**PATRON, "role": "Admin", "csrf_token": token}
    )
    assert promoted.status_code == 303
    assert (
        query(settings, "SELECT Role FROM Users WHERE Email = 'dana@example.org'")[0][0] == "Admin"
    )


async def test_editing_a_patron_can_deactivate_them_and_a_patron_with_loans_is_not_deleted(
    client, staff, settings
):
    (alice,) = query(settings, "SELECT UserID FROM Users WHERE Email = 'alice@example.com'")[0]
    form = await (await client.get(f"/patrons/{alice}/edit")).get_data(as_text=True)
    assert 'value="alice@example.com"' in form and f'href="/patrons/{alice}"' in form
    response = await client.post(
        f"/patrons/{alice}/edit",
        form={
            "name": "Alice Smith",
            "email": "alice@example.com",
            "role": "Student",
            "card_number": "S0001",
            "group": "Year 10",
            "csrf_token": staff,
        },
    )
    assert response.status_code == 303
    assert tuple(
        query(settings, "SELECT GroupName, Active FROM Users WHERE UserID = ?", (alice,))[0]
    ) == ("Year 10", 0)
    refused = await client.post(f"/patrons/{alice}/delete", form={"csrf_token": staff})
    assert refused.status_code == 409
    assert "Mark the patron inactive instead" in await refused.get_data(as_text=True)


async def test_a_patron_without_history_can_be_deleted(client, staff, settings):
    await client.post("/patrons/new", form={**PATRON, "csrf_token": staff})
    (user_id,) = query(settings, "SELECT UserID FROM Users WHERE Email = 'dana@example.org'")[0]
    response = await client.post(
        f"/patrons/{user_id}/delete", form={"csrf_token": staff}, headers=HX
    )
    assert response.headers["HX-Redirect"] == "/patrons"
    assert not query(settings, "SELECT 1 FROM Users WHERE UserID = ?", (user_id,))


async def test_the_staff_nav_links_to_the_collection_pages(client, staff):
    html = await (await client.get("/search")).get_data(as_text=True)
    for href in (
        'href="/dashboard"',
        'href="/books/new"',
        'href="/patrons"',
        'href="/admin/import"',
    ):
        assert href in html
    book = await (await client.get("/books/1")).get_data(as_text=True)
    assert 'href="/books/1/edit"' in book and 'href="/books/1/copies"' in book


async def test_patrons_see_neither_the_staff_links_nor_the_edit_buttons(client):
    await log_in(client, "alice@example.com")
    html = await (await client.get("/books/1")).get_data(as_text=True)
    assert 'href="/dashboard"' not in html and 'href="/books/1/edit"' not in html


async def test_the_barcode_sequence_is_configurable_and_used_for_new_copies(
    client, staff, settings
):
    bad = await client.post(
        "/settings/barcodes",
        form={"barcode_prefix": "B ad", "barcode_next": "x", "csrf_token": staff},
        headers=HX,
    )
    html = await bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "A prefix is up to 20 letters" in html and "Type a whole number" in html
    saved = await client.post(
        "/settings/barcodes",
        form={"barcode_prefix": "LIB-", "barcode_next": "5000", "csrf_token": staff},
    )
    assert saved.status_code == 303
    await client.post("/books/2/copies", form={"copies": "1", "barcodes": "", "csrf_token": staff})
    assert (
        query(settings, "SELECT count(*) FROM Copies WHERE Barcode = 'LIB-5000' AND BookID = 2")[0][
            0
        ]
        == 1
    )
    assert 'value="5001"' in await (await client.get("/settings/barcodes")).get_data(as_text=True)


async def test_edit_forms_refuse_bad_values_and_keep_what_was_typed(client, staff, settings):
    blank = await client.post(
        "/books/2/edit",
        form={"title": " ", "author": "George Orwell", "csrf_token": staff},
        headers=HX,
    )
    html = await blank.get_data(as_text=True)
    assert (
        blank.status_code == 422
        and 'id="f-title-error"' in html
        and 'value="George Orwell"' in html
    )
    assert query(settings, "SELECT Title FROM Books WHERE BookID = 2")[0][0] == "1984"
    (alice,) = query(settings, "SELECT UserID FROM Users WHERE Email = 'alice@example.com'")[0]
    taken = await client.post(
        f"/patrons/{alice}/edit",
        form={
            "name": "Alice Smith",
            "email": "bob@example.com",
            "role": "Student",
            "card_number": "S0001",
            "active": "1",
            "csrf_token": staff,
        },
    )
    assert taken.status_code == 422
    assert "Another patron already has this email address." in await taken.get_data(as_text=True)
    assert (
        query(settings, "SELECT Email FROM Users WHERE UserID = ?", (alice,))[0][0]
        == "alice@example.com"
    )
    nothing = await client.post(
        "/books/2/copies", form={"copies": "0", "barcodes": "", "csrf_token": staff}
    )
    assert nothing.status_code == 422
    assert "Add at least one copy" in await nothing.get_data(as_text=True)
