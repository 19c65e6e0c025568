"""A patron's personal data: how long the link to their reading lasts, erasure, and export.

Three things a school owes the children whose reading it records:

- **Retention.** With a retention period set (LibrarySettings 'retention_days'),
  ``anonymise_batch`` removes the borrower from returned loans and closed holds
  older than that, a batch per transaction, unless the patron chose to keep
  their history (Users.KeepHistory). The loan keeps its copy, book, dates and
  the borrower's role, group and patron category (the Borrower* snapshot
  columns of migrations 0014 and 0016), so statistics and reports do not move;
  the events of the loan lose the patron by the one UPDATE the event log's
  trigger allows, a *redaction*, which must point at a 'redaction' event
  written first in the same transaction. A batch is one
  transaction: a process killed mid-run leaves each loan either as it was or
  fully anonymised, and the next run carries on.
- **Erasure.** ``erasure_plan`` says what deleting a patron would do (or why it
  is refused: items still out, or a staff account whose actions the log keeps);
  ``erase_patron`` does exactly that in one transaction.
- **Access.** ``patron_data`` gathers everything stored about one patron for
  "Download my data".

``event_log_problems`` is the event log's integrity check: the rules above,
checked against the whole database.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date, timedelta

from webapp.access import STAFF_ROLES
from webapp.models import events, holds
from webapp.models.patrons import Patron, get_patron

# What the settings page suggests: a school year and a little more, so a
# teacher can still ask "who had this last term?" and last year's class is gone.
RECOMMENDED_RETENTION_DAYS = 400
# Long enough for any undo, claim or query about a recent return.
MIN_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 3650
# Loans per transaction: small enough that the desk never waits long for the
# write lock, large enough that years of history take seconds.
BATCH_SIZE = 500

# The events a redaction may leave behind: these two triggers make the log
# append-only except for a logged redaction (sql/0014_privacy.sql).
EVENT_LOG_TRIGGERS = ("Events_AppendOnlyNoDelete", "Events_AppendOnlyNoUpdate")


def retention_days(conn: sqlite3.Connection) -> int | None:
    """Days a returned loan keeps its borrower, or None when the library keeps them for ever."""
    row = conn.execute("SELECT Value FROM LibrarySettings WHERE Key = 'retention_days'").fetchone()
    raw = row[0] if row else ""
    return int(raw) if raw.isascii() and raw.isdecimal() else None


def check_retention_days(raw: str) -> tuple[int | None, str | None]:
    """The retention period typed on the settings page (blank: off), or why it is refused."""
    raw = raw.strip()
    if not raw:
        return None, None
    # isascii: '²' is a digit to Python but not a number to int().
    if (
        not (raw.isascii() and raw.isdecimal())
        or not MIN_RETENTION_DAYS <= int(raw) <= MAX_RETENTION_DAYS
    ):
        return None, (
            f"Enter a number of days from {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}, "
            "or leave it blank to keep every loan's borrower."
        )
    return int(raw), None


def save_retention_days(conn: sqlite3.Connection, days: int | None, actor_id: int) -> bool:
    """Store the retention period and log the change; False when it did not change."""
    if days == retention_days(conn):
        return False
    conn.execute(
        "INSERT INTO LibrarySettings (Key, Value) VALUES ('retention_days', ?) "
        "ON CONFLICT (Key) DO UPDATE SET Value = excluded.Value",
        ("" if days is None else str(days),),
    )
    detail = (
        f"returned loans keep their borrower for {days} days"
        if days is not None
        else "returned loans keep their borrower"
    )
    events.log(conn, "privacy_changed", actor_id, detail=detail)
    return True


def cutoff(today: date, days: int) -> date:
    """Loans returned (and holds closed) before this day lose their borrower."""
    return today - timedelta(days=days)


def keeps_history(conn: sqlite3.Connection, user_id: int) -> bool:
    row = conn.execute("SELECT KeepHistory FROM Users WHERE UserID = ?", (user_id,)).fetchone()
    return bool(row and row[0])


def set_keep_history(conn: sqlite3.Connection, user_id: int, keep: bool) -> None:
    """Record a patron's choice to keep (or not) their reading history, and log it."""
    conn.execute("UPDATE Users SET KeepHistory = ? WHERE UserID = ?", (int(keep), user_id))
    events.log(
        conn,
        "privacy_changed",
        user_id,
        user_id=user_id,
        detail="keeps their reading history" if keep else "history follows the library's period",
    )


