"""Issue 17's attacks, made again: against a real Hypercorn server, sign-in guesses sent all
at once, bodies too large or with too many fields (declared or chunked), redirects off the
site after sign-in, and a lockout of one address by guesses from another; with the test
client, what a browser may store and an impossible static file name."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import httpx
import pytest

from webapp.db import connect_sync
from webapp.demo import DEMO_PASSWORD

from .conftest import log_in
from .server import launch_server, running_server, wait_until_up

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
STATUS_LINE = re.compile(rb"^HTTP/1\.1 (\d{3}) ")


@pytest.fixture
def demo_database(demo_copy):
    """The demo library, copied from the session's template rather than generated again."""
    return demo_copy


def _rows(database: Path, statement: str, params=()) -> list:
    conn = connect_sync(database)
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


async def _login_form(client: httpx.AsyncClient) -> str:
    """A CSRF token for ``client``'s session, from the login page."""
    return CSRF_META.search((await client.get("/login")).text).group(1)


async def _guesses(base_url: str, passwords: list[str], email: str = "bob@example.com"):
    """``passwords`` for ``email`` sent at the same moment, one connection each."""
    async with httpx.AsyncClient(
        base_url=base_url, timeout=120, limits=httpx.Limits(max_connections=len(passwords))
    ) as client:
        token = await _login_form(client)
        return await asyncio.gather(
            *(
                client.post(
                    "/login", data={"email": email, "password": password, "csrf_token": token}
                )
                for password in passwords
            )
        )


# Item 1 ---------------------------------------------------------------------------------


async def test_two_hundred_simultaneous_guesses_get_at_most_five_password_checks(
    demo_database,
):
    with running_server(demo_database) as base_url:
        answers = await _guesses(base_url, [f"guess {number}" for number in range(200)])
    checked = [answer for answer in answers if answer.status_code == 401]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(checked) + len(refused) == 200
    assert 1 <= len(checked) <= 5
    assert all("Too many failed sign-in attempts" in answer.text for answer in refused)
    recorded = _rows(
        demo_database, "SELECT count(*) FROM LoginFailures WHERE Email = 'bob@example.com'"
    )[0][0]
    assert recorded == len(checked)


async def test_the_right_password_at_the_end_of_a_burst_of_guesses_is_refused(demo_database):
    with running_server(demo_database) as base_url:
        answers = await _guesses(base_url, [f"guess {number}" for number in range(59)] + ["demo"])
    right = answers[-1]
    assert right.status_code == 429, right.text
    assert "Too many failed sign-in attempts" in right.text
    assert _rows(demo_database, "SELECT count(*) FROM Sessions")[0][0] == 0


