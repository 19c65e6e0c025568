-- The server keeps recent searches in memory (webapp/search_cache.py): the
-- first keystrokes are the same for every student ("h", "ha", "the"), and
-- ranking their candidates is most of a search's cost. A cached answer is
-- only used while these counters are unchanged, so a search never shows a
-- book, a title or a shelf state older than the last change to it, even when
-- the change came from another process (an import, the scheduler).
--   Catalogue:   a book's searchable text or its presence (ranking and matches).
--   Circulation: copies, loans and holds (what is on the shelf, due back when).
CREATE TABLE SearchVersions (
    Singleton   INTEGER PRIMARY KEY CHECK (Singleton = 1),
    Catalogue   INTEGER NOT NULL DEFAULT 0,
    Circulation INTEGER NOT NULL DEFAULT 0
);

INSERT INTO SearchVersions (Singleton) VALUES (1);

CREATE TRIGGER Books_CatalogueChangedByInsert AFTER INSERT ON Books
BEGIN
    UPDATE SearchVersions SET Catalogue = Catalogue + 1;
END;

CREATE TRIGGER Books_CatalogueChangedByDelete AFTER DELETE ON Books
BEGIN
    UPDATE SearchVersions SET Catalogue = Catalogue + 1;
END;

CREATE TRIGGER Books_CatalogueChangedByUpdate
AFTER UPDATE OF Title, Author, Series, Subjects, ISBN, Year, WithdrawnAt ON Books
BEGIN
    UPDATE SearchVersions SET Catalogue = Catalogue + 1;
END;

CREATE TRIGGER Copies_CirculationChangedByInsert AFTER INSERT ON Copies
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Copies_CirculationChangedByUpdate AFTER UPDATE ON Copies
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Copies_CirculationChangedByDelete AFTER DELETE ON Copies
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Loans_CirculationChangedByInsert AFTER INSERT ON Loans
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Loans_CirculationChangedByUpdate AFTER UPDATE ON Loans
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Loans_CirculationChangedByDelete AFTER DELETE ON Loans
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Holds_CirculationChangedByInsert AFTER INSERT ON Holds
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Holds_CirculationChangedByUpdate AFTER UPDATE ON Holds
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Holds_CirculationChangedByDelete AFTER DELETE ON Holds
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

-- Availability (the BookAvailability view) reads each copy's BookID and
-- Status; with both in one index it never reads the Copies table itself,
-- which at a million titles is the larger part of a search's page reads.
-- It starts with BookID, so it serves every lookup Copies_BookID did.
CREATE INDEX Copies_ByBookAndStatus ON Copies (BookID, Status);
DROP INDEX Copies_BookID;
