-- Staged imports (issue 17, item 4): a large import no longer holds the write lock.
--
-- Confirming a 1,000,000-row file used to be one transaction of about 50 s, during
-- which every desk scan waited and then failed with "database is locked". Now the
-- rows are checked and written here, in short transactions of a few thousand rows
-- that let the desk's writes in between, and one final transaction copies them
-- into Books and Copies with plain INSERT ... SELECT (docs/importing.md). No page
-- reads these tables, so users see all of an import or none of it.

-- One import: staged by the preview, published by the confirm, or abandoned
-- (its holder died or walked away; the next import removes its rows).
CREATE TABLE ImportRuns (
    ImportID    INTEGER PRIMARY KEY,
    -- The upload it reads (the web's random token, or the CLI's file name) and
    -- the column mapping used, as JSON: a preview is reused only for the same pair.
    Source      TEXT NOT NULL,
    Mapping     TEXT NOT NULL,
    -- The process staging it (a lease holder name, webapp/leases.py).
    Holder      TEXT NOT NULL,
    Status      TEXT NOT NULL DEFAULT 'staging'
                CHECK (Status IN ('staging', 'staged', 'published')),
    StartedAt   TEXT NOT NULL,
    -- Renewed by every batch: a run in 'staging' not touched for a while is abandoned.
    TouchedAt   TEXT NOT NULL,
    -- The preview's counts, grouped reasons and samples (JSON), once staged.
    Summary     TEXT,
    -- The barcode_next before and after this run reserved its generated barcodes,
    -- so that a run that fails can give the numbers back if nobody took more since.
    BarcodeFrom INTEGER,
    BarcodeTo   INTEGER
);

-- One valid row of the file, as it will be written. Action 'new' adds a book
-- (its BookID will be the largest BookID at publication plus NewIndex), 'update'
-- changes BookID's non-NULL columns, 'same' changes nothing (kept so that a later
-- row of the file repeating it is known as a repeat).
CREATE TABLE ImportStagedBooks (
    ImportID   INTEGER NOT NULL REFERENCES ImportRuns (ImportID),
    Seq        INTEGER NOT NULL,
    Line       INTEGER NOT NULL,
    Action     TEXT NOT NULL CHECK (Action IN ('new', 'update', 'same')),
    Identity   TEXT NOT NULL,
    BookID     INTEGER,
    NewIndex   INTEGER,
    Title      TEXT,
    Author     TEXT,
    ISBN       TEXT,
    Year       INTEGER,
    Language   TEXT,
    Series     TEXT,
    Subjects   TEXT,
    Publisher  TEXT,
    Location   TEXT,
    -- Copies still to get a generated barcode (done in batches before publication).
    ToGenerate INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ImportID, Seq)
);
CREATE UNIQUE INDEX ImportStagedBooks_ByIdentity ON ImportStagedBooks (ImportID, Identity);
CREATE INDEX ImportStagedBooks_ToGenerate ON ImportStagedBooks (ImportID, Seq) WHERE ToGenerate > 0;

-- The copies of staged new books, with the barcodes they will have.
CREATE TABLE ImportStagedCopies (
    ImportID INTEGER NOT NULL REFERENCES ImportRuns (ImportID),
    Seq      INTEGER NOT NULL,
    Barcode  TEXT NOT NULL COLLATE NOCASE
);
CREATE UNIQUE INDEX ImportStagedCopies_ByBarcode ON ImportStagedCopies (ImportID, Barcode);
