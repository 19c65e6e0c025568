"""The notices editor and the reminder stages over HTTP: admins only, a refused draft saves
nothing (422, with the line and the reason), the preview uses a real patron, reset asks first,
and the guardian's email on the patron form and in "Download my data"."""

from __future__ import annotations

import json
import sqlite3

from webapp.db import connect_sync
from webapp.importing.patrons import apply_patrons, read_patrons_csv

from .conftest import log_in

ADMIN = "carol@example.com"
LIBRARIAN = "bob@example.com"
STUDENT = "alice@example.com"


def rows(settings, sql: str, *params) -> list[sqlite3.Row]:
    conn = connect_sync(settings.database)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def wordings(settings) -> list[tuple]:
    return [tuple(r) for r in rows(settings, "SELECT Kind, Subject, Body FROM NoticeWordings")]


def events(settings, kind: str) -> list[str]:
    return [r[0] for r in rows(settings, "SELECT Detail FROM Events WHERE Kind = ?", kind)]


async def test_only_admins_open_the_editor(app, client):
    assert (await client.get("/admin/notices")).status_code == 302
    async with app.test_client() as librarian:
        await log_in(librarian, LIBRARIAN)
        assert (await librarian.get("/admin/notices")).status_code == 403
        assert (await librarian.get("/admin/notices/reminder")).status_code == 403
        reminders = await (await librarian.get("/admin/reminders")).get_data(as_text=True)
        assert "/admin/notices" not in reminders
    await log_in(client, ADMIN)
    page = await (await client.get("/admin/notices")).get_data(as_text=True)
    for label in ("Overdue reminder", "Courtesy notice", "Hold ready", "Invitation"):
        assert label in page
    assert "/admin/notices" in await (await client.get("/admin/reminders")).get_data(as_text=True)
    assert (await client.get("/admin/notices/no-such-notice")).status_code == 404


async def test_the_editor_starts_from_the_built_in_wording(app, client):
    await log_in(client, ADMIN)
    html = await (await client.get("/admin/notices/hold_ready")).get_data(as_text=True)
    assert "Ready to collect: {{ title }}" in html
    assert "The book you asked for is waiting for you" in html
    assert "This is the built-in wording." in html
    # The preview renders it with sample data until a patron is chosen.
    assert "Ready to collect: The Sample Book" in html


async def test_a_refused_draft_saves_nothing_and_says_where_and_why(app, client, settings):
    token = await log_in(client, ADMIN)
    for body, expected in (
        ("Dear {{ patron_name }},\n{{ ''.__class__ }}", "body, line 2"),
        ("Dear {{ patron_name }},\n\n{{ cycler.__init__.__globals__ }}", "line 3"),
        ("Dear {{ patron_name }},\n{{ password }}", "&#39;password&#39; is not a field"),
        ("{% if patron_name %}\nunclosed", "body, line 2"),
    ):
        response = await client.post(
            "/admin/notices/invitation",
            form={"csrf_token": token, "subject": "Hello", "body": body},
        )
        html = await response.get_data(as_text=True)
        assert response.status_code == 422, body
        assert "Nothing was saved" in html and expected in html, (body, html)
        # The draft is given back to be corrected, escaped.
        assert "&#39;&#39;.__class__" in html or "password" in html or "unclosed" in html
    assert wordings(settings) == []
    assert events(settings, "notice_wording_saved") == []


async def test_save_preview_with_a_real_patron_and_reset(app, client, settings):
    token = await log_in(client, ADMIN)
    draft = {
        "csrf_token": token,
        "subject": "{{ library_name }}: please come, {{ patron_name }}",
        "body": "Hello {{ patron_name }},\r\n\r\n{{ title }} waits until "
        "{{ pickup_by.strftime('%-d %B') }}.\r\n",
        "patron": "alice@example.com",
    }
    preview = await client.post(
        "/admin/notices/hold_ready/preview", form=draft, headers={"HX-Request": "true"}
    )
    fragment = await preview.get_data(as_text=True)
    assert preview.status_code == 200 and "<html" not in fragment
    assert "please come, Alice Smith" in fragment and "Hello Alice Smith," in fragment
    assert "As it would be sent today to Alice Smith" in fragment
    assert wordings(settings) == [], "a preview saves nothing"

    # Without JavaScript the Preview button shows the whole editor with the draft and preview.
    page = await (await client.post("/admin/notices/hold_ready/preview", form=draft)).get_data(
        as_text=True
    )
    assert "<html" in page and "Hello Alice Smith," in page and "{{ title }} waits" in page

    saved = await client.post("/admin/notices/hold_ready", form=draft)
    assert saved.status_code == 303
    assert wordings(settings) == [
        ("hold_ready", draft["subject"], draft["body"].replace("\r\n", "\n"))
    ]
    assert events(settings, "notice_wording_saved") == [f"hold_ready: {draft['subject']}"]
    editor = await (await client.get(saved.headers["Location"])).get_data(as_text=True)
    assert "This notice has an edited wording." in editor and "Saved." in editor

    unconfirmed = await client.post("/admin/notices/hold_ready/reset", form={"csrf_token": token})
    assert unconfirmed.status_code == 303
    assert unconfirmed.headers["Location"] == "/admin/notices/hold_ready/reset"
    question = await (await client.get("/admin/notices/hold_ready/reset")).get_data(as_text=True)
    assert "Go back to the built-in wording" in question
    assert len(wordings(settings)) == 1
    reset = await client.post(
        "/admin/notices/hold_ready/reset", form={"csrf_token": token, "confirmed": "yes"}
    )
    assert reset.status_code == 303
    assert wordings(settings)[-1] == ("hold_ready", None, None)
    assert events(settings, "notice_wording_reset") == ["hold_ready: back to the default"]
    editor = await (await client.get("/admin/notices/hold_ready")).get_data(as_text=True)
    assert "This is the built-in wording." in editor


