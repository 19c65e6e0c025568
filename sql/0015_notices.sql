-- Notices staff can edit, and a guardian's email (issue 23).
--
-- NoticeWordings keeps every save and reset of a notice's wording, newest last:
-- a kind's wording is its latest row; a reset row (no subject, no body) or no
-- row at all means the built-in wording (templates/email/). Rows are never
-- changed or deleted, so a reminder queued under one wording (Outbox's
-- WordingVersion: the newest row then) is rendered in it when it is sent.
CREATE TABLE NoticeWordings (
    WordingID INTEGER PRIMARY KEY,
    Kind      TEXT NOT NULL CHECK (Kind IN ('reminder', 'courtesy', 'hold_ready', 'invitation')),
    Subject   TEXT CHECK (Subject IS NULL OR length(Subject) BETWEEN 1 AND 300),
    Body      TEXT CHECK (Body IS NULL OR length(Body) BETWEEN 1 AND 10000),
    SavedBy   INTEGER REFERENCES Users (UserID),
    SavedAt   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CHECK ((Subject IS NULL) = (Body IS NULL))
);
CREATE INDEX NoticeWordings_ByKind ON NoticeWordings (Kind, WordingID);

CREATE TRIGGER NoticeWordings_NoUpdate BEFORE UPDATE ON NoticeWordings
BEGIN
    SELECT RAISE(ABORT, 'a saved notice wording is never changed: save a new one');
END;

CREATE TRIGGER NoticeWordings_NoDelete BEFORE DELETE ON NoticeWordings
BEGIN
    SELECT RAISE(ABORT, 'a saved notice wording is never deleted: reset to the default instead');
END;

-- 0 for every message queued before this migration: the built-in wording.
ALTER TABLE Outbox ADD COLUMN WordingVersion INTEGER NOT NULL DEFAULT 0;
-- A copy of an overdue reminder to the patron's guardian.
ALTER TABLE Outbox ADD COLUMN Cc TEXT CHECK (Cc IS NULL OR length(Cc) <= 254);

-- A parent's or guardian's address, copied on overdue reminders. Not unique:
-- brothers and sisters share one.
ALTER TABLE Users ADD COLUMN GuardianEmail TEXT
    CHECK (GuardianEmail IS NULL OR (length(GuardianEmail) <= 254 AND GuardianEmail LIKE '_%@_%'));
