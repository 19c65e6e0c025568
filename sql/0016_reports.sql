-- Reports (issue 24): loans by patron category, after the borrower is gone.
--
-- A loan and a hold keep the borrower's patron category as it was when the copy
-- was lent or the hold placed, beside BorrowerRole and BorrowerGroup (0014), and a
-- redacted event gets it from its loan or hold (webapp/models/privacy.py). It is
-- kept as the category's name, as text, like BorrowerGroup, not as a CategoryID:
-- last year's report must still read "Year 7" after the category is renamed or
-- deleted, and an id would then name the renamed row or nothing. A renamed
-- category so shows as two rows, the old name and the new, which is what happened.
--
-- A loan also keeps its copy's item type, by name, as it was when lent: a copy
-- moved to another type later does not move last year's loans, and the reports'
-- index (below) then holds everything a period's counts need.
ALTER TABLE Loans ADD COLUMN BorrowerCategory TEXT;
ALTER TABLE Loans ADD COLUMN CopyItemType TEXT;
ALTER TABLE Holds ADD COLUMN BorrowerCategory TEXT;
ALTER TABLE Events ADD COLUMN BorrowerCategory TEXT;

-- Filling a snapshot column changes nothing anyone sees, so the backfill must
-- not count as a change of circulation (search's cached availability): the two
-- triggers that would count it are set aside while it runs and made again as
-- they were.
DROP TRIGGER Loans_CirculationChangedByUpdate;
DROP TRIGGER Holds_CirculationChangedByUpdate;

-- Loans and holds made before this migration take the borrower's category of
-- today: the nearest known. Those already anonymised have no borrower to ask,
-- and reports count them as "not recorded" (docs/reports.md). Every loan takes
-- its copy's item type of today.
UPDATE Loans SET BorrowerCategory = (
    SELECT pc.Name FROM Users u JOIN PatronCategories pc ON pc.CategoryID = u.CategoryID
    WHERE u.UserID = Loans.UserID)
WHERE UserID IS NOT NULL;
UPDATE Loans SET CopyItemType = (
    SELECT it.Name FROM Copies c JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID
    WHERE c.CopyID = Loans.CopyID);
UPDATE Holds SET BorrowerCategory = (
    SELECT pc.Name FROM Users u JOIN PatronCategories pc ON pc.CategoryID = u.CategoryID
    WHERE u.UserID = Holds.UserID)
WHERE UserID IS NOT NULL;

CREATE TRIGGER Loans_CirculationChangedByUpdate AFTER UPDATE ON Loans
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

CREATE TRIGGER Holds_CirculationChangedByUpdate AFTER UPDATE ON Holds
BEGIN
    UPDATE SearchVersions SET Circulation = Circulation + 1;
END;

-- The snapshot triggers of 0014 with the category (and, on a loan, the copy's item
-- type) added: one UPDATE per lend for all of them. A writer that brings its own
-- role (and group) keeps them; the category and item type are looked up unless
-- given too.
DROP TRIGGER Loans_SnapshotBorrower;
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

DROP TRIGGER Holds_SnapshotBorrower;
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

-- The reports read a period's loans (webapp/models/reports.py). Measured at a
-- million loans (bench/reports.py): reading each loan's row for its class,
-- category and copy, and sorting a school year's loans to group them, took more
-- than half a second for one report. In this index a period is one range whose
-- entries come already in the order of the report's GROUP BY (day, class,
-- category, item type): no row is read and nothing is sorted. It starts with
-- LoanDate, so it replaces Loans_ByLoanDate for the dashboard too.
CREATE INDEX Loans_ForReports
    ON Loans (LoanDate, BorrowerGroup, BorrowerCategory, CopyItemType);
DROP INDEX Loans_ByLoanDate;
-- A title's loans by date: the most and least borrowed titles of a period and
-- when each was last lent (the weeding list), without sorting loans by title.
CREATE INDEX Loans_ByBook ON Loans (BookID, LoanDate);
