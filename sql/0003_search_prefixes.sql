-- Search answers from the first keystroke. A one-letter prefix query without
-- a prefix index merges the doclists of every word starting with that letter
-- before returning a single row (hundreds of milliseconds at a million titles,
-- even for a capped count); with prefix='1 2 3' every prefix of up to three
-- characters is one precomputed doclist that is read only as far as needed.
-- Measured in docs/benchmarks.md; the index grows by about a third.
-- The table is rebuilt from its content view; the triggers of 0001 keep
-- maintaining it under the same name.
DROP TABLE BooksSearch;

CREATE VIRTUAL TABLE BooksSearch USING fts5 (
    Title, Author, Extra,
    content = 'BooksSearchSource',
    content_rowid = 'BookID',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);

INSERT INTO BooksSearch (BooksSearch) VALUES ('rebuild');

-- Search ranks a bounded set of candidates when a query matches too many
-- books to rank them all; the most borrowed are among them, read in this
-- order. Title, Author and Year make it covering, so reading the few hundred most
-- borrowed books touches no table pages.
CREATE INDEX Books_ByPopularity ON Books (TimesBorrowed DESC, BookID DESC, Title, Author, Year);

-- And the titles that begin with what was typed ("the lo" for The Lord of the
-- Rings), read through this index: LIKE 'the lo%' is a range scan on it.
CREATE INDEX Books_TitleNoCase ON Books (Title COLLATE NOCASE);
