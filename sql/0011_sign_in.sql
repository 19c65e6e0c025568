-- Every student and teacher can sign in (issue 18): single-use links to set a
-- password (invitations and resets), temporary passwords that must be changed,
-- throttling of "Forgot your password?", and accounts linked to the school's
-- single sign-on. Numbered 0008 on this branch only: the lead renumbers it.

-- A temporary password set by staff must be replaced at the next sign-in.
ALTER TABLE Users ADD COLUMN MustChangePassword INTEGER NOT NULL DEFAULT 0
    CHECK (MustChangePassword IN (0, 1));

-- A link that lets its holder set the account's password. Only the SHA-256 of
-- the random token is kept, so a copy of the database cannot be used to sign
-- in. A link ends when it is used, when a newer one is sent for the account
-- (superseded) or at ExpiresAt; the row stays so the page can say which.
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
-- At most one live link per account: issuing a new one ends the old one first.
CREATE UNIQUE INDEX SignInTokens_OneLivePerUser ON SignInTokens (UserID) WHERE EndedAt IS NULL;

-- Every "Forgot your password?" request, known address or not, for throttling
-- per client address and per email address (the same as per account).
CREATE TABLE PasswordResetRequests (
    RequestID INTEGER PRIMARY KEY,
    Email     TEXT NOT NULL COLLATE NOCASE,
    Address   TEXT NOT NULL,
    At        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX PasswordResetRequests_ByEmail ON PasswordResetRequests (Email, At);
CREATE INDEX PasswordResetRequests_ByAddress ON PasswordResetRequests (Address, At);

-- An account signed in through the school's OpenID Connect provider: the
-- provider's (issuer, subject) pair, fixed for a person even if their email
-- changes. The first sign-in links it, found by the verified email.
CREATE TABLE SsoIdentities (
    Issuer   TEXT NOT NULL,
    Subject  TEXT NOT NULL,
    UserID   INTEGER NOT NULL UNIQUE REFERENCES Users (UserID) ON DELETE CASCADE,
    LinkedAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (Issuer, Subject)
);

-- The outbox learns two kinds, 'password_reset' and 'invitation'. SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt with every row
-- kept, as 0006 did; Notices' references are checked at COMMIT (deferred).
PRAGMA defer_foreign_keys = ON;
CREATE TABLE Outbox_Rebuilt (
    MessageID     INTEGER PRIMARY KEY,
    Kind          TEXT NOT NULL
                  CHECK (Kind IN ('reminder', 'hold_ready', 'receipt', 'password_reset',
                                  'invitation')),
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