async def test_saving_needs_the_csrf_token(app, client, settings):
    await log_in(client, ADMIN)
    response = await client.post("/admin/notices/reminder", form={"subject": "x", "body": "y"})
    assert response.status_code == 400
    assert wordings(settings) == []


async def test_the_reminder_stages_are_checked_saved_and_logged(app, client, settings):
    token = await log_in(client, ADMIN)
    for typed, reason in (
        ("1, two, 7", "whole numbers"),
        ("-2, 0, 7", "a stage of 0 days"),
        ("1,2,3,4,5,6,7,8,9,10,11", "between 1 and 10"),
        ("-40, 1", "30 days before"),
    ):
        response = await client.post(
            "/admin/notices/stages", form={"csrf_token": token, "stages": typed}
        )
        html = await response.get_data(as_text=True)
        assert response.status_code == 422 and reason in html, typed
        assert "Nothing was saved" in html
    (stages,) = rows(settings, "SELECT Value FROM LibrarySettings WHERE Key = 'reminder_stages'")
    assert stages[0] == "-2,1,7,21"
    assert events(settings, "reminder_stages_changed") == []

    saved = await client.post(
        "/admin/notices/stages", form={"csrf_token": token, "stages": "14, -3, 3"}
    )
    assert saved.status_code == 303
    value = rows(settings, "SELECT Value FROM LibrarySettings WHERE Key = 'reminder_stages'")
    assert value[0][0] == "-3,3,14"
    assert events(settings, "reminder_stages_changed") == ["-3,3,14"]
    page = await (await client.get("/admin/notices")).get_data(as_text=True)
    assert "Saved: reminder stages -3, 3, 14." in page and 'value="-3, 3, 14"' in page


async def test_a_guardians_email_is_checked_shown_and_in_the_patrons_data(app, client, settings):
    token = await log_in(client, LIBRARIAN)
    form = {
        "csrf_token": token,
        "name": "Gus Guarded",
        "role": "Student",
        "card_number": "G7001",
        "active": "1",
        "guardian_email": "not an address",
    }
    refused = await client.post("/patrons/new", form=form)
    assert refused.status_code == 422
    assert "Type an email address" in await refused.get_data(as_text=True)
    assert rows(settings, "SELECT 1 FROM Users WHERE CardNumber = 'G7001'") == []

    await client.post("/patrons/new", form={**form, "guardian_email": "parent@example.org"})
    (gus,) = rows(settings, "SELECT UserID, GuardianEmail FROM Users WHERE CardNumber = 'G7001'")
    assert gus["GuardianEmail"] == "parent@example.org"
    page = await (await client.get(f"/patrons/{gus['UserID']}")).get_data(as_text=True)
    assert "Guardian's email" in page and "parent@example.org" in page
    edit = await (await client.get(f"/patrons/{gus['UserID']}/edit")).get_data(as_text=True)
    assert 'value="parent@example.org"' in edit

    data = json.loads(
        await (await client.get(f"/patrons/{gus['UserID']}/data.json")).get_data(as_text=True)
    )
    assert data["profile"][0]["guardian_email"] == "parent@example.org"

    await client.post(f"/patrons/{gus['UserID']}/edit", form={**form, "guardian_email": ""})
    (gus,) = rows(settings, "SELECT GuardianEmail FROM Users WHERE CardNumber = 'G7001'")
    assert gus["GuardianEmail"] is None


def test_the_patron_import_reads_a_guardian_email_column(settings):
    data = (
        "name,card,class,parent email\n"
        "Ivy Import,I7001,Year 8,ivys.parent@example.org\n"
        "Ned Noparent,I7002,Year 8,\n"
        "Bad Address,I7003,Year 8,not-an-address\n"
    )
    mapping, parsed = read_patrons_csv(data)
    assert mapping["guardian_email"] == "parent email"
    assert parsed[2].error == "guardian email: Type an email address like name@example.org."
    conn = connect_sync(settings.database)
    try:
        summary = apply_patrons(conn, parsed)
        found = conn.execute(
            "SELECT CardNumber, GuardianEmail FROM Users WHERE CardNumber LIKE 'I700%' "
            "ORDER BY CardNumber"
        ).fetchall()
    finally:
        conn.close()
    assert summary.new == 2
    assert [tuple(row) for row in found] == [
        ("I7001", "ivys.parent@example.org"),
        ("I7002", None),
    ]


async def test_tonights_preview_says_its_subjects_are_the_built_in_ones_once_edited(app, client):
    token = await log_in(client, ADMIN)
    page = await (await client.get("/admin/reminders")).get_data(as_text=True)
    assert "Emails it would send" in page and "edited-wording-hint" not in page
    await client.post(
        "/admin/notices/reminder",
        form={"csrf_token": token, "subject": "Late: {{ item_count }}", "body": "Hi"},
    )
    page = await (await client.get("/admin/reminders")).get_data(as_text=True)
    assert "The reminder wording is edited: these are the built-in subjects." in page
