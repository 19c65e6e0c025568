"""A patron's data over HTTP: deleting a patron (shown first, refused while items are out),
"Download my data" as JSON and CSV, keeping one's own history, and the retention setting."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

from webapp.jobs.privacy import run_anonymisation

from webapp.clock import library_today
from webapp.db import Database, connect_sync
from webapp.models import holds, privacy

from . import test_circulation_http as circulation
from .conftest import log_in
from .security_helpers import table_checksums
from .test_circulation_http import add_book, add_patron, sql

demo_database = circulation.demo_database
desk = circulation.desk
today = circulation.today


async def lend_and_return(desk, card: str, barcodes: tuple[str, ...], keep_out: int = 0) -> None:
    """At the real desk: select the patron, lend each copy, return all but the last
    ``keep_out``."""
    await desk.scan(card)
    for barcode in barcodes:
        response, html = await desk.scan(barcode, mode="lend")
        assert response.status_code == 200, html
    for barcode in barcodes[: len(barcodes) - keep_out]:
        response, html = await desk.scan(barcode, mode="return")
        assert response.status_code == 200, html


async def test_a_patron_with_items_out_cannot_be_deleted_and_is_told_which(desk, settings):
    zoe = add_patron(settings, "Zoe Quill", "S7001")
    add_book(settings, "Kept Out", ("KO1",))
    await lend_and_return(desk, "S7001", ("KO1",), keep_out=1)
    client = desk.client

    page = await client.get(f"/patrons/{zoe}/erase")
    html = await page.get_data(as_text=True)
    assert page.status_code == 409
    assert "still has 1 item(s) out" in html and "Kept Out (KO1)" in html
    assert "for good</button>" not in html

    before = table_checksums(settings.database)
    refused = await client.post(f"/patrons/{zoe}/erase", form={"csrf_token": desk.token})
    assert refused.status_code == 409
    assert "Kept Out (KO1)" in await refused.get_data(as_text=True)
    assert table_checksums(settings.database) == before


async def test_deleting_a_patron_shows_what_will_happen_then_anonymises_and_removes_them(
    desk, settings
):
    zoe = add_patron(settings, "Zoe Quill", "S7001")
    sql(settings, "UPDATE Users SET GroupName = 'Year 9' WHERE UserID = ?", (zoe,))
    add_book(settings, "Read Once", ("RO1", "RO2"))
    held_book = add_book(settings, "Waited For", ("WF1",))
    add_patron(settings, "Other Reader", "S7002")
    await lend_and_return(desk, "S7002", ("WF1",), keep_out=1)
    await lend_and_return(desk, "S7001", ("RO1", "RO2"))
    conn = connect_sync(settings.database)
    conn.execute("BEGIN IMMEDIATE")
    holds.place_hold(conn, book_id=held_book, patron_id=zoe, actor_id=zoe)
    conn.execute("COMMIT")
    conn.close()
    client = desk.client

    page = await client.get(f"/patrons/{zoe}/erase")
    html = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert "1 hold(s) waiting or ready will be cancelled" in html
    assert "2 returned loan(s) and 1 hold(s) will no longer name Zoe Quill" in html
    assert "Student, Year 9" in html
    assert 'method="post"' in html and "Delete Zoe Quill for good" in html

    done = await client.post(f"/patrons/{zoe}/erase", form={"csrf_token": desk.token})
    assert done.status_code == 303 and done.headers["Location"].endswith("/patrons")
    after = await client.get("/patrons")
    assert "account was deleted" in await after.get_data(as_text=True)

    assert sql(settings, "SELECT count(*) FROM Users WHERE UserID = ?", (zoe,))[0][0] == 0
    loans = sql(
        settings,
        "SELECT l.UserID, l.BorrowerRole, l.BorrowerGroup, l.AnonymisedAt, c.Barcode "
        "FROM Loans l JOIN Copies c USING (CopyID) WHERE c.Barcode IN ('RO1', 'RO2')",
    )
    assert [(row[0], row[1], row[2], row[3] is not None) for row in loans] == [
        (None, "Student", "Year 9", True)
    ] * 2
    assert (
        sql(settings, "SELECT count(*) FROM Events WHERE UserID = ? OR ActorID = ?", (zoe, zoe))[0][
            0
        ]
        == 0
    )
    assert sql(settings, "SELECT Status, UserID FROM Holds WHERE BookID = ?", (held_book,))[0][
        :
    ] == ("cancelled", None)
    redaction = sql(
        settings, "SELECT ActorID, Detail FROM Events WHERE Kind = 'redaction' ORDER BY EventID"
    )[-1]
    assert "Zoe" not in redaction["Detail"] and f"account {zoe} deleted" in redaction["Detail"]
    conn = connect_sync(settings.database)
    assert privacy.event_log_problems(conn) == []
    conn.close()
    gone = await client.get(f"/patrons/{zoe}/erase")
    assert gone.status_code == 404
    # The loans export still counts both loans, naming nobody.
    export = await (await client.get("/admin/export/loans.csv")).get_data(as_text=True)
    rows = [row for row in csv.DictReader(io.StringIO(export.lstrip("\ufeff")))]
    read_once = [row for row in rows if row["title"] == "Read Once"]
    assert len(read_once) == 2 and {row["patron_name"] for row in read_once} == {""}


async def test_staff_accounts_are_deactivated_not_deleted(desk, settings):
    bob = sql(settings, "SELECT UserID FROM Users WHERE Email = 'bob@example.com'")[0][0]
    page = await desk.client.get(f"/patrons/{bob}/erase")
    assert page.status_code == 409
    assert "staff account" in await page.get_data(as_text=True)
    refused = await desk.client.post(f"/patrons/{bob}/erase", form={"csrf_token": desk.token})
    assert refused.status_code == 409
    assert sql(settings, "SELECT count(*) FROM Users WHERE UserID = ?", (bob,))[0][0] == 1


async def test_a_patron_downloads_their_own_data_as_json_and_csv_and_nobody_elses(app, settings):
    client = app.test_client()
    await log_in(client, "alice@example.com")
    alice = sql(settings, "SELECT UserID FROM Users WHERE Email = 'alice@example.com'")[0][0]
    own_titles = {
        row[0]
        for row in sql(
            settings,
            "SELECT b.Title FROM Loans l JOIN Books b USING (BookID) WHERE l.UserID = ?",
            (alice,),
        )
    }
    others = {
        row[0]
        for row in sql(
            settings,
            "SELECT b.Title FROM Loans l JOIN Books b USING (BookID) WHERE l.UserID <> ?",
            (alice,),
        )
    } - own_titles
    assert own_titles and others

    account = await (await client.get("/account")).get_data(as_text=True)
    assert "/account/data.json" in account and "/account/data.zip" in account

    response = await client.get("/account/data.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(await response.get_data(as_text=True))
    assert set(data) == set(privacy.DATA_SECTIONS)
    assert data["profile"][0]["email"] == "alice@example.com"
    assert "PasswordHash" not in json.dumps(data) and data["profile"][0]["has_password"] == 1
    assert {loan["title"] for loan in data["loans"]} == own_titles
    assert data["sign_ins"] and data["sign_ins"][0]["kind"] == "session"
    assert not others & {loan["title"] for loan in data["loans"]}

    response = await client.get("/account/data.zip")
    assert response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await response.get_data()))
    assert sorted(archive.namelist()) == sorted(f"{s}.csv" for s in privacy.DATA_SECTIONS)
    loans = list(csv.DictReader(io.StringIO(archive.read("loans.csv").decode("utf-8-sig"))))
    assert {row["title"] for row in loans} == own_titles
    assert len(loans) == len(data["loans"])


async def test_staff_produce_the_same_data_for_a_patron(desk, settings):
    alice = sql(settings, "SELECT UserID FROM Users WHERE Email = 'alice@example.com'")[0][0]
    page = await (await desk.client.get(f"/patrons/{alice}")).get_data(as_text=True)
    assert f"/patrons/{alice}/data.json" in page and f"/patrons/{alice}/erase" in page
    response = await desk.client.get(f"/patrons/{alice}/data.json")
    data = json.loads(await response.get_data(as_text=True))
    assert data["profile"][0]["email"] == "alice@example.com" and data["loans"]
    assert (await desk.client.get("/patrons/999999/data.json")).status_code == 404


async def test_a_patron_who_keeps_their_history_keeps_it_through_the_nightly_run(app, settings):
    client = app.test_client()
    token = await log_in(client, "alice@example.com")
    alice = sql(settings, "SELECT UserID FROM Users WHERE Email = 'alice@example.com'")[0][0]
    saved = await client.post("/account/privacy", form={"csrf_token": token, "keep_history": "on"})
    assert saved.status_code == 303
    account = await (await client.get("/account")).get_data(as_text=True)
    assert 'name="keep_history" checked' in account

    conn = connect_sync(settings.database)
    conn.execute("BEGIN IMMEDIATE")
    privacy.save_retention_days(conn, 30, actor_id=alice)
    conn.execute("COMMIT")
    conn.close()
    day = library_today(settings)
    other = add_patron(settings, "Other Reader", "S7002")
    for number, patron in enumerate((alice, alice, other)):
        book = add_book(settings, f"Read Last Term {number}", (f"LT{number}",))
        sql(
            settings,
            "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt) "
            "SELECT ?, ?, CopyID, ?, ?, ? FROM Copies WHERE BookID = ?",
            (
                patron,
                book,
                (day - timedelta(days=120)).isoformat(),
                (day - timedelta(days=106)).isoformat(),
                f"{(day - timedelta(days=100)).isoformat()}T10:00:00Z",
                book,
            ),
        )
    returned = "SELECT count(*) FROM Loans WHERE UserID = ? AND ReturnedAt IS NOT NULL"
    kept = sql(settings, returned, (alice,))[0][0]
    assert kept == 2
    others_before = sql(settings, "SELECT count(*) FROM Loans WHERE UserID IS NULL")[0][0]
    async with Database(settings.database) as db:
        await run_anonymisation(db, library_today(settings))
    assert sql(settings, returned, (alice,))[0][0] == kept
    assert sql(settings, returned, (other,))[0][0] == 0
    assert sql(settings, "SELECT count(*) FROM Loans WHERE UserID IS NULL")[0][0] > others_before


async def test_admins_set_the_retention_period_and_see_what_tonight_will_do(app, settings):
    client = app.test_client()
    token = await log_in(client, "carol@example.com")
    page = await (await client.get("/admin/privacy")).get_data(as_text=True)
    assert "Recommended: 400 days" in page and "Retention is off" in page
    assert 'id="event-log-ok"' in page

    before = table_checksums(settings.database)
    for typed in ("5", "abc", "99999"):
        refused = await client.post(
            "/admin/privacy", form={"csrf_token": token, "retention_days": typed}
        )
        assert refused.status_code == 422
        assert "Nothing was saved" in await refused.get_data(as_text=True)
    assert table_checksums(settings.database) == before

    saved = await client.post("/admin/privacy", form={"csrf_token": token, "retention_days": "60"})
    assert saved.status_code == 303
    page = await (await client.get("/admin/privacy")).get_data(as_text=True)
    assert "keep their borrower for 60 days" in page and "Tonight's run will anonymise" in page
    assert (
        sql(settings, "SELECT Value FROM LibrarySettings WHERE Key = 'retention_days'")[0][0]
        == "60"
    )
    assert sql(settings, "SELECT Detail FROM Events WHERE Kind = 'privacy_changed'")[-1][0] == (
        "returned loans keep their borrower for 60 days"
    )
