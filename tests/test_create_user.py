"""`shelfmark create-user`, as docs/deploying.md uses it for the first admin account."""

from __future__ import annotations

import io

from webapp import create_app
from webapp.cli import main

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
