CREATE TABLE Books (
    BookID       INTEGER PRIMARY KEY,
    Title        TEXT NOT NULL CHECK (length(trim(Title)) BETWEEN 1 AND 500),
    -- Several authors are kept as one display string, "First Author, Second Author".
    Author       TEXT NOT NULL DEFAULT '' CHECK (length(Author) <= 500),
    -- Normalised ISBN-13 digits; hyphens are added for display only.
    ISBN         TEXT UNIQUE CHECK (ISBN IS NULL OR (length(ISBN) = 13 AND ISBN NOT GLOB '*[^0-9]*')),
    Series       TEXT CHECK (Series IS NULL OR length(Series) <= 300),
    Subjects     TEXT CHECK (Subjects IS NULL OR length(Subjects) <= 1000),
    Publisher    TEXT CHECK (Publisher IS NULL OR length(Publisher) <= 300),
    Year         INTEGER CHECK (Year IS NULL OR Year BETWEEN -3000 AND 2200),
    Language     TEXT CHECK (Language IS NULL OR length(Language) <= 20),
    -- How often any copy was lent: a counter kept by a trigger on Loans, because
    -- search ranks popular titles first and cannot count a million loans per keystroke.
    TimesBorrowed INTEGER NOT NULL DEFAULT 0 CHECK (TimesBorrowed >= 0),
    AddedAt      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    WithdrawnAt  TEXT
, ShelfMark TEXT
    CHECK (ShelfMark IS NULL OR length(ShelfMark) BETWEEN 1 AND 40), Pages INTEGER CHECK (Pages IS NULL OR Pages BETWEEN 1 AND 100000), CoverVersion INTEGER CHECK (CoverVersion IS NULL OR CoverVersion >= 1), CoverFetchedAt TEXT, ImportID INTEGER REFERENCES ImportRuns (ImportID));

CREATE VIRTUAL TABLE BooksSearch USING fts5 (
    Title, Author, Extra,
    content = 'BooksSearchSource',
    content_rowid = 'BookID',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);

CREATE VIRTUAL TABLE BooksSearchVocabulary USING fts5vocab ('BooksSearch', 'row');

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

CREATE TABLE CirculationRules (
    RuleID       INTEGER PRIMARY KEY,
    CategoryID   INTEGER REFERENCES PatronCategories (CategoryID),
    ItemTypeID   INTEGER REFERENCES ItemTypes (ItemTypeID),
    -- The loan period; 0 is due the same day. With DueAtTermEnd, the period used when
    -- no term dates are known from the day of lending on.
    LoanDays     INTEGER NOT NULL CHECK (LoanDays BETWEEN 0 AND 365),
    DueAtTermEnd INTEGER NOT NULL DEFAULT 0 CHECK (DueAtTermEnd IN (0, 1)),
    -- Most open loans of this item type (NULL: only the category's total counts).
    MaxOfType    INTEGER CHECK (MaxOfType IS NULL OR MaxOfType BETWEEN 0 AND 1000),
    MaxRenewals  INTEGER NOT NULL CHECK (MaxRenewals BETWEEN 0 AND 100),
    HoldsAllowed INTEGER NOT NULL DEFAULT 1 CHECK (HoldsAllowed IN (0, 1)),
    NotForLoan   INTEGER NOT NULL DEFAULT 0 CHECK (NotForLoan IN (0, 1))
);

CREATE TABLE ClosedDays (
    Day    TEXT PRIMARY KEY CHECK (date(Day) IS Day),
    Reason TEXT CHECK (Reason IS NULL OR length(Reason) <= 200)
);

CREATE TABLE Copies (
    CopyID    INTEGER PRIMARY KEY,
    BookID    INTEGER NOT NULL REFERENCES Books (BookID),
    Barcode   TEXT NOT NULL UNIQUE COLLATE NOCASE
              CHECK (length(Barcode) BETWEEN 1 AND 64 AND Barcode NOT GLOB '*[^0-9A-Za-z._-]*'),
    Location  TEXT CHECK (Location IS NULL OR length(Location) <= 100),
    -- Whether the copy is on loan is derived from Loans, never stored here.
    Status    TEXT NOT NULL DEFAULT 'in_stock' CHECK (Status IN ('in_stock', 'withdrawn', 'lost')),
    AddedAt   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
, ItemTypeID INTEGER REFERENCES ItemTypes (ItemTypeID));

CREATE TABLE Events (
    EventID  INTEGER PRIMARY KEY,
    At       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    Kind     TEXT NOT NULL CHECK (length(Kind) BETWEEN 1 AND 40),
    ActorID  INTEGER REFERENCES Users (UserID),
    UserID   INTEGER REFERENCES Users (UserID),
    BookID   INTEGER REFERENCES Books (BookID),
    CopyID   INTEGER REFERENCES Copies (CopyID),
    LoanID   INTEGER REFERENCES Loans (LoanID),
    HoldID   INTEGER REFERENCES Holds (HoldID),
    Detail   TEXT
, BorrowerRole TEXT, BorrowerGroup TEXT, RedactedBy INTEGER REFERENCES Events (EventID), BorrowerCategory TEXT);

CREATE TABLE "Holds" (
    HoldID    INTEGER PRIMARY KEY,
    -- NULL once the closed hold is anonymised.
    UserID    INTEGER REFERENCES Users (UserID),
    BookID    INTEGER NOT NULL REFERENCES Books (BookID),
    PlacedAt  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    Status    TEXT NOT NULL DEFAULT 'waiting'
              CHECK (Status IN ('waiting', 'ready', 'filled', 'expired', 'cancelled')),
    -- The copy set aside once the hold is ready, and the last day to collect it.
    CopyID    INTEGER REFERENCES Copies (CopyID),
    PickupBy  TEXT CHECK (PickupBy IS NULL OR date(PickupBy) IS PickupBy),
    ClosedAt  TEXT,
    BorrowerRole  TEXT,
    BorrowerGroup TEXT,
    AnonymisedAt  TEXT, BorrowerCategory TEXT,
    CHECK (Status <> 'ready' OR (CopyID IS NOT NULL AND PickupBy IS NOT NULL)),
    CHECK (UserID IS NOT NULL OR (Status NOT IN ('waiting', 'ready') AND AnonymisedAt IS NOT NULL))
);

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
, BookBase INTEGER, PublishedSeq INTEGER);

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
    ToGenerate INTEGER NOT NULL DEFAULT 0, ItemTypeID INTEGER REFERENCES ItemTypes (ItemTypeID),
    PRIMARY KEY (ImportID, Seq)
);