@dataclass(frozen=True)
class Redacted:
    """What one anonymisation batch (or an erasure) changed."""

    loans: int = 0
    holds: int = 0
    events: int = 0
    notices: int = 0
    messages: int = 0

    @property
    def total(self) -> int:
        return self.loans + self.holds + self.events + self.notices + self.messages

    def __add__(self, other: Redacted) -> Redacted:
        return Redacted(
            self.loans + other.loans,
            self.holds + other.holds,
            self.events + other.events,
            self.notices + other.notices,
            self.messages + other.messages,
        )


# Eligible for the nightly run: returned before the cutoff, still naming a
# patron who did not ask to keep their history.
_DUE_LOANS = """
    SELECT l.LoanID FROM Loans l JOIN Users u ON u.UserID = l.UserID
    WHERE l.ReturnedAt IS NOT NULL AND l.UserID IS NOT NULL AND l.ReturnedAt < :before
      AND u.KeepHistory = 0
"""
_DUE_HOLDS = """
    SELECT h.HoldID FROM Holds h JOIN Users u ON u.UserID = h.UserID
    WHERE h.ClosedAt IS NOT NULL AND h.UserID IS NOT NULL AND h.ClosedAt < :before
      AND h.Status NOT IN ('waiting', 'ready') AND u.KeepHistory = 0
"""
# Sent (or given up) messages keep the titles they told a patron about.
_DUE_MESSAGES = """
    SELECT o.MessageID FROM Outbox o JOIN Users u ON u.UserID = o.UserID
    WHERE o.Status IN ('sent', 'failed', 'cancelled') AND o.CreatedAt < :before
      AND u.KeepHistory = 0
      AND NOT EXISTS (SELECT 1 FROM Notices n WHERE n.MessageID = o.MessageID)
"""


def pending(conn: sqlite3.Connection, before: date) -> Redacted:
    """What tonight's run would anonymise with this cutoff (the settings page shows it)."""
    params = {"before": before.isoformat()}

    def count(sql: str) -> int:
        return conn.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]

    return Redacted(loans=count(_DUE_LOANS), holds=count(_DUE_HOLDS), messages=count(_DUE_MESSAGES))


def _log_redaction(conn: sqlite3.Connection, actor_id: int | None, detail: str) -> int:
    events.log(conn, "redaction", actor_id, detail=detail)
    return conn.execute("SELECT last_insert_rowid()").fetchone()[0]


# The one change the event log's trigger allows (sql/0014_privacy.sql): the patron
# goes, the snapshot of their role, group and category (sql/0016_reports.sql) comes
# from the loan or hold (or the account, for an event about neither), and the row
# names its redaction event.
_REDACT_EVENTS = """
    UPDATE Events SET
        UserID = NULL,
        ActorID = CASE WHEN ActorID = UserID THEN NULL ELSE ActorID END,
        Detail = CASE WHEN Kind = 'override' THEN NULL ELSE Detail END,
        BorrowerRole = CASE
            WHEN LoanID IS NOT NULL
                THEN (SELECT BorrowerRole FROM Loans WHERE LoanID = Events.LoanID)
            WHEN HoldID IS NOT NULL
                THEN (SELECT BorrowerRole FROM Holds WHERE HoldID = Events.HoldID)
            ELSE (SELECT Role FROM Users WHERE UserID = Events.UserID) END,
        BorrowerGroup = CASE
            WHEN LoanID IS NOT NULL
                THEN (SELECT BorrowerGroup FROM Loans WHERE LoanID = Events.LoanID)
            WHEN HoldID IS NOT NULL
                THEN (SELECT BorrowerGroup FROM Holds WHERE HoldID = Events.HoldID)
            ELSE (SELECT GroupName FROM Users WHERE UserID = Events.UserID) END,
        BorrowerCategory = CASE
            WHEN LoanID IS NOT NULL
                THEN (SELECT BorrowerCategory FROM Loans WHERE LoanID = Events.LoanID)
            WHEN HoldID IS NOT NULL
                THEN (SELECT BorrowerCategory FROM Holds WHERE HoldID = Events.HoldID)
            ELSE (SELECT pc.Name FROM Users u JOIN PatronCategories pc USING (CategoryID)
                  WHERE u.UserID = Events.UserID) END,
        RedactedBy = :redaction
    WHERE UserID IS NOT NULL AND
"""


