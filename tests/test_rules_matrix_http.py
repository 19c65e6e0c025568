"""The rules matrix over HTTP: an admin edits one cell at a time (htmx, and plain forms),
bad values are refused with 422 and a reason and change nothing, every change is logged,
and the desk, holds and My account follow the matrix at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from . import test_circulation_http as circulation
from .conftest import log_in
from .test_circulation_http import HX, add_book, message_of, open_loans, sql

demo_database = circulation.demo_database
desk = circulation.desk
admin = circulation.admin
patrons = circulation.patrons
shelf = circulation.shelf
today = circulation.today


def ids(settings) -> dict[str, int]:
    """Category and item type ids by name."""
    rows = sql(settings, "SELECT Name, CategoryID FROM PatronCategories")
    rows += sql(settings, "SELECT Name, ItemTypeID FROM ItemTypes")
    return {name: key for name, key in rows}


def matrix(settings) -> list[tuple]:
    return [tuple(row) for row in sql(settings, "SELECT * FROM CirculationRules ORDER BY RuleID")]


def rule_events(settings) -> list[str]:
    return [
        row[0] for row in sql(settings, "SELECT Detail FROM Events WHERE Kind = 'rules_changed'")
    ]


def set_item_type(settings, barcode: str, name: str) -> None:
    sql(
        settings,
        "UPDATE Copies SET ItemTypeID = (SELECT ItemTypeID FROM ItemTypes WHERE Name = ?) "
        "WHERE Barcode = ?",
        (name, barcode),
    )


CELL = {"period": "days", "loan_days": "3", "max_renewals": "1", "max_of_type": "1", "holds": "on"}


async def test_an_admin_edits_a_cell_in_place_and_the_desk_lends_with_it(
    admin, desk, settings, shelf, patrons, today
):
    key = ids(settings)
    url = f"/admin/rules/matrix/{key['Student']}/{key['DVD']}"
    page = await (await admin.client.get("/admin/rules")).get_data(as_text=True)
    assert f'hx-get="{url}"' in page and f'href="{url}"' in page
    form = await (await admin.client.get(url, headers=HX)).get_data(as_text=True)
    assert form.lstrip().startswith(f'<td id="cell-{key["Student"]}-{key["DVD"]}"')
    assert 'name="loan_days"' in form and 'name="csrf_token"' in form

    response = await admin.post(url, **CELL)
    assert response.status_code == 200
    cell = await response.get_data(as_text=True)
    assert "3 days, 1 renewal, at most 1" in cell and "Saved: rule DVD × Student" in cell
    assert rule_events(settings)[-1] == "rule DVD × Student: 3 days, 1 renewal, at most 1"

    set_item_type(settings, "T1", "DVD")
    set_item_type(settings, "T2", "DVD")
    await desk.scan("S9001")
    _, html = await desk.scan("T1")
    assert "DVD, Student: 3 days, 1 renewal" in message_of(html)
    assert open_loans(settings, "T1")[0]["ReturnDate"] == (today + timedelta(days=3)).isoformat()
    _, html = await desk.scan("T2")
    assert "Dana Ito has 1 DVD loans, the limit for DVD, Student (1)." in message_of(html)
    assert open_loans(settings, "T2") == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (
            "loan_days",
            "-1",
            "Loan period: a whole number of days from 0 (due the same day) to 365.",
        ),
        ("loan_days", "366", "Loan period: a whole number of days"),
        ("loan_days", "", "Loan period: a whole number of days"),
        ("max_renewals", "lots", "Renewals: a whole number from 0 to 100."),
        ("max_of_type", "1001", "Most loans of this type: blank for no limit of its own"),
        (
            "period",
            "fortnightly",
            "Choose a loan period in days, the end of term, or not for loan.",
        ),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
async def test_bad_values_are_refused_with_422_and_a_reason_and_nothing_is_saved(
    admin, settings, field, value, reason, htmx
):
    key = ids(settings)
    before, events = matrix(settings), rule_events(settings)
    response = await admin.post(
        f"/admin/rules/matrix/{key['Student']}/any", htmx=htmx, **{**CELL, field: value}
    )
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    assert reason in html and "Nothing was saved" in html
    assert 'aria-invalid="true"' in html
    assert matrix(settings) == before and rule_events(settings) == events


async def test_the_rule_for_everyone_cannot_be_removed_but_others_can(admin, settings):
    key = ids(settings)
    response = await admin.post("/admin/rules/matrix/any/any/clear")
    assert response.status_code == 422
    assert "cannot be removed" in await response.get_data(as_text=True)
    assert sql(settings, "SELECT count(*) FROM CirculationRules WHERE CategoryID IS NULL "
                         "AND ItemTypeID IS NULL")[0][0] == 1  # fmt: skip
    response = await admin.post(f"/admin/rules/matrix/any/{key['DVD']}/clear")
    assert response.status_code == 200
    assert "No rule of its own" in await response.get_data(as_text=True)
    assert rule_events(settings)[-1].startswith("rule DVD × any category removed (was: 7 days")


@pytest.mark.parametrize("cell", ["9999/any", "any/9999", "x/any", "any/1.5"])
async def test_a_cell_that_does_not_exist_is_not_found(admin, cell):
    assert (await admin.client.get(f"/admin/rules/matrix/{cell}")).status_code == 404
    response = await admin.post(f"/admin/rules/matrix/{cell}", htmx=False, **CELL)
    assert response.status_code == 404


async def test_without_javascript_a_cell_has_its_own_page_and_the_form_redirects_back(
    admin, settings
):
    key = ids(settings)
    url = f"/admin/rules/matrix/any/{key['Laptop']}"
    page = await (await admin.client.get(url)).get_data(as_text=True)
    assert "<h1>Rule: Laptop × any category</h1>" in page and "<!doctype html>" in page
    response = await admin.post(url, htmx=False, **{**CELL, "period": "not_for_loan"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/admin/rules#cell-any-{key['Laptop']}")
    page = await (await admin.client.get("/admin/rules")).get_data(as_text=True)
    assert "Saved: rule Laptop × any category: Not for loan" in page


async def test_only_admins_edit_the_matrix(app, desk, settings):
    response = await desk.post("/admin/rules/matrix/any/any", **CELL)
    assert response.status_code == 403
    assert len(matrix(settings)) == 13


async def test_reference_copies_are_not_lent_nor_held_and_a_laptop_is_due_the_same_day(
    desk, settings, shelf, patrons, today
):
    set_item_type(settings, "T1", "Reference")
    set_item_type(settings, "T2", "Reference")
    await desk.scan("S9001")
    _, html = await desk.scan("T1")
    assert "Reference: not for loan" in message_of(html)
    response = await desk.post("/desk/hold", book=str(shelf))
    assert "Holds are not allowed here (Reference: not for loan)" in message_of(
        await response.get_data(as_text=True)
    )
    assert sql(settings, "SELECT count(*) FROM Holds")[0][0] == 0
    add_book(settings, "Chromebook 7", ("L1",))
    set_item_type(settings, "L1", "Laptop")
    _, html = await desk.scan("L1")
    assert "Laptop: due today at the end of the day, no renewals" in message_of(html)
    assert open_loans(settings, "L1")[0]["ReturnDate"] == today.isoformat()


async def test_end_of_term_loans_are_due_at_the_end_of_the_term(
    admin, desk, settings, shelf, patrons, today
):
    key = ids(settings)
    sql(settings, "UPDATE Users SET CategoryID = ? WHERE CardNumber = 'S9001'", (key["Teacher"],))
    response = await admin.post(
        "/admin/rules/terms",
        htmx=False,
        term_name="Spring term",
        starts_on=(today - timedelta(days=10)).isoformat(),
        ends_on=(today + timedelta(days=40)).isoformat(),
    )
    assert response.status_code == 303
    response = await admin.post(
        "/admin/rules/terms",
        htmx=False,
        term_name="Overlap",
        starts_on=(today + timedelta(days=40)).isoformat(),
        ends_on=(today + timedelta(days=50)).isoformat(),
    )
    assert response.status_code == 422
    assert "Overlap overlaps Spring term" in await response.get_data(as_text=True)
    assert [row[0] for row in sql(settings, "SELECT Name FROM Terms")] == ["Spring term"]
    set_item_type(settings, "T1", "Class set")
    await desk.scan("S9001")
    _, html = await desk.scan("T1")
    assert "Class set, Teacher: due at the end of Spring term, no renewals" in message_of(html)
    assert open_loans(settings, "T1")[0]["ReturnDate"] == (today + timedelta(days=40)).isoformat()
    assert "term Spring term:" in rule_events(settings)[-1]


async def test_an_admin_adds_renames_and_removes_categories_and_item_types(admin, settings):
    category = {
        "name": "Sixth form",
        "max_loans": "8",
        "max_holds": "4",
        "renew_overdue_days": "3",
    }
    assert (await admin.post("/admin/rules/categories", htmx=False, **category)).status_code == 303
    key = ids(settings)
    assert "Sixth form" in key
    response = await admin.post(
        "/admin/rules/categories", htmx=False, **{**category, "name": "sixth FORM"}
    )
    assert response.status_code == 422
    assert "There is already a patron category called" in await response.get_data(as_text=True)
    response = await admin.post("/admin/rules/categories/9999", htmx=False, **category)
    assert response.status_code == 404
    response = await admin.post(f"/admin/rules/categories/{key['Student']}/delete", htmx=False)
    assert response.status_code == 422
    assert "new Student accounts get" in await response.get_data(as_text=True)
    response = await admin.post(f"/admin/rules/categories/{key['Sixth form']}/delete", htmx=False)
    assert response.status_code == 303
    assert "Sixth form" not in ids(settings)

    assert (
        await admin.post("/admin/rules/item-types", htmx=False, name="Board game")
    ).status_code == 303
    key = ids(settings)
    response = await admin.post(
        f"/admin/rules/item-types/{key['Board game']}", htmx=False, name="Game"
    )
    assert response.status_code == 303
    sql(settings, "INSERT INTO Books (BookID, Title) VALUES (900, 'Chess')")
    sql(settings, "INSERT INTO Copies (BookID, Barcode, ItemTypeID) VALUES (900, 'G1', ?)",
        (key["Board game"],))  # fmt: skip
    response = await admin.post(f"/admin/rules/item-types/{key['Board game']}/delete", htmx=False)
    assert response.status_code == 422
    assert "1 copy is Game: change their item type first." in await response.get_data(as_text=True)
    events = rule_events(settings)
    assert "patron category Sixth form added: up to 8 loans in all, 4 holds" in events[0]
    assert "item type Board game renamed Game" in events


async def test_my_account_says_which_rule_each_loan_is_under(app, desk, settings, shelf, patrons):
    set_item_type(settings, "T1", "DVD")
    await desk.scan("S9001")
    await desk.scan("T1")
    sql(settings, "UPDATE Users SET Email = 'dana@example.com' WHERE CardNumber = 'S9001'")
    sql(settings, "UPDATE Users SET PasswordHash = (SELECT PasswordHash FROM Users "
                  "WHERE Email = 'alice@example.com') WHERE CardNumber = 'S9001'")  # fmt: skip
    client = app.test_client()
    await log_in(client, "dana@example.com")
    page = await (await client.get("/account")).get_data(as_text=True)
    assert "DVD: 7 days, 1 renewal" in page and "0 of 1" in page


async def test_staff_set_a_copys_item_type_and_a_patrons_category_on_their_forms(
    desk, settings, shelf, patrons
):
    key = ids(settings)
    copy_id = sql(settings, "SELECT CopyID FROM Copies WHERE Barcode = 'T1'")[0][0]
    form = await (await desk.client.get(f"/copies/{copy_id}/edit")).get_data(as_text=True)
    assert 'name="item_type"' in form and ">Laptop</option>" in form
    response = await desk.post(
        f"/copies/{copy_id}/edit", htmx=False, status="in_stock", location="", item_type="999"
    )
    assert response.status_code == 422
    assert "Choose one of the item types." in await response.get_data(as_text=True)
    response = await desk.post(
        f"/copies/{copy_id}/edit", htmx=False, status="in_stock", location="", item_type=key["DVD"]
    )
    assert response.status_code == 303
    assert (
        sql(settings, "SELECT ItemTypeID FROM Copies WHERE CopyID = ?", (copy_id,))[0][0]
        == (key["DVD"])
    )
    copies = await (await desk.client.get(f"/books/{shelf}/copies")).get_data(as_text=True)
    assert '<td data-label="Item type">DVD</td>' in copies
    book = await (await desk.client.get(f"/books/{shelf}")).get_data(as_text=True)
    assert '<td data-label="Item type">DVD</td>' in book

    patron = {"name": "Dana Ito", "role": "Student", "card_number": "S9001", "active": "1"}
    response = await desk.post(
        f"/patrons/{patrons['dana']}/edit", htmx=False, **patron, category=key["Year 9"]
    )
    assert response.status_code == 303
    response = await desk.post("/patrons/new", htmx=False, name="New Pupil", role="Student",
                               card_number="S9100", active="1", category="")  # fmt: skip
    assert response.status_code == 303
    categories = dict(
        sql(
            settings,
            "SELECT u.Name, c.Name FROM Users u JOIN PatronCategories c USING (CategoryID) "
            "WHERE u.Name IN ('Dana Ito', 'New Pupil')",
        )
    )
    assert categories == {"Dana Ito": "Year 9", "New Pupil": "Student"}
    page = await (await desk.client.get(f"/patrons/{patrons['dana']}")).get_data(as_text=True)
    assert "<dt>Patron category</dt><dd>Year 9</dd>" in page
