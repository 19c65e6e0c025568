"""CSV export: what it writes, the importers read back exactly; formulas are neutralised."""

from __future__ import annotations

import csv
import io
from datetime import date

from webapp import exporting
from webapp.cli import main
from webapp.db import connect_sync, migrate
from webapp.exporting import neutralise
from webapp.importing.books import apply_books, read_books_csv
from webapp.importing.patrons import apply_patrons, read_patrons_csv
from webapp.models import loans
from webapp.resources import MIGRATIONS

from .conftest import log_in


def test_cells_a_spreadsheet_would_run_get_a_leading_quote():
    for text in ("=1+2", "+44 20", "-5", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(text) == "'" + text
    assert (
        neutralise("Plain title") == "Plain title"
        and neutralise(None) == ""
        and neutralise(1925) == "1925"
    )


async def test_staff_download_each_export_as_csv(client, settings, monkeypatch):
    monkeypatch.setattr(exporting, "PAGE_SIZE", 7)  # many pages from a small library
    await log_in(client, "bob@example.com")
    for kind, header, expected in (
        (
            "books",
            "title,author,isbn,series,subjects,publisher,year,language,copies,barcodes,location",
            "The Great Gatsby,F. Scott Fitzgerald,978-0-7432-7356-5",
        ),
        (
            "patrons",
            "name,email,role,card_number,group,active",
            "Alice Smith,alice@example.com,Student,S0001",
        ),
        (
            "loans",
            "loan_id,loan_date,due_date,returned_at,closed_as,renewals,barcode,isbn,title,patron_name",
            "2025-03-01,2025-03-15,,,0,",
        ),
    ):
        response = await client.get(f"/admin/export/{kind}.csv")
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert f'filename="shelfmark-{kind}.csv"' in response.headers["Content-Disposition"]
        text = await response.get_data(as_text=True)
        assert text.startswith("\ufeff" + header)
        assert expected in text
    conn = connect_sync(settings.database)
    loans = conn.execute("SELECT count(*) FROM Loans").fetchone()[0]
    conn.close()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == loans + 1  # every loan, across many pages
    assert len({row[0] for row in rows[1:]}) == loans  # none repeated


def _export(database, kind, path):
    assert main(["--database", str(database), "export", kind, str(path)]) == 0
    return path.read_text(encoding="utf-8")


def test_books_and_patrons_round_trip_through_export_and_import(
    demo_database, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(exporting, "PAGE_SIZE", 7)
    conn = connect_sync(demo_database)
    conn.execute(
        "INSERT INTO Books (Title, Author, Subjects, Year) VALUES (?, ?, ?, ?)",
        ("=cmd|' /C calc'!A0", "-Dash, Author", "@risk; +plus", -400),
    )
    conn.execute(
        "INSERT INTO Users (Name, Role, CardNumber, GroupName, Active) "
        "VALUES ('+Plus Person', 'Student', '-77', '=Group', 0)"
    )
    conn.close()
    books = _export(demo_database, "books", tmp_path / "books.csv")
    patrons = _export(demo_database, "patrons", tmp_path / "patrons.csv")
    assert "Wrote" in capsys.readouterr().out
    assert "'=cmd|' /C calc'!A0,\"'-Dash, Author\",,,'@risk; +plus,,'-400," in books
    assert "'+Plus Person,,Student,'-77,'=Group,no" in patrons

    fresh = tmp_path / "fresh.sqlite3"
    conn = connect_sync(fresh)
    migrate(conn, MIGRATIONS)
    book_summary = apply_books(conn, read_books_csv(books.encode())[1])
    patron_summary = apply_patrons(conn, read_patrons_csv(patrons.encode(), allow_admin=True)[1])
    assert book_summary.invalid == 0 and patron_summary.invalid == 0
    assert conn.execute(
        "SELECT Title, Author, Subjects, Year FROM Books WHERE Year = -400"
    ).fetchone()[:] == ("=cmd|' /C calc'!A0", "-Dash, Author", "@risk; +plus", -400)
    conn.close()
    assert _export(fresh, "books", tmp_path / "books-again.csv") == books
    assert _export(fresh, "patrons", tmp_path / "patrons-again.csv") == patrons


def test_the_command_line_will_not_overwrite_an_existing_file(demo_database, tmp_path, capsys):
    target = tmp_path / "loans.csv"
    target.write_text("keep me")
    assert main(["--database", str(demo_database), "export", "loans", str(target)]) == 1
    assert target.read_text() == "keep me"
    assert main(["--database", str(demo_database), "export", "loans", str(target), "--force"]) == 0
    assert target.read_text(encoding="utf-8").startswith("\ufeffloan_id,")


def test_export_to_standard_output_writes_only_the_csv_there(demo_database, tmp_path, capsys):
    """``shelfmark export books -`` is for a pipe: the CSV alone on standard output, the same
    as the file export, and the progress and summary on standard error; no file named '-'."""
    assert main(["--database", str(demo_database), "export", "books", "-"]) == 0
    piped = capsys.readouterr()
    _export(demo_database, "books", tmp_path / "books.csv")
    assert piped.out == (tmp_path / "books.csv").read_bytes().decode("utf-8")
    assert "Wrote" in piped.err and "standard output" in piped.err
    assert not (tmp_path / "-").exists()


def test_the_loans_export_says_how_each_closed_loan_ended(demo_database, tmp_path):
    """A loan closed as lost or claims returned is not exported as an ordinary return."""
    conn = connect_sync(demo_database)
    open_loans = [
        row[0]
        for row in conn.execute(
            "SELECT LoanID FROM Loans WHERE ReturnedAt IS NULL ORDER BY LoanID LIMIT 2"
        )
    ]
    librarian = conn.execute("SELECT UserID FROM Users WHERE Role = 'Librarian'").fetchone()[0]
    for loan_id, closed_as in zip(open_loans, ("lost", "claims_returned"), strict=True):
        with conn:
            outcome = loans.close_missing(
                conn, loan_id=loan_id, closed_as=closed_as, actor_id=librarian, today=date.today()
            )
        assert outcome.ok
    returned = conn.execute(
        "SELECT LoanID FROM Loans WHERE ReturnedAt IS NOT NULL AND ClosedAs IS NULL"
    ).fetchone()[0]
    still_open = conn.execute("SELECT LoanID FROM Loans WHERE ReturnedAt IS NULL").fetchone()[0]
    conn.close()
    rows = csv.DictReader(
        io.StringIO(_export(demo_database, "loans", tmp_path / "loans.csv").lstrip("\ufeff"))
    )
    ended = {int(row["loan_id"]): row["closed_as"] for row in rows}
    assert ended[open_loans[0]] == "lost"
    assert ended[open_loans[1]] == "claims_returned"
    assert ended[returned] == "returned"
    assert ended[still_open] == ""