def _redact(
    conn: sqlite3.Connection,
    redaction_id: int,
    now: str,
    *,
    loan_ids: list[int],
    hold_ids: list[int],
    user_id: int | None = None,
) -> Redacted:
    """Remove the borrower from these loans and holds, their events and notices.

    With ``user_id`` (an erasure) every event naming that patron is redacted too.
    An event of a hold that is also about a loan still naming its borrower (a
    hold filled by a loan that is still out) waits for that loan's own turn.
    """
    loans_json, holds_json = json.dumps(loan_ids), json.dumps(hold_ids)
    loans = conn.execute(
        "UPDATE Loans SET UserID = NULL, AnonymisedAt = ? "
        "WHERE LoanID IN (SELECT value FROM json_each(?)) AND UserID IS NOT NULL",
        (now, loans_json),
    ).rowcount
    held = conn.execute(
        "UPDATE Holds SET UserID = NULL, AnonymisedAt = ? "
        "WHERE HoldID IN (SELECT value FROM json_each(?)) AND UserID IS NOT NULL",
        (now, holds_json),
    ).rowcount
    # Three statements rather than one with OR, so each walks its own index.
    params = {"redaction": redaction_id, "user": user_id, "loans": loans_json, "holds": holds_json}
    redacted_events = sum(
        conn.execute(f"{_REDACT_EVENTS} {where}", params).rowcount
        for where in (
            "LoanID IN (SELECT value FROM json_each(:loans))",
            "HoldID IN (SELECT value FROM json_each(:holds)) AND (LoanID IS NULL "
            "OR (SELECT UserID FROM Loans WHERE LoanID = Events.LoanID) IS NULL)",
            "UserID = :user",
        )
    )
    notices = conn.execute(
        "DELETE FROM Notices WHERE LoanID IN (SELECT value FROM json_each(?))", (loans_json,)
    ).rowcount
    if user_id is not None:
        notices += conn.execute("DELETE FROM Notices WHERE UserID = ?", (user_id,)).rowcount
    return Redacted(loans=loans, holds=held, events=redacted_events, notices=notices)


def anonymise_batch(
    conn: sqlite3.Connection, *, before: date, now: str, limit: int = BATCH_SIZE
) -> Redacted:
    """One transaction of the nightly run: up to ``limit`` loans and holds returned or closed
    before ``before`` lose their borrower, logged as one 'redaction' event.

    Returns what changed; nothing changed means the run is complete.
    """
    params = {"before": before.isoformat(), "limit": limit}
    loan_ids = [row[0] for row in conn.execute(f"{_DUE_LOANS} LIMIT :limit", params)]
    hold_ids = [row[0] for row in conn.execute(f"{_DUE_HOLDS} LIMIT :limit", params)]
    message_ids = [row[0] for row in conn.execute(f"{_DUE_MESSAGES} LIMIT :limit", params)]
    if not loan_ids and not hold_ids and not message_ids:
        return Redacted()
    redaction_id = _log_redaction(
        conn,
        None,
        f"retention: {len(loan_ids)} loans and {len(hold_ids)} holds ended before "
        f"{before.isoformat()} lose their borrower",
    )
    done = _redact(conn, redaction_id, now, loan_ids=loan_ids, hold_ids=hold_ids)
    # A message whose notices were just deleted becomes due only in the next batch.
    messages = conn.execute(
        "DELETE FROM Outbox WHERE MessageID IN (SELECT value FROM json_each(?))",
        (json.dumps(message_ids),),
    ).rowcount
    return done + Redacted(messages=messages)


