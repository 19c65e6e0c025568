"""Bad input, generated: every form field and query parameter gets random and hostile text.

The forms are not listed by hand: every GET page of the app is rendered as an
anonymous visitor, a student and an admin, and each ``<form>`` on it is parsed
(html.parser), so a new form is fuzzed as soon as a page shows it. Whatever
arrives, the app must never answer 500, must explain a refusal on the page,
and must leave every table exactly as it was when it refuses a write.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import FileStorage

from webapp import create_app

from .conftest import make_settings
from .security_helpers import build_library, signed_in, table_checksums
from .test_security_matrix import _fill, routes

HOSTILE = [
    "' OR '1'='1",
    "1; DROP TABLE Books; --",
    "' UNION SELECT PasswordHash FROM Users --",
    '"',
    '""',
    "*",
    "a*",
    "NEAR(a b)",
    "title:x",
    "AND OR NOT",
    "^x",
    "(",
    ")",
    "-",
    "\\",
    "%",
    "_",
    "-1",
    "0",
    "-99999999999999999999999",
    "99999999999999999999999",
    "9223372036854775808",
    "1e308",
    "NaN",
    "0x10",
    "²",
    "٣",
    "①",
    "2026-02-30",
    "99999-01-01",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "=cmd|' /C calc'!A0",
    " ",
    "\t\r\n",
    "\u202e",
    "\ufeff",
]
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(HOSTILE),
    st.text(max_size=20).map(lambda text: text + "\x00" + text),
    st.integers(min_value=300, max_value=5000).map(lambda size: "x" * size),
    st.just("y" * 70_000),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
UPLOADS = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"title,author\n\xff\xfe\xc3(,x\n",
            b'\xef\xbb\xbftitle,author,isbn\n=HYPERLINK("x"),A,978-0-00-000000-0\n',
            b"title,author\nNUL\x00in,the middle\n",
            b"name,email,role\nMallory,m@example.org,Admin\n",
            b"00026nam a2200025 a 4500\x1e\x1d",
            b"<record xmlns='http://www.loc.gov/MARC21/slim'><datafield tag='245'>",
            b"title\n" + b"a" * 100_000 + b"\n",
        ]
    ),
)
QUERY_PARAMETERS = ("q", "page", "sort", "next", "go", "started", "map_title", "map_isbn")
# Pages whose forms start work in the background (a reminder run) or end the
# fuzzing session: their refusals are proved in test_security_http.py.
NOT_FUZZED = {"/logout", "/admin/reminders/run"}


@dataclass(frozen=True)
class Form:
    role: str | None
    method: str
    action: str
    fields: tuple[tuple[str, str], ...]  # (name, input type)

    @property
    def files(self) -> list[str]:
        return [name for name, kind in self.fields if kind == "file"]


class FormParser(HTMLParser):
    """The forms of a page: method, action, and the name and type of each field."""

    def __init__(self, page_url: str):
        super().__init__()
        self.page_url = page_url
        self.forms: list[tuple[str, str, list[tuple[str, str]]]] = []
        self._open: tuple[str, str, list] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            action = attributes.get("action") or self.page_url
            self._open = ((attributes.get("method") or "get").upper(), action, [])
        elif self._open and tag in ("input", "select", "textarea") and attributes.get("name"):
            kind = attributes.get("type", "text") if tag == "input" else tag
            self._open[2].append((attributes["name"], kind))

    def handle_endtag(self, tag):
        if tag == "form" and self._open:
            self.forms.append(self._open)
            self._open = None


class Site:
    """One app, its database and a signed-in client per role, on one event loop."""

    def __init__(self, database):
        self.database = database
        self.loop = asyncio.new_event_loop()
        self.app = create_app(make_settings(database))
        self.test_app = self.app.test_app()
        self.run(self.test_app.startup())
        self.clients = {}
        self.tokens = {}
        for role in (None, "student", "admin"):
            client = self.test_app.test_client()
            self.tokens[role] = self.run(signed_in(client, role))
            self.clients[role] = client

    def run(self, coroutine):
        result = self.loop.run_until_complete(coroutine)
        # A request may leave work in the background (an email sent at once after a
        # password link is asked for): it ends before the next example reads the database.
        sending = [
            task
            for task in asyncio.all_tasks(self.loop)
            if not task.done() and task.get_coro().__qualname__ == "SendNow._run"
        ]
        if sending:
            self.loop.run_until_complete(asyncio.wait(sending, timeout=30))
        return result

    def close(self):
        self.run(self.test_app.shutdown())
        self.loop.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = tmp_path_factory.mktemp("input") / "library.sqlite3"
    records = build_library(path)
    site = Site(path)
    # An upload waiting for confirmation, so the preview page shows its mapping form.
    site.run(
        site.clients["admin"].post(
            "/admin/import",
            form={"kind": "books", "csrf_token": site.tokens["admin"]},
            files={
                "file": FileStorage(io.BytesIO(b"title,author\nDune,Frank Herbert\n"), "books.csv")
            },
        )
    )
    # Alice at the desk, so the desk shows its renew and hold forms too.
    site.run(
        site.clients["admin"].post(
            "/desk/scan", form={"code": "S0001", "csrf_token": site.tokens["admin"]}
        )
    )
    site.records = records
    site.forms = site.run(discover_forms(site, records))
    yield site
    site.close()


async def discover_forms(site: Site, records) -> list[Form]:
    values = records.url_values()
    found: dict[tuple, Form] = {}
    for role, client in site.clients.items():
        for endpoint, method, rule in routes(site.app):
            if method != "GET" or endpoint == "static":
                continue
            url = rule.rule
            for name in rule.arguments:
                url = _fill(url, name, values[name])
            response = await client.get(url)
            if (
                response.mimetype != "text/html"
                or response.status_code != 200
                and endpoint != "import_export.import_preview"
            ):
                continue
            parser = FormParser(url)
            parser.feed(await response.get_data(as_text=True))
            for form_method, action, fields in parser.forms:
                path = urlsplit(action).path
                if path in NOT_FUZZED:
                    continue
                fields = tuple(sorted(set(field for field in fields if field[0] != "csrf_token")))
                found.setdefault(
                    (role, form_method, path, fields), Form(role, form_method, path, fields)
                )
            query_fields = tuple((name, "text") for name in QUERY_PARAMETERS)
            found.setdefault((role, "GET", url, query_fields), Form(role, "GET", url, query_fields))
    return list(found.values())


def test_the_crawl_finds_the_forms_of_every_area(site):
    actions = {(form.role, form.method, form.action) for form in site.forms}
    for expected in (
        (None, "POST", "/login"),
        (None, "GET", "/search"),
        # Alice's loan is overdue, so My account says why it cannot be renewed instead of
        # offering a Renew form (webapp/loan_advice.py): her account's form is Cancel hold.
        ("student", "POST", f"/account/holds/{site.records.hold_id}/cancel"),
        ("admin", "POST", "/desk/scan"),
        ("admin", "POST", "/books/new"),
        ("admin", "POST", "/patrons/new"),
        ("admin", "POST", "/admin/rules"),
        ("admin", "POST", "/desk/renew"),
        ("admin", "POST", "/desk/hold"),
        ("admin", "POST", "/admin/import"),
        ("admin", "POST", "/admin/import/confirm"),
        ("admin", "POST", "/settings/barcodes"),
        ("admin", "POST", f"/copies/{site.records.copy_id}/edit"),
        ("admin", "GET", "/patrons"),
    ):
        assert expected in actions, expected


async def send(site: Site, form: Form, values: dict[str, str], upload: bytes | None):
    client = site.clients[form.role]
    if form.method == "GET":
        return await client.get(form.action, query_string=values)
    files = None
    if form.files:
        files = {name: FileStorage(io.BytesIO(upload or b""), "upload.csv") for name in form.files}
    return await client.post(
        form.action, form={**values, "csrf_token": site.tokens[form.role]}, files=files
    )


async def body_of(response) -> str:
    """The answer's text; a PDF (labels, library cards) must at least be one."""
    if response.mimetype == "application/pdf":
        data = await response.get_data()
        assert data.startswith(b"%PDF-"), "a PDF answer that is not a PDF"
        return "(a PDF)"
    return await response.get_data(as_text=True)


