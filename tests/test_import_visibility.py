"""A books import is written into the catalogue in short transactions, invisibly, and
shown in one tiny transaction (issue #17 item 4; docs/importing.md).

Between two of the publication's transactions a reader sees none of the import (search,
the book page, the desk's barcode lookup, the export, the change to a known book); after
the flip all of it. A publication that meets a barcode added by hand meanwhile is refused
with the confirm's message and removes what it wrote; a publication killed with SIGKILL
leaves users seeing the old catalogue, and the next import removes its invisible rows.
(A desk scan answered during a publication, against a real server, is in
tests/test_import_contention.py.)
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from webapp import stocktake_rules
from webapp.db import connect_sync
from webapp.importing import books as book_import
from webapp.importing import staging
from webapp.leases import new_holder
from webapp.models import stocktake

from .conftest import log_in

ROWS = 30
CHUNK = 10  # books written per publication transaction in these tests
NOT_FOUND = "No patron or copy has the barcode"
HIDDEN_ISBN = "9780306406157"  # the first row's, written with the first chunk


def vanishing_csv(known: dict) -> str:
    lines = ["title,author,isbn,publisher,barcodes"]
    lines += [
        f"Vanishing Ink {n:02d},Ada Quill,{HIDDEN_ISBN if n == 0 else ''},,VIS-{n:04d}"
        for n in range(ROWS)
    ]
    # A known book, changed: the change too appears only at the flip.
    lines.append(f"{known['Title']},{known['Author']},{known['ISBN']},Flip Press,")
    return "\n".join(lines) + "\n"


def staged(conn, text: str) -> int:
    _, rows = book_import.read_books_csv(text)
    import_id, _ = staging.run_sync(
        conn, book_import.stage_steps(rows, source=f"test:{new_holder()}", mapping="{}")
    )
    return import_id


def first_chunk(import_id: int) -> staging.Steps:
    while not (yield staging.Step(staging.generate_some, (import_id,))):
        pass
    yield staging.Step(staging.begin_publication, (import_id, new_holder()))
    yield staging.Step(staging.publish_some, (import_id, CHUNK))


def remaining_chunks(import_id: int) -> staging.Steps:
    while True:
        done, _ = yield staging.Step(staging.publish_some, (import_id, CHUNK))
        if done:
            return


def flip(import_id: int) -> staging.Steps:
    yield staging.Step(staging.make_visible, (import_id,))


@pytest.fixture
def conn(settings):
    connection = connect_sync(settings.database)
    yield connection
    connection.close()


@pytest.fixture
def known(conn) -> dict:
    row = conn.execute(
        "SELECT BookID, Title, Author, ISBN FROM Books WHERE ISBN IS NOT NULL "
        "AND Title NOT GLOB '*[,\"]*' AND Author NOT GLOB '*[,\"]*' LIMIT 1"
    ).fetchone()
    return dict(row)


async def what_users_see(client, token: str, book_id: int, known: dict) -> dict:
    search = await (await client.get("/search?q=vanishing+ink")).get_data(as_text=True)
    page = await client.get(f"/books/{book_id}")
    scan = await client.post(
        "/desk/scan",
        form={"code": "VIS-0003", "mode": "auto", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    export = await (await client.get("/admin/export/books.csv")).get_data(as_text=True)
    known_page = await (await client.get(f"/books/{known['BookID']}")).get_data(as_text=True)
    return {
        "copies in the reports": await report_copies(client) - known["report copies"],
        "search": search.count("Ada Quill"),
        "book page": page.status_code,
        "desk scan finds the copy": NOT_FOUND not in await scan.get_data(as_text=True),
        "export": export.count("Vanishing Ink"),
        "known book changed": "Flip Press" in known_page,
    }


async def report_copies(client) -> int:
    """The copies in stock that the collection report counts (by year added)."""
    text = await (await client.get("/reports/collection-by-year-added.csv")).get_data(as_text=True)
    return sum(int(line.rsplit(",", 1)[1]) for line in text.splitlines()[1:])


NOTHING = {
    "copies in the reports": 0,
    "search": 0,
    "book page": 404,
    "desk scan finds the copy": False,
    "export": 0,
    "known book changed": False,
}


async def test_a_publication_in_progress_shows_nothing_and_the_flip_shows_everything(
    client, conn, known
):
    token = await log_in(client, "bob@example.com")
    known["report copies"] = await report_copies(client)
    import_id = staged(conn, vanishing_csv(known))
    staging.run_sync(conn, first_chunk(import_id))

    # Mid-publication: the run's last book and a first chunk are in Books, invisible.
    written = conn.execute(
        "SELECT count(*), max(BookID) FROM Books WHERE ImportID = ?", (import_id,)
    ).fetchone()
    assert written[0] == CHUNK + 1
    assert await what_users_see(client, token, written[1], known) == NOTHING
    staging.run_sync(conn, remaining_chunks(import_id))
    assert await what_users_see(client, token, written[1], known) == NOTHING

    staging.run_sync(conn, flip(import_id))
    seen = await what_users_see(client, token, written[1], known)
    assert seen["search"] >= 1 and seen["export"] == ROWS
    assert seen["copies in the reports"] == ROWS
    assert seen["book page"] == 200 and seen["desk scan finds the copy"]
    assert seen["known book changed"]

    # Then the run is cleared in short transactions: the books stay, their ImportID goes.
    staging.run_sync(conn, staging.discard_steps([import_id]))
    assert conn.execute("SELECT count(*) FROM Books WHERE ImportID IS NOT NULL").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM ImportRuns").fetchone()[0] == 0
    assert (await what_users_see(client, token, written[1], known))["export"] == ROWS


async def test_a_barcode_added_by_hand_during_the_publication_refuses_it_and_it_leaves_nothing(
    client, conn, known
):
    token = await log_in(client, "bob@example.com")
    known["report copies"] = await report_copies(client)
    books_before = conn.execute("SELECT count(*) FROM Books").fetchone()[0]
    import_id = staged(conn, vanishing_csv(known))
    staging.run_sync(conn, first_chunk(import_id))
    # A librarian gives a copy a barcode that a later chunk of the import holds.
    conn.execute("INSERT INTO Copies (BookID, Barcode) VALUES (?, 'VIS-0025')", (known["BookID"],))

    with pytest.raises(ValueError, match="the catalogue changed while the file was being checked"):
        staging.run_sync(conn, remaining_chunks(import_id))
    staging.run_sync(conn, staging.discard_steps([import_id]))

    assert conn.execute("SELECT count(*) FROM Books").fetchone()[0] == books_before
    assert conn.execute("SELECT count(*) FROM Copies WHERE Barcode GLOB 'VIS-*'").fetchone()[0] == 1
    # Only the librarian's copy is new to the reports.
    assert await what_users_see(client, token, 0, known) == {**NOTHING, "copies in the reports": 1}
    conn.execute("INSERT INTO BooksSearch (BooksSearch) VALUES ('integrity-check')")


def test_the_search_for_a_barcode_stays_one_index_probe(conn):
    """The desk's and the search box's lookups by barcode read the copy by its unique
    index and its book by primary key: the view adds no scan."""
    plan = " ".join(
        row[3]
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT c.CopyID, b.Title FROM Copies c "
            "JOIN CatalogueBooks b ON b.BookID = c.BookID WHERE c.Barcode = ?",
            ("X",),
        )
    )
    assert "SCAN" not in plan.replace("SCAN ImportRuns", ""), plan


def cli_import(database, source) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webapp.cli",
            "--database",
            str(database),
            "import",
            "books",
            str(source),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def publishing(database) -> bool:
    conn = connect_sync(database)
    try:
        return (
            conn.execute(
                "SELECT 1 FROM ImportRuns r WHERE r.Status = 'staged' AND r.BookBase IS NOT NULL "
                "AND EXISTS (SELECT 1 FROM Books b WHERE b.ImportID = r.ImportID)"
            ).fetchone()
            is not None
        )
    finally:
        conn.close()


def visible(database) -> tuple[int, int, str]:
    """What users see: the catalogue's books and copies, and the FTS index's health."""
    conn = connect_sync(database)
    try:
        conn.execute("INSERT INTO BooksSearch (BooksSearch) VALUES ('integrity-check')")
        return (
            conn.execute("SELECT count(*) FROM CatalogueBooks").fetchone()[0],
            conn.execute("SELECT count(*) FROM CatalogueCopies").fetchone()[0],
            conn.execute("PRAGMA integrity_check").fetchone()[0],
        )
    finally:
        conn.close()


def test_a_publication_killed_mid_way_shows_nothing_and_the_next_import_removes_it(
    demo_database, tmp_path
):
    rows = 40_000
    source = tmp_path / "big.csv"
    source.write_text(
        "title,author\n" + "".join(f"Killed Volume {n},Author {n % 97}\n" for n in range(rows))
    )
    before = visible(demo_database)

    doomed = cli_import(demo_database, source)
    deadline = time.monotonic() + 300
    while not publishing(demo_database):
        assert doomed.poll() is None, "the import ended before its publication was seen"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    doomed.kill()
    doomed.wait(30)

    conn = connect_sync(demo_database)
    hidden = conn.execute("SELECT count(*) FROM Books WHERE ImportID IS NOT NULL").fetchone()[0]
    conn.close()
    assert 0 < hidden < rows  # killed part-way through writing the rows
    assert visible(demo_database) == before

    rerun = cli_import(demo_database, source)
    out, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0 and f"{rows:,} new" in out, out
    books, copies, integrity = visible(demo_database)
    assert (books, copies, integrity) == (before[0] + rows, before[1] + rows, "ok")
    conn = connect_sync(demo_database)
    assert conn.execute("SELECT count(*) FROM Books").fetchone()[0] == books  # none left hidden
    assert conn.execute("SELECT count(*) FROM ImportRuns").fetchone()[0] == 0
    conn.close()


async def test_what_an_import_has_written_is_taken_for_books_and_copies_added_by_hand(
    client, conn, known
):
    token = await log_in(client, "bob@example.com")
    import_id = staged(conn, vanishing_csv(known))
    staging.run_sync(conn, first_chunk(import_id))

    copy = await client.post(
        f"/books/{known['BookID']}/copies",
        form={"copies": "1", "barcodes": "vis-0001", "csrf_token": token},
    )
    assert copy.status_code == 422
    assert "already on another copy" in await copy.get_data(as_text=True)
    book = await client.post(
        "/books/new",
        form={
            "title": "By Hand",
            "author": "Someone",
            "isbn": HIDDEN_ISBN,
            "copies": "1",
            "csrf_token": token,
        },
    )
    html = await book.get_data(as_text=True)
    assert book.status_code == 422 and "in an import that is being published" in html
    # No link to a book nobody can open yet.
    assert "Add a copy to the existing book" not in html
    assert conn.execute("SELECT count(*) FROM Books WHERE Title = 'By Hand'").fetchone()[0] == 0


def test_a_stocktake_neither_expects_nor_counts_an_import_being_published(conn, known):
    librarian = conn.execute("SELECT UserID FROM Users WHERE Email = 'bob@example.com'").fetchone()
    stocktake_id = stocktake.start(
        conn, name="Spring", scope=stocktake_rules.Scope(True), actor_id=librarian[0]
    )
    expected_before = stocktake.progress(conn, stocktake.get(conn, stocktake_id)).expected
    import_id = staged(conn, vanishing_csv(known))
    staging.run_sync(conn, first_chunk(import_id))

    answer = stocktake.scan(
        conn, stocktake_id=stocktake_id, code="VIS-0003", shelf=None, actor_id=librarian[0]
    )
    assert answer.result == stocktake_rules.UNKNOWN
    assert stocktake.progress(conn, stocktake.get(conn, stocktake_id)).expected == expected_before

    staging.run_sync(conn, remaining_chunks(import_id))
    staging.run_sync(conn, flip(import_id))
    progress = stocktake.progress(conn, stocktake.get(conn, stocktake_id))
    assert progress.expected == expected_before + ROWS
