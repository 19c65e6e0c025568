-- Publishing an import without holding the write lock (issue 17, item 4, what remained).
--
-- 0008 staged an import in short transactions but still published it in one: at a
-- million rows that transaction held SQLite's write lock for about a minute, and desk
-- scans meanwhile waited 10 s and got 503. Now the new books and their copies are
-- written into Books and Copies a few thousand at a time, carrying their import's id,
-- and stay invisible until one tiny transaction marks the run 'published'
-- (docs/importing.md, "Published in short transactions, shown in one").

-- The run a book was imported by, while that run is not yet cleared: NULL for every
-- book in the steady state. After the flip a run's books are visible through the
-- run's Status, and then their ImportID is set back to NULL in short transactions, so
-- a catalogue read pays only an "ImportID IS NULL" test that is true.
-- (Copies need no column of their own: an import adds copies only to its new books.)
ALTER TABLE Books ADD COLUMN ImportID INTEGER REFERENCES ImportRuns (ImportID);
CREATE INDEX Books_ByImport ON Books (ImportID) WHERE ImportID IS NOT NULL;

-- Set when the publication starts: the new books' BookIDs are BookBase + NewIndex
-- (the run's last book is written first, so books added by hand meanwhile get BookIDs
-- above the range), and the staged rows up to PublishedSeq are in Books. A run in
-- Status 'staged' with a BookBase is being published.
ALTER TABLE ImportRuns ADD COLUMN BookBase INTEGER;
ALTER TABLE ImportRuns ADD COLUMN PublishedSeq INTEGER;

-- A publication chunk reads the copies of a range of staged books, and the flip reads
-- only the changed books (not the million new ones).
CREATE INDEX ImportStagedCopies_BySeq ON ImportStagedCopies (ImportID, Seq);
CREATE INDEX ImportStagedBooks_Updates ON ImportStagedBooks (ImportID, Seq)
    WHERE Action = 'update';

-- What users see of the catalogue: every book but those of an import not yet
-- published, and the copies of those books. Catalogue reads (search, book pages,
-- series, browse, the desk's barcode lookup, holds, exports, counts, labels) read
-- these views; checks of uniqueness (a barcode, an ISBN, a card) read the tables, so
-- a code an import is publishing is already taken.
CREATE VIEW CatalogueBooks AS
SELECT * FROM Books
WHERE ImportID IS NULL
   OR ImportID IN (SELECT ImportID FROM ImportRuns WHERE Status = 'published');

-- The copies of the books above. Not as a join with CatalogueBooks: that costs a
-- lookup of each copy's book, which doubled a 50,000-copy stocktake's progress count,
-- whereas the hidden books (none, outside a publication) are found once, through the
-- partial index Books_ByImport, and each copy is checked against that short list.
CREATE VIEW CatalogueCopies AS
SELECT * FROM Copies
WHERE BookID NOT IN (
    SELECT BookID FROM Books
    WHERE ImportID IS NOT NULL
      AND ImportID NOT IN (SELECT ImportID FROM ImportRuns WHERE Status = 'published')
);