# Refusals that are recorded on purpose: failed sign-ins (for throttling), and a wrong
# current password on Change password (an account event admins see).
RECORDS_OF_FAILURE = {
    "/login": frozenset({"LoginFailures", "Sessions", "Events"}),
    "/account/password": frozenset({"Events"}),
}


def assert_answered_clearly(response, body: str, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}\n{body[:2000]}"
    if 400 <= response.status_code < 500 and response.mimetype == "text/html":
        assert "flash error" in body or "field-error" in body, f"{what}: no message\n{body[:2000]}"


@settings(max_examples=160, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_values_in_every_field_never_break_the_app_and_refusals_change_nothing(site, data):
    form = data.draw(st.sampled_from(site.forms), label="form")
    names = [name for name, kind in form.fields if kind != "file"]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True) if names else st.just([]))
    values = {name: data.draw(VALUES, label=name) for name in chosen}
    upload = data.draw(UPLOADS, label="upload") if form.files else None
    ignore = RECORDS_OF_FAILURE.get(form.action, frozenset())
    before = table_checksums(site.database, ignore)
    response = site.run(send(site, form, values, upload))
    body = site.run(body_of(response))
    what = f"{form.role} {form.method} {form.action} {values!r}"[:3000]
    assert_answered_clearly(response, body, what)
    if form.method == "GET" or response.status_code >= 400:
        assert table_checksums(site.database, ignore) == before, f"{what} changed the database"
    if form.action == "/admin/import" and response.status_code == 303:
        preview = site.run(site.clients["admin"].get("/admin/import/preview"))
        assert_answered_clearly(
            preview, site.run(preview.get_data(as_text=True)), "preview of " + what
        )


