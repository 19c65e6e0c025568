-- Stocktake by scanning (docs/stocktake.md). A stocktake covers the whole library
-- or a set of shelf locations (Copies.Location), stays open for as long as it
-- takes (days, several staff on several devices), and is closed once.
CREATE TABLE Stocktakes (
    StocktakeID  INTEGER PRIMARY KEY,
    Name         TEXT NOT NULL CHECK (length(trim(Name)) BETWEEN 1 AND 100),
    -- 1: every copy; 0: only the copies at the locations in StocktakeLocations.
    WholeLibrary INTEGER NOT NULL CHECK (WholeLibrary IN (0, 1)),
    State        TEXT NOT NULL DEFAULT 'open' CHECK (State IN ('open', 'closed')),
    StartedBy    INTEGER NOT NULL REFERENCES Users (UserID),
    StartedAt    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ClosedBy     INTEGER REFERENCES Users (UserID),
    ClosedAt     TEXT,
    -- When the copies found missing at the close were marked lost (once at most).
    MarkedLostAt TEXT,
    -- Copies scanned so far, kept by the triggers below: each scan answers with it, and
    -- counting 50,000 scans for every scan cost it more than the rest of its work.
    Counted      INTEGER NOT NULL DEFAULT 0 CHECK (Counted >= 0),
    CHECK ((State = 'closed') = (ClosedAt IS NOT NULL AND ClosedBy IS NOT NULL)),
    CHECK (MarkedLostAt IS NULL OR State = 'closed')
);

CREATE TABLE StocktakeLocations (
    StocktakeID INTEGER NOT NULL REFERENCES Stocktakes (StocktakeID),
    Location    TEXT NOT NULL CHECK (length(Location) BETWEEN 1 AND 100),
    PRIMARY KEY (StocktakeID, Location)
) WITHOUT ROWID;

-- Every scan that counted: a copy once per stocktake, whoever scanned it and on
-- whichever device (the unique index below, so two staff scanning the same copy at
-- the same instant still count it once), and each unknown code once, so the report
-- can list them. Result is what the copy was when first scanned: expected (where it
-- belongs), misplaced, on_loan, withdrawn, lost (found!), unknown (no such copy).
CREATE TABLE StocktakeScans (
    ScanID      INTEGER PRIMARY KEY,
    StocktakeID INTEGER NOT NULL REFERENCES Stocktakes (StocktakeID),
    -- A copy deleted from the catalogue (only ever one without history) goes from here too.
    CopyID      INTEGER REFERENCES Copies (CopyID) ON DELETE CASCADE,
    Code        TEXT NOT NULL CHECK (length(Code) BETWEEN 1 AND 254),
    Result      TEXT NOT NULL
                CHECK (Result IN ('expected', 'misplaced', 'on_loan', 'withdrawn', 'lost', 'unknown')),
    -- The shelf the scanner said they were at (NULL: not said).
    Shelf       TEXT CHECK (Shelf IS NULL OR length(Shelf) <= 100),
    ScannedBy   INTEGER NOT NULL REFERENCES Users (UserID),
    ScannedAt   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK ((CopyID IS NULL) = (Result = 'unknown'))
);
-- NULLs are distinct in a UNIQUE index, so unknown codes (no CopyID) have their own.
CREATE UNIQUE INDEX StocktakeScans_OncePerCopy ON StocktakeScans (StocktakeID, CopyID);
CREATE UNIQUE INDEX StocktakeScans_OncePerUnknownCode
    ON StocktakeScans (StocktakeID, Code COLLATE NOCASE) WHERE CopyID IS NULL;
-- The progress page counts the scans by what they found; the report lists each kind.
CREATE INDEX StocktakeScans_ByResult ON StocktakeScans (StocktakeID, Result);

CREATE TRIGGER StocktakeScans_CountedOnInsert AFTER INSERT ON StocktakeScans
WHEN NEW.CopyID IS NOT NULL
BEGIN
    UPDATE Stocktakes SET Counted = Counted + 1 WHERE StocktakeID = NEW.StocktakeID;
END;

CREATE TRIGGER StocktakeScans_CountedOnDelete AFTER DELETE ON StocktakeScans
WHEN OLD.CopyID IS NOT NULL
BEGIN
    UPDATE Stocktakes SET Counted = Counted - 1 WHERE StocktakeID = OLD.StocktakeID;
END;

-- The copies missing when the stocktake was closed (expected, not scanned, not on
-- loan), kept as they were then: "mark the missing as lost" acts on exactly this set,
-- however the copies have moved since.
CREATE TABLE StocktakeMissing (
    StocktakeID INTEGER NOT NULL REFERENCES Stocktakes (StocktakeID),
    CopyID      INTEGER NOT NULL REFERENCES Copies (CopyID) ON DELETE CASCADE,
    PRIMARY KEY (StocktakeID, CopyID)
) WITHOUT ROWID;

-- The progress page counts each location's copies on the shelf: by location, then status;
-- with the book, so the check that the copy's book is in the catalogue (CatalogueCopies,
-- migration 0017) is read from the index too.
CREATE INDEX Copies_ByLocation ON Copies (Location, Status, BookID);
