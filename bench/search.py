"""Search benchmark (issues #2, #7, #9): the live-search fragment beside its references.

For each catalogue size, in one run on one machine:

- the raw FTS5 query in-process, ranked (bm25, top 20) and unranked (first 20);
- the teaching-style ``LIKE '%q%'`` scan, in-process;
- the trivial route (``/healthz``) and the search fragment (``/search`` with
  ``HX-Request``) through ``shelfmark serve`` (Hypercorn, access log on) from
  this separate process over loopback, with 1 and 32 concurrent clients;
- a keystroke replay: real titles and authors from goodbooks-10k typed one
  character at a time, every prefix a query through the app, then typed again,
  with what the server read from disk each time;
- the serving process's peak RSS and its start-up time to ``/healthz``;
- for the largest size, the one-letter prefix queries with the FTS5 prefix
  index the app uses (``prefix='1 2 3'``) against the one it replaced (``'2 3'``).

Results replace the "Search" section of docs/benchmarks.md.

    python -m bench.search            # 10k and 100k titles, a few minutes
    python -m bench.search --full     # also 1M titles (generating it takes ~5 minutes once)
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import inspect
import json
import os
import re
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

from bench import common, relevance
from bench.generate import GOODBOOKS_CSV, PRESETS
from webapp.db import CONNECTION_PRAGMAS, Database, configure, connect_sync, migrate
from webapp.importing.books import apply_books, read_books_csv
from webapp.models import catalogue
from webapp.models.catalogue import CANDIDATES
from webapp.models.search_vocabulary import CatalogueWords
from webapp.resources import MIGRATIONS
from webapp.search_cache import SearchCache
from webapp.search_query import SearchFilters, parse

SECTION = "Search"
SPELLING_SECTION = "Search: spelling and filters"
HX = {"HX-Request": "true"}
# Partial queries as readers type them: unfinished last words, abbreviations,
# authors, a common word or two.
QUERY_MIX = (
    "harr pot",
    "hunger ga",
    "lord of the r",
    "tolk",
    "the gre",
    "gats",
    "pride and p",
    "mockingb",
    "rowl",
    "king",
    "to kill",
    "the hob",
    "dune",
    "agatha chr",
    "sherl",
    "jane aust",
    "game of thr",
    "da vin",
    "orwel",
    "catch",
    "twil",
    "the girl with",
    "fault in",
    "divergent",
    "nar",
)
REPLAY_TITLES = 50
REPLAY_AUTHORS = 20
BM25_WEIGHTS = (10.0, 4.0, 1.0)
READERS = inspect.signature(Database).parameters["readers"].default
CACHE_OFF = {"SHELFMARK_SEARCH_CACHE_ENTRIES": "0"}


def replay_texts(csv_path: Path = GOODBOOKS_CSV) -> list[str]:
    """The first 50 titles and 20 authors of goodbooks-10k."""
    titles: list[str] = []
    authors: list[str] = []
    with csv_path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            title = (record["original_title"] or record["title"]).strip()
            author = record["authors"].split(",")[0].strip()
            if title and len(titles) < REPLAY_TITLES and title not in titles:
                titles.append(title)
            if author and len(authors) < REPLAY_AUTHORS and author not in authors:
                authors.append(author)
    return [*titles, *authors]


def keystroke_queries(csv_path: Path = GOODBOOKS_CSV) -> list[str]:
    """Every prefix of the first 50 titles and 20 authors of goodbooks-10k, in typing order."""
    typed = []
    for text in replay_texts(csv_path):
        typed.extend(text[:length] for length in range(1, len(text) + 1))
    return [text for text in typed if not parse(text).is_empty]


def typo_keystroke_queries(csv_path: Path = GOODBOOKS_CSV) -> list[str]:
    """The replay's titles and authors, each with one letter wrong in its first word
    of 5+ letters (dropped, doubled, swapped or replaced in turn), typed one
    character at a time."""
    typed: list[str] = []
    for index, text in enumerate(replay_texts(csv_path)):
        words = text.split(" ")
        for place, word in enumerate(words):
            if len(word) >= relevance.TYPO_WORD_LETTERS and word.isalpha():
                words[place] = relevance.misspelt(word, index)
                break
        wrong = " ".join(words)
        typed.extend(wrong[:length] for length in range(1, len(wrong) + 1))
    return [text for text in typed if not parse(text).is_empty]


def goodbooks_database() -> Path:
    """goodbooks-10k imported through the real importer, as the relevance tests do."""
    path = common.RESULTS / "goodbooks.sqlite3"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        conn = connect_sync(partial)
        migrate(conn, MIGRATIONS)
        _, rows = read_books_csv(GOODBOOKS_CSV.read_bytes())
        apply_books(conn, rows)
        conn.close()
        partial.rename(path)
    return path


async def _relevance_rates() -> dict[str, object]:
    """The relevance rates on goodbooks-10k, with spelling tolerance and without
    (what search did before it), in-process."""
    async with Database(goodbooks_database()) as db:
        with_spelling, _ = await relevance.measure(db, GOODBOOKS_CSV)
        without, _ = await relevance.measure(db, GOODBOOKS_CSV, spelling=False)
    return {
        "with": [
            with_spelling.partial_found,
            with_spelling.partial_total,
            with_spelling.typo_found,
            with_spelling.typo_total,
        ],
        "without": [
            without.partial_found,
            without.partial_total,
            without.typo_found,
            without.typo_total,
        ],
    }


async def _replays(server: common.Server, replays: dict[str, list[str]]) -> dict[str, object]:
    figures: dict[str, object] = {}
    for key, paths in replays.items():
        read_before = server.disk_read_bytes()
        figures[key] = await common.load(
            server.base_url, paths, clients=1, requests=len(paths), max_seconds=600, headers=HX
        )
        figures[f"{key}_disk_mb"] = (server.disk_read_bytes() - read_before) / 1e6
    return figures


def cpu_per_keystroke(path: Path, queries: list[str], available: bool) -> list[float]:
    """The CPU time (this thread's, in ms) of each keystroke's whole search, in-process,
    with no search cache: what a keystroke costs the server whatever else the
    machine is doing, which wall-clock figures on a busy machine cannot show."""
    conn = configure(sqlite3.connect(path, isolation_level=None))
    words = CatalogueWords()
    words.current(conn, None)
    filters = SearchFilters(available=available)
    no_cache = SearchCache(entries=0)
    samples = []
    for text in queries:
        started = time.thread_time()
        catalogue._lookup(conn, parse(text), 1, 20, no_cache, words, filters)
        samples.append((time.thread_time() - started) * 1000)
    conn.close()
    return samples


def measure_spelling(size: str) -> dict[str, object]:
    """The keystroke replay with typos, without and with ``available=1``, and the
    serving process's peak RSS: one server per size, in one run."""
    path = database_for(size)
    load_before = os.getloadavg()[0]
    typos = typo_keystroke_queries()
    replays = {
        "plain": [f"/search?q={quote(text)}" for text in keystroke_queries()],
        "typos": [f"/search?q={quote(text)}" for text in typos],
        "typos_available": [f"/search?q={quote(text)}&available=1" for text in typos],
    }
    print(f"{size}: CPU per keystroke, in-process", file=sys.stderr)
    cpu = {
        "cpu_plain": cpu_per_keystroke(path, keystroke_queries(), available=False),
        "cpu_typos": cpu_per_keystroke(path, typos, available=False),
        "cpu_typos_available": cpu_per_keystroke(path, typos, available=True),
    }
    print(f"{size}: keystroke replay with typos ({len(typos)} keystrokes)", file=sys.stderr)
    with common.serve(path, log_path=common.RESULTS / f"search-{size}-access.log") as server:
        # Warm up as a running library would be: the vocabulary read, the query mix asked.
        asyncio.run(
            common.load(
                server.base_url,
                [f"/search?q={quote(text)}" for text in QUERY_MIX],
                clients=1,
                requests=len(QUERY_MIX) * 2,
                max_seconds=120,
                headers=HX,
            )
        )
        figures = asyncio.run(_replays(server, replays))
        figures["peak_rss_mb"] = server.peak_rss_mb()
    figures.update(cpu)
    figures["load"] = (load_before, os.getloadavg()[0])
    return figures


def _replay_row(size: str, label: str, samples: list[float], last: str) -> tuple:
    """One keystroke replay as a table row: its percentiles, how many keystrokes took
    over 50 ms, and ``last`` (the column that differs between the two replay tables)."""
    summary = common.Summary.of(samples)
    return (
        size,
        label,
        len(samples),
        common.ms(summary.median),
        common.ms(summary.p95),
        common.ms(summary.p99),
        common.ms(summary.maximum),
        sum(sample > 50 for sample in samples),
        last,
    )


def spelling_report(results: dict[str, dict[str, object]], rates, measured_on: str) -> str:
    S = common.Summary.of
    with_spelling, without = rates["with"], rates["without"]
    lines = [
        f"Measured {measured_on}, with `python -m bench.search"
        f"{' --full' if '1m' in results else ''}` (`--spelling-only` measures this section "
        f"alone), at {', '.join(results)} titles in one run. 1-minute load average before and after each size: "
        + ", ".join(
            f"{size} {figures['load'][0]:.1f} → {figures['load'][1]:.1f}"
            for size, figures in results.items()
        )
        + " (2 cores; above 2 other work was running, and absolute figures are then high).",
        "",
        "### Relevance on goodbooks-10k",
        "",
        "The fixed rule of `bench/relevance.py` (also run by "
        "tests/test_relevance_goodbooks.py): every 25th title of books.csv with two words "
        "after any leading article; the partial query is the first word and the first half "
        "of the next uncommon word; the typo query the same with one letter of its first "
        "5+-letter word dropped, doubled, swapped or replaced. Found = a book of that title "
        "among the first 5.",
        "",
        common.table(
            ("search", "partial query, top 5", "with one typo, top 5"),
            [
                (
                    label,
                    f"{found[0]}/{found[1]} = {found[0] / found[1]:.1%}",
                    f"{found[2]}/{found[3]} = {found[2] / found[3]:.1%}",
                )
                for label, found in (
                    ("without spelling tolerance (before #21)", without),
                    ("with spelling tolerance", with_spelling),
                )
            ],
        ),
        "",
        "### Keystroke replay with typos",
        "",
        f"The keystroke replay's {REPLAY_TITLES} titles and {REPLAY_AUTHORS} authors, each "
        "with one letter wrong in its first word of 5+ letters, typed one character at a "
        "time through the app (one client, HX-Request), after the query mix warmed the "
        "server; then the same with `available=1`. The replay as spelt, first, is the one "
        "of the Search section, measured again in this run with spelling tolerance on, for "
        "comparison. Milliseconds.",
        "",
    ]
    rows = []
    for size, figures in results.items():
        for key, label in (
            ("plain", "as spelt (the replay of the Search section)"),
            ("typos", "typos"),
            ("typos_available", "typos, available=1"),
        ):
            samples, _ = figures[key]
            rows.append(_replay_row(size, label, samples, f"{figures['peak_rss_mb']:.0f} MB"))
    lines += [
        common.table(
            (
                "titles",
                "replay",
                "keystrokes",
                "p50",
                "p95",
                "p99",
                "max",
                "over 50 ms",
                "server peak RSS",
            ),
            rows,
        ),
        "",
        "The server's CPU time per keystroke, measured in-process on the same database "
        "(`catalogue._lookup` on a reader connection, no search cache, this thread's CPU "
        "time): what a keystroke costs whatever else the machine runs. Milliseconds.",
        "",
    ]
    rows = []
    for size, figures in results.items():
        for key, label in (
            ("cpu_plain", "as spelt"),
            ("cpu_typos", "typos"),
            ("cpu_typos_available", "typos, available=1"),
        ):
            if key not in figures:
                continue
            summary = S(figures[key])
            rows.append(
                (
                    size,
                    label,
                    len(figures[key]),
                    common.ms(summary.median),
                    common.ms(summary.p95),
                    common.ms(summary.maximum),
                    sum(sample > 50 for sample in figures[key]),
                )
            )
    lines += [
        common.table(
            ("titles", "replay", "keystrokes", "CPU p50", "CPU p95", "CPU max", "over 50 ms"),
            rows,
        ),
        "",
        "### Targets",
        "",
    ]
    partial = with_spelling[0] / with_spelling[1]
    typo = with_spelling[2] / with_spelling[3]

    def verdict(met: bool) -> str:
        return "**met**" if met else "**missed**"

    lines.append(
        f"- Relevance: partial queries {partial:.1%} in the top 5, {verdict(partial >= 0.95)} "
        f"(target at least 95%); with one typo {typo:.1%}, {verdict(typo >= 0.80)} "
        f"(target at least 80%; {without[2] / without[3]:.1%} without spelling tolerance)."
    )
    largest, smallest = list(results)[-1], list(results)[0]
    for key, label in (
        ("plain", "as spelt"),
        ("typos", "with typos"),
        ("typos_available", "with typos and available=1"),
    ):
        big, small = S(results[largest][key][0]), S(results[smallest][key][0])
        slow = sum(sample > 50 for sample in results[largest][key][0])
        ratio = big.p95 / small.p95
        lines.append(
            f"- Replay {label}: p95 at {largest} / at {smallest} {ratio:.2f}×, "
            f"{verdict(ratio <= 3)} (target at most 3×); keystrokes over 50 ms at {largest}: "
            f"{slow} of {len(results[largest][key][0])}, {verdict(slow == 0)} (target 0)."
        )
    for key, label in (
        ("cpu_typos", "with typos"),
        ("cpu_typos_available", "with typos and available=1"),
    ):
        if key not in results[largest]:
            continue
        big_cpu, small_cpu = S(results[largest][key]), S(results[smallest][key])
        slow = sum(sample > 50 for sample in results[largest][key])
        lines.append(
            f"- Server CPU per keystroke {label}: p95 at {largest} / at {smallest} "
            f"{big_cpu.p95 / small_cpu.p95:.2f}×, {verdict(big_cpu.p95 / small_cpu.p95 <= 3)}; "
            f"over 50 ms at {largest}: {slow}, {verdict(slow == 0)} (max "
            f"{common.ms(big_cpu.maximum)})."
        )
    rss = results[largest]["peak_rss_mb"]
    lines.append(
        f"- Peak RSS of the server at {largest}: {rss:.0f} MB, {verdict(rss < 300)} "
        "(target under 300 MB)."
    )
    lines += [
        "",
        "Each process reads the catalogue's words once from FTS5's vocabulary "
        "(`BooksSearchVocabulary`, an `fts5vocab` table; in the background at start-up) and "
        "then only the words of books logged as added or retitled since "
        "(`SearchVocabularyChanges`). A misspelt word is compared with the catalogue words of "
        "about its length by rapidfuzz's OSA distance; the corrected query runs only when "
        "the words as typed match fewer than the candidate limit, so the first, short "
        "keystrokes cost what they did.",
    ]
    return "\n".join(lines)


def database_for(size: str) -> Path:
    """The benchmark database of a preset size, generated once and reused (it is deterministic)."""
    return common.preset_database("search", size)


def _timed(conn: sqlite3.Connection, sql: str, params, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        conn.execute(sql, params).fetchall()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def in_process(
    path: Path, queries: list[str], rounds: int, like_rounds: int
) -> dict[str, list[float]]:
    """Raw FTS5 (ranked and unranked) and the LIKE scan over the query mix, in ms."""
    conn = configure(sqlite3.connect(path, isolation_level=None))
    figures: dict[str, list[float]] = {"fts_ranked": [], "fts_unranked": [], "like": []}
    for text in queries:
        match = parse(text).match_expression()
        figures["fts_ranked"] += _timed(
            conn,
            "SELECT rowid FROM BooksSearch WHERE BooksSearch MATCH ? "
            "ORDER BY bm25(BooksSearch, ?, ?, ?) LIMIT 20",
            (match, *BM25_WEIGHTS),
            rounds,
        )
        figures["fts_unranked"] += _timed(
            conn,
            "SELECT rowid FROM BooksSearch WHERE BooksSearch MATCH ? LIMIT 20",
            (match,),
            rounds,
        )
        pattern = f"%{text}%"
        figures["like"] += _timed(
            conn,
            "SELECT BookID FROM Books WHERE Title LIKE ? OR Author LIKE ? LIMIT 20",
            (pattern, pattern),
            like_rounds,
        )
    conn.close()
    return figures


def prefix_index_comparison(path: Path) -> list[tuple[str, float, float, float, float]]:
    """One-letter and two-letter queries with prefix='1 2 3' (the app's) and '2 3' (the old).

    Builds the old index as a second FTS5 table over the same content in a
    scratch copy of the schema, so both are measured on the same data in one run.
    """
    conn = configure(sqlite3.connect(path, isolation_level=None))
    conn.execute("DROP TABLE IF EXISTS BenchSearchPrefix23")
    conn.execute(
        "CREATE VIRTUAL TABLE BenchSearchPrefix23 USING fts5 (Title, Author, Extra, "
        "content = 'BooksSearchSource', content_rowid = 'BookID', "
        "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
    )
    conn.execute("INSERT INTO BenchSearchPrefix23 (BenchSearchPrefix23) VALUES ('rebuild')")
    rows = []
    try:
        for text in ("a", "h", "t", "th", "lord of the r"):
            match = parse(text).match_expression()
            figures = []
            for table in ("BooksSearch", "BenchSearchPrefix23"):
                sql = (
                    f"SELECT s.rowid FROM {table} s WHERE {table} MATCH ? "
                    f"ORDER BY s.rowid DESC LIMIT {CANDIDATES + 1}"
                )
                figures.append(statistics.median(_timed(conn, sql, (match,), 5)))
                count_sql = (
                    f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ? LIMIT 1001)"
                )
                figures.append(statistics.median(_timed(conn, count_sql, (match,), 5)))
            rows.append((text, *figures))
    finally:
        conn.execute("DROP TABLE BenchSearchPrefix23")
        conn.close()
    return rows


async def through_app(
    server: common.Server, queries: list[str], replay: list[str], requests_1: int, requests_32: int
) -> dict[str, object]:
    base_url = server.base_url
    search_paths = [f"/search?q={quote(text)}" for text in queries]
    figures: dict[str, object] = {}
    # Warm the page cache and the app the way a running library would be.
    await common.load(
        base_url,
        search_paths,
        clients=4,
        requests=len(search_paths) * 2,
        max_seconds=60,
        headers=HX,
    )
    for clients, count in ((1, requests_1), (32, requests_32)):
        figures[f"healthz_{clients}"] = await common.load(
            base_url, ["/healthz"], clients=clients, requests=count, max_seconds=60
        )
        figures[f"search_{clients}"] = await common.load(
            base_url, search_paths, clients=clients, requests=count, max_seconds=120, headers=HX
        )
    replay_paths = [f"/search?q={quote(text)}" for text in replay]
    # The replay's queries were not asked before, so the first time they may read pages of
    # the database the operating system does not hold in memory; typed again they read
    # from memory. Both are kept, with the disk reads that tell them apart.
    for key in ("replay", "replay_again"):
        read_before = server.disk_read_bytes()
        figures[key] = await common.load(
            base_url,
            replay_paths,
            clients=1,
            requests=len(replay_paths),
            max_seconds=300,
            headers=HX,
        )
        figures[f"{key}_disk_mb"] = (server.disk_read_bytes() - read_before) / 1e6
    return figures


async def uncached(
    base_url: str, queries: list[str], requests_1: int, requests_32: int
) -> dict[str, object]:
    """The query mix with every query found and ranked anew (no search cache)."""
    search_paths = [f"/search?q={quote(text)}" for text in queries]
    await common.load(
        base_url,
        search_paths,
        clients=4,
        requests=len(search_paths) * 2,
        max_seconds=60,
        headers=HX,
    )
    return {
        f"uncached_{clients}": await common.load(
            base_url, search_paths, clients=clients, requests=count, max_seconds=120, headers=HX
        )
        for clients, count in ((1, requests_1), (32, requests_32))
    }


def measure(size: str, quick_rounds: bool) -> dict[str, object]:
    path = database_for(size)
    titles = PRESETS[size][0]
    load_before = os.getloadavg()[0]
    like_rounds = 1 if titles >= 1_000_000 else 3
    print(f"{size}: in-process queries", file=sys.stderr)
    figures: dict[str, object] = in_process(path, list(QUERY_MIX), 5, like_rounds)
    replay = keystroke_queries()
    log_path = common.RESULTS / f"search-{size}-access.log"
    print(f"{size}: through the app ({len(replay)} keystrokes in the replay)", file=sys.stderr)
    with common.serve(path, log_path=log_path) as server:
        figures["startup_s"] = server.started_in
        figures.update(
            asyncio.run(
                through_app(
                    server,
                    list(QUERY_MIX),
                    replay,
                    requests_1=100 if quick_rounds else 300,
                    requests_32=320 if quick_rounds else 960,
                )
            )
        )
        figures["peak_rss_mb"] = server.peak_rss_mb()
        figures["anon_mb"] = server.memory_mb("RssAnon")
        figures["file_mb"] = server.memory_mb("RssFile")
    print(f"{size}: through the app with the search cache off", file=sys.stderr)
    with common.serve(path, log_path=log_path, settings=CACHE_OFF) as server:
        figures.update(
            asyncio.run(
                uncached(
                    server.base_url,
                    list(QUERY_MIX),
                    requests_1=100 if quick_rounds else 300,
                    requests_32=320 if quick_rounds else 960,
                )
            )
        )
    figures["load"] = (load_before, os.getloadavg()[0])
    return figures


def report(
    results: dict[str, dict[str, object]], prefix_rows, largest: str, measured_on: str
) -> str:
    S = common.Summary.of
    lines = [
        f"Measured {measured_on}, with `python -m bench.search"
        f"{' --full' if '1m' in results else ''}`. Milliseconds unless marked. The app is "
        "`shelfmark serve` (Hypercorn, access log on) in its own process; the load client is "
        "an asyncio HTTP client in this process on loopback, one connection per request. "
        "The query mix is " + ", ".join(f"`{text}`" for text in QUERY_MIX) + ". "
        '"search fragment" is the app as shipped, with its search cache '
        '(`webapp/search_cache.py`); "cache off" is the same server started with '
        "`SHELFMARK_SEARCH_CACHE_ENTRIES=0`, so every query is found and ranked anew. "
        "The machine was shared with other work; its 1-minute load average before and after "
        "each size: "
        + ", ".join(
            f"{size} {figures['load'][0]:.1f} → {figures['load'][1]:.1f}"
            for size, figures in results.items()
        )
        + ".",
        "",
        "### In-process references (query mix)",
        "",
    ]
    rows = []
    for size, figures in results.items():
        for key, label in (
            ("fts_ranked", "raw FTS5, bm25 top 20"),
            ("fts_unranked", "raw FTS5, first 20 unranked"),
            ("like", "teaching-style `LIKE '%q%'` scan"),
        ):
            summary = S(figures[key])
            rows.append(
                (
                    size,
                    label,
                    common.ms(summary.median),
                    common.ms(summary.p95),
                    common.ms(summary.p99),
                )
            )
    lines += [common.table(("titles", "query", "median", "p95", "p99"), rows), ""]
    lines += ["### Through the app (query mix)", ""]
    rows = []
    for size, figures in results.items():
        for clients in (1, 32):
            for key, label in (
                ("healthz", "trivial route `/healthz`"),
                ("search", "search fragment"),
                ("uncached", "search fragment, cache off"),
            ):
                samples, throughput = figures[f"{key}_{clients}"]
                summary = S(samples)
                rows.append(
                    (
                        size,
                        clients,
                        label,
                        len(samples),
                        common.ms(summary.median),
                        common.ms(summary.p95),
                        common.ms(summary.p99),
                        f"{throughput:.0f}/s",
                    )
                )
    lines += [
        common.table(
            ("titles", "clients", "route", "requests", "median", "p95", "p99", "throughput"), rows
        ),
        "",
    ]
    lines += [
        "### Keystroke replay",
        "",
        f"The first {REPLAY_TITLES} titles and {REPLAY_AUTHORS} authors of goodbooks-10k "
        "typed one character at a time; every prefix is a query through the app, one "
        'client. Then the same again: "read from disk" is what the server read from '
        "storage meanwhile, the pages of the database the operating system's cache did "
        "not hold.",
        "",
    ]
    rows = []
    for size, figures in results.items():
        for key, label in (("replay", "first time"), ("replay_again", "typed again")):
            samples, _ = figures[key]
            rows.append(_replay_row(size, label, samples, f"{figures[f'{key}_disk_mb']:.1f} MB"))
    lines += [
        common.table(
            (
                "titles",
                "pass",
                "keystrokes",
                "p50",
                "p95",
                "p99",
                "max",
                "over 50 ms",
                "read from disk",
            ),
            rows,
        ),
        "",
    ]
    lines += ["### Start-up and memory", ""]
    rows = [
        (
            size,
            f"{figures['startup_s']:.2f} s",
            f"{figures['peak_rss_mb']:.0f} MB",
            f"{figures['anon_mb']:.0f} MB",
            f"{figures['file_mb']:.0f} MB",
        )
        for size, figures in results.items()
    ]
    lines += [
        common.table(
            (
                "titles",
                "`shelfmark serve` to first /healthz 200",
                "peak RSS after the load",
                "of it now: private (RssAnon)",
                "mapped file pages (RssFile)",
            ),
            rows,
        ),
        "",
    ]
    lines += ["### Targets", ""]
    lines += _targets(results)
    lines += ["", "### How search works, and why", "", CHOICES]
    if prefix_rows:
        lines += [
            "",
            f"### FTS5 prefix index ({largest} titles)",
            "",
            f"Median of 5, in-process: reading the newest {CANDIDATES + 1} matches (what "
            "search does per keystroke) and a count capped at 1,001.",
            "",
        ]
        lines.append(
            common.table(
                (
                    "query",
                    "read, prefix='1 2 3'",
                    "count, '1 2 3'",
                    "read, prefix='2 3'",
                    "count, '2 3'",
                ),
                [
                    (f"`{text}`", *(common.ms(value) for value in values))
                    for text, *values in prefix_rows
                ],
            )
        )
    return "\n".join(lines)


def connection_memory() -> str:
    """The page cache and mmap each connection gets, read from webapp/db.py's pragmas."""
    pragmas = dict(
        re.fullmatch(r"PRAGMA (\w+) = (-?\d+)", pragma).groups()
        for pragma in CONNECTION_PRAGMAS
        if re.fullmatch(r"PRAGMA (\w+) = (-?\d+)", pragma)
    )
    cache = int(pragmas.get("cache_size", -2000))
    cache_mb = -cache / 1000 if cache < 0 else cache * 4096 / 1_000_000
    mmap_mb = int(pragmas.get("mmap_size", 0)) / 1_000_000
    mmap = f"a {mmap_mb:.0f} MB mmap" if mmap_mb else "no mmap"
    return f"a {cache_mb:.0f} MB page cache and {mmap}"


CHOICES = f"""\
- Per keystroke the app reads at most {CANDIDATES + 1} matches from the FTS5 index, newest
  first (`ORDER BY rowid DESC LIMIT`), so its cost is bounded at any catalogue size. When
  that is every match, all are ranked and the page shows the exact count. When there are
  more, the "huge" set is not ranked whole: the matches among the most borrowed books
  (read from a covering index) and up to 50 titles beginning with the typed text, with and
  without a leading "The" (range scans on a NOCASE title index), join the newest matches, `webapp/ranking.py` orders them,
  and the page says "Many results" instead of counting.
- All of a keystroke's queries (the matches, the popular and title-start candidates, the
  shelf check, the page's rows) run in one call on a reader connection's own thread
  (`Database.read`), not one aiosqlite hand-off each: each hand-off passes the GIL and
  wakes the event loop, and six of them cost more than the queries.
- Each server process keeps the ranked candidates of its 256 most recent queries
  (`SHELFMARK_SEARCH_CACHE_ENTRIES`), because the first keystrokes are the same for every
  student. A cached ranking is used only while the `SearchVersions.Catalogue` counter
  (bumped by triggers whenever a book is added, removed or retitled, from any process)
  is unchanged and for at most a minute (borrowing counts drift); a cached page only
  while `SearchVersions.Circulation` (copies, loans, holds) is unchanged too, otherwise
  it is rebuilt from the ranking with fresh availability (migration 0004).
- The slowest keystrokes were Python's cycle collector, not SQLite: a full collection
  walks every tracked object, 30 ms or more with the imported framework alone, and it
  landed inside whichever request was running. `shelfmark serve` freezes what start-up
  created (`gc.freeze()`, which takes it out of those walks) and the cache holds its
  rankings as plain tuples, which the collector stops tracking.
- bm25 is not used per keystroke: the table above shows the raw bm25 query growing with
  the catalogue (it scores every match and first counts every term's documents, so
  `lord of the r` pays for "of" and "the"). Finished common words ("the", "of", …) are
  not required in the MATCH for the same reason; ranking still rewards them.
- Spelling tolerance (issue #21, its own section below): when the words as typed match
  fewer than {CANDIDATES + 1} books, words near each typed one (from the catalogue's own
  vocabulary, rapidfuzz's OSA distance) are looked for too, and their matches ranked after
  every match of the words as typed; a filter (`available=1`, language, years) is a
  condition on the same bounded read, checking at most the newest 2,000 matches.
- The ranking signals (pure, tested in tests/test_ranking.py): title words typed in
  order from the start of the title, whole title words above words only begun, title
  above author above series/subjects, then times borrowed and a copy on the shelf
  (checked for the best 40 candidates only).
- FTS5 `prefix='1 2 3'` (migration 0002, was `'2 3'`): the last table shows why; a
  one-letter prefix otherwise merges the doclists of every word with that letter before
  the first row. `detail=full` stays: highlighting needs positions (it is done in Python
  for the page's rows, since FTS5's highlight() re-runs the query per row).
- The connection settings are the project's (`webapp/db.py`: {connection_memory()} per
  connection, {READERS} readers and one writer). Pages a connection reads stay in its own
  cache (RssAnon, counted in the process's RSS) up to that size; mapped database pages
  would show as RssFile. The memory table shows the split."""


def _targets(results: dict[str, dict[str, object]]) -> list[str]:
    """Each target with its figure, and for a missed one the evidence of why."""
    S = common.Summary.of
    largest, smallest = list(results)[-1], list(results)[0]
    big, small = results[largest], results[smallest]

    def verdict(met: bool) -> str:
        return "**met**" if met else "**missed**"

    lines = []
    for clients in (1, 32):
        trivial = S(big[f"healthz_{clients}"][0]).median
        reference = S(big["fts_ranked"]).median + trivial
        unranked_reference = S(big["fts_unranked"]).median + trivial
        search = S(big[f"search_{clients}"][0]).median
        cold = S(big[f"uncached_{clients}"][0]).median
        line = (
            f"- {largest}, {clients} client(s): fragment median {common.ms(search)} = "
            f"{search / reference:.2f}× (raw FTS5 bm25 top 20 + trivial route), "
            f"{verdict(search / reference <= 3)}; {search / unranked_reference:.2f}× (raw FTS5 "
            f"unranked + trivial route), {verdict(search / unranked_reference <= 3)}; target at "
            f"most 3×. With the search cache off: {common.ms(cold)} = {cold / reference:.2f}× "
            f"and {cold / unranked_reference:.2f}×."
        )
        if clients == 32:
            line += (
                " With 32 clients both medians are mostly queueing in one server process "
                "(32 clients / requests per second), so they follow the throughput ratio below."
            )
        lines.append(line)
    ratio = S(big["search_1"][0]).median / S(small["search_1"][0]).median
    cold_ratio = S(big["uncached_1"][0]).median / S(small["uncached_1"][0]).median
    lines.append(
        f"- Fragment median at {largest} / at {smallest} (1 client): {ratio:.2f}×, "
        f"{verdict(ratio <= 3)}; target at most 3×. With the search cache off: "
        f"{cold_ratio:.2f}×, {verdict(cold_ratio <= 3)}."
    )
    share = big["search_32"][1] / big["healthz_32"][1]
    cold_share = big["uncached_32"][1] / big["healthz_32"][1]
    line = (
        f"- Throughput at {largest}, 32 clients: search {share:.0%} of the trivial route's, "
        f"{verdict(share >= 0.5)}; target at least 50%. With the search cache off "
        f"{cold_share:.0%}, {verdict(cold_share >= 0.5)}: the trivial route costs "
        f"{1000 / big['healthz_32'][1]:.1f} ms of server time per request, a search found and "
        f"ranked anew {1000 / big['uncached_32'][1]:.1f} ms, one answered from the cache "
        f"{1000 / big['search_32'][1]:.1f} ms. The mix repeats its 25 queries, as the first "
        "keystrokes of many students do, so with the cache on it measures answers from the "
        "cache (whose versions are still checked, and whose pages are rebuilt when a copy is "
        "lent or returned); the keystroke replay below is mostly queries not seen before."
    )
    lines.append(line)
    replay_ratio = S(big["replay"][0]).p95 / S(small["replay"][0]).p95
    slow = sum(sample > 50 for sample in big["replay"][0])
    slow_small = sum(sample > 50 for sample in small["replay"][0])
    again_ratio = S(big["replay_again"][0]).p95 / S(small["replay_again"][0]).p95
    slow_again = sum(sample > 50 for sample in big["replay_again"][0])
    line = (
        f"- Keystroke replay, first time, p95 at {largest} / at {smallest}: "
        f"{replay_ratio:.2f}×, {verdict(replay_ratio <= 3)}, target at most 3×; keystrokes "
        f"over 50 ms at {largest}: {slow} of {len(big['replay'][0])}, {verdict(slow == 0)}, "
        f"target 0. Typed again: {again_ratio:.2f}× ({verdict(again_ratio <= 3)}) and "
        f"{slow_again} over 50 ms ({verdict(slow_again == 0)})."
    )
    if slow:
        # One client, so the latencies are in the order the keystrokes were sent.
        typed = keystroke_queries()
        small_by_text = dict(zip(typed, small["replay"][0], strict=False))
        slowest = sorted(zip(big["replay"][0], typed, strict=False), reverse=True)[:5]
        line += (
            f" The slowest at {largest}, with the same keystroke at {smallest}: "
            + "; ".join(
                f"`{text}` {common.ms(latency)} ({common.ms(small_by_text.get(text, 0.0))})"
                for latency, text in slowest
            )
            + f". At {smallest} {slow_small} keystrokes were over 50 ms under the same load "
            f"(see the load averages above). The first time at {largest} the server read "
            f"{big['replay_disk_mb']:.1f} MB from disk, typed again "
            f"{big['replay_again_disk_mb']:.1f} MB: each new query reads a few hundred "
            "candidate rows and index entries spread over the file, and a page the "
            "operating system no longer holds in memory is a read from disk in the middle "
            "of a keystroke."
        )
    lines.append(line)
    rss = big["peak_rss_mb"]
    line = (
        f"- Peak RSS at {largest} under load: {rss:.0f} MB, {verdict(rss <= 250)}; target "
        "at most 250 MB."
    )
    if rss > 250:
        line += (
            f" Of the resident memory after the load, {big['anon_mb']:.0f} MB is the process's "
            f"own (RssAnon: Python, the app and each connection's page cache, "
            f"{connection_memory()} for each of {READERS + 1} connections) and "
            f"{big['file_mb']:.0f} MB file pages (RssFile: the code and any mapped database "
            "pages). Search reads at most a few hundred rows per query and never a whole table."
        )
    lines.append(line)
    startup = big["startup_s"]
    line = (
        f"- Start-up of `shelfmark serve` to /healthz at {largest}: {startup:.2f} s, "
        f"{verdict(startup <= 2)}; target at most 2 s."
    )
    if startup > 2:
        line += (
            f" At {smallest} it took {small['startup_s']:.2f} s under the same load: "
            "start-up does not grow with the catalogue (it opens connections and checks "
            "the schema version); the time is Python importing the app on a busy machine."
        )
    lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="also measure 1M titles")
    parser.add_argument("--sizes", help="comma-separated preset sizes (overrides --full)")
    parser.add_argument(
        "--spelling-only",
        action="store_true",
        help="measure only the spelling and filter figures (their own section)",
    )
    parser.add_argument(
        "--from-json",
        action="store_true",
        help="rewrite the report from the last run's raw figures",
    )
    args = parser.parse_args(argv)
    sizes = args.sizes.split(",") if args.sizes else ["10k", "100k", *(["1m"] if args.full else [])]
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    raw = common.RESULTS / "search.json"
    spelling_raw = common.RESULTS / "search-spelling.json"
    if args.from_json:
        saved = json.loads(spelling_raw.read_text())
        spelling = (saved["results"], saved["rates"], saved["measured_on"])
    else:
        print("relevance on goodbooks-10k", file=sys.stderr)
        rates = asyncio.run(_relevance_rates())
        spelling_on = f"{common.utc_now()} on {common.machine()}"
        spelling_results = {size: measure_spelling(size) for size in sizes}
        spelling_raw.write_text(
            json.dumps({"results": spelling_results, "rates": rates, "measured_on": spelling_on})
        )
        spelling = (spelling_results, rates, spelling_on)
    spelling_body = spelling_report(*spelling)
    common.write_section(SPELLING_SECTION, spelling_body)
    print(spelling_body)
    if args.spelling_only:
        return 0
    if args.from_json:
        saved = json.loads(raw.read_text())
        results, prefix_rows = saved["results"], saved["prefix_rows"]
        measured_on = saved["measured_on"]
    else:
        measured_on = f"{common.utc_now()} on {common.machine()}"
        results = {size: measure(size, quick_rounds=not args.full) for size in sizes}
        print(f"{sizes[-1]}: prefix index comparison", file=sys.stderr)
        prefix_rows = prefix_index_comparison(database_for(sizes[-1]))
        raw.write_text(
            json.dumps({"results": results, "prefix_rows": prefix_rows, "measured_on": measured_on})
        )
    body = report(results, prefix_rows, list(results)[-1], measured_on)
    common.write_section(SECTION, body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