async def test_twenty_desks_signing_in_as_one_librarian_at_the_same_moment_all_get_in(
    demo_database,
):
    async def desk(base_url: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            return await _sign_in(client, "bob@example.com", DEMO_PASSWORD)

    with running_server(demo_database) as base_url:
        answers = await asyncio.gather(*(desk(base_url) for _ in range(20)))
    assert [answer.status_code for answer in answers] == [302] * 20, [
        re.findall(r"Too many[^<]*", answer.text) for answer in answers
    ]
    assert _rows(demo_database, "SELECT count(*) FROM LoginFailures")[0][0] == 0


# Item 6 ---------------------------------------------------------------------------------


def _client_from(base_url: str, address: str) -> httpx.AsyncClient:
    """A client whose connections come from ``address`` (any 127.x.y.z reaches loopback)."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=30,
        transport=httpx.AsyncHTTPTransport(local_address=address),
    )


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    token = await _login_form(client)
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )


async def test_guesses_from_elsewhere_do_not_lock_the_librarian_out_of_her_desk(demo_database):
    with running_server(demo_database) as base_url:
        async with _client_from(base_url, "127.0.0.2") as attacker:
            answers = [await _sign_in(attacker, "bob@example.com", "guess") for _ in range(7)]
            assert [answer.status_code for answer in answers] == [401] * 5 + [429] * 2
            # The attacker's address stays refused for this account, right password or not.
            assert (await _sign_in(attacker, "bob@example.com", DEMO_PASSWORD)).status_code == 429
        async with _client_from(base_url, "127.0.0.1") as librarian:
            answer = await _sign_in(librarian, "bob@example.com", DEMO_PASSWORD)
            assert answer.status_code == 302, answer.text
            assert answer.headers["Location"] == "/dashboard"


async def test_twenty_mistyped_passwords_behind_one_school_address_cost_seconds_not_a_lockout(
    demo_database,
):
    with running_server(demo_database) as base_url:
        async with _client_from(base_url, "127.0.0.3") as school:
            for pupil in range(20):
                answer = await _sign_in(school, f"pupil{pupil}@example.com", "mistyped")
                assert answer.status_code == 401
            # At most a pause of a second or two (it may be over before the pupil is back).
            answer = await _sign_in(school, "alice@example.com", DEMO_PASSWORD)
            if answer.status_code == 429:
                assert int(answer.headers["Retry-After"]) <= 2, answer.text
                await asyncio.sleep(int(answer.headers["Retry-After"]) + 1)
                answer = await _sign_in(school, "alice@example.com", DEMO_PASSWORD)
            assert answer.status_code == 302, answer.text


# Item 2 ---------------------------------------------------------------------------------


async def _raw_exchange(port: int, head: bytes, body_chunks) -> bytes:
    """Send ``head`` then the chunks of ``body_chunks`` until the server answers; return what it
    said (``head`` asks it to close the connection after answering). A server that answers
    before the body is all sent stops the sending."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answered = asyncio.Event()

    async def read_answer() -> bytes:
        reply = await reader.read(65536)
        answered.set()
        # A write that found the connection closed ends the reading too, with what came.
        with contextlib.suppress(ConnectionError):
            while more := await reader.read(65536):
                reply += more
        return reply

    answer = asyncio.ensure_future(read_answer())
    try:
        # The server may close the connection as soon as it has answered.
        with contextlib.suppress(ConnectionError):
            writer.write(head)
            await writer.drain()
            for chunk in body_chunks:
                if answered.is_set():
                    break
                writer.write(chunk)
                await writer.drain()
        return await asyncio.wait_for(answer, timeout=60)
    finally:
        writer.close()


def _status(reply: bytes) -> int:
    match = STATUS_LINE.match(reply)
    assert match, reply[:300]
    return int(match.group(1))


def _peak_memory_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


def _declared_post(path: str, length: int, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()


async def test_large_anonymous_posts_to_login_are_refused_before_the_server_holds_them(
    demo_database, tmp_path
):
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        server, port = launch_server(demo_database, log)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", server, log_path)
        before = _peak_memory_kib(server.pid)
        size = 31 * 1024 * 1024
        chunk = b"a" * (64 * 1024)
        head = _declared_post("/login", size, "application/x-www-form-urlencoded")
        replies = await asyncio.gather(
            *(_raw_exchange(port, head, [chunk] * (size // len(chunk))) for _ in range(25))
        )
        assert [_status(reply) for reply in replies] == [413] * 25
        # Answered on the headers alone, with the reason, before a byte of the body.
        assert b"more than Shelfmark accepts" in await _raw_exchange(port, head, [])
        # 25 bodies of 31 MB held at once would be 775 MB; refused, they leave no trace.
        assert _peak_memory_kib(server.pid) - before < 100 * 1024
        # The server still answers.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(demo_database):
    head = (
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
    )
    piece = b"a" * 4096
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 256 + [b"0\r\n\r\n"]
    with running_server(demo_database) as base_url:
        reply = await _raw_exchange(int(base_url.rsplit(":", 1)[1]), head, chunks)
    assert _status(reply) == 413


async def test_forms_with_too_many_fields_are_refused_whatever_their_encoding(demo_database):
    many = b"&".join(b"f%d=" % number for number in range(100_000))
    few_bytes_many_fields = b"&".join([b"x"] * 300)
    boundary = "shelfmarkboundary"
    parts = b"".join(
        b'--%s\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n\r\n'
        % (boundary.encode(), number)
        for number in range(300)
    )
    multipart = parts + b"--%s--\r\n" % boundary.encode()
    with running_server(demo_database) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        urlencoded = "application/x-www-form-urlencoded"
        replies = {
            "100,000 fields": await _raw_exchange(
                port, _declared_post("/login", len(many), urlencoded), [many]
            ),
            "300 short fields": await _raw_exchange(
                port,
                _declared_post("/login", len(few_bytes_many_fields), urlencoded),
                [few_bytes_many_fields],
            ),
            "300 multipart fields": await _raw_exchange(
                port,
                _declared_post(
                    "/login", len(multipart), f"multipart/form-data; boundary={boundary}"
                ),
                [multipart],
            ),
        }
    assert {what: _status(reply) for what, reply in replies.items()} == {
        what: 413 for what in replies
    }


async def test_a_signed_in_librarian_gets_the_same_form_limit_but_may_upload_an_import(
    demo_database,
):
    rows = "title,author\n" + "".join(f"Book {number},Author {number}\n" for number in range(20000))
    with running_server(demo_database) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            answer = await _sign_in(client, "carol@example.com", DEMO_PASSWORD)
            assert answer.status_code == 302
            token = CSRF_META.search((await client.get("/admin/import")).text).group(1)
            too_big = await client.post(
                "/desk/scan", data={"code": "x" * 40_000, "csrf_token": token}
            )
            assert too_big.status_code == 413
            # The refused body was never read, so that connection closes, and says so:
            # the upload goes on a new one instead of into a closing one.
            assert too_big.headers["Connection"] == "close"
            upload = await client.post(
                "/admin/import",
                data={"kind": "books", "csrf_token": token},
                files={"file": ("books.csv", rows.encode(), "text/csv")},
            )
            assert len(rows) > 400_000
            assert upload.status_code == 303, upload.text
            assert upload.headers["Location"].endswith("/admin/import/preview")


# Item 3 ---------------------------------------------------------------------------------


async def test_a_tab_in_next_cannot_send_a_signed_in_reader_off_the_site(demo_database):
    with running_server(demo_database) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            token = await _login_form(client)
            signed_in = await client.post(
                "/login?next=/%09/evil.example",
                data={
                    "email": "alice@example.com",
                    "password": DEMO_PASSWORD,
                    "next": "/\t/evil.example",
                    "csrf_token": token,
                },
            )
            assert signed_in.status_code == 302
            assert signed_in.headers["Location"] == "/account"
            for raw in ("/%09/evil.example", "/%0D%0ALocation:%20//evil.example", "/%0B", "/%00"):
                again = await client.get(f"/login?next={raw}")
                assert again.status_code == 302, raw
                assert again.headers["Location"] == "/account", raw


# Item 5 ---------------------------------------------------------------------------------


async def test_nothing_a_signed_in_reader_sees_may_be_stored_but_public_pages_may(app):
    client = app.test_client()
    anonymous = {path: await client.get(path) for path in ("/search", "/books/1", "/login")}
    assert all("no-store" not in r.headers.get("Cache-Control", "") for r in anonymous.values())
    # A staff page's answer to a stranger (the way to sign in) is not stored either.
    assert (await client.get("/desk")).headers["Cache-Control"] == "no-store"
    await log_in(client, "alice@example.com")
    for path in ("/account", "/search", "/books/1", "/no-such-page"):
        response = await client.get(path)
        assert response.headers["Cache-Control"] == "no-store", path
    assert "no-store" not in (await client.get("/static/shelfmark.css")).headers.get(
        "Cache-Control", ""
    )
    librarian = app.test_client()
    await log_in(librarian, "bob@example.com")
    for path in ("/desk", "/dashboard", "/patrons"):
        response = await librarian.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"


# Item 11 --------------------------------------------------------------------------------


async def test_a_static_file_name_too_long_for_the_file_system_is_not_found(client):
    for name in ("a" * 256, "a" * 4000, "x/" + "b" * 300 + ".css"):
        response = await client.get(f"/static/{name}")
        assert response.status_code == 404, name
        assert "There is no such page" in await response.get_data(as_text=True)
    assert (await client.get("/static/shelfmark.css")).status_code == 200
