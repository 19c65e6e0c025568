-- The nightly overdue run: its ledger of notices, its run history, the lease
-- that lets only one process run it at a time, and how mail was delivered.

-- One row per reminder stage reached by a loan for a given due date. The key
-- (LoanID, Stage, DueDate) is what "already sent" means: a renewal moves the
-- due date, so the stages arm again for the new one. MessageID is the email
-- that carries the notice; NULL means the patron has no address and the notice
-- is on the "notify by hand" list.
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
CREATE INDEX Notices_ByMessage ON Notices (MessageID) WHERE MessageID IS NOT NULL;
CREATE INDEX Notices_ByHand ON Notices (RunDate) WHERE MessageID IS NULL;

-- How a sent message left: 'smtp' to a mail server, 'mailbox' into the in-app
-- mailbox when no server is configured. SendingSince marks an attempt in
-- flight (Status 'sending'), committed before the message is handed over.
ALTER TABLE Outbox ADD COLUMN Transport TEXT CHECK (Transport IS NULL OR Transport IN ('smtp', 'mailbox'));
ALTER TABLE Outbox ADD COLUMN SendingSince TEXT;
CREATE INDEX Outbox_Mailbox ON Outbox (SentAt) WHERE Transport = 'mailbox';

-- Every run of a job: the dashboard shows the last one and warns when the
-- last success is old or the last run failed.
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
CREATE INDEX JobRuns_ByJob ON JobRuns (Job, RunID);

-- A lease per job, so a second scheduler, a manual run and the nightly run
-- never work at once, across processes. Holder is "host:pid:random".
CREATE TABLE JobLeases (
    Name      TEXT PRIMARY KEY,
    Holder    TEXT NOT NULL,
    ExpiresAt TEXT NOT NULL
);

INSERT INTO LibrarySettings (Key, Value) VALUES ('reminder_stages', '-2,1,7,21');
