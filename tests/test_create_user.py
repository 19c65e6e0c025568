"""`shelfmark create-user`, as docs/deploying.md uses it for the first admin account."""

from __future__ import annotations

import io

from webapp import create_app
from webapp.cli import main
from webapp.db import connect_sync

from .conftest import log_in, make_settings

PASSWORD = "correct horse battery"


def create_admin(database_path, password: str, monkeypatch) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(
        [
            "--database",
            str(database_path),
            "create-user",
            "--role",
            "Admin",
            "--name",
            "Jo Librarian",
            "--email",
            "jo@school.example",
            "--password-stdin",
        ]
    )


async def test_the_first_admin_signs_in_and_reaches_the_admin_pages(
    database_path, monkeypatch, capsys
):
    assert create_admin(database_path, PASSWORD, monkeypatch) == 0
    assert "Created Admin account for Jo Librarian" in capsys.readouterr().out
    app = create_app(make_settings(database_path))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        assert (await client.get("/admin/rules")).status_code != 200
        await log_in(client, "jo@school.example", PASSWORD)
        assert (await client.get("/admin/rules")).status_code == 200


def test_a_short_password_or_a_second_account_with_the_same_email_is_refused(
    database_path, monkeypatch, capsys
):
    assert create_admin(database_path, "short", monkeypatch) == 1
    assert "at least 8 characters" in capsys.readouterr().err
    assert create_admin(database_path, PASSWORD, monkeypatch) == 0
    assert create_admin(database_path, PASSWORD, monkeypatch) == 1
    assert "already exists" in capsys.readouterr().err


def create(database_path, monkeypatch, **fields) -> int:
    options = {"role": "Librarian", "name": "Jo Librarian", "email": "jo@school.example", **fields}
    arguments = ["--database", str(database_path), "create-user", "--password-stdin"]
    for name, value in options.items():
        arguments += [f"--{name}", value]
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return main(arguments)


def accounts(database_path) -> list[tuple]:
    conn = connect_sync(database_path)
    try:
        return [tuple(row) for row in conn.execute("SELECT Name, Email, CardNumber FROM Users")]
    finally:
        conn.close()


def test_the_fields_are_checked_as_the_web_forms_check_them_and_nothing_is_created(
    database_path, monkeypatch, capsys
):
    refused = {
        "--name: This is required.": {"name": "   "},
        "--name: is longer than 200 characters": {"name": "x" * 201},
        "--email: Type an email address like name@example.org.": {"email": "not an address"},
        "--email: An account needs an email address to sign in with.": {"email": " "},
        "--card: is longer than 64 characters": {"card": "9" * 65},
    }
    for message, fields in refused.items():
        assert create(database_path, monkeypatch, **fields) == 2, fields
        error = capsys.readouterr().err
        assert "No account was created:" in error and message in error, error
    assert accounts(database_path) == []


def test_the_account_is_stored_as_the_web_forms_would_store_it(database_path, monkeypatch):
    assert (
        create(database_path, monkeypatch, name="  Jo \t Librarian ", email=" jo@school.example ")
        == 0
    )
    assert accounts(database_path) == [("Jo Librarian", "jo@school.example", None)]