@dataclass(frozen=True)
class OpenLoan:
    title: str
    barcode: str
    due: str


@dataclass(frozen=True)
class ErasurePlan:
    """What deleting a patron would do, counted in the transaction that reads it."""

    patron: Patron
    open_loans: list[OpenLoan]
    returned_loans: int
    active_holds: int
    closed_holds: int
    events: int
    notices: int
    messages: int
    sessions: int
    refusal: str | None = field(default=None)


def erasure_plan(conn: sqlite3.Connection, user_id: int) -> ErasurePlan | None:
    """What ``erase_patron`` would do to this patron now (None: no such patron)."""
    patron = get_patron(conn, user_id)
    if patron is None:
        return None
    open_loans = [
        OpenLoan(row["Title"], row["Barcode"], row["ReturnDate"])
        for row in conn.execute(
            "SELECT b.Title, c.Barcode, l.ReturnDate FROM Loans l "
            "JOIN Books b ON b.BookID = l.BookID JOIN Copies c ON c.CopyID = l.CopyID "
            "WHERE l.UserID = ? AND l.ReturnedAt IS NULL ORDER BY l.ReturnDate, b.Title",
            (user_id,),
        )
    ]
    counts = conn.execute(
        """
        SELECT (SELECT count(*) FROM Loans WHERE UserID = :id AND ReturnedAt IS NOT NULL)
                   AS Returned,
               (SELECT count(*) FROM Holds WHERE UserID = :id AND Status IN ('waiting', 'ready'))
                   AS Active,
               (SELECT count(*) FROM Holds
                WHERE UserID = :id AND Status NOT IN ('waiting', 'ready')) AS Closed,
               (SELECT count(*) FROM Events WHERE UserID = :id) AS Events,
               (SELECT count(*) FROM Notices WHERE UserID = :id) AS Notices,
               (SELECT count(*) FROM Outbox WHERE UserID = :id) AS Messages,
               (SELECT count(*) FROM Sessions WHERE UserID = :id) AS Sessions,
               (SELECT count(*) FROM Loans WHERE LentBy = :id)
             + (SELECT count(*) FROM Events WHERE ActorID = :id AND UserID IS NOT :id) AS ActedFor
        """,
        {"id": user_id},
    ).fetchone()
    refusal = None
    if patron.role in STAFF_ROLES or counts["ActedFor"]:
        refusal = (
            "This is a staff account, or one that lent items or acted for other patrons: "
            "the event log keeps who did what. Mark it inactive instead."
        )
    elif open_loans:
        refusal = (
            f"{patron.name} still has {len(open_loans)} item(s) out. "
            "They must be returned (or marked lost) before the account can be deleted."
        )
    return ErasurePlan(
        patron=patron,
        open_loans=open_loans,
        returned_loans=counts["Returned"],
        active_holds=counts["Active"],
        closed_holds=counts["Closed"],
        events=counts["Events"],
        notices=counts["Notices"],
        messages=counts["Messages"],
        sessions=counts["Sessions"],
        refusal=refusal,
    )


