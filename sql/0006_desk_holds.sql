-- The desk's holds and receipts (issue 16): a per-role limit on holds, the
-- indexes the hold shelf page reads, the patron's choice of an emailed receipt
-- after each visit, and the outbox's 'receipt' kind. Numbered 0006 on this
-- branch only: it lands as 0007.

-- How many holds (waiting or ready) a patron of the role may have at once: one
-- student once placed 221 holds in 1.4 s, blocking everyone's renewals of
-- those titles. Staff borrow for classes, so they get more.
ALTER TABLE LoanRules ADD COLUMN MaxHolds INTEGER NOT NULL DEFAULT 5
    CHECK (MaxHolds BETWEEN 0 AND 1000);
UPDATE LoanRules SET MaxHolds = 20 WHERE Role IN ('Librarian', 'Admin');

-- The hold shelf: ready holds by pickup deadline, and holds that expired
-- lately (their copies may still be on the hold shelf, to reshelve), and
-- whether a later hold took an expired hold's copy.
CREATE INDEX Holds_ReadyByPickup ON Holds (PickupBy, HoldID) WHERE Status = 'ready';
CREATE INDEX Holds_ExpiredByPickup ON Holds (PickupBy, HoldID) WHERE Status = 'expired';
CREATE INDEX Holds_ByCopy ON Holds (CopyID, HoldID) WHERE CopyID IS NOT NULL;

-- A patron may ask for a receipt by email after each visit to the desk: what
-- was lent and returned, with due dates. Off unless the patron asks.
ALTER TABLE Users ADD COLUMN EmailReceipts INTEGER NOT NULL DEFAULT 0
    CHECK (EmailReceipts IN (0, 1));

-- The outbox learns a third kind of message, 'receipt'. SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt with every row kept.
-- Notices refer to Outbox rows: the references are checked at COMMIT (deferred),
-- by which time the rebuilt table holds the same MessageIDs under the same name.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE Outbox_Rebuilt (
    MessageID     INTEGER PRIMARY KEY,
    Kind          TEXT NOT NULL CHECK (Kind IN ('reminder', 'hold_ready', 'receipt')),
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
INSERT INTO Outbox_Rebuilt (MessageID, Kind, UserID, Recipient, Subject, BodyText, BodyHtml,
                            HeaderMessageID, Status, Attempts, NextAttemptAt, LastError,
                            CreatedAt, SentAt, Transport, SendingSince)
SELECT MessageID, Kind, UserID, Recipient, Subject, BodyText, BodyHtml,
       HeaderMessageID, Status, Attempts, NextAttemptAt, LastError,
       CreatedAt, SentAt, Transport, SendingSince
FROM Outbox;
DROP TABLE Outbox;
ALTER TABLE Outbox_Rebuilt RENAME TO Outbox;
CREATE INDEX Outbox_Due ON Outbox (Status, NextAttemptAt);
CREATE INDEX Outbox_Mailbox ON Outbox (SentAt) WHERE Transport = 'mailbox';
