"""/metrics: who may read it, and that what it reports follows what happened."""

from __future__ import annotations

import os
import re
import sqlite3
import urllib.request
from datetime import UTC, date, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from webapp import create_app
from webapp.config import Settings
from webapp.db import Database
from webapp.models import job_runs

from .conftest import log_in
from .server import running_server

ROLE_EMAILS = {"student": "alice@example.com", "librarian": "bob@example.com"}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus's text format (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


async def scrape(client, **request_options) -> str:
    response = await client.get("/metrics", **request_options)
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return await response.get_data(as_text=True)


async def test_anonymous_visitors_are_sent_to_sign_in_and_students_refused(client):
    anonymous = await client.get("/metrics")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    await log_in(client, ROLE_EMAILS["student"])
    assert (await client.get("/metrics")).status_code == 403


async def test_a_librarian_reads_the_metrics(client):
    await log_in(client, ROLE_EMAILS["librarian"])
    text = await scrape(client)
    assert "shelfmark_request_duration_seconds_bucket" in text
    assert "shelfmark_database_size_bytes" in text


async def test_an_allowed_address_reads_them_without_signing_in(demo_database):
    settings = Settings.from_env(
        {"SHELFMARK_METRICS_ALLOW": "10.9.0.0/16, 192.0.2.8"},
        database=demo_database,
        secret_key="test-secret",
    )
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        for address in ("10.9.200.1", "192.0.2.8"):
            await scrape(client, scope_base={"client": (address, 50000)})
        for address in ("10.8.0.1", "192.0.2.9"):
            refused = await client.get("/metrics", scope_base={"client": (address, 50000)})
            assert refused.status_code == 302, address


async def test_searches_desk_operations_and_latency_are_counted(client):
    await log_in(client, ROLE_EMAILS["librarian"])
    before = await scrape(client)
    await client.get("/search?q=gatsby")
    await client.get("/search?q=gats", headers={"HX-Request": "true"})
    token = await _csrf(client)
    htmx = {"HX-Request": "true", "X-CSRF-Token": token}
    refused = await client.post("/desk/scan", form={"code": ""}, headers=htmx)
    assert refused.status_code == 422
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("shelfmark_searches_total", answer="page") == 1
    assert grew("shelfmark_searches_total", answer="fragment") == 1
    assert grew("shelfmark_desk_operations_total", operation="scan", outcome="refused") == 1
    assert grew("shelfmark_desk_operations_total", operation="scan", outcome="done") == 0
    assert (
        grew("shelfmark_request_duration_seconds_count", route="catalogue.search", status="2xx")
        == 2
    )
    assert (
        grew(
            "shelfmark_request_duration_seconds_count", route="circulation.desk_scan", status="4xx"
        )
        == 1
    )


async def test_a_students_refused_desk_request_is_not_a_desk_operation(client):
    await log_in(client, ROLE_EMAILS["librarian"])
    before = await scrape(client)
    await client.post("/logout", form={"csrf_token": await _csrf(client)})
    token = await log_in(client, ROLE_EMAILS["student"])
    assert (
        await client.post("/desk/scan", form={"code": "x", "csrf_token": token})
    ).status_code == 403
    await client.post("/logout", form={"csrf_token": token})
    await log_in(client, ROLE_EMAILS["librarian"])
    after = await scrape(client)
    assert sample(
        after, "shelfmark_desk_operations_total", operation="scan", outcome="refused"
    ) == (sample(before, "shelfmark_desk_operations_total", operation="scan", outcome="refused"))


async def _csrf(client) -> str:
    page = await (await client.get("/desk")).get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


async def test_outbox_reminder_run_and_database_size_are_read_at_scrape_time(app, client, settings):
    await log_in(client, ROLE_EMAILS["librarian"])
    empty = await scrape(client)
    assert sample(empty, "shelfmark_reminder_last_run_status", status="succeeded") == 0
    assert "\nshelfmark_reminder_last_success_timestamp_seconds " not in empty

    conn = sqlite3.connect(settings.database)
    user_id = conn.execute("SELECT UserID FROM Users WHERE Email = 'alice@example.com'").fetchone()[
        0
    ]
    for number, status in enumerate(("pending", "pending", "failed", "sent")):
        conn.execute(
            "INSERT INTO Outbox (Kind, UserID, Recipient, Subject, BodyText, BodyHtml, "
            "HeaderMessageID, Status) "
            "VALUES ('reminder', ?, 'alice@example.com', 's', 't', 'h', ?, ?)",
            (user_id, f"<m{number}@test>", status),
        )
    conn.commit()
    conn.close()
    db: Database = app.app.extensions["shelfmark.db"]
    started = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    run_id = await job_runs.start_run(db, "reminders", "nightly", date(2026, 11, 29), started)
    await job_runs.finish_run(
        db,
        run_id,
        job_runs.RunCounts(flagged=5, queued=3, sent=2, pending=1),
        started + timedelta(minutes=1),
    )

    text = await scrape(client)
    assert sample(text, "shelfmark_outbox_messages", status="pending") == 2
    assert sample(text, "shelfmark_outbox_messages", status="failed") == 1
    assert sample(text, "shelfmark_reminder_last_run_status", status="succeeded") == 1
    assert sample(text, "shelfmark_reminder_last_run_status", status="failed") == 0
    assert (
        sample(text, "shelfmark_reminder_last_run_finished_timestamp_seconds")
        == (started + timedelta(minutes=1)).timestamp()
    )
    assert sample(text, "shelfmark_reminder_last_success_timestamp_seconds") == started.timestamp()
    assert sample(text, "shelfmark_reminder_last_run_loans_and_messages", count="flagged") == 5
    assert sample(text, "shelfmark_database_size_bytes", file="main") == os.path.getsize(
        settings.database
    )
    assert sample(text, "shelfmark_database_size_bytes", file="wal") > 0


ACCESS_LINE = re.compile(r"\[(\d+)\] \[INFO\] hypercorn\.access: .*\"GET /search ")


def test_with_two_workers_every_scrape_counts_the_searches_of_both(demo_database, tmp_path):
    """Each worker is its own process: without the shared folder a scrape would count only
    the searches of the worker that answers it."""
    log_path = tmp_path / "server.log"
    with running_server(
        demo_database,
        log_path,
        SHELFMARK_WORKERS="2",
        SHELFMARK_METRICS_ALLOW="127.0.0.1",
    ) as base_url:
        served_by: set[str] = set()
        searches = 0
        while len(served_by) < 2:
            assert searches < 400, "one worker answered every search"
            with urllib.request.urlopen(f"{base_url}/search?q=w{searches}") as response:
                assert response.status == 200
            searches += 1
            served_by = set(ACCESS_LINE.findall(log_path.read_text()))
        for _ in range(6):
            with urllib.request.urlopen(f"{base_url}/metrics") as response:
                text = response.read().decode()
            assert sample(text, "shelfmark_searches_total", answer="page") == searches
