"""The benchmark data generator: the same library for the same seed, consistent with the schema."""

from __future__ import annotations

import sqlite3

import pytest

from bench.generate import LIBRARIAN_EMAIL, TODAY, generate
from webapp.search_query import parse

from .conftest import GOODBOOKS_CSV

pytestmark = pytest.mark.skipif(
    not GOODBOOKS_CSV.exists(), reason=f"the goodbooks-10k catalogue is not at {GOODBOOKS_CSV}"
)

SIZE = dict(titles=300, patrons=40, loans=500, overdue=25, progress=False)


def snapshot(path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT BookID, Title, Author, ISBN, TimesBorrowed FROM Books ORDER BY BookID"
        ).fetchall()
    finally:
        conn.close()


def test_the_same_seed_gives_the_same_library_and_another_seed_another(tmp_path):
    generate(tmp_path / "a.sqlite3", seed=3, **SIZE)
    generate(tmp_path / "b.sqlite3", seed=3, **SIZE)
    generate(tmp_path / "c.sqlite3", seed=4, **SIZE)
    assert snapshot(tmp_path / "a.sqlite3") == snapshot(tmp_path / "b.sqlite3")
    assert snapshot(tmp_path / "a.sqlite3") != snapshot(tmp_path / "c.sqlite3")


def test_the_library_has_the_asked_sizes_and_overdue_loans_and_a_searchable_index(tmp_path):
    path = tmp_path / "library.sqlite3"
    counts = generate(path, **SIZE)
    assert counts["Books"] == 300 and counts["Loans"] == 500
    assert counts["Users"] == 41  # the patrons and one librarian
    assert 300 <= counts["Copies"] <= 900
    conn = sqlite3.connect(path)
    overdue = conn.execute(
        "SELECT count(*) FROM Loans WHERE ReturnedAt IS NULL AND ReturnDate < ?",
        (TODAY.isoformat(),),
    ).fetchone()[0]
    assert overdue == 25
    assert conn.execute("SELECT sum(TimesBorrowed) FROM Books").fetchone()[0] == 500
    assert conn.execute("SELECT Role FROM Users WHERE Email = ?", (LIBRARIAN_EMAIL,)).fetchone()
    conn.execute("INSERT INTO BooksSearch (BooksSearch) VALUES ('integrity-check')")
    title = conn.execute("SELECT Title FROM Books WHERE BookID = 1").fetchone()[0]
    found = conn.execute(
        "SELECT count(*) FROM BooksSearch WHERE BooksSearch MATCH ?",
        (parse(title).match_expression(),),
    ).fetchone()[0]
    assert found >= 1
    conn.close()


def test_an_existing_file_is_never_appended_to(tmp_path):
    path = tmp_path / "library.sqlite3"
    path.write_bytes(b"")
    with pytest.raises(FileExistsError):
        generate(path, **SIZE)
