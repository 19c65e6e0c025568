-- The desk's holds (issue 16): a per-role limit on holds, and the indexes the
-- hold shelf page reads. Numbered 0006 on this branch only: it lands as 0007.

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
