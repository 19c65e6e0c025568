"""The read side of holds: a title's queue, the hold shelf, the pull list and hold slips.

What the book page, the hold shelf page (webapp/views/holds.py) and a hold
slip show. Plain functions of a connection, run with ``Database.read``; the
changes (placing, cancelling, expiring, setting a copy aside) are in
``webapp.models.holds``.

Every query starts from an index on Holds that holds only the rows it wants
(``Holds_Queue`` for waiting holds, ``Holds_ReadyByPickup`` and
``Holds_ExpiredByPickup`` and ``Holds_ByCopy`` from migration 0006), so the page costs the same at
50,000 copies as at 500: it reads the holds, never the whole collection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta

# A waiting hold's place in its title's queue (1 = next), as one SQL expression over
# ``Holds h``: first come, first served (PlacedAt, then HoldID within a second).
# The book page and a patron's holds (webapp/models/records.py) both show it.
QUEUE_POSITION = """CASE WHEN h.Status = 'waiting' THEN
    (SELECT count(*) FROM Holds q
     WHERE q.BookID = h.BookID AND q.Status = 'waiting'
       AND (q.PlacedAt < h.PlacedAt OR (q.PlacedAt = h.PlacedAt AND q.HoldID <= h.HoldID)))
    END"""

# An expired hold's copy stays on the "to reshelve" list this long after its
# pickup deadline, unless it is lent or set aside for someone else first.
RESHELVE_DAYS = 7


@dataclass(frozen=True)
class TitleQueue:
    """A title's hold queue as the book page shows it to ``viewer``.

    ``waiting`` counts every waiting hold; ``own_*`` describe the viewer's own
    active hold on the title, if any (``own_position`` only while waiting).
    """

    waiting: int
    own_hold_id: int | None = None
    own_status: str | None = None
    own_position: int | None = None
    own_pickup_by: date | None = None


def title_queue(conn: sqlite3.Connection, book_id: int, viewer_id: int | None) -> TitleQueue:
    """How many are waiting for the title, and where the viewer stands in the queue."""
    waiting = conn.execute(
        "SELECT count(*) FROM Holds WHERE BookID = ? AND Status = 'waiting'", (book_id,)
    ).fetchone()[0]
    if viewer_id is None:
        return TitleQueue(waiting)
    own = conn.execute(
        f"""
        SELECT h.HoldID, h.Status, h.PickupBy, {QUEUE_POSITION} AS Position
        FROM Holds h
        WHERE h.UserID = ? AND h.BookID = ? AND h.Status IN ('waiting', 'ready')
        """,
        (viewer_id, book_id),
    ).fetchone()
    if own is None:
        return TitleQueue(waiting)
    return TitleQueue(
        waiting,
        own_hold_id=own["HoldID"],
        own_status=own["Status"],
        own_position=own["Position"],
        own_pickup_by=date.fromisoformat(own["PickupBy"]) if own["PickupBy"] else None,
    )


@dataclass(frozen=True)
class ShelfHold:
    """A ready (or lately expired) hold and the copy set aside for it."""

    hold_id: int
    patron_id: int
    patron_name: str
    card_number: str | None
    book_id: int
    title: str
    author: str
    barcode: str
    location: str | None
    pickup_by: date
    status: str


@dataclass(frozen=True)
class PullItem:
    """Copies of a title on the open shelf while patrons wait for it: fetch them."""

    location: str | None
    book_id: int
    title: str
    author: str
    barcodes: list[str]
    waiting: int


@dataclass(frozen=True)
class HoldShelf:
    """The hold shelf page: what to hand over, what to take back off, what to fetch."""

    ready: list[ShelfHold]
    to_reshelve: list[ShelfHold]
    pull_list: list[PullItem]

    @property
    def pull_by_location(self) -> list[tuple[str | None, list[PullItem]]]:
        """The pull list grouped by shelf location, in location order (unshelved last)."""
        groups: dict[str | None, list[PullItem]] = {}
        for item in self.pull_list:
            groups.setdefault(item.location, []).append(item)
        return list(groups.items())


_SHELF_COLUMNS = (
    "h.HoldID, h.UserID, u.Name, u.CardNumber, h.BookID, b.Title, b.Author, c.Barcode, "
    "c.Location, h.PickupBy, h.Status"
)
_SHELF_TABLES = (
    "Holds h JOIN Users u ON u.UserID = h.UserID JOIN Books b ON b.BookID = h.BookID "
    "JOIN Copies c ON c.CopyID = h.CopyID"
)


def _shelf_hold(row: sqlite3.Row) -> ShelfHold:
    return ShelfHold(
        hold_id=row["HoldID"],
        patron_id=row["UserID"],
        patron_name=row["Name"],
        card_number=row["CardNumber"],
        book_id=row["BookID"],
        title=row["Title"],
        author=row["Author"],
        barcode=row["Barcode"],
        location=row["Location"],
        pickup_by=date.fromisoformat(row["PickupBy"]),
        status=row["Status"],
    )


def hold_shelf(conn: sqlite3.Connection, today: date) -> HoldShelf:
    """The hold shelf on ``today``.

    Ready: holds waiting to be collected by their deadline, soonest first.
    To reshelve: ready holds past their deadline, which the nightly job
    (``holds.expire_ready_holds``) expires, and holds it expired in the last
    ``RESHELVE_DAYS`` days whose copy was neither lent nor set aside for
    another hold since: that copy belongs back on the open shelf. (Until its
    deadline the copy was set aside, so any loan of it after that day came
    after the expiry.)
    Pull list: waiting holds (of active patrons, as ``offer_to_queue`` serves)
    for titles with a copy on the open shelf, by shelf location.
    """
    day = today.isoformat()
    ready = conn.execute(
        f"SELECT {_SHELF_COLUMNS} FROM {_SHELF_TABLES} "
        "WHERE h.Status = 'ready' AND h.PickupBy >= ? ORDER BY h.PickupBy, h.HoldID",
        (day,),
    ).fetchall()
    overdue = conn.execute(
        f"SELECT {_SHELF_COLUMNS} FROM {_SHELF_TABLES} "
        "WHERE h.Status = 'ready' AND h.PickupBy < ? ORDER BY h.PickupBy, h.HoldID",
        (day,),
    ).fetchall()
    expired = conn.execute(
        f"SELECT {_SHELF_COLUMNS} FROM {_SHELF_TABLES} "
        "WHERE h.Status = 'expired' AND h.PickupBy >= ? AND c.Status = 'in_stock' "
        "AND NOT EXISTS (SELECT 1 FROM Loans l WHERE l.CopyID = h.CopyID "
        "AND l.LoanDate > h.PickupBy) "
        "AND NOT EXISTS (SELECT 1 FROM Holds x WHERE x.CopyID = h.CopyID AND x.HoldID > h.HoldID) "
        "ORDER BY h.PickupBy, h.HoldID",
        ((today - timedelta(days=RESHELVE_DAYS)).isoformat(),),
    ).fetchall()
    pull = conn.execute(
        """
        SELECT c.Location, q.BookID, b.Title, b.Author, q.Waiting,
               group_concat(c.Barcode, ' ') AS Barcodes
        FROM (SELECT h.BookID, count(*) AS Waiting FROM Holds h
              JOIN Users u ON u.UserID = h.UserID
              WHERE h.Status = 'waiting' AND u.Active = 1 GROUP BY h.BookID) q
        JOIN Books b ON b.BookID = q.BookID
        JOIN Copies c ON c.BookID = q.BookID AND c.Status = 'in_stock'
        WHERE NOT EXISTS (SELECT 1 FROM Loans l WHERE l.CopyID = c.CopyID AND l.ReturnedAt IS NULL)
          AND NOT EXISTS (SELECT 1 FROM Holds r WHERE r.CopyID = c.CopyID AND r.Status = 'ready')
        GROUP BY c.Location, q.BookID
        ORDER BY c.Location IS NULL, c.Location, b.Title, q.BookID
        """
    ).fetchall()
    return HoldShelf(
        ready=[_shelf_hold(row) for row in ready],
        to_reshelve=[_shelf_hold(row) for row in [*overdue, *expired]],
        pull_list=[
            PullItem(
                location=row["Location"],
                book_id=row["BookID"],
                title=row["Title"],
                author=row["Author"],
                barcodes=sorted(row["Barcodes"].split(" ")),
                waiting=row["Waiting"],
            )
            for row in pull
        ],
    )


def ready_hold(conn: sqlite3.Connection, hold_id: int) -> ShelfHold | None:
    """A ready hold, for its slip; None when there is no such hold on the hold shelf."""
    row = conn.execute(
        f"SELECT {_SHELF_COLUMNS} FROM {_SHELF_TABLES} WHERE h.HoldID = ? AND h.Status = 'ready'",
        (hold_id,),
    ).fetchone()
    return None if row is None else _shelf_hold(row)
