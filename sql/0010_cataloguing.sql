-- Cataloguing (issue 19): shelf marks, covers, the label print queue and the
-- "box of new books" scan list.
--
-- A shelf mark (call number, "FIC ROW", "823.914 TOL") belongs to the title: every
-- copy of it stands in the same place on the shelves and carries the same spine label.
ALTER TABLE Books ADD COLUMN ShelfMark TEXT
    CHECK (ShelfMark IS NULL OR length(ShelfMark) BETWEEN 1 AND 40);

-- The page count the ISBN lookup brings; shown on the book page.
ALTER TABLE Books ADD COLUMN Pages INTEGER CHECK (Pages IS NULL OR Pages BETWEEN 1 AND 100000);

-- Whether the book has a cover, as a number that changes with every new one: the
-- cover's address carries it, so a browser never shows an old cover from its cache,
-- and search results know there is a cover from this column alone (no file check,
-- no join per result). NULL: no cover. The image files are in the instance
-- folder's covers/ (webapp/covers.py).
ALTER TABLE Books ADD COLUMN CoverVersion INTEGER CHECK (CoverVersion IS NULL OR CoverVersion >= 1);

-- Open Library's covers service is asked once per book, whatever its answer.
ALTER TABLE Books ADD COLUMN CoverFetchedAt TEXT;

-- Shelf-list order: the shelf marks as the shelves read them.
CREATE INDEX Books_ByShelfMark ON Books (ShelfMark, Title) WHERE ShelfMark IS NOT NULL;

-- Search results show the cover and the shelf mark, and the search cache keeps
-- pages of results until the catalogue changes: these changes count too.
CREATE TRIGGER Books_CatalogueChangedByCataloguing
AFTER UPDATE OF ShelfMark, CoverVersion ON Books
BEGIN
    UPDATE SearchVersions SET Catalogue = Catalogue + 1;
END;

-- The label print queue: copies added since their labels were printed. Every new
-- copy joins it, whichever writer adds it (forms, importers, the box of new books);
-- printing takes it out. The copies already on the shelves are labelled already.
CREATE TABLE LabelQueue (
    CopyID   INTEGER PRIMARY KEY REFERENCES Copies (CopyID) ON DELETE CASCADE,
    QueuedAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TRIGGER Copies_QueueLabels AFTER INSERT ON Copies
BEGIN
    INSERT INTO LabelQueue (CopyID) VALUES (NEW.CopyID);
END;

-- The "box of new books": each ISBN scanned, what became of it, until the
-- librarian has reviewed the list and closed the box.
CREATE TABLE BoxScans (
    ScanID   INTEGER PRIMARY KEY,
    UserID   INTEGER NOT NULL REFERENCES Users (UserID),
    ISBN     TEXT NOT NULL CHECK (length(ISBN) = 13 AND ISBN NOT GLOB '*[^0-9]*'),
    Outcome  TEXT NOT NULL CHECK (Outcome IN ('new_book', 'new_copy', 'not_found', 'unreachable')),
    BookID   INTEGER REFERENCES Books (BookID) ON DELETE SET NULL,
    CopyID   INTEGER REFERENCES Copies (CopyID) ON DELETE SET NULL,
    At       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ClosedAt TEXT
);

CREATE INDEX BoxScans_OpenByUser ON BoxScans (UserID, ScanID) WHERE ClosedAt IS NULL;
