"""Invitations, "Forgot your password?", links, Change password and temporary passwords,
through the real app with a real SQLite file, and mail caught by a real SMTP server
(aiosmtpd) or the in-app mailbox."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest

from webapp import create_app, demo
from webapp.clock import utc_now, utc_stamp
from webapp.db import connect_sync
from webapp.models import sign_in_tokens

from .conftest import csrf_from, log_in, make_settings
from .reminder_helpers import SmtpServer, html_of, text_of
from .test_import_web import upload

LINK = re.compile(r"https?://[^\s\"<>]+")
ALICE = "alice@example.com"
NEW_PASSWORD = "correct horse battery staple"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
async def smtp_app(demo_copy, smtp):
    application = create_app(make_settings(demo_copy, smtp_host="127.0.0.1", smtp_port=smtp.port))
    async with application.test_app() as test_app:
        yield test_app


@pytest.fixture
async def mailbox_app(demo_copy):
    application = create_app(make_settings(demo_copy))
    async with application.test_app() as test_app:
        yield test_app


async def wait_for(condition, what: str, tries: int = 200):
    """Poll ``condition`` (bounded); the mail goes out in the background, not on request."""
    for _ in range(tries):
        found = condition()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def forgot(client, email: str):
    token = await csrf_from(client, "/password/forgot")
    return await client.post("/password/forgot", form={"email": email, "csrf_token": token})


def mailbox_rows(path, kind: str) -> list:
    conn = connect_sync(path)
    rows = conn.execute(
        "SELECT Recipient, BodyText, BodyHtml, Status, Transport FROM Outbox WHERE Kind = ? "
        "ORDER BY MessageID",
        (kind,),
    ).fetchall()
    conn.close()
    return rows


def only_link(text: str) -> str:
    links = LINK.findall(text)
    assert len(links) == 1, links
    return links[0]


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


async def set_password(client, path: str, password: str):
    token = await csrf_from(client, path)
    return await client.post(path, form={"new_password": password, "csrf_token": token})


async def test_reset_by_smtp_once_with_one_link_other_sessions_signed_out(smtp_app, smtp):
    other_device = smtp_app.test_client()
    await log_in(other_device, ALICE)
    assert (await other_device.get("/account")).status_code == 200

    client = smtp_app.test_client()
    response = await forgot(client, ALICE)
    assert response.status_code == 200
    assert "If a library account uses alice@example.com" in await response.get_data(as_text=True)

    messages = await wait_for(lambda: smtp.handler.to(ALICE), "the reset email reached SMTP")
    assert len(messages) == 1
    text_link = only_link(text_of(messages[0]))
    assert only_link(html_of(messages[0])) == text_link
    path = path_of(text_link)
    assert path.startswith("/password/reset/")

    page = await client.get(path)
    assert page.status_code == 200
    assert '<label for="new-password">New password</label>' in await page.get_data(as_text=True)

    weak = await set_password(client, path, "password123")
    assert weak.status_code == 422
    assert "most common" in await weak.get_data(as_text=True)
    short = await set_password(client, path, "short")
    assert "at least 10 characters" in await short.get_data(as_text=True)

    done = await set_password(client, path, NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")

    # The other browser is signed out; the link does not work twice.
    assert (await other_device.get("/account")).status_code == 302
    again = await client.get(path)
    assert again.status_code == 410
    assert "already been used" in await again.get_data(as_text=True)
    reuse = await set_password(client, path, "another long passphrase")
    assert reuse.status_code == 410

    await log_in(client, ALICE, NEW_PASSWORD)
    await asyncio.sleep(0.2)
    assert len(smtp.handler.to(ALICE)) == 1, "sent exactly once"


async def test_a_second_request_kills_the_first_link(mailbox_app, demo_copy):
    client = mailbox_app.test_client()
    await forgot(client, ALICE)
    await forgot(client, ALICE)
    rows = await wait_for(
        lambda: [r for r in mailbox_rows(demo_copy, "password_reset") if r["Status"] == "sent"][1:],
        "both emails in the in-app mailbox",
    )
    rows = mailbox_rows(demo_copy, "password_reset")
    assert [r["Transport"] for r in rows] == ["mailbox", "mailbox"]
    first, second = (path_of(only_link(r["BodyText"])) for r in rows)
    old = await client.get(first)
    assert old.status_code == 410
    assert "A newer link was sent" in await old.get_data(as_text=True)
    assert (await client.get(second)).status_code == 200


async def test_an_expired_link_is_refused_with_a_clear_page(mailbox_app, demo_copy):
    client = mailbox_app.test_client()
    await forgot(client, ALICE)
    rows = await wait_for(lambda: mailbox_rows(demo_copy, "password_reset"), "the email")
    path = path_of(only_link(rows[0]["BodyText"]))
    conn = connect_sync(demo_copy)
    conn.execute(
        "UPDATE SignInTokens SET ExpiresAt = ?", (utc_stamp(utc_now() - timedelta(seconds=1)),)
    )
    conn.close()
    page = await client.get(path)
    assert page.status_code == 410
    body = await page.get_data(as_text=True)
    assert "This link has expired" in body and "Email me a new link" in body
    assert (await set_password(client, path, NEW_PASSWORD)).status_code == 410
    assert (await client.get("/password/reset/not-a-real-token")).status_code == 404


async def test_tokens_are_stored_hashed(mailbox_app, demo_copy):
    client = mailbox_app.test_client()
    await forgot(client, ALICE)
    rows = await wait_for(lambda: mailbox_rows(demo_copy, "password_reset"), "the email")
    token = path_of(only_link(rows[0]["BodyText"])).rsplit("/", 1)[1]
    conn = connect_sync(demo_copy)
    stored = conn.execute("SELECT TokenHash FROM SignInTokens").fetchall()
    conn.close()
    assert [row[0] for row in stored] == [sign_in_tokens.token_hash(token)]
    assert token not in stored[0][0]


async def test_forgot_password_answers_the_same_for_known_and_unknown_addresses(
    mailbox_app, demo_copy
):
    known = await forgot(mailbox_app.test_client(), ALICE)
    unknown = await forgot(mailbox_app.test_client(), "nobody@example.com")
    assert known.status_code == unknown.status_code == 200

    def answer(body: str) -> str:
        return re.sub(r"[\w.+-]+@example\.com", "EMAIL", body).replace(
            re.search(r'csrf-token" content="([^"]+)"', body).group(1), "CSRF"
        )

    assert answer(await known.get_data(as_text=True)) == answer(
        await unknown.get_data(as_text=True)
    )
    await wait_for(lambda: mailbox_rows(demo_copy, "password_reset"), "the email")
    assert [r["Recipient"] for r in mailbox_rows(demo_copy, "password_reset")] == [ALICE]
    conn = connect_sync(demo_copy)
    recorded = conn.execute("SELECT Email FROM PasswordResetRequests ORDER BY RequestID").fetchall()
    conn.close()
    assert [r[0] for r in recorded] == [ALICE, "nobody@example.com"]


async def test_forgot_password_is_throttled_per_account_silently_and_per_address(
    mailbox_app, demo_copy
):
    client = mailbox_app.test_client()
    for _ in range(sign_in_tokens.REQUESTS_PER_EMAIL + 2):
        response = await forgot(client, ALICE)
        assert response.status_code == 200
    await asyncio.sleep(0.3)
    assert len(mailbox_rows(demo_copy, "password_reset")) == sign_in_tokens.REQUESTS_PER_EMAIL

    for number in range(sign_in_tokens.REQUESTS_PER_ADDRESS):
        await forgot(client, f"someone{number}@example.com")
    refused = await forgot(client, "bob@example.com")
    assert refused.status_code == 429
    assert "Too many requests from your network" in await refused.get_data(as_text=True)


async def test_invitation_from_the_patron_page_then_set_password_and_sign_in(
    smtp_app, smtp, demo_copy
):
    conn = connect_sync(demo_copy)
    user_id = conn.execute(
        "INSERT INTO Users (Name, Role, Email, GroupName) VALUES ('Dora Pupil', 'Student', "
        "'dora@example.com', '7B')"
    ).lastrowid
    conn.close()
    librarian = smtp_app.test_client()
    token = await log_in(librarian, "bob@example.com")
    page = await librarian.get(f"/patrons/{user_id}")
    body = await page.get_data(as_text=True)
    assert "No password yet." in body and "Send sign-in link" in body
    assert "Account activity" not in body, "account events are for admins"
    sent = await librarian.post(f"/patrons/{user_id}/sign-in-link", form={"csrf_token": token})
    assert sent.status_code == 303

    message = (await wait_for(lambda: smtp.handler.to("dora@example.com"), "invitation"))[0]
    path = path_of(only_link(text_of(message)))
    assert path.startswith("/password/welcome/")
    dora = smtp_app.test_client()
    assert (await set_password(dora, path, "dora reads dragons daily")).status_code == 303
    await log_in(dora, "dora@example.com", "dora reads dragons daily")
    assert (await dora.get(path)).status_code == 410

    admin = smtp_app.test_client()
    await log_in(admin, "carol@example.com")
    body = await (await admin.get(f"/patrons/{user_id}")).get_data(as_text=True)
    activity = body.split("Account activity", 1)[1]
    for kind in ("invitation sent", "password set", "sign in"):
        assert kind in activity
    assert "invitation sent" not in body.split("Account activity", 1)[0].split("Event log")[-1]


async def test_invite_a_group_with_count_preview_and_progress(mailbox_app, demo_copy):
    conn = connect_sync(demo_copy)
    conn.execute("UPDATE Users SET GroupName = NULL WHERE PasswordHash IS NULL")
    for number in range(3):
        conn.execute(
            "INSERT INTO Users (Name, Role, Email, GroupName) VALUES (?, 'Student', ?, '8C')",
            (f"Pupil {number}", f"pupil{number}@example.com"),
        )
    conn.execute("INSERT INTO Users (Name, Role, GroupName) VALUES ('No Mail', 'Student', '8C')")
    conn.execute(
        "INSERT INTO Users (Name, Role, Email, GroupName, PasswordHash) "
        "VALUES ('Has Password', 'Student', 'has@example.com', '8C', 'x')"
    )
    conn.close()
    librarian = mailbox_app.test_client()
    token = await log_in(librarian, "bob@example.com")
    preview = await (await librarian.get("/patrons/invite?group=8C")).get_data(as_text=True)
    assert "3 patrons to invite in 8C" in preview
    assert "pupil2@example.com" in preview and "has@example.com" not in preview
    assert "1 without an email address" in preview

    sent = await librarian.post("/patrons/invite", form={"group": "8C", "csrf_token": token})
    assert sent.status_code == 303
    progress_url = sent.headers["Location"]

    async def done():
        body = await (await librarian.get(progress_url)).get_data(as_text=True)
        return "3 of 3 sent" in body and "Done." in body

    for _ in range(100):
        if await done():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the invitations were never all sent")
    recipients = [r["Recipient"] for r in mailbox_rows(demo_copy, "invitation")]
    assert sorted(recipients) == [f"pupil{n}@example.com" for n in range(3)]


async def test_temporary_password_must_be_changed_at_next_sign_in(mailbox_app, demo_copy):
    conn = connect_sync(demo_copy)
    user_id = conn.execute("SELECT UserID FROM Users WHERE Email = ?", (ALICE,)).fetchone()[0]
    conn.close()
    librarian = mailbox_app.test_client()
    token = await log_in(librarian, "bob@example.com")
    response = await librarian.post(
        f"/patrons/{user_id}/temporary-password",
        form={"temporary_password": "library desk 2026", "csrf_token": token},
    )
    assert response.status_code == 303
    carol = await librarian.post(
        "/patrons/3/temporary-password",
        form={"temporary_password": "library desk 2026", "csrf_token": token},
    )
    assert carol.status_code == 403
    assert "Only an admin may set" in await carol.get_data(as_text=True)
    weak = await librarian.post(
        f"/patrons/{user_id}/temporary-password",
        form={"temporary_password": "qwertyuiop", "csrf_token": token},
    )
    assert weak.status_code == 422
    assert "most common" in await weak.get_data(as_text=True)
    await log_in(mailbox_app.test_client(), "carol@example.com")  # her password is unchanged

    alice = mailbox_app.test_client()
    token = await csrf_from(alice)
    signed_in = await alice.post(
        "/login", form={"email": ALICE, "password": "library desk 2026", "csrf_token": token}
    )
    assert signed_in.status_code == 302
    page = await alice.get("/account")
    assert page.status_code == 303 and page.headers["Location"].endswith("/account/password")
    token = await csrf_from(alice, "/account/password")
    wrong = await alice.post(
        "/account/password",
        form={"current_password": "nope", "new_password": NEW_PASSWORD, "csrf_token": token},
    )
    assert wrong.status_code == 422
    changed = await alice.post(
        "/account/password",
        form={
            "current_password": "library desk 2026",
            "new_password": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert changed.status_code == 303
    assert (await alice.get("/account")).status_code == 200
    await log_in(mailbox_app.test_client(), ALICE, NEW_PASSWORD)


async def test_change_password_signs_out_other_sessions_but_not_this_one(mailbox_app):
    phone = mailbox_app.test_client()
    await log_in(phone, ALICE)
    laptop = mailbox_app.test_client()
    await log_in(laptop, ALICE)
    token = await csrf_from(laptop, "/account/password")
    response = await laptop.post(
        "/account/password",
        form={
            "current_password": demo.DEMO_PASSWORD,
            "new_password": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    assert (await laptop.get("/account")).status_code == 200
    assert (await phone.get("/account")).status_code == 302


async def test_after_a_class_list_import_the_new_pupils_can_be_invited(mailbox_app):
    librarian = mailbox_app.test_client()
    token = await log_in(librarian, "bob@example.com")
    data = b"Full Name,Mail,Class\nRavi Patel,ravi@example.org,Year 9\nMia Chen,mia@example.org,Year 9\n"
    await upload(librarian, token, data, kind="patrons", filename="class.csv")
    await librarian.post("/admin/import/confirm", form={"csrf_token": token})
    page = await (await librarian.get("/admin/import")).get_data(as_text=True)
    assert "Invite everyone without a password" in page
    preview = await (await librarian.get("/patrons/invite?group=Year+9")).get_data(as_text=True)
    assert "2 patrons to invite in Year 9" in preview
    assert "ravi@example.org" in preview and "mia@example.org" in preview
