"""A large import and the desk at once, against a real Hypercorn server (#17 item 4).

A librarian previews and confirms a CSV of thousands of books while a desk scans a
copy over and over: every scan is answered (no 500, never "database is locked"), the
desk's scans are answered between the import's batches rather than after it, also
while the publication writes the rows into the catalogue, and no reader ever sees part
of the import in the catalogue. The latency figures at a
million rows come from ``python -m bench.import_contention --full``.
"""

from __future__ import annotations

from bench.import_contention import build_library, contend, write_csv

from .server import running_server

ROWS = 20_000


async def test_desk_scans_are_answered_during_a_large_import_which_appears_all_at_once(
    tmp_path,
):
    database = tmp_path / "library.sqlite3"
    build_library(database)
    csv_path = tmp_path / "books.csv"
    write_csv(csv_path, ROWS)
    log_path = tmp_path / "server.log"

    with running_server(database, log_path) as base_url:
        result = await contend(base_url, database, csv_path, ROWS)

    assert (result.preview_status, result.confirm_status) == (200, 303)
    assert result.scans, "no desk scan ran during the import"
    assert [scan.status for scan in result.scans] == [200] * len(result.scans)
    assert not any(scan.locked for scan in result.scans)
    assert "database is locked" not in log_path.read_text()
    # The desk took turns with the import: scans answered while it was part-way through.
    assert any(0 < scan.staged_seen < ROWS for scan in result.scans if scan.phase == "preview")
    # And while its rows were being written into the catalogue (before the flip): such
    # scans were answered 200 like every other (checked above).
    assert any(scan.during_publication for scan in result.scans)
    # All or nothing: a reader saw none of the import, then all of it.
    assert {scan.imported_seen for scan in result.scans} <= {0, ROWS}
    assert result.imported_after == ROWS
