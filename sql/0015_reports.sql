-- Reports (issue 24): loans by patron category, after the borrower is gone.
--
-- A loan and a hold keep the borrower's patron category as it was when the copy
-- was lent or the hold placed, beside BorrowerRole and BorrowerGroup (0014), and a
-- redacted event gets it from its loan or hold (webapp/models/privacy.py). It is
-- kept as the category's name, as text, like BorrowerGroup, not as a CategoryID:
-- last year's report must still read "Year 7" after the category is renamed or
-- deleted, and an id would then name the renamed row or nothing. A renamed
-- category so shows as two rows, the old name and the new, which is what happened.
ALTER TABLE Loans ADD COLUMN BorrowerCategory TEXT;
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
-- and reports count them as "not recorded" (docs/reports.md).
UPDATE Loans SET BorrowerCategory = (
    SELECT pc.Name FROM Users u JOIN PatronCategories pc ON pc.CategoryID = u.CategoryID
    WHERE u.UserID = Loans.UserID)
WHERE UserID IS NOT NULL;
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

-- The snapshot triggers of 0014 with the category added. A writer that brings its
-- own role (and group) keeps them; the category is looked up unless given too.
DROP TRIGGER Loans_SnapshotBorrower;
CREATE TRIGGER Loans_SnapshotBorrower AFTER INSERT ON Loans
WHEN NEW.UserID IS NOT NULL AND (NEW.BorrowerRole IS NULL OR NEW.BorrowerCategory IS NULL)
BEGIN
    UPDATE Loans SET
        BorrowerRole = coalesce(NEW.BorrowerRole, (SELECT Role FROM Users WHERE UserID = NEW.UserID)),
        BorrowerGroup = CASE WHEN NEW.BorrowerRole IS NULL
            THEN (SELECT GroupName FROM Users WHERE UserID = NEW.UserID)
            ELSE NEW.BorrowerGroup END,
        BorrowerCategory = coalesce(NEW.BorrowerCategory, (
            SELECT pc.Name FROM Users u JOIN PatronCategories pc ON pc.CategoryID = u.CategoryID
            WHERE u.UserID = NEW.UserID))
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

-- The reports read a period's loans (webapp/models/reports.py). At a million
-- loans, reading each loan's row for its class, category, copy and title cost
-- more than the rest of a report together (docs/benchmarks.md, Reports): this
-- index holds all of them, so a period is one range of one index. It starts
-- with LoanDate, so it replaces Loans_ByLoanDate for the dashboard too.
CREATE INDEX Loans_ForReports
    ON Loans (LoanDate, BookID, CopyID, BorrowerGroup, BorrowerCategory);
DROP INDEX Loans_ByLoanDate;
-- A title's loans by date: how often it was lent in a period (least borrowed)
-- and when last (the weeding list), one index range per title.
CREATE INDEX Loans_ByBook ON Loans (BookID, LoanDate);
