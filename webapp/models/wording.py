"""The wording of the notices staff can edit, and the reminder stages, as stored.

NoticeWordings is append-only: each save or reset adds a row, and a kind's
wording is its latest row (a reset row, with no subject or body, or no row at
all, means the built-in wording of ``webapp.emails``). The Outbox remembers,
for a reminder queued at night but rendered when it is sent, the newest row
then (``WordingVersion``), so every notice goes out in the wording in force when
it was queued, whether it is rendered at once (a hold notice, an invitation)
or later (a reminder). The checks and the sandbox are in
``webapp.notice_templates``; this module stores what passed them and logs each
change in the event log.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date

from webapp import notice_templates, reminder_stages
from webapp.models import events, records
from webapp.models.patrons import Patron
from webapp.notice_templates import NoticeItem, NoticeSection, Wording


def wordings_as_of(conn: sqlite3.Connection, version: int | None = None) -> dict[str, Wording]:
    """The edited wording of each kind in force at ``version`` (a NoticeWordings row id;
    None: now). Kinds on their built-in wording are left out."""
    rows = conn.execute(
        """
        SELECT w.Kind, w.Subject, w.Body FROM NoticeWordings w
        WHERE w.WordingID = (SELECT max(WordingID) FROM NoticeWordings l
                             WHERE l.Kind = w.Kind AND l.WordingID <= coalesce(?, l.WordingID))
        """,
        (version,),
    )
    return {
        row["Kind"]: Wording(row["Subject"], row["Body"])
        for row in rows
        if row["Subject"] is not None
    }


def current(conn: sqlite3.Connection, kind: str) -> Wording | None:
    """The edited wording of ``kind`` now, or None for the built-in one."""
    return wordings_as_of(conn).get(kind)


def latest_version(conn: sqlite3.Connection) -> int:
    """The newest NoticeWordings row id (0 before any edit): what a queued reminder keeps."""
    return conn.execute("SELECT coalesce(max(WordingID), 0) FROM NoticeWordings").fetchone()[0]


@dataclass(frozen=True)
class KindStatus:
    kind: str
    label: str
    edited: bool
    # When and by whom it was last saved or reset; None when never touched.
    changed_at: str | None
    changed_by: str | None


def statuses(conn: sqlite3.Connection) -> list[KindStatus]:
    """Each notice kind, whether its wording is edited, and its last change."""
    latest = {
        row["Kind"]: row
        for row in conn.execute(
            """
            SELECT w.Kind, w.Subject IS NOT NULL AS Edited, w.SavedAt, u.Name
            FROM NoticeWordings w LEFT JOIN Users u ON u.UserID = w.SavedBy
            WHERE w.WordingID = (SELECT max(WordingID) FROM NoticeWordings l WHERE l.Kind = w.Kind)
            """
        )
    }
    return [
        KindStatus(
            kind.key,
            kind.label,
            bool(latest[kind.key]["Edited"]) if kind.key in latest else False,
            latest[kind.key]["SavedAt"] if kind.key in latest else None,
            latest[kind.key]["Name"] if kind.key in latest else None,
        )
        for kind in notice_templates.KINDS.values()
    ]


def save(conn: sqlite3.Connection, kind: str, wording: Wording, actor_id: int) -> None:
    """Store a checked wording as ``kind``'s current one, and log it."""
    conn.execute(
        "INSERT INTO NoticeWordings (Kind, Subject, Body, SavedBy) VALUES (?, ?, ?, ?)",
        (kind, wording.subject, wording.body, actor_id),
    )
    events.log(conn, "notice_wording_saved", actor_id, detail=f"{kind}: {wording.subject}")


def reset(conn: sqlite3.Connection, kind: str, actor_id: int) -> bool:
    """Go back to the built-in wording of ``kind``, and log it; False when it already was."""
    if current(conn, kind) is None:
        return False
    conn.execute(
        "INSERT INTO NoticeWordings (Kind, Subject, Body, SavedBy) VALUES (?, NULL, NULL, ?)",
        (kind, actor_id),
    )
    events.log(conn, "notice_wording_reset", actor_id, detail=f"{kind}: back to the default")
    return True


# --- Reminder stages -------------------------------------------------------------------


def stages_setting(conn: sqlite3.Connection) -> tuple[int, ...]:
    """The reminder stages in force (the defaults when the setting is missing or empty)."""
    row = conn.execute("SELECT Value FROM LibrarySettings WHERE Key = 'reminder_stages'").fetchone()
    return reminder_stages.parse_stages(row[0] if row else None)