CREATE TABLE ImportStagedCopies (
    ImportID INTEGER NOT NULL REFERENCES ImportRuns (ImportID),
    Seq      INTEGER NOT NULL,
    Barcode  TEXT NOT NULL COLLATE NOCASE
);

CREATE TABLE ItemTypes (
    ItemTypeID INTEGER PRIMARY KEY,
    Name       TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(Name)) BETWEEN 1 AND 40),
    -- The item type of a copy added without one (exactly one type is the default).
    IsDefault  INTEGER NOT NULL DEFAULT 0 CHECK (IsDefault IN (0, 1))
);

CREATE TABLE JobLeases (
    Name      TEXT PRIMARY KEY,
    Holder    TEXT NOT NULL,
    ExpiresAt TEXT NOT NULL
);

CREATE TABLE JobRuns (
    RunID      INTEGER PRIMARY KEY,
    Job        TEXT NOT NULL CHECK (length(Job) BETWEEN 1 AND 40),
    -- 'nightly' (the scheduler), 'catch-up' (at start after a missed night), 'manual'.
    Trigger    TEXT NOT NULL CHECK (Trigger IN ('nightly', 'catch-up', 'manual')),
    RunDate    TEXT NOT NULL CHECK (date(RunDate) IS RunDate),
    StartedAt  TEXT NOT NULL,
    FinishedAt TEXT,
    Status     TEXT NOT NULL DEFAULT 'running' CHECK (Status IN ('running', 'succeeded', 'failed')),
    Flagged    INTEGER NOT NULL DEFAULT 0,
    Queued     INTEGER NOT NULL DEFAULT 0,
    Sent       INTEGER NOT NULL DEFAULT 0,
    Pending    INTEGER NOT NULL DEFAULT 0,
    Failed     INTEGER NOT NULL DEFAULT 0,
    Error      TEXT
);

