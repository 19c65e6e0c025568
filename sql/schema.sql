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
);

CREATE VIRTUAL TABLE BooksSearch USING fts5 (
    Title, Author, Extra,
    content = 'BooksSearchSource',
    content_rowid = 'BookID',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
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
);

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
, BorrowerRole TEXT, BorrowerGroup TEXT, RedactedBy INTEGER REFERENCES Events (EventID));

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
    AnonymisedAt  TEXT,
    CHECK (Status <> 'ready' OR (CopyID IS NOT NULL AND PickupBy IS NOT NULL)),
    CHECK (UserID IS NOT NULL OR (Status NOT IN ('waiting', 'ready') AND AnonymisedAt IS NOT NULL))
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

CREATE TABLE LibrarySettings (
    Key   TEXT PRIMARY KEY,
    Value TEXT NOT NULL
);

CREATE TABLE LoanRules (
    Role             TEXT PRIMARY KEY CHECK (Role IN ('Student', 'Librarian', 'Admin')),
    LoanDays         INTEGER NOT NULL CHECK (LoanDays BETWEEN 1 AND 365),
    MaxLoans         INTEGER NOT NULL CHECK (MaxLoans BETWEEN 0 AND 1000),
    MaxRenewals      INTEGER NOT NULL CHECK (MaxRenewals BETWEEN 0 AND 100),
    -- Whether a patron with an overdue item may borrow more.
    BlockWhenOverdue INTEGER NOT NULL CHECK (BlockWhenOverdue IN (0, 1)),
    -- How many days overdue a loan may be and still be renewed (0: not once overdue).
    RenewOverdueDays INTEGER NOT NULL DEFAULT 0 CHECK (RenewOverdueDays BETWEEN 0 AND 365)
, MaxHolds INTEGER NOT NULL DEFAULT 5
    CHECK (MaxHolds BETWEEN 0 AND 1000));

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
    AnonymisedAt  TEXT,
    CHECK (UserID IS NOT NULL OR (ReturnedAt IS NOT NULL AND AnonymisedAt IS NOT NULL))
);

CREATE TABLE LoginFailures (
    FailureID INTEGER PRIMARY KEY,
    Email     TEXT NOT NULL COLLATE NOCASE,
    Address   TEXT NOT NULL,
    At        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
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

CREATE TABLE Sessions (
    TokenHash  TEXT PRIMARY KEY,
    UserID     INTEGER NOT NULL REFERENCES Users (UserID) ON DELETE CASCADE,
    CreatedAt  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ExpiresAt  TEXT NOT NULL
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
    CHECK (EmailReceipts IN (0, 1)), KeepHistory INTEGER NOT NULL DEFAULT 0 CHECK (KeepHistory IN (0, 1)));

CREATE INDEX Books_ByPopularity ON Books (TimesBorrowed DESC, BookID DESC, Title, Author, Year);

CREATE INDEX Books_Title ON Books (Title);

CREATE INDEX Books_TitleNoCase ON Books (Title COLLATE NOCASE);

CREATE INDEX Copies_ByBookAndStatus ON Copies (BookID, Status);

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

CREATE INDEX JobRuns_ByJob ON JobRuns (Job, RunID);

CREATE INDEX Loans_ByCopy ON Loans (CopyID, LoanDate);

CREATE INDEX Loans_ByLoanDate ON Loans (LoanDate);

CREATE INDEX Loans_ByUser ON Loans (UserID, LoanDate);

CREATE UNIQUE INDEX Loans_OneOpenLoanPerCopy ON Loans (CopyID) WHERE ReturnedAt IS NULL;

CREATE INDEX Loans_OpenByBook ON Loans (BookID, ReturnDate) WHERE ReturnedAt IS NULL;

CREATE INDEX Loans_OpenByDueDate ON Loans (ReturnDate) WHERE ReturnedAt IS NULL;

CREATE INDEX Loans_OpenByUser ON Loans (UserID, ReturnDate) WHERE ReturnedAt IS NULL;

CREATE INDEX Loans_ReturnedWithBorrower ON Loans (ReturnedAt)
    WHERE ReturnedAt IS NOT NULL AND UserID IS NOT NULL;

CREATE INDEX LoginFailures_ByAddress ON LoginFailures (Address, At);

CREATE INDEX LoginFailures_ByEmail ON LoginFailures (Email, At);

CREATE INDEX Notices_ByHand ON Notices (RunDate) WHERE MessageID IS NULL;

CREATE INDEX Notices_ByMessage ON Notices (MessageID) WHERE MessageID IS NOT NULL;

CREATE INDEX Outbox_ByUser ON Outbox (UserID);

CREATE INDEX Outbox_Due ON Outbox (Status, NextAttemptAt);

CREATE INDEX Outbox_Mailbox ON Outbox (SentAt) WHERE Transport = 'mailbox';

CREATE INDEX Sessions_ByUser ON Sessions (UserID);

CREATE INDEX Users_ByCardNoCase ON Users (CardNumber COLLATE NOCASE);

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
WHEN NEW.UserID IS NOT NULL AND NEW.BorrowerRole IS NULL
BEGIN
    UPDATE Holds SET BorrowerRole = (SELECT Role FROM Users WHERE UserID = NEW.UserID),
                     BorrowerGroup = (SELECT GroupName FROM Users WHERE UserID = NEW.UserID)
    WHERE HoldID = NEW.HoldID;
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
WHEN NEW.UserID IS NOT NULL AND NEW.BorrowerRole IS NULL
BEGIN
    UPDATE Loans SET BorrowerRole = (SELECT Role FROM Users WHERE UserID = NEW.UserID),
                     BorrowerGroup = (SELECT GroupName FROM Users WHERE UserID = NEW.UserID)
    WHERE LoanID = NEW.LoanID;
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

