-- Sign-in attempts are recorded before their password is checked (issue 17), so that
-- simultaneous guesses see each other. Checking is 1 while the check runs and 0 once the
-- password proved wrong; an attempt with the right password is deleted.
ALTER TABLE LoginFailures ADD COLUMN Checking INTEGER NOT NULL DEFAULT 0 CHECK (Checking IN (0, 1));
