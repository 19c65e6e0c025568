"""The query builder: whatever a user types becomes a safe FTS5 expression."""

from __future__ import annotations

import sqlite3

import pytest

from webapp import search_query

NASTY = [
    '"',
    '""',
    "*",
    "-",
    ":",
    "^",
    "(",
    ")",
    "a:b",
    "title:gatsby",
    "NEAR(a b)",
    "a AND",
    "OR",
    "NOT gatsby",
    "-gatsby",
    "^the",
    '"unterminated',
    "foo*bar",
    "x" * 2000,
    "🙂📚",
    "ø",
    "日本語",
    "Robert'); DROP TABLE Books;--",
    "\x00",
    "a\x00b",
    "  ",
    "{col}: x",
    "+",
    "...",
    "%_",
]


def test_each_word_is_quoted_and_matched_as_a_prefix():
    query = search_query.parse("harr pot")
    assert query.terms == ("harr", "pot")
    assert query.match_expression() == '"harr"* AND "pot"*'


def test_quotes_inside_a_word_are_doubled():
    assert search_query.parse('o"brien').match_expression() == '"o""brien"*'


def test_words_without_letters_or_digits_are_dropped():
    assert search_query.parse("- * ( ) 🙂").is_empty


def test_very_long_input_is_cut_to_a_bounded_query():
    query = search_query.parse("word " * 1000)
    assert len(query.text) <= search_query.MAX_QUERY_CHARS
    assert len(query.terms) <= search_query.MAX_TERMS


@pytest.mark.parametrize("text", NASTY)
def test_no_input_makes_fts5_raise(text):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(a, tokenize='unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO t VALUES ('The Great Gatsby: AND OR NOT NEAR 日本語 ø')")
    query = search_query.parse(text)
    if not query.is_empty:
        conn.execute("SELECT * FROM t WHERE t MATCH ?", (query.match_expression(),)).fetchall()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("978-0743273565", "9780743273565"),
        ("978 0 7432 7356 5", "9780743273565"),
        ("0743273567", "9780743273565"),
        ("043942089X", "9780439420891"),
        ("9780743273566", None),
        ("harry potter", None),
        ("12345", None),
    ],
)
def test_isbns_are_recognised_and_normalised(text, expected):
    assert search_query.parse(text).isbn13 == expected


def test_finished_common_words_are_not_required_but_the_word_being_typed_is():
    assert search_query.parse("the lord of the r").match_expression() == '"lord"* AND "r"*'
    assert search_query.parse("lord of the").match_expression() == '"lord"* AND "the"*'
    assert search_query.parse("of the").match_expression() == '"of"* AND "the"*'
    assert search_query.parse("the the").match_expression() == '"the"*'
