-- The circulation-rules matrix (issue 20): item types, patron categories, a matrix
-- of category × item type rules, and the school's terms. It replaces LoanRules
-- (one rule per access role) and means exactly what LoanRules meant for every
-- patron, copy and loan already in the database:
--
-- * Every copy gets an item type; existing copies are Books. No cell names Book,
--   so a Book is lent under its borrower's category rule, as before.
-- * Every user gets a patron category, separate from their role: the role says what
--   they may do in the app, the category how they borrow. Each role's LoanRules row
--   becomes a category of the same name (Student, Librarian, Admin) with the same
--   limits, and its loan period and renewals become that category's "any item
--   type" cell; its users move into it. New accounts of a role get that category
--   unless another is given (PatronCategories.DefaultForRole, trigger below).
-- * Further categories (Year 7 to Year 13, Teacher, Staff, Visitor) and item types
--   (Reference, Magazine, DVD, Laptop, Class set) are added, with cells for the new
--   item types only: no existing user or copy is in them, so no loan changes meaning.
-- * Open loans keep their due dates and renewal counts (Loans is untouched).

CREATE TABLE ItemTypes (
    ItemTypeID INTEGER PRIMARY KEY,
    Name       TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(Name)) BETWEEN 1 AND 40),
    -- The item type of a copy added without one (exactly one type is the default).
    IsDefault  INTEGER NOT NULL DEFAULT 0 CHECK (IsDefault IN (0, 1))
);
CREATE UNIQUE INDEX ItemTypes_OneDefault ON ItemTypes (IsDefault) WHERE IsDefault = 1;
INSERT INTO ItemTypes (ItemTypeID, Name, IsDefault) VALUES
    (1, 'Book', 1), (2, 'Reference', 0), (3, 'Magazine', 0), (4, 'DVD', 0), (5, 'Laptop', 0),
    (6, 'Class set', 0);

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
INSERT INTO PatronCategories (Name, MaxLoans, MaxHolds, BlockWhenOverdue, RenewOverdueDays,
                              DefaultForRole)
SELECT Role, MaxLoans, MaxHolds, BlockWhenOverdue, RenewOverdueDays, Role
FROM LoanRules ORDER BY CASE Role WHEN 'Student' THEN 1 WHEN 'Librarian' THEN 2 ELSE 3 END;
INSERT INTO PatronCategories (Name, MaxLoans, MaxHolds, BlockWhenOverdue, RenewOverdueDays)
SELECT 'Year ' || year.value, MaxLoans, MaxHolds, BlockWhenOverdue, RenewOverdueDays
FROM LoanRules, (SELECT 7 AS value UNION ALL SELECT 8 UNION ALL SELECT 9 UNION ALL SELECT 10
                 UNION ALL SELECT 11 UNION ALL SELECT 12 UNION ALL SELECT 13) AS year
WHERE Role = 'Student' ORDER BY year.value;
INSERT INTO PatronCategories (Name, MaxLoans, MaxHolds, BlockWhenOverdue, RenewOverdueDays)
SELECT staff.name, MaxLoans, MaxHolds, BlockWhenOverdue, RenewOverdueDays
FROM LoanRules, (SELECT 'Teacher' AS name UNION ALL SELECT 'Staff') AS staff
WHERE Role = 'Librarian';
INSERT INTO PatronCategories (Name, MaxLoans, MaxHolds, BlockWhenOverdue, RenewOverdueDays)
VALUES ('Visitor', 2, 0, 1, 0);

-- The matrix. NULL CategoryID or ItemTypeID is "any"; the most specific matching cell
-- wins (webapp/rules.py: resolve), an item type before a category.
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
-- One cell per category and item type ("any" counted as 0: NULLs are never equal).
CREATE UNIQUE INDEX CirculationRules_OnePerCell
    ON CirculationRules (ifnull(CategoryID, 0), ifnull(ItemTypeID, 0));
CREATE INDEX CirculationRules_ByCategory ON CirculationRules (CategoryID);

-- "Any category, any item type" always exists, so every loan has a rule.
CREATE TRIGGER CirculationRules_KeepTheDefault BEFORE DELETE ON CirculationRules
WHEN OLD.CategoryID IS NULL AND OLD.ItemTypeID IS NULL
BEGIN
    SELECT RAISE(ABORT, 'the rule for any category and any item type cannot be removed');
END;

INSERT INTO CirculationRules (CategoryID, ItemTypeID, LoanDays, MaxRenewals)
SELECT NULL, NULL, LoanDays, MaxRenewals FROM LoanRules WHERE Role = 'Student';
INSERT INTO CirculationRules (CategoryID, ItemTypeID, LoanDays, MaxRenewals)
SELECT c.CategoryID, NULL, r.LoanDays, r.MaxRenewals
FROM PatronCategories c JOIN LoanRules r ON r.Role = c.DefaultForRole;
INSERT INTO CirculationRules (CategoryID, ItemTypeID, LoanDays, MaxRenewals)
SELECT c.CategoryID, NULL, r.LoanDays, r.MaxRenewals
FROM PatronCategories c, LoanRules r WHERE c.Name IN ('Teacher', 'Staff') AND r.Role = 'Librarian';
INSERT INTO CirculationRules (CategoryID, ItemTypeID, LoanDays, MaxRenewals)
SELECT CategoryID, NULL, 7, 0 FROM PatronCategories WHERE Name = 'Visitor';
INSERT INTO CirculationRules (CategoryID, ItemTypeID, LoanDays, DueAtTermEnd, MaxOfType,
                              MaxRenewals, HoldsAllowed, NotForLoan) VALUES
    (NULL, 2, 0, 0, NULL, 0, 0, 1),   -- Reference: not for loan, no holds
    (NULL, 3, 7, 0, NULL, 1, 1, 0),   -- Magazine: 7 days, 1 renewal
    (NULL, 4, 7, 0, 2, 1, 1, 0),      -- DVD: 7 days, 1 renewal, 2 at a time
    (NULL, 5, 0, 0, 1, 0, 0, 0),      -- Laptop: back the same day, one at a time, no holds
    (NULL, 6, 0, 0, NULL, 0, 0, 1);   -- Class set: not for loan, except to teachers:
