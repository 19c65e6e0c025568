"""Desks lending the same copy at the same instant: the database lets exactly one win,
whether one server process answers them or several workers do."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from webapp.db import connect_sync
from webapp.demo import DEMO_PASSWORD

from .server import running_server

DESKS = 20
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
# The patron the desk shows, which every scan sends back (as the desk page does).
SHOWN_PATRON = re.compile(r'<input type="hidden" id="desk-patron" name="patron" value="(\d+)"')
# Hypercorn's access log names the process that answered: "[pid] [INFO] … "POST /desk/scan".
SCAN_ANSWERED_BY = re.compile(
    r'^\S+ \S+ \S+\] \[(\d+)\] \[INFO\] .*"POST /desk/scan ', re.MULTILINE
)


@pytest.fixture
def demo_database(demo_copy):
    """The demo library, copied from the session's template rather than generated again."""
    return demo_copy


def _prepare(database) -> list[str]:
    """One copy on the shelf and a patron in good standing for each desk; returns their cards."""
    conn = connect_sync(database)
    try:
        book_id = conn.execute("INSERT INTO Books (Title) VALUES ('Contested Copy')").lastrowid
        conn.execute("INSERT INTO Copies (BookID, Barcode) VALUES (?, 'RACE-1')", (book_id,))
        cards = [f"R{number:03d}" for number in range(DESKS)]
        conn.executemany(
            "INSERT INTO Users (Name, Role, CardNumber) VALUES (?, 'Student', ?)",
            [(f"Racer {card}", card) for card in cards],
        )
        return cards
    finally:
        conn.close()


async def _desk_session(base_url: str, card: str) -> tuple[httpx.AsyncClient, dict[str, str]]:
    """A librarian signed in on their own desk with the patron ``card`` selected.

    Every request opens a connection of its own, so that with several workers each
    request may be answered by any of them, as behind a browser's many connections.
    """
    client = httpx.AsyncClient(
        base_url=base_url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
    )
    page = await client.get("/login")
    token = CSRF_META.search(page.text).group(1)
    response = await client.post(
        "/login", data={"email": "bob@example.com", "password": DEMO_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.text
    token = CSRF_META.search((await client.get("/desk")).text).group(1)
    selected = await client.post(
        "/desk/scan", data={"code": card, "csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert selected.status_code == 200, selected.text
    return client, {"csrf_token": token, "patron": SHOWN_PATRON.search(selected.text).group(1)}


@pytest.mark.parametrize("workers", [1, 2])
async def test_twenty_desks_lending_one_copy_at_once_give_one_loan_and_nineteen_refusals(
    demo_database, tmp_path, workers
):
    cards = _prepare(demo_database)
    log_path = tmp_path / "server.log"
    with running_server(demo_database, log_path, SHELFMARK_WORKERS=str(workers)) as base_url:
        desks = await asyncio.gather(*(_desk_session(base_url, card) for card in cards))
        try:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/desk/scan",
                        data={"code": "RACE-1", "mode": "lend", **desk_fields},
                        headers={"HX-Request": "true"},
                    )
                    for client, desk_fields in desks
                )
            )
        finally:
            await asyncio.gather(*(client.aclose() for client, _ in desks))

    lent = [response for response in responses if response.status_code == 200]
    refused = [response for response in responses if response.status_code == 422]
    assert len(lent) == 1 and "Lent: Contested Copy to Racer" in lent[0].text
    assert len(refused) == DESKS - 1
    assert all("Contested Copy (RACE-1) is already on loan to Racer" in r.text for r in refused)
    assert not any("database is locked" in response.text for response in responses)
    log = log_path.read_text()
    assert "database is locked" not in log
    assert len(set(SCAN_ANSWERED_BY.findall(log))) == workers

    conn = connect_sync(demo_database)
    try:
        open_loans = conn.execute(
            "SELECT count(*) FROM Loans l JOIN Copies c ON c.CopyID = l.CopyID "
            "WHERE c.Barcode = 'RACE-1' AND l.ReturnedAt IS NULL"
        ).fetchone()[0]
        lend_events = conn.execute(
            "SELECT count(*) FROM Events e JOIN Copies c ON c.CopyID = e.CopyID "
            "WHERE c.Barcode = 'RACE-1' AND e.Kind = 'lend'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert open_loans == 1 and lend_events == 1