def erase_patron(
    conn: sqlite3.Connection,
    *,
    user_id: int,
    actor_id: int,
    today: date,
    now: str,
    library_name: str,
) -> ErasurePlan | None:
    """Delete a patron: cancel their holds (a ready copy passes down the queue), anonymise
    their loans, holds and events as the nightly run does, delete their notices, messages,
    sessions and sign-in failures, then the account. One transaction.

    Returns the plan it carried out (read inside this transaction), or one with
    ``refusal`` set, in which case nothing changed.
    """
    plan = erasure_plan(conn, user_id)
    if plan is None or plan.refusal:
        return plan
    for (hold_id,) in conn.execute(
        "SELECT HoldID FROM Holds WHERE UserID = ? AND Status IN ('waiting', 'ready')", (user_id,)
    ).fetchall():
        holds.cancel_hold(
            conn, hold_id=hold_id, actor_id=actor_id, today=today, library_name=library_name
        )
    redaction_id = _log_redaction(
        conn,
        actor_id,
        f"account {user_id} deleted: {plan.returned_loans} loans and "
        f"{plan.active_holds + plan.closed_holds} holds lose their borrower",
    )
    loan_ids = [r[0] for r in conn.execute("SELECT LoanID FROM Loans WHERE UserID = ?", (user_id,))]
    hold_ids = [r[0] for r in conn.execute("SELECT HoldID FROM Holds WHERE UserID = ?", (user_id,))]
    _redact(conn, redaction_id, now, loan_ids=loan_ids, hold_ids=hold_ids, user_id=user_id)
    conn.execute("DELETE FROM Outbox WHERE UserID = ?", (user_id,))
    if plan.patron.email:
        conn.execute("DELETE FROM LoginFailures WHERE Email = ?", (plan.patron.email,))
    conn.execute("DELETE FROM Users WHERE UserID = ?", (user_id,))
    return plan


# --- Access: everything stored about one patron ---------------------------------------

DATA_SECTIONS = ("profile", "loans", "holds", "notices", "messages", "sign_ins", "events")


def patron_data(conn: sqlite3.Connection, user_id: int) -> dict[str, list[dict]] | None:
    """Everything the library stores about a patron, section by section (None: no such patron).

    Each section is a list of flat records, so the same data writes as JSON and
    as one CSV file per section. Passwords are stored only as a hash, which is
    named but not given.
    """

    def rows(sql: str, *params) -> list[dict]:
        return [dict(row) for row in conn.execute(sql, params)]

    profile = rows(
        "SELECT UserID AS id, Name AS name, Role AS role, Email AS email, "
        "CardNumber AS card_number, GroupName AS group_name, Active AS active, "
        "EmailReceipts AS email_receipts, KeepHistory AS keeps_history, "
        "GuardianEmail AS guardian_email, "
        "PasswordHash IS NOT NULL AS has_password, CreatedAt AS created_at "
        "FROM Users WHERE UserID = ?",
        user_id,
    )
    if not profile:
        return None
    return {
        "profile": profile,
        "loans": rows(
            "SELECT l.LoanID AS loan_id, b.Title AS title, b.Author AS author, "
            "c.Barcode AS barcode, l.LoanDate AS lent_on, l.ReturnDate AS due_on, "
            "l.ReturnedAt AS returned_at, l.Renewals AS renewals, l.ClosedAs AS closed_as "
            "FROM Loans l JOIN Books b ON b.BookID = l.BookID JOIN Copies c ON c.CopyID = l.CopyID "
            "WHERE l.UserID = ? ORDER BY l.LoanDate, l.LoanID",
            user_id,
        ),
        "holds": rows(
            "SELECT h.HoldID AS hold_id, b.Title AS title, h.PlacedAt AS placed_at, "
            "h.Status AS status, h.PickupBy AS pickup_by, h.ClosedAt AS closed_at "
            "FROM Holds h JOIN Books b ON b.BookID = h.BookID "
            "WHERE h.UserID = ? ORDER BY h.PlacedAt, h.HoldID",
            user_id,
        ),
        "notices": rows(
            "SELECT n.NoticeID AS notice_id, b.Title AS title, n.Stage AS days_from_due, "
            "n.DueDate AS due_on, n.RunDate AS run_on, n.MessageID AS message_id "
            "FROM Notices n JOIN Loans l ON l.LoanID = n.LoanID "
            "JOIN Books b ON b.BookID = l.BookID "
            "WHERE n.UserID = ? ORDER BY n.NoticeID",
            user_id,
        ),
        "messages": rows(
            "SELECT MessageID AS message_id, Kind AS kind, Recipient AS recipient, Cc AS cc, "
            "Subject AS subject, Status AS status, CreatedAt AS created_at, SentAt AS sent_at, "
            "BodyText AS body FROM Outbox WHERE UserID = ? ORDER BY MessageID",
            user_id,
        ),
        "sign_ins": rows(
            "SELECT 'session' AS kind, CreatedAt AS at, ExpiresAt AS expires_at, NULL AS address "
            "FROM Sessions WHERE UserID = ? "
            "UNION ALL SELECT 'failed sign-in', f.At, NULL, f.Address "
            "FROM LoginFailures f JOIN Users u ON f.Email = u.Email WHERE u.UserID = ? "
            "ORDER BY at",
            user_id,
            user_id,
        ),
        "events": rows(
            "SELECT e.EventID AS event_id, e.At AS at, e.Kind AS kind, b.Title AS title, "
            "e.Detail AS detail FROM Events e LEFT JOIN Books b ON b.BookID = e.BookID "
            "WHERE e.UserID = ? ORDER BY e.EventID",
            user_id,
        ),
    }