INSERT INTO CirculationRules (CategoryID, ItemTypeID, LoanDays, DueAtTermEnd, MaxOfType,
                              MaxRenewals, HoldsAllowed)
SELECT CategoryID, 6, 28, 1, 5, 0, 1 FROM PatronCategories WHERE Name = 'Teacher';

-- School terms: "due at the end of term" is the end of the term a loan is made in
-- (in a holiday, the next term's end). The rules page refuses overlapping terms.
CREATE TABLE Terms (
    TermID   INTEGER PRIMARY KEY,
    Name     TEXT NOT NULL CHECK (length(trim(Name)) BETWEEN 1 AND 60),
    StartsOn TEXT NOT NULL CHECK (date(StartsOn) IS StartsOn),
    EndsOn   TEXT NOT NULL CHECK (date(EndsOn) IS EndsOn AND EndsOn >= StartsOn)
);
CREATE INDEX Terms_ByStart ON Terms (StartsOn);

-- The rules' version: every change to the matrix, the categories, the item types, the
-- terms or the closed days gives it a new random value, by the triggers below (random,
-- not a count: a change rolled back and another one made then must not meet the same
-- number). A connection keeps what it read of them (webapp/models/rule_settings.py:
-- rules_snapshot) until the version moves, so a lend or a desk panel reads one row
-- instead of the matrix and the calendar, and a change made by any process is seen by
-- the next operation of every other.
CREATE TABLE RulesVersion (
    Singleton INTEGER PRIMARY KEY CHECK (Singleton = 1),
    Version   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO RulesVersion (Singleton) VALUES (1);
CREATE TRIGGER CirculationRules_RulesChangedByInsert AFTER INSERT ON CirculationRules
BEGIN
    UPDATE RulesVersion SET Version = random();
END;
CREATE TRIGGER CirculationRules_RulesChangedByUpdate AFTER UPDATE ON CirculationRules
BEGIN
    UPDATE RulesVersion SET Version = random();
END;
CREATE TRIGGER CirculationRules_RulesChangedByDelete AFTER DELETE ON CirculationRules
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
CREATE TRIGGER PatronCategories_RulesChangedByDelete AFTER DELETE ON PatronCategories
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
CREATE TRIGGER ItemTypes_RulesChangedByDelete AFTER DELETE ON ItemTypes
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
CREATE TRIGGER Terms_RulesChangedByDelete AFTER DELETE ON Terms
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
CREATE TRIGGER ClosedDays_RulesChangedByDelete AFTER DELETE ON ClosedDays
BEGIN
    UPDATE RulesVersion SET Version = random();
END;
CREATE TRIGGER LibrarySettings_RulesChangedByUpdate AFTER UPDATE ON LibrarySettings
WHEN NEW.Key = 'closed_weekdays' OR OLD.Key = 'closed_weekdays'
BEGIN
    UPDATE RulesVersion SET Version = random();
END;

-- Every copy has an item type. ADD COLUMN cannot give a REFERENCES column a non-NULL
-- default while foreign keys are on, so the column is filled here and a copy added
-- without one (every writer before this migration) gets the default type by trigger.
-- Filling the column fires Copies_CirculationChangedByUpdate once per copy; the search
-- cache's version is put back afterwards, as no copy changed in any way search shows.
ALTER TABLE Copies ADD COLUMN ItemTypeID INTEGER REFERENCES ItemTypes (ItemTypeID);
CREATE TEMP TABLE SearchVersionsBefore AS SELECT Circulation FROM SearchVersions;
UPDATE Copies SET ItemTypeID = (SELECT ItemTypeID FROM ItemTypes WHERE IsDefault = 1);
UPDATE SearchVersions SET Circulation = (SELECT Circulation FROM temp.SearchVersionsBefore);
DROP TABLE temp.SearchVersionsBefore;
CREATE INDEX Copies_ByItemType ON Copies (ItemTypeID);
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

-- Every user has a patron category: their role's default when none is given.
ALTER TABLE Users ADD COLUMN CategoryID INTEGER REFERENCES PatronCategories (CategoryID);
UPDATE Users SET CategoryID = (SELECT CategoryID FROM PatronCategories WHERE DefaultForRole = Users.Role);
CREATE INDEX Users_ByCategory ON Users (CategoryID);
CREATE TRIGGER Users_DefaultCategory AFTER INSERT ON Users
WHEN NEW.CategoryID IS NULL
BEGIN
    UPDATE Users SET CategoryID = (SELECT CategoryID FROM PatronCategories
                                   WHERE DefaultForRole = NEW.Role)
    WHERE UserID = NEW.UserID;
END;
CREATE TRIGGER Users_CategoryRequired BEFORE UPDATE OF CategoryID ON Users
WHEN NEW.CategoryID IS NULL
BEGIN
    SELECT RAISE(ABORT, 'every user has a patron category');
END;

DROP TABLE LoanRules;

-- A book import can name its copies' item type (0008's staging table, read on publish).
ALTER TABLE ImportStagedBooks ADD COLUMN ItemTypeID INTEGER REFERENCES ItemTypes (ItemTypeID);
