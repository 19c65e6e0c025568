"""Migration ..._rules_matrix: a database filled under per-role LoanRules keeps the meaning of
every rule and loan in the matrix that replaces them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from webapp import rules
from webapp.db import connect_sync, migrate, migration_files
from webapp.models import loans, rule_settings
from webapp.resources import MIGRATIONS

MONDAY = date(2026, 11, 30)
# A library that changed every rule from the defaults, Admin apart from Librarian.
OLD_RULES = {
    "Student": (10, 3, 1, 1, 0, 2),
    "Librarian": (30, 25, 4, 0, 5, 15),
    "Admin": (21, 8, 0, 1, 2, 0),
}


def matrix_version() -> int:
    (number,) = [n for n, path in migration_files(MIGRATIONS) if path.stem.endswith("rules_matrix")]
    return number


@pytest.fixture
def upgraded(tmp_path):
    """A database at the version before the matrix, with users of each role, copies, open
    and returned loans and changed rules; then migrated to the newest version."""
    conn = connect_sync(tmp_path / "old.sqlite3")
    migrate(conn, MIGRATIONS, target=matrix_version() - 1)
    for role, values in OLD_RULES.items():
        conn.execute(
            "UPDATE LoanRules SET LoanDays = ?, MaxLoans = ?, MaxRenewals = ?, "
            "BlockWhenOverdue = ?, RenewOverdueDays = ?, MaxHolds = ? WHERE Role = ?",
            (*values, role),
        )
    conn.execute("INSERT INTO Users (UserID, Name, Role, CardNumber) VALUES "
                 "(1, 'Ann', 'Student', 'S1'), (2, 'Bob', 'Librarian', 'L1'), "
                 "(3, 'Cy', 'Admin', 'A1'), (4, 'Di', 'Student', 'S2')")  # fmt: skip
    conn.execute("INSERT INTO Books (BookID, Title) VALUES (1, 'Tidewater'), (2, 'Umbrella')")
    conn.execute("INSERT INTO Copies (CopyID, BookID, Barcode) VALUES "
                 "(1, 1, 'B1'), (2, 1, 'B2'), (3, 2, 'B3'), (4, 2, 'B4'), (5, 2, 'B5')")  # fmt: skip
    conn.execute("INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, Renewals) "
                 "VALUES (1, 1, 1, '2026-11-20', '2026-11-30', 1), "
                 "(2, 2, 3, '2026-11-01', '2026-12-01', 0)")  # fmt: skip
    conn.execute("INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt) "
                 "VALUES (4, 1, 2, '2026-10-01', '2026-10-11', '2026-10-09T10:00:00Z')")  # fmt: skip
    conn.execute("INSERT INTO ClosedDays (Day, Reason) VALUES ('2026-12-10', 'Inset day')")
    conn.commit()
    loans_before = [tuple(row) for row in conn.execute("SELECT * FROM Loans ORDER BY LoanID")]
    migrate(conn, MIGRATIONS)
    yield conn, loans_before
    conn.close()


def test_every_role_becomes_a_category_with_the_same_limits_and_its_users_move_into_it(upgraded):
    conn, _ = upgraded
    for user_id, role in ((1, "Student"), (2, "Librarian"), (3, "Admin"), (4, "Student")):
        category = conn.execute(
            "SELECT c.* FROM Users u JOIN PatronCategories c ON c.CategoryID = u.CategoryID "
            "WHERE u.UserID = ?",
            (user_id,),
        ).fetchone()
        assert category["Name"] == role and category["DefaultForRole"] == role
        old = OLD_RULES[role]
        assert (
            category["MaxLoans"],
            category["BlockWhenOverdue"],
            category["RenewOverdueDays"],
            category["MaxHolds"],
        ) == (old[1], old[3], old[4], old[5])


def test_every_copy_is_a_book_and_lends_under_the_old_rule_of_its_borrowers_role(upgraded):
    conn, _ = upgraded
    assert {row[0] for row in conn.execute("SELECT i.Name FROM Copies c "
                                           "JOIN ItemTypes i USING (ItemTypeID)")} == {"Book"}  # fmt: skip
    book = conn.execute("SELECT ItemTypeID FROM ItemTypes WHERE Name = 'Book'").fetchone()[0]
    for user_id, role in ((1, "Student"), (2, "Librarian"), (3, "Admin")):
        category = conn.execute(
            "SELECT CategoryID FROM Users WHERE UserID = ?", (user_id,)
        ).fetchone()[0]
        rule = rule_settings.rule_for(conn, category, book)
        old = OLD_RULES[role]
        assert (
            rule.loan_days,
            rule.max_loans,
            rule.max_renewals,
            rule.block_when_overdue,
            rule.renew_overdue_days,
            rule.max_holds,
            rule.not_for_loan,
            rule.due_at_term_end,
            rule.max_of_type,
        ) == (*old[:3], bool(old[3]), old[4], old[5], False, False, None)


def test_open_and_returned_loans_are_untouched_and_renew_under_the_same_rule(upgraded):
    conn, loans_before = upgraded
    after = [tuple(row) for row in conn.execute("SELECT * FROM Loans ORDER BY LoanID")]
    assert [row[: len(loans_before[0])] for row in after] == loans_before
    # Ann's loan (Student: 10 days, 1 renewal) used its renewal before the upgrade.
    refused = loans.renew(conn, loan_id=1, actor_id=2, today=MONDAY)
    assert refused.action == "refused" and "Already renewed 1 times" in refused.message
    # Bob's (Librarian: 30 days, 4 renewals) renews to 30 days from today.
    renewed = loans.renew(conn, loan_id=2, actor_id=2, today=MONDAY)
    assert renewed.action == "renewed" and "renewal 1 of 4" in renewed.message
    due = conn.execute("SELECT ReturnDate FROM Loans WHERE LoanID = 2").fetchone()[0]
    assert due == (MONDAY + timedelta(days=30)).isoformat()


def test_a_lend_after_the_upgrade_gives_the_due_date_and_limits_of_before(upgraded):
    conn, _ = upgraded
    # Di (Student: 10 days) borrows on 30 Nov: due 10 Dec, a closed day, so 11 Dec.
    lent = loans.lend(conn, barcode="B4", patron_id=4, actor_id=2, today=MONDAY)
    assert lent.action == "lent" and "Student: 10 days, 1 renewal" in lent.message
    assert conn.execute("SELECT ReturnDate FROM Loans WHERE LoanID = ?",
                        (lent.loan_id,)).fetchone()[0] == "2026-12-11"  # fmt: skip
    conn.execute("UPDATE Loans SET ReturnDate = '2026-12-20' WHERE UserID = 1")  # not overdue
    for barcode in ("B2", "B5"):
        assert loans.lend(conn, barcode=barcode, patron_id=1, actor_id=2, today=MONDAY).ok
    over = loans.lend(conn, barcode="B4", patron_id=1, actor_id=2, today=MONDAY)
    assert over.action == "refused" and "the limit for Student (3)" in over.message


def test_new_accounts_get_their_roles_category_and_the_old_table_is_gone(upgraded):
    conn, _ = upgraded
    conn.execute("INSERT INTO Users (UserID, Name, Role) VALUES (9, 'Eve', 'Admin')")
    assert conn.execute("SELECT c.Name FROM Users u JOIN PatronCategories c USING (CategoryID) "
                        "WHERE u.UserID = 9").fetchone()[0] == "Admin"  # fmt: skip
    assert (
        conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'LoanRules'").fetchone()[0]
        == 0
    )
    conn.execute("INSERT INTO Copies (CopyID, BookID, Barcode) VALUES (9, 1, 'B9')")
    assert conn.execute("SELECT i.Name FROM Copies c JOIN ItemTypes i USING (ItemTypeID) "
                        "WHERE c.CopyID = 9").fetchone()[0] == "Book"  # fmt: skip


def test_the_new_item_types_get_their_own_rules_and_no_existing_loan_uses_them(upgraded):
    conn, _ = upgraded
    cells = rule_settings.load_cells(conn)
    student = rule_settings.load_categories(conn)
    types = {t.name: t for t in rule_settings.load_item_types(conn)}
    year_7 = next(c for c in student if c.name == "Year 7")
    assert rules.resolve(cells, year_7, types["Reference"]).not_for_loan
    assert rules.resolve(cells, year_7, types["DVD"]).describe() == "DVD: 7 days, 1 renewal"
    # The new Year categories start from the Student category's limits.
    assert (year_7.max_loans, year_7.max_holds) == (3, 2)