def save_stages(conn: sqlite3.Connection, stages: tuple[int, ...], actor_id: int) -> bool:
    """Store checked stages (``reminder_stages.parse_stages``) and log them; False if unchanged."""
    if stages == stages_setting(conn):
        return False
    value = ",".join(str(stage) for stage in stages)
    conn.execute(
        "INSERT INTO LibrarySettings (Key, Value) VALUES ('reminder_stages', ?) "
        "ON CONFLICT (Key) DO UPDATE SET Value = excluded.Value",
        (value,),
    )
    events.log(conn, "reminder_stages_changed", actor_id, detail=value)
    return True


# --- Previews with a real patron's data --------------------------------------------------


@dataclass(frozen=True)
class PreviewData:
    """The fields a draft is previewed with, and what they came from."""

    context: dict[str, object]
    # Whose data it is, and a note when part of it had to be made up.
    patron: Patron | None
    note: str | None


def preview_data(
    conn: sqlite3.Connection,
    kind: str,
    patron: Patron | None,
    today: date,
    library_name: str,
    sample_link: str,
) -> PreviewData:
    """The fields ``kind`` would be sent with to ``patron`` today: their open loans at the
    stage they have reached, their hold, or (for what cannot be known before it happens,
    an invitation's link) sample values."""
    sample = notice_templates.sample_context(kind)
    if patron is None:
        return PreviewData({**sample, "library_name": library_name}, None, "sample data")
    common = {"library_name": library_name, "patron_name": patron.name}
    if kind == "invitation":
        return PreviewData({**sample, **common, "link": sample_link}, patron, None)
    if kind == "hold_ready":
        hold = conn.execute(
            "SELECT b.Title, b.Author, coalesce(c.Barcode, '') AS Barcode, h.PickupBy "
            "FROM Holds h JOIN Books b ON b.BookID = h.BookID "
            "LEFT JOIN Copies c ON c.CopyID = h.CopyID "
            "WHERE h.UserID = ? AND h.Status IN ('ready', 'waiting') "
            "ORDER BY h.Status = 'ready' DESC, h.PlacedAt LIMIT 1",
            (patron.user_id,),
        ).fetchone()
        if hold is None:
            return PreviewData({**sample, **common}, patron, "no hold: a sample book is shown")
        pickup_by = (
            date.fromisoformat(hold["PickupBy"]) if hold["PickupBy"] else sample["pickup_by"]
        )
        return PreviewData(
            {
                **common,
                "title": hold["Title"],
                "author": hold["Author"] or "",
                "barcode": hold["Barcode"],
                "pickup_by": pickup_by,
            },
            patron,
            None,
        )
    sections = _loan_sections(conn, kind, patron.user_id, today)
    if not sections:
        return PreviewData(
            {**sample, **common},
            patron,
            "no loan at a stage for this notice: sample loans are shown",
        )
    return PreviewData(
        notice_templates.loan_context(
            library_name=library_name, patron_name=patron.name, sections=sections
        ),
        patron,
        None,
    )


def _loan_sections(
    conn: sqlite3.Connection, kind: str, user_id: int, today: date
) -> list[NoticeSection]:
    """The patron's open loans at the stage each has reached today, as the email groups them
    (a courtesy notice: only those due soon)."""
    stages = stages_setting(conn)
    advice = records.renewal_advice(conn, user_id, today)
    by_stage: dict[int, list[NoticeItem]] = {}
    for row in conn.execute(
        "SELECT l.LoanID, b.Title, c.Barcode, l.ReturnDate FROM Loans l "
        "JOIN Books b ON b.BookID = l.BookID JOIN Copies c ON c.CopyID = l.CopyID "
        "WHERE l.UserID = ? AND l.ReturnedAt IS NULL ORDER BY l.ReturnDate, b.Title",
        (user_id,),
    ):
        due = date.fromisoformat(row["ReturnDate"])
        days = reminder_stages.days_from_due(due, today)
        stage = reminder_stages.stage_for(stages, days, None)
        if stage is None or (kind == "courtesy" and stage > 0):
            continue
        loan_advice = advice[row["LoanID"]]
        by_stage.setdefault(stage, []).append(
            NoticeItem(
                row["Title"], row["Barcode"], due, days, loan_advice.advice, loan_advice.renewable
            )
        )
    return [
        NoticeSection(reminder_stages.stage_heading(stage), tuple(by_stage[stage]))
        for stage in sorted(by_stage, reverse=True)
    ]