CREATE TABLE LabelQueue (
    CopyID   INTEGER PRIMARY KEY REFERENCES Copies (CopyID) ON DELETE CASCADE,
    QueuedAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE LibrarySettings (
    Key   TEXT PRIMARY KEY,
    Value TEXT NOT NULL
);

CREATE TABLE "Loans" (
    LoanID     INTEGER PRIMARY KEY,
    -- NULL once the loan is anonymised (returned, and AnonymisedAt set).
    UserID     INTEGER REFERENCES Users (UserID),
    BookID     INTEGER NOT NULL REFERENCES Books (BookID),
    CopyID     INTEGER NOT NULL REFERENCES Copies (CopyID),
    LoanDate   TEXT NOT NULL CHECK (date(LoanDate) IS LoanDate),
    -- The date the loan is due back (the teaching schema's name is kept).
    ReturnDate TEXT NOT NULL CHECK (date(ReturnDate) IS ReturnDate AND ReturnDate >= LoanDate),
    -- When it actually came back; NULL while the loan is open.
    ReturnedAt TEXT CHECK (ReturnedAt IS NULL OR ReturnedAt >= LoanDate),
    Renewals   INTEGER NOT NULL DEFAULT 0 CHECK (Renewals >= 0),
    LentBy     INTEGER REFERENCES Users (UserID),
    CreatedAt  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ClosedAs   TEXT
        CHECK (ClosedAs IS NULL OR (ClosedAs IN ('lost', 'claims_returned') AND ReturnedAt IS NOT NULL)),
    -- The borrower's role and group when the copy was lent (statistics).
    BorrowerRole  TEXT,
    BorrowerGroup TEXT,
    -- When the borrower was removed from this loan.
    AnonymisedAt  TEXT, BorrowerCategory TEXT, CopyItemType TEXT,
    CHECK (UserID IS NOT NULL OR (ReturnedAt IS NOT NULL AND AnonymisedAt IS NOT NULL))
);

CREATE TABLE LoginFailures (
    FailureID INTEGER PRIMARY KEY,
    Email     TEXT NOT NULL COLLATE NOCASE,
    Address   TEXT NOT NULL,
    At        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
, Checking INTEGER NOT NULL DEFAULT 0 CHECK (Checking IN (0, 1)));

CREATE TABLE NoticeWordings (
    WordingID INTEGER PRIMARY KEY,
    Kind      TEXT NOT NULL CHECK (Kind IN ('reminder', 'courtesy', 'hold_ready', 'invitation')),
    Subject   TEXT CHECK (Subject IS NULL OR length(Subject) BETWEEN 1 AND 300),
    Body      TEXT CHECK (Body IS NULL OR length(Body) BETWEEN 1 AND 10000),
    SavedBy   INTEGER REFERENCES Users (UserID),
    SavedAt   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CHECK ((Subject IS NULL) = (Body IS NULL))
);

CREATE TABLE Notices (
    NoticeID  INTEGER PRIMARY KEY,
    LoanID    INTEGER NOT NULL REFERENCES Loans (LoanID),
    UserID    INTEGER NOT NULL REFERENCES Users (UserID),
    -- Days relative to the due date: -2 is two days before, 7 is a week overdue.
    Stage     INTEGER NOT NULL CHECK (Stage BETWEEN -365 AND 3650),
    DueDate   TEXT NOT NULL CHECK (date(DueDate) IS DueDate),
    -- The library date of the run that reached the stage.
    RunDate   TEXT NOT NULL CHECK (date(RunDate) IS RunDate),
    MessageID INTEGER REFERENCES Outbox (MessageID),
    CreatedAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (LoanID, Stage, DueDate)
);

CREATE TABLE "Outbox" (
    MessageID     INTEGER PRIMARY KEY,
    Kind          TEXT NOT NULL CHECK (length(Kind) BETWEEN 1 AND 40 AND Kind NOT GLOB '*[^a-z_]*'),
    UserID        INTEGER NOT NULL REFERENCES Users (UserID),
    Recipient     TEXT NOT NULL,
    Subject       TEXT NOT NULL,
    BodyText      TEXT NOT NULL,
    BodyHtml      TEXT NOT NULL,
    -- A unique Message-ID header, fixed when the row is written.
    HeaderMessageID TEXT NOT NULL UNIQUE,
    Status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (Status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    Attempts      INTEGER NOT NULL DEFAULT 0,
    NextAttemptAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    LastError     TEXT,
    CreatedAt     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    SentAt        TEXT,
    -- How a sent message left: 'smtp' or 'mailbox' (see 0002_reminders.sql).
    Transport     TEXT CHECK (Transport IS NULL OR Transport IN ('smtp', 'mailbox')),
    SendingSince  TEXT
, WordingVersion INTEGER NOT NULL DEFAULT 0, Cc TEXT CHECK (Cc IS NULL OR length(Cc) <= 254));

CREATE TABLE PasswordResetRequests (
    RequestID INTEGER PRIMARY KEY,
    Email     TEXT NOT NULL COLLATE NOCASE,
    Address   TEXT NOT NULL,
    At        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE PatronCategories (
    CategoryID       INTEGER PRIMARY KEY,
    Name             TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(Name)) BETWEEN 1 AND 40),
    -- Most open loans in all, whatever their item types.
    MaxLoans         INTEGER NOT NULL CHECK (MaxLoans BETWEEN 0 AND 1000),
    -- Most holds (waiting or ready) at once; 0: no holds.
    MaxHolds         INTEGER NOT NULL CHECK (MaxHolds BETWEEN 0 AND 1000),
    -- Whether a patron with an overdue item may borrow more.
    BlockWhenOverdue INTEGER NOT NULL CHECK (BlockWhenOverdue IN (0, 1)),
    -- How many days overdue a loan may be and still be renewed (0: not once overdue).
    RenewOverdueDays INTEGER NOT NULL CHECK (RenewOverdueDays BETWEEN 0 AND 365),
    -- The category a new account of this role gets when none is given.
    DefaultForRole   TEXT UNIQUE
                     CHECK (DefaultForRole IS NULL OR DefaultForRole IN ('Student', 'Librarian', 'Admin'))
);

CREATE TABLE RulesVersion (
    Singleton INTEGER PRIMARY KEY CHECK (Singleton = 1),
    Version   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE SchedulerHeartbeat (
    Singleton INTEGER PRIMARY KEY CHECK (Singleton = 1),
    Holder    TEXT NOT NULL,  -- host:pid of the process that wrote it
    BeatAt    TEXT NOT NULL   -- UTC, like 2026-11-29T02:00:00Z
);

CREATE TABLE SearchVersions (
    Singleton   INTEGER PRIMARY KEY CHECK (Singleton = 1),
    Catalogue   INTEGER NOT NULL DEFAULT 0,
    Circulation INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE SearchVocabularyChanges (
    ChangeID INTEGER PRIMARY KEY,
    BookID   INTEGER NOT NULL
);

CREATE TABLE Sessions (
    TokenHash  TEXT PRIMARY KEY,
    UserID     INTEGER NOT NULL REFERENCES Users (UserID) ON DELETE CASCADE,
    CreatedAt  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ExpiresAt  TEXT NOT NULL
);

CREATE TABLE SignInTokens (
    TokenID    INTEGER PRIMARY KEY,
    TokenHash  TEXT NOT NULL UNIQUE CHECK (length(TokenHash) = 64),
    UserID     INTEGER NOT NULL REFERENCES Users (UserID) ON DELETE CASCADE,
    Purpose    TEXT NOT NULL CHECK (Purpose IN ('reset', 'invitation')),
    CreatedAt  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ExpiresAt  TEXT NOT NULL,
    EndedAt    TEXT,
    EndedAs    TEXT CHECK (EndedAs IS NULL OR EndedAs IN ('used', 'superseded')),
    CHECK ((EndedAt IS NULL) = (EndedAs IS NULL))
);

CREATE TABLE SsoIdentities (
    Issuer   TEXT NOT NULL,
    Subject  TEXT NOT NULL,
    UserID   INTEGER NOT NULL UNIQUE REFERENCES Users (UserID) ON DELETE CASCADE,
    LinkedAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (Issuer, Subject)
);

CREATE TABLE StocktakeLocations (
    StocktakeID INTEGER NOT NULL REFERENCES Stocktakes (StocktakeID),
    Location    TEXT NOT NULL CHECK (length(Location) BETWEEN 1 AND 100),
    PRIMARY KEY (StocktakeID, Location)
) WITHOUT ROWID;

CREATE TABLE StocktakeMissing (
    StocktakeID INTEGER NOT NULL REFERENCES Stocktakes (StocktakeID),
    CopyID      INTEGER NOT NULL REFERENCES Copies (CopyID) ON DELETE CASCADE,
    PRIMARY KEY (StocktakeID, CopyID)
) WITHOUT ROWID;

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

CREATE TABLE Terms (
    TermID   INTEGER PRIMARY KEY,
    Name     TEXT NOT NULL CHECK (length(trim(Name)) BETWEEN 1 AND 60),
    StartsOn TEXT NOT NULL CHECK (date(StartsOn) IS StartsOn),
    EndsOn   TEXT NOT NULL CHECK (date(EndsOn) IS EndsOn AND EndsOn >= StartsOn)
);

CREATE TABLE Users (
    UserID       INTEGER PRIMARY KEY,
    Name         TEXT NOT NULL CHECK (length(trim(Name)) BETWEEN 1 AND 200),
    Role         TEXT NOT NULL CHECK (Role IN ('Student', 'Librarian', 'Admin')),
    -- NULL when the library has no address: reminders then go on a "notify by hand" list.
    Email        TEXT COLLATE NOCASE UNIQUE
                 CHECK (Email IS NULL OR (length(Email) <= 254 AND Email LIKE '_%@_%')),
    CardNumber   TEXT UNIQUE CHECK (CardNumber IS NULL OR length(CardNumber) BETWEEN 1 AND 64),
    GroupName    TEXT CHECK (GroupName IS NULL OR length(GroupName) <= 100),
    PasswordHash TEXT,
    Active       INTEGER NOT NULL DEFAULT 1 CHECK (Active IN (0, 1)),
    CreatedAt    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
, EmailReceipts INTEGER NOT NULL DEFAULT 0
    CHECK (EmailReceipts IN (0, 1)), CategoryID INTEGER REFERENCES PatronCategories (CategoryID), MustChangePassword INTEGER NOT NULL DEFAULT 0
    CHECK (MustChangePassword IN (0, 1)), KeepHistory INTEGER NOT NULL DEFAULT 0 CHECK (KeepHistory IN (0, 1)), GuardianEmail TEXT
    CHECK (GuardianEmail IS NULL OR (length(GuardianEmail) <= 254 AND GuardianEmail LIKE '_%@_%')));

CREATE INDEX Books_ByImport ON Books (ImportID) WHERE ImportID IS NOT NULL;

CREATE INDEX Books_ByLanguage ON Books (Language);

CREATE INDEX Books_ByPopularity ON Books (TimesBorrowed DESC, BookID DESC, Title, Author, Year);

CREATE INDEX Books_BySeries ON Books (Series);

CREATE INDEX Books_ByShelfMark ON Books (ShelfMark, Title) WHERE ShelfMark IS NOT NULL;

CREATE INDEX Books_Title ON Books (Title);

CREATE INDEX Books_TitleNoCase ON Books (Title COLLATE NOCASE);

CREATE INDEX BoxScans_OpenByUser ON BoxScans (UserID, ScanID) WHERE ClosedAt IS NULL;

CREATE INDEX CirculationRules_ByCategory ON CirculationRules (CategoryID);

CREATE UNIQUE INDEX CirculationRules_OnePerCell
    ON CirculationRules (ifnull(CategoryID, 0), ifnull(ItemTypeID, 0));

CREATE INDEX Copies_ByBookAndStatus ON Copies (BookID, Status);

CREATE INDEX Copies_ByItemType ON Copies (ItemTypeID);

CREATE INDEX Copies_ByLocation ON Copies (Location, Status, BookID);

CREATE INDEX Events_ByBook ON Events (BookID, EventID);

CREATE INDEX Events_ByCopy ON Events (CopyID, EventID);

CREATE INDEX Events_ByHold ON Events (HoldID) WHERE HoldID IS NOT NULL;

CREATE INDEX Events_ByLoan ON Events (LoanID) WHERE LoanID IS NOT NULL;

CREATE INDEX Events_ByUser ON Events (UserID, EventID);

CREATE INDEX Holds_ByCopy ON Holds (CopyID, HoldID) WHERE CopyID IS NOT NULL;

CREATE INDEX Holds_ByUser ON Holds (UserID, Status);

CREATE INDEX Holds_ClosedWithBorrower ON Holds (ClosedAt)
    WHERE ClosedAt IS NOT NULL AND UserID IS NOT NULL;

CREATE INDEX Holds_ExpiredByPickup ON Holds (PickupBy, HoldID) WHERE Status = 'expired';

CREATE UNIQUE INDEX Holds_OneActiveHoldPerPatronAndBook
    ON Holds (UserID, BookID) WHERE Status IN ('waiting', 'ready');

CREATE UNIQUE INDEX Holds_OneReadyHoldPerCopy ON Holds (CopyID) WHERE Status = 'ready';

CREATE INDEX Holds_Queue ON Holds (BookID, PlacedAt, HoldID) WHERE Status = 'waiting';

CREATE INDEX Holds_ReadyByPickup ON Holds (PickupBy, HoldID) WHERE Status = 'ready';

CREATE UNIQUE INDEX ImportStagedBooks_ByIdentity ON ImportStagedBooks (ImportID, Identity);

CREATE INDEX ImportStagedBooks_ToGenerate ON ImportStagedBooks (ImportID, Seq) WHERE ToGenerate > 0;

CREATE INDEX ImportStagedBooks_Updates ON ImportStagedBooks (ImportID, Seq)
    WHERE Action = 'update';

CREATE UNIQUE INDEX ImportStagedCopies_ByBarcode ON ImportStagedCopies (ImportID, Barcode);

CREATE INDEX ImportStagedCopies_BySeq ON ImportStagedCopies (ImportID, Seq);

CREATE UNIQUE INDEX ItemTypes_OneDefault ON ItemTypes (IsDefault) WHERE IsDefault = 1;

CREATE INDEX JobRuns_ByJob ON JobRuns (Job, RunID);

CREATE INDEX Loans_ByBook ON Loans (BookID, LoanDate);

CREATE INDEX Loans_ByCopy ON Loans (CopyID, LoanDate);

CREATE INDEX Loans_ByUser ON Loans (UserID, LoanDate);

CREATE INDEX Loans_ForReports
    ON Loans (LoanDate, BorrowerGroup, BorrowerCategory, CopyItemType);

CREATE UNIQUE INDEX Loans_OneOpenLoanPerCopy ON Loans (CopyID) WHERE ReturnedAt IS NULL;

CREATE INDEX Loans_OpenByBook ON Loans (BookID, ReturnDate) WHERE ReturnedAt IS NULL;

CREATE INDEX Loans_OpenByDueDate ON Loans (ReturnDate) WHERE ReturnedAt IS NULL;

CREATE INDEX Loans_OpenByUser ON Loans (UserID, ReturnDate) WHERE ReturnedAt IS NULL;

CREATE INDEX Loans_ReturnedWithBorrower ON Loans (ReturnedAt)
    WHERE ReturnedAt IS NOT NULL AND UserID IS NOT NULL;

CREATE INDEX LoginFailures_ByAddress ON LoginFailures (Address, At);

CREATE INDEX LoginFailures_ByEmail ON LoginFailures (Email, At);

CREATE INDEX NoticeWordings_ByKind ON NoticeWordings (Kind, WordingID);

CREATE INDEX Notices_ByHand ON Notices (RunDate) WHERE MessageID IS NULL;

CREATE INDEX Notices_ByMessage ON Notices (MessageID) WHERE MessageID IS NOT NULL;

CREATE INDEX Outbox_ByUser ON Outbox (UserID);

CREATE INDEX Outbox_Due ON Outbox (Status, NextAttemptAt);

CREATE INDEX Outbox_Mailbox ON Outbox (SentAt) WHERE Transport = 'mailbox';

CREATE INDEX PasswordResetRequests_ByAddress ON PasswordResetRequests (Address, At);

CREATE INDEX PasswordResetRequests_ByEmail ON PasswordResetRequests (Email, At);

CREATE INDEX Sessions_ByUser ON Sessions (UserID);

CREATE UNIQUE INDEX SignInTokens_OneLivePerUser ON SignInTokens (UserID) WHERE EndedAt IS NULL;

CREATE INDEX StocktakeScans_ByResult ON StocktakeScans (StocktakeID, Result);

CREATE UNIQUE INDEX StocktakeScans_OncePerCopy ON StocktakeScans (StocktakeID, CopyID);

CREATE UNIQUE INDEX StocktakeScans_OncePerUnknownCode
    ON StocktakeScans (StocktakeID, Code COLLATE NOCASE) WHERE CopyID IS NULL;

CREATE INDEX Terms_ByStart ON Terms (StartsOn);

CREATE INDEX Users_ByCardNoCase ON Users (CardNumber COLLATE NOCASE);

CREATE INDEX Users_ByCategory ON Users (CategoryID);

CREATE VIEW BookAvailability AS
SELECT c.BookID,
       count(*) AS Copies,
       count(*) FILTER (WHERE l.LoanID IS NULL AND h.HoldID IS NULL) AS Availability,
       min(l.ReturnDate) AS NextDueBack
FROM Copies c
LEFT JOIN Loans l ON l.CopyID = c.CopyID AND l.ReturnedAt IS NULL
LEFT JOIN Holds h ON h.CopyID = c.CopyID AND h.Status = 'ready'
WHERE c.Status = 'in_stock'
GROUP BY c.BookID;

CREATE VIEW BooksSearchSource AS
SELECT BookID, Title, Author,
       coalesce(Series, '') || ' ' || coalesce(Subjects, '') || ' ' || coalesce(ISBN, '') AS Extra
FROM Books;

CREATE VIEW CatalogueBooks AS
SELECT * FROM Books
WHERE ImportID IS NULL
   OR ImportID IN (SELECT ImportID FROM ImportRuns WHERE Status = 'published');

CREATE VIEW CatalogueCopies AS
SELECT * FROM Copies
WHERE BookID NOT IN (
    SELECT BookID FROM Books
    WHERE ImportID IS NOT NULL
      AND ImportID NOT IN (SELECT ImportID FROM ImportRuns WHERE Status = 'published')
);

CREATE TRIGGER Books_CatalogueChangedByCataloguing
AFTER UPDATE OF ShelfMark, CoverVersion ON Books
BEGIN
    UPDATE SearchVersions SET Catalogue = Catalogue + 1;
END;

CREATE TRIGGER Books_CatalogueChangedByDelete AFTER DELETE ON Books
BEGIN
    UPDATE SearchVersions SET Catalogue = Catalogue + 1;
END;

CREATE TRIGGER Books_CatalogueChangedByInsert AFTER INSERT ON Books
BEGIN
    UPDATE SearchVersions SET Catalogue = Catalogue + 1;
END;

CREATE TRIGGER Books_CatalogueChangedByUpdate
AFTER UPDATE OF Title, Author, Series, Subjects, ISBN, Year, WithdrawnAt ON Books
BEGIN
    UPDATE SearchVersions SET Catalogue = Catalogue + 1;
END;

CREATE TRIGGER Books_SearchDelete AFTER DELETE ON Books
BEGIN
    INSERT INTO BooksSearch (BooksSearch, rowid, Title, Author, Extra)
    VALUES ('delete', OLD.BookID, OLD.Title, OLD.Author,
            coalesce(OLD.Series, '') || ' ' || coalesce(OLD.Subjects, '') || ' ' || coalesce(OLD.ISBN, ''));
END;

CREATE TRIGGER Books_SearchInsert AFTER INSERT ON Books
BEGIN
    INSERT INTO BooksSearch (rowid, Title, Author, Extra)
    VALUES (NEW.BookID, NEW.Title, NEW.Author,
            coalesce(NEW.Series, '') || ' ' || coalesce(NEW.Subjects, '') || ' ' || coalesce(NEW.ISBN, ''));
END;

CREATE TRIGGER Books_SearchUpdate AFTER UPDATE OF Title, Author, Series, Subjects, ISBN ON Books
BEGIN
    INSERT INTO BooksSearch (BooksSearch, rowid, Title, Author, Extra)
    VALUES ('delete', OLD.BookID, OLD.Title, OLD.Author,
            coalesce(OLD.Series, '') || ' ' || coalesce(OLD.Subjects, '') || ' ' || coalesce(OLD.ISBN, ''));
    INSERT INTO BooksSearch (rowid, Title, Author, Extra)
    VALUES (NEW.BookID, NEW.Title, NEW.Author,
            coalesce(NEW.Series, '') || ' ' || coalesce(NEW.Subjects, '') || ' ' || coalesce(NEW.ISBN, ''));
END;

CREATE TRIGGER Books_VocabularyChangedByInsert AFTER INSERT ON Books
BEGIN
    INSERT INTO SearchVocabularyChanges (BookID) VALUES (NEW.BookID);
    DELETE FROM SearchVocabularyChanges WHERE ChangeID = last_insert_rowid() - 10000;
END;

CREATE TRIGGER Books_VocabularyChangedByUpdate
AFTER UPDATE OF Title, Author, Series, Subjects ON Books
BEGIN
    INSERT INTO SearchVocabularyChanges (BookID) VALUES (NEW.BookID);
    DELETE FROM SearchVocabularyChanges WHERE ChangeID = last_insert_rowid() - 10000;
END;

CREATE TRIGGER CirculationRules_KeepTheDefault BEFORE DELETE ON CirculationRules
WHEN OLD.CategoryID IS NULL AND OLD.ItemTypeID IS NULL
BEGIN
    SELECT RAISE(ABORT, 'the rule for any category and any item type cannot be removed');
END;

CREATE TRIGGER CirculationRules_RulesChangedByDelete AFTER DELETE ON CirculationRules
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER CirculationRules_RulesChangedByInsert AFTER INSERT ON CirculationRules
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER CirculationRules_RulesChangedByUpdate AFTER UPDATE ON CirculationRules
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER ClosedDays_RulesChangedByDelete AFTER DELETE ON ClosedDays
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER ClosedDays_RulesChangedByInsert AFTER INSERT ON ClosedDays
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER ClosedDays_RulesChangedByUpdate AFTER UPDATE ON ClosedDays
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER Copies_BarcodeIsNotACardOnInsert BEFORE INSERT ON Copies
WHEN EXISTS (SELECT 1 FROM Users WHERE CardNumber = NEW.Barcode COLLATE NOCASE)
BEGIN
    SELECT RAISE(ABORT, 'code clash: the barcode is a patron''s card number');
END;

CREATE TRIGGER Copies_BarcodeIsNotACardOnUpdate BEFORE UPDATE OF Barcode ON Copies
WHEN NEW.Barcode IS NOT OLD.Barcode
 AND EXISTS (SELECT 1 FROM Users WHERE CardNumber = NEW.Barcode COLLATE NOCASE)
BEGIN
    SELECT RAISE(ABORT, 'code clash: the barcode is a patron''s card number');
END;

CREATE TRIGGER Copies_BookIsFixed BEFORE UPDATE OF BookID ON Copies
WHEN NEW.BookID IS NOT OLD.BookID AND EXISTS (SELECT 1 FROM Loans WHERE CopyID = OLD.CopyID)
BEGIN
    SELECT RAISE(ABORT, 'a copy with loan history cannot move to another book');
END;

CREATE TRIGGER Copies_CirculationChangedByDelete AFTER DELETE ON Copies
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Copies_CirculationChangedByInsert AFTER INSERT ON Copies
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Copies_CirculationChangedByUpdate AFTER UPDATE ON Copies
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Copies_DefaultItemType AFTER INSERT ON Copies
WHEN NEW.ItemTypeID IS NULL
BEGIN
    UPDATE Copies SET ItemTypeID = (SELECT ItemTypeID FROM ItemTypes WHERE IsDefault = 1)
    WHERE CopyID = NEW.CopyID;
END;

CREATE TRIGGER Copies_ItemTypeRequired BEFORE UPDATE OF ItemTypeID ON Copies
WHEN NEW.ItemTypeID IS NULL
BEGIN
    SELECT RAISE(ABORT, 'every copy has an item type');
END;

CREATE TRIGGER Copies_QueueLabels AFTER INSERT ON Copies
BEGIN
    INSERT INTO LabelQueue (CopyID) VALUES (NEW.CopyID);
END;

CREATE TRIGGER Events_AppendOnlyNoDelete BEFORE DELETE ON Events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

CREATE TRIGGER Events_AppendOnlyNoUpdate BEFORE UPDATE ON Events
WHEN NOT (
        OLD.RedactedBy IS NULL
    AND OLD.UserID IS NOT NULL AND NEW.UserID IS NULL
    AND (SELECT Kind FROM Events WHERE EventID = NEW.RedactedBy) IS 'redaction'
    AND NEW.RedactedBy > OLD.EventID
    AND NEW.EventID IS OLD.EventID AND NEW.At IS OLD.At AND NEW.Kind IS OLD.Kind
    AND NEW.BookID IS OLD.BookID AND NEW.CopyID IS OLD.CopyID
    AND NEW.LoanID IS OLD.LoanID AND NEW.HoldID IS OLD.HoldID
    AND (NEW.ActorID IS OLD.ActorID OR (NEW.ActorID IS NULL AND OLD.ActorID = OLD.UserID))
    AND (NEW.Detail IS OLD.Detail OR (NEW.Detail IS NULL AND OLD.Kind = 'override'))
    AND OLD.BorrowerRole IS NULL AND OLD.BorrowerGroup IS NULL
)
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: only a logged redaction may remove a patron');
END;

CREATE TRIGGER Holds_BorrowerOnlyRemoved BEFORE UPDATE OF UserID ON Holds
WHEN NEW.UserID IS NOT OLD.UserID
 AND NOT (NEW.UserID IS NULL AND OLD.Status NOT IN ('waiting', 'ready'))
BEGIN
    SELECT RAISE(ABORT, 'a hold''s patron can only be removed, once it is closed');
END;

CREATE TRIGGER Holds_CirculationChangedByDelete AFTER DELETE ON Holds
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

CREATE TRIGGER Holds_SnapshotBorrower AFTER INSERT ON Holds
WHEN NEW.UserID IS NOT NULL AND (NEW.BorrowerRole IS NULL OR NEW.BorrowerCategory IS NULL)
BEGIN
    UPDATE Holds SET
        BorrowerRole = coalesce(NEW.BorrowerRole, (SELECT Role FROM Users WHERE UserID = NEW.UserID)),
        BorrowerGroup = CASE WHEN NEW.BorrowerRole IS NULL
            THEN (SELECT GroupName FROM Users WHERE UserID = NEW.UserID)
            ELSE NEW.BorrowerGroup END,
        BorrowerCategory = coalesce(NEW.BorrowerCategory, (
            SELECT pc.Name FROM Users u JOIN PatronCategories pc ON pc.CategoryID = u.CategoryID
            WHERE u.UserID = NEW.UserID))
    WHERE HoldID = NEW.HoldID;
END;

CREATE TRIGGER ItemTypes_RulesChangedByDelete AFTER DELETE ON ItemTypes
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER ItemTypes_RulesChangedByInsert AFTER INSERT ON ItemTypes
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER ItemTypes_RulesChangedByUpdate AFTER UPDATE ON ItemTypes
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER LibrarySettings_RulesChangedByUpdate AFTER UPDATE ON LibrarySettings
WHEN NEW.Key = 'closed_weekdays' OR OLD.Key = 'closed_weekdays'
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER Loans_BookMatchesCopy BEFORE INSERT ON Loans
WHEN NEW.BookID IS NOT (SELECT BookID FROM Copies WHERE CopyID = NEW.CopyID)
BEGIN
    SELECT RAISE(ABORT, 'Loans.BookID must be the book of Loans.CopyID');
END;

CREATE TRIGGER Loans_BorrowerOnlyRemoved BEFORE UPDATE OF UserID ON Loans
WHEN NEW.UserID IS NOT OLD.UserID AND NOT (NEW.UserID IS NULL AND OLD.ReturnedAt IS NOT NULL)
BEGIN
    SELECT RAISE(ABORT, 'a loan''s borrower can only be removed, once it is returned');
END;

CREATE TRIGGER Loans_CirculationChangedByDelete AFTER DELETE ON Loans
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

CREATE TRIGGER Loans_CountBorrowing AFTER INSERT ON Loans
BEGIN
    UPDATE Books SET TimesBorrowed = TimesBorrowed + 1 WHERE BookID = NEW.BookID;
END;

CREATE TRIGGER Loans_SnapshotBorrower AFTER INSERT ON Loans
WHEN (NEW.UserID IS NOT NULL AND (NEW.BorrowerRole IS NULL OR NEW.BorrowerCategory IS NULL))
  OR NEW.CopyItemType IS NULL
BEGIN
    UPDATE Loans SET
        BorrowerRole = coalesce(NEW.BorrowerRole, (SELECT Role FROM Users WHERE UserID = NEW.UserID)),
        BorrowerGroup = CASE WHEN NEW.BorrowerRole IS NULL
            THEN (SELECT GroupName FROM Users WHERE UserID = NEW.UserID)
            ELSE NEW.BorrowerGroup END,
        BorrowerCategory = coalesce(NEW.BorrowerCategory, (
            SELECT pc.Name FROM Users u JOIN PatronCategories pc ON pc.CategoryID = u.CategoryID
            WHERE u.UserID = NEW.UserID)),
        CopyItemType = coalesce(NEW.CopyItemType, (
            SELECT it.Name FROM Copies c JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID
            WHERE c.CopyID = NEW.CopyID))
    WHERE LoanID = NEW.LoanID;
END;

CREATE TRIGGER NoticeWordings_NoDelete BEFORE DELETE ON NoticeWordings
BEGIN
    SELECT RAISE(ABORT, 'a saved notice wording is never deleted: reset to the default instead');
END;

CREATE TRIGGER NoticeWordings_NoUpdate BEFORE UPDATE ON NoticeWordings
BEGIN
    SELECT RAISE(ABORT, 'a saved notice wording is never changed: save a new one');
END;

CREATE TRIGGER PatronCategories_RulesChangedByDelete AFTER DELETE ON PatronCategories
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER PatronCategories_RulesChangedByInsert AFTER INSERT ON PatronCategories
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER PatronCategories_RulesChangedByUpdate AFTER UPDATE ON PatronCategories
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER StocktakeScans_CountedOnDelete AFTER DELETE ON StocktakeScans
WHEN OLD.CopyID IS NOT NULL
BEGIN
    UPDATE Stocktakes SET Counted = Counted - 1 WHERE StocktakeID = OLD.StocktakeID;
END;

CREATE TRIGGER StocktakeScans_CountedOnInsert AFTER INSERT ON StocktakeScans
WHEN NEW.CopyID IS NOT NULL
BEGIN
    UPDATE Stocktakes SET Counted = Counted + 1 WHERE StocktakeID = NEW.StocktakeID;
END;

CREATE TRIGGER Terms_RulesChangedByDelete AFTER DELETE ON Terms
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER Terms_RulesChangedByInsert AFTER INSERT ON Terms
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER Terms_RulesChangedByUpdate AFTER UPDATE ON Terms
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

CREATE TRIGGER Users_CategoryRequired BEFORE UPDATE OF CategoryID ON Users
WHEN NEW.CategoryID IS NULL
BEGIN
    SELECT RAISE(ABORT, 'every user has a patron category');
END;

CREATE TRIGGER Users_CodesAreFreeOnInsert BEFORE INSERT ON Users
BEGIN
    SELECT RAISE(ABORT, 'code clash: the card number is another patron''s card')
    WHERE NEW.CardNumber IS NOT NULL
      AND EXISTS (SELECT 1 FROM Users WHERE CardNumber = NEW.CardNumber COLLATE NOCASE);
    SELECT RAISE(ABORT, 'code clash: the card number is a copy''s barcode')
    WHERE NEW.CardNumber IS NOT NULL
      AND EXISTS (SELECT 1 FROM Copies WHERE Barcode = NEW.CardNumber COLLATE NOCASE);
    SELECT RAISE(ABORT, 'code clash: the card number is another patron''s email')
    WHERE NEW.CardNumber IS NOT NULL
      AND EXISTS (SELECT 1 FROM Users WHERE Email = NEW.CardNumber COLLATE NOCASE);
    SELECT RAISE(ABORT, 'code clash: the email is another patron''s card number')
    WHERE NEW.Email IS NOT NULL
      AND EXISTS (SELECT 1 FROM Users WHERE CardNumber = NEW.Email COLLATE NOCASE);
END;

CREATE TRIGGER Users_CodesAreFreeOnUpdate BEFORE UPDATE OF CardNumber, Email ON Users
BEGIN
    SELECT RAISE(ABORT, 'code clash: the card number is another patron''s card')
    WHERE NEW.CardNumber IS NOT NULL AND NEW.CardNumber IS NOT OLD.CardNumber
      AND EXISTS (SELECT 1 FROM Users
                  WHERE CardNumber = NEW.CardNumber COLLATE NOCASE AND UserID <> NEW.UserID);
    SELECT RAISE(ABORT, 'code clash: the card number is a copy''s barcode')
    WHERE NEW.CardNumber IS NOT NULL AND NEW.CardNumber IS NOT OLD.CardNumber
      AND EXISTS (SELECT 1 FROM Copies WHERE Barcode = NEW.CardNumber COLLATE NOCASE);
    SELECT RAISE(ABORT, 'code clash: the card number is another patron''s email')
    WHERE NEW.CardNumber IS NOT NULL AND NEW.CardNumber IS NOT OLD.CardNumber
      AND EXISTS (SELECT 1 FROM Users
                  WHERE Email = NEW.CardNumber COLLATE NOCASE AND UserID <> NEW.UserID);
    SELECT RAISE(ABORT, 'code clash: the email is another patron''s card number')
    WHERE NEW.Email IS NOT NULL AND NEW.Email IS NOT OLD.Email
      AND EXISTS (SELECT 1 FROM Users
                  WHERE CardNumber = NEW.Email COLLATE NOCASE AND UserID <> NEW.UserID);
END;

CREATE TRIGGER Users_DefaultCategory AFTER INSERT ON Users
WHEN NEW.CategoryID IS NULL
BEGIN
    UPDATE Users SET CategoryID = (SELECT CategoryID FROM PatronCategories
                                   WHERE DefaultForRole = NEW.Role)
    WHERE UserID = NEW.UserID;
END;

