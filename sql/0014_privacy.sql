-- Children's data (issue 23): a returned loan and a closed hold can lose their
-- borrower, and the event log allows that one change and nothing else.
--
-- Anonymising keeps the copy, the book, the dates and the borrower's role and
-- group as they were when the loan was made or the hold placed (the Borrower*
-- columns, filled by the triggers below), so statistics per title, month, role
-- and class read the same before and after. A new snapshot column (a patron
-- category, say) is one ALTER TABLE ADD COLUMN, one line in each snapshot
-- trigger and one backfilling UPDATE; nothing else reads the Users row.
--
-- Loans.UserID and Holds.UserID were NOT NULL, which SQLite cannot relax in
-- place: both tables are rebuilt with the same columns in the same order, and
-- their indexes and triggers are made again. The foreign keys of Events and
-- Notices point at these tables by name, so they are checked at COMMIT
-- (defer_foreign_keys) rather than while the old table is briefly gone.
PRAGMA defer_foreign_keys = ON;

DROP VIEW BookAvailability;
DROP TRIGGER Copies_BookIsFixed;

CREATE TABLE LoansRebuilt (
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
INSERT INTO LoansRebuilt (LoanID, UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt,
                          Renewals, LentBy, CreatedAt, ClosedAs, BorrowerRole, BorrowerGroup)
SELECT l.LoanID, l.UserID, l.BookID, l.CopyID, l.LoanDate, l.ReturnDate, l.ReturnedAt,
       l.Renewals, l.LentBy, l.CreatedAt, l.ClosedAs, u.Role, u.GroupName
FROM Loans l LEFT JOIN Users u ON u.UserID = l.UserID;
DROP TABLE Loans;
ALTER TABLE LoansRebuilt RENAME TO Loans;

CREATE UNIQUE INDEX Loans_OneOpenLoanPerCopy ON Loans (CopyID) WHERE ReturnedAt IS NULL;
CREATE INDEX Loans_OpenByUser ON Loans (UserID, ReturnDate) WHERE ReturnedAt IS NULL;
CREATE INDEX Loans_OpenByDueDate ON Loans (ReturnDate) WHERE ReturnedAt IS NULL;
CREATE INDEX Loans_OpenByBook ON Loans (BookID, ReturnDate) WHERE ReturnedAt IS NULL;
CREATE INDEX Loans_ByUser ON Loans (UserID, LoanDate);
CREATE INDEX Loans_ByCopy ON Loans (CopyID, LoanDate);
CREATE INDEX Loans_ByLoanDate ON Loans (LoanDate);
-- The nightly anonymisation walks returned loans that still have a borrower.
CREATE INDEX Loans_ReturnedWithBorrower ON Loans (ReturnedAt)
    WHERE ReturnedAt IS NOT NULL AND UserID IS NOT NULL;

CREATE TRIGGER Loans_BookMatchesCopy BEFORE INSERT ON Loans
WHEN NEW.BookID IS NOT (SELECT BookID FROM Copies WHERE CopyID = NEW.CopyID)
BEGIN
    SELECT RAISE(ABORT, 'Loans.BookID must be the book of Loans.CopyID');
END;

CREATE TRIGGER Loans_CountBorrowing AFTER INSERT ON Loans
BEGIN
    UPDATE Books SET TimesBorrowed = TimesBorrowed + 1 WHERE BookID = NEW.BookID;
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

-- Every writer (the desk, the importers, the demo data) gets the snapshot.
CREATE TRIGGER Loans_SnapshotBorrower AFTER INSERT ON Loans
WHEN NEW.UserID IS NOT NULL AND NEW.BorrowerRole IS NULL
BEGIN
    UPDATE Loans SET BorrowerRole = (SELECT Role FROM Users WHERE UserID = NEW.UserID),
                     BorrowerGroup = (SELECT GroupName FROM Users WHERE UserID = NEW.UserID)
    WHERE LoanID = NEW.LoanID;
END;

-- Only a redaction may touch the borrower of a loan: it goes to NULL once, after
-- the return, and never changes to another patron.
CREATE TRIGGER Loans_BorrowerOnlyRemoved BEFORE UPDATE OF UserID ON Loans
WHEN NEW.UserID IS NOT OLD.UserID AND NOT (NEW.UserID IS NULL AND OLD.ReturnedAt IS NOT NULL)
BEGIN
    SELECT RAISE(ABORT, 'a loan''s borrower can only be removed, once it is returned');
END;

CREATE TRIGGER Copies_BookIsFixed BEFORE UPDATE OF BookID ON Copies
WHEN NEW.BookID IS NOT OLD.BookID AND EXISTS (SELECT 1 FROM Loans WHERE CopyID = OLD.CopyID)
BEGIN
    SELECT RAISE(ABORT, 'a copy with loan history cannot move to another book');
END;

CREATE TABLE HoldsRebuilt (
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
INSERT INTO HoldsRebuilt (HoldID, UserID, BookID, PlacedAt, Status, CopyID, PickupBy, ClosedAt,
                          BorrowerRole, BorrowerGroup)
SELECT h.HoldID, h.UserID, h.BookID, h.PlacedAt, h.Status, h.CopyID, h.PickupBy, h.ClosedAt,
       u.Role, u.GroupName
FROM Holds h LEFT JOIN Users u ON u.UserID = h.UserID;
DROP TABLE Holds;
ALTER TABLE HoldsRebuilt RENAME TO Holds;

CREATE UNIQUE INDEX Holds_OneActiveHoldPerPatronAndBook
    ON Holds (UserID, BookID) WHERE Status IN ('waiting', 'ready');
CREATE UNIQUE INDEX Holds_OneReadyHoldPerCopy ON Holds (CopyID) WHERE Status = 'ready';
CREATE INDEX Holds_Queue ON Holds (BookID, PlacedAt, HoldID) WHERE Status = 'waiting';
CREATE INDEX Holds_ByUser ON Holds (UserID, Status);
CREATE INDEX Holds_ReadyByPickup ON Holds (PickupBy, HoldID) WHERE Status = 'ready';
CREATE INDEX Holds_ExpiredByPickup ON Holds (PickupBy, HoldID) WHERE Status = 'expired';
CREATE INDEX Holds_ByCopy ON Holds (CopyID, HoldID) WHERE CopyID IS NOT NULL;
CREATE INDEX Holds_ClosedWithBorrower ON Holds (ClosedAt)
    WHERE ClosedAt IS NOT NULL AND UserID IS NOT NULL;

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

CREATE TRIGGER Holds_SnapshotBorrower AFTER INSERT ON Holds
WHEN NEW.UserID IS NOT NULL AND NEW.BorrowerRole IS NULL
BEGIN
    UPDATE Holds SET BorrowerRole = (SELECT Role FROM Users WHERE UserID = NEW.UserID),
                     BorrowerGroup = (SELECT GroupName FROM Users WHERE UserID = NEW.UserID)
    WHERE HoldID = NEW.HoldID;
END;

CREATE TRIGGER Holds_BorrowerOnlyRemoved BEFORE UPDATE OF UserID ON Holds
WHEN NEW.UserID IS NOT OLD.UserID
 AND NOT (NEW.UserID IS NULL AND OLD.Status NOT IN ('waiting', 'ready'))
BEGIN
    SELECT RAISE(ABORT, 'a hold''s patron can only be removed, once it is closed');
END;

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

-- The event log. Append-only as before, with one exception: a redaction. It
-- removes the patron from an event (UserID, and ActorID when the patron acted
-- themselves, e.g. renewed online; an override's free-text reason, which staff
-- may have written about the child), fills the snapshot columns, and must name
-- the 'redaction' event that records it (RedactedBy), written earlier in the
-- same transaction. Nothing else about an event can ever change, an event is
-- redacted at most once, and no event is ever deleted.
ALTER TABLE Events ADD COLUMN BorrowerRole TEXT;
ALTER TABLE Events ADD COLUMN BorrowerGroup TEXT;
ALTER TABLE Events ADD COLUMN RedactedBy INTEGER REFERENCES Events (EventID);

-- A redaction finds the events of a loan or a hold by these.
CREATE INDEX Events_ByLoan ON Events (LoanID) WHERE LoanID IS NOT NULL;
CREATE INDEX Events_ByHold ON Events (HoldID) WHERE HoldID IS NOT NULL;

-- The trigger keeps its name, so tools and tests that know it still find it.
DROP TRIGGER Events_AppendOnlyNoUpdate;
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

-- The outbox learns new kinds of message (a deactivated patron's cancelled holds,
-- the leavers' letter; invitations later): its Kind is checked for shape, not
-- against a list, so the next kind needs no rebuild. The table is rebuilt once
-- for that, with the same columns in the same order.
CREATE TABLE OutboxRebuilt (
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
INSERT INTO OutboxRebuilt (MessageID, Kind, UserID, Recipient, Subject, BodyText, BodyHtml,
                           HeaderMessageID, Status, Attempts, NextAttemptAt, LastError,
                           CreatedAt, SentAt, Transport, SendingSince)
SELECT MessageID, Kind, UserID, Recipient, Subject, BodyText, BodyHtml,
       HeaderMessageID, Status, Attempts, NextAttemptAt, LastError,
       CreatedAt, SentAt, Transport, SendingSince
FROM Outbox;
DROP TABLE Outbox;
ALTER TABLE OutboxRebuilt RENAME TO Outbox;
CREATE INDEX Outbox_Due ON Outbox (Status, NextAttemptAt);
CREATE INDEX Outbox_Mailbox ON Outbox (SentAt) WHERE Transport = 'mailbox';
-- Erasure and the export find a patron's messages.
CREATE INDEX Outbox_ByUser ON Outbox (UserID);

-- A patron may ask to keep their own reading history (My account): the nightly
-- anonymisation then leaves their loans and holds alone.
ALTER TABLE Users ADD COLUMN KeepHistory INTEGER NOT NULL DEFAULT 0 CHECK (KeepHistory IN (0, 1));

-- How many days a returned loan keeps its borrower; '' is off (kept for ever).
INSERT INTO LibrarySettings (Key, Value) VALUES ('retention_days', '');