# Each of these in every field of a form at once: the values that broke number
# and date parsing before, whatever the random examples above happen to draw.
EVERY_FIELD_VALUES = (
    "²",
    "-1",
    "99999999999999999999999",
    "9223372036854775808",
    "\x00",
    "y" * 70_000,
    "' OR '1'='1",
    '"',
    "2026-02-30",
    " ",
)


def test_each_awkward_value_in_every_field_of_every_form_is_refused_cleanly(site):
    for form in site.forms:
        if form.method != "POST" or not [kind for _, kind in form.fields if kind != "file"]:
            continue
        for value in EVERY_FIELD_VALUES:
            values = {name: value for name, kind in form.fields if kind != "file"}
            ignore = RECORDS_OF_FAILURE.get(form.action, frozenset())
            before = table_checksums(site.database, ignore)
            response = site.run(send(site, form, values, value.encode()))
            body = site.run(body_of(response))
            what = f"{form.role} {form.method} {form.action} {value[:20]!r}"
            assert_answered_clearly(response, body, what)
            if response.status_code >= 400:
                assert table_checksums(site.database, ignore) == before, (
                    f"{what} changed the database"
                )


ID_ROUTES = st.sampled_from(
    [
        "/books/{}",
        "/books/{}/edit",
        "/books/{}/copies",
        "/copies/{}/edit",
        "/patrons/{}",
        "/patrons/{}/edit",
        "/admin/mailbox/{}",
        "/admin/mailbox/{}/html",
        "/copies/{}",
    ]
)
POST_ID_ROUTES = st.sampled_from(
    [
        "/books/{}/withdraw",
        "/books/{}/reinstate",
        "/books/{}/delete",
        "/books/{}/hold",
        "/copies/{}/delete",
        "/patrons/{}/delete",
        "/patrons/{}/desk",
        "/account/loans/{}/renew",
        "/account/holds/{}/cancel",
        "/admin/rules/closed-days/{}/delete",
    ]
)
UNKNOWN_IDS = st.one_of(
    st.integers(min_value=10**6, max_value=2**80),
    st.integers(max_value=-1),
    st.sampled_from(["0", "00", "1.5", "%00", "x", "9" * 40, "%2e%2e", "a%20b"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_unknown_or_malformed_ids_in_urls_answer_not_found(site, data):
    post = data.draw(st.booleans(), label="post")
    template = data.draw(POST_ID_ROUTES if post else ID_ROUTES, label="route")
    url = template.format(data.draw(UNKNOWN_IDS, label="id"))
    before = table_checksums(site.database)
    client = site.clients["admin"]
    if post:
        response = site.run(client.post(url, form={"csrf_token": site.tokens["admin"]}))
    else:
        response = site.run(client.get(url))
    body = site.run(response.get_data(as_text=True))
    assert response.status_code == 404, f"{url}: {response.status_code}\n{body[:1000]}"
    assert "flash error" in body
    assert table_checksums(site.database) == before