# --- The event log's integrity check ---------------------------------------------------


def event_log_problems(conn: sqlite3.Connection) -> list[str]:
    """What is wrong with the event log, as sentences (empty when it is sound).

    The log is append-only but for redactions: the guarding triggers exist; every
    redacted event names no patron and points at a later 'redaction' event; no
    event about an anonymised loan or hold still names a patron; an event about a
    loan that still has its borrower names that borrower, or lost it only by a redaction.
    """
    problems = []
    present = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'Events'"
        )
    }
    problems += [f"trigger {name} is missing" for name in EVENT_LOG_TRIGGERS if name not in present]
    checks = {
        "redacted events still name a patron": (
            "SELECT count(*) FROM Events WHERE RedactedBy IS NOT NULL AND UserID IS NOT NULL"
        ),
        "redacted events point at no earlier-logged redaction": (
            "SELECT count(*) FROM Events e LEFT JOIN Events r ON r.EventID = e.RedactedBy "
            "WHERE e.RedactedBy IS NOT NULL "
            "AND (r.Kind IS NOT 'redaction' OR r.EventID <= e.EventID)"
        ),
        "events of anonymised loans still name a patron": (
            "SELECT count(*) FROM Events e JOIN Loans l ON l.LoanID = e.LoanID "
            "WHERE l.UserID IS NULL AND e.UserID IS NOT NULL"
        ),
        "events of anonymised holds still name a patron": (
            "SELECT count(*) FROM Events e JOIN Holds h ON h.HoldID = e.HoldID "
            "WHERE h.UserID IS NULL AND e.UserID IS NOT NULL AND e.LoanID IS NULL"
        ),
        "events of a loan name another patron than its borrower": (
            "SELECT count(*) FROM Events e JOIN Loans l ON l.LoanID = e.LoanID "
            "WHERE e.UserID IS NOT NULL AND l.UserID IS NOT NULL AND e.UserID <> l.UserID"
        ),
        "events lost the borrower of their loan without a redaction": (
            "SELECT count(*) FROM Events e JOIN Loans l ON l.LoanID = e.LoanID "
            "WHERE e.UserID IS NULL AND e.RedactedBy IS NULL AND l.UserID IS NOT NULL"
        ),
        "events point at rows that do not exist": (
            "SELECT count(*) FROM pragma_foreign_key_check('Events')"
        ),
    }
    for sentence, sql in checks.items():
        count = conn.execute(sql).fetchone()[0]
        if count:
            problems.append(f"{count} {sentence}")
    return problems
