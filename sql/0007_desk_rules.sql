-- The desk's rules (issue 16): one namespace for the codes scanned at the desk,
-- and loans that end without coming back.
--
-- Card numbers, copy barcodes and email addresses are looked up through one scan
-- box, so no code may mean two things: a card equal to a copy's barcode made that
-- copy unscannable, and cards `s0001` and `S0001` were two patrons to the
-- database but one to a scanner. The triggers below refuse, in every writer (the
-- forms, the importers, the command line), a new or changed card number that
-- another patron's card (in any case), a copy's barcode or another patron's email
-- already uses, and a new or changed barcode or email that is a card number.
-- Copies.Barcode and Users.Email are already UNIQUE COLLATE NOCASE.
--
-- A database may already hold such clashes, and a migration must not fail on
-- them or rename a card printed on a child's library card. So the rule guards
-- writes, not the rows already there (a UNIQUE index on CardNumber COLLATE
-- NOCASE would refuse to build on those databases): a clashing row keeps its
-- value until staff change it, and the patrons page lists every clash left
-- (webapp/models/codes.py, docs/desk.md). Editing such a patron's name or group
-- is allowed; only changing the card itself is checked.

-- Exact, case-insensitive card lookups at the desk and in the triggers.
CREATE INDEX Users_ByCardNoCase ON Users (CardNumber COLLATE NOCASE);

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

-- UPDATE OF fires whenever the column is assigned, even to its old value (the
-- patron form assigns every column): only a changed value is checked.
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

-- A barcode holds no @, so it can never equal an email; only cards are checked.
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

-- How a closed loan ended when the copy did not come back: 'lost' (staff marked
-- it lost) or 'claims_returned' (the patron says they returned it; the copy is
-- missing). NULL for a loan that is open or was returned. Either way ReturnedAt
-- is set, so the loan is closed for every query that asks "open?" (limits,
-- reminders, the desk) and its row, dates and renewals stay as history. The copy
-- is then Copies.Status 'lost' until it is scanned back in ("found").
ALTER TABLE Loans ADD COLUMN ClosedAs TEXT
    CHECK (ClosedAs IS NULL OR (ClosedAs IN ('lost', 'claims_returned') AND ReturnedAt IS NOT NULL));

