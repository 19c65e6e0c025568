"""Demo data: the teaching records, then a generated, realistic small library.

Deterministic for a given seed and "today". Runs on a plain sqlite3 connection
in one transaction (see ``db.connect_sync``): thousands of rows through
aiosqlite would cost a thread hop each.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta

from webapp.db import inserted_id
from webapp.models.accounts import hash_password
from webapp.progress import Progress

DEMO_PASSWORD = "demo"

# The classic teaching records, kept exactly.
TEACHING_USERS = (
    # Name, Role, Email, CardNumber
    ("Alice Smith", "Student", "alice@example.com", "S0001"),
    ("Bob Johnson", "Librarian", "bob@example.com", "L0001"),
)
TEACHING_BOOKS = (
    # Title, Author, ISBN-13, Year, Subjects
    (
        "The Great Gatsby",
        "F. Scott Fitzgerald",
        "9780743273565",
        1925,
        "American fiction; Jazz Age",
    ),
    ("1984", "George Orwell", "9780451524935", 1949, "Dystopian fiction; Totalitarianism"),
)
# Both loans date from 2025 and are still open, so they are overdue.
TEACHING_LOANS = (
    # email, ISBN-13, LoanDate, ReturnDate (the due date)
    ("alice@example.com", "9780743273565", "2025-03-01", "2025-03-15"),
    ("bob@example.com", "9780451524935", "2025-03-05", "2025-04-02"),
)
EXTRA_STAFF = (("Carol Davis", "Admin", "carol@example.com", "A0001"),)

_ADJECTIVES = [
    "Silent",
    "Hidden",
    "Golden",
    "Last",
    "Lost",
    "Secret",
    "Broken",
    "Midnight",
    "Crimson",
    "Distant",
    "Forgotten",
    "Wild",
    "Burning",
    "Quiet",
    "Little",
    "Northern",
    "Winter",
    "Summer",
    "Glass",
    "Iron",
    "Paper",
    "Sleeping",
    "Painted",
    "Endless",
    "Bright",
    "Hollow",
    "Shadowed",
    "Velvet",
    "Wandering",
    "Frozen",
    "Electric",
    "Ancient",
    "Restless",
    "Scarlet",
]
_NOUNS = [
    "River",
    "Garden",
    "House",
    "Kingdom",
    "Ocean",
    "Mountain",
    "Forest",
    "City",
    "Island",
    "Library",
    "Letter",
    "Station",
    "Bridge",
    "Lighthouse",
    "Orchard",
    "Harbour",
    "Map",
    "Clock",
    "Mirror",
    "Crown",
    "Storm",
    "Road",
    "Valley",
    "Door",
    "Window",
    "Song",
    "Star",
    "Sea",
    "Fire",
    "Moon",
    "Bird",
    "Wolf",
    "Fox",
    "Dragon",
    "Tower",
    "Night",
    "Summer",
    "Journey",
    "Promise",
    "Secret",
    "Memory",
]
_PATTERNS = (
    "The {adj} {noun}",
    "{noun} of {noun2}s",
    "The {noun} and the {noun2}",
    "A {adj} {noun}",
    "Beyond the {adj} {noun}",
    "The {noun} at the End of the {noun2}",
    "{adj} {noun}s",
    "Children of the {noun}",
    "The Last {noun} of {place}",
    "Return to {place}",
)
_PLACES = [
    "Avalon",
    "Brightwater",
    "Eldermere",
    "Kestrel",
    "Bay",
    "Marrowby",
    "Northwick",
    "Oakhaven",
    "Ravenhill",
    "Saltmarsh",
    "Thornfield",
    "Willowmere",
    "Ashford",
]
_FIRST = [
    "Amara",
    "Ben",
    "Chloe",
    "Daniel",
    "Elif",
    "Farah",
    "George",
    "Hana",
    "Isaac",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Oscar",
    "Priya",
    "Quinn",
    "Rosa",
    "Samir",
    "Tara",
    "Umar",
    "Vera",
    "William",
    "Xin",
    "Yusuf",
    "Zoe",
    "Aisha",
    "Ethan",
    "Mia",
    "Noah",
    "Olivia",
    "Lucas",
    "Sofia",
    "Leo",
    "Emma",
    "Arjun",
    "Chen",
    "Ines",
    "Jonas",
    "Maya",
]
_LAST = [
    "Adams",
    "Brown",
    "Chen",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ibrahim",
    "Jones",
    "Kowalski",
    "Lopez",
    "Murphy",
    "Nguyen",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Taylor",
    "Usman",
    "Virtanen",
    "Walker",
    "Xu",
    "Yilmaz",
    "Zhang",
    "Morgan",
    "Kelly",
    "Novak",
    "Silva",
    "Haddad",
    "Costa",
    "Berg",
    "Moreau",
    "Suzuki",
]
_SUBJECTS = (
    "Adventure",
    "Fantasy",
    "Mystery",
    "Science fiction",
    "History",
    "Biography",
    "Poetry",
    "Nature",
    "Friendship",
    "Family",
    "Science",
    "Mathematics",
    "Art",
    "Sport",
    "Travel",
    "Animals",
    "Space",
    "Music",
    "Humour",
    "Graphic novels",
)
_PUBLISHERS = ("Penguin", "Puffin", "Bloomsbury", "Walker Books", "Scholastic", "Faber", "Usborne")
_LOCATIONS = (
    "Fiction A–F",
    "Fiction G–M",
    "Fiction N–S",
    "Fiction T–Z",
    "Non-fiction",
    "Reference",
)


def _isbn13(rng: random.Random, used: set[str]) -> str:
    while True:
        body = "978" + "".join(str(rng.randrange(10)) for _ in range(9))
        total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
        isbn = body + str((10 - total % 10) % 10)
        if isbn not in used:
            used.add(isbn)
            return isbn


def _title(rng: random.Random) -> str:
    pattern = rng.choice(_PATTERNS)
    noun, noun2 = rng.sample(_NOUNS, 2)
    return pattern.format(
        adj=rng.choice(_ADJECTIVES), noun=noun, noun2=noun2, place=rng.choice(_PLACES)
    )


def has_teaching_records(conn: sqlite3.Connection) -> bool:
    return (
        conn.execute("SELECT 1 FROM Users WHERE Email = ?", ("alice@example.com",)).fetchone()
        is not None
    )


def load(
    conn: sqlite3.Connection,
    *,
    books: int = 2000,
    patrons: int = 300,
    seed: int = 1,
    today: date,
    show_progress: bool = True,
) -> dict[str, int]:
    """Load the demo library in one transaction; returns row counts by table."""
    rng = random.Random(seed)
    password_hash = hash_password(DEMO_PASSWORD)
    progress = Progress("demo data", books) if show_progress else None
    conn.execute("BEGIN IMMEDIATE")
    try:
        user_ids: dict[str, int] = {}
        for name, role, email, card in TEACHING_USERS + EXTRA_STAFF:
            cursor = conn.execute(
                "INSERT INTO Users (Name, Role, Email, CardNumber, PasswordHash) "
                "VALUES (?,?,?,?,?)",
                (name, role, email, card, password_hash),
            )
            user_ids[email] = inserted_id(cursor)
        used_isbns = {isbn for _, _, isbn, _, _ in TEACHING_BOOKS}
        used_emails = set(user_ids)
        book_rows: list[tuple[str, str, str | None, str | None, str, str, int, str]] = [
            (title, author, isbn, None, subjects, "Penguin", year, "en")
            for title, author, isbn, year, subjects in TEACHING_BOOKS
        ]
        for _ in range(books):
            author_count = 2 if rng.random() < 0.1 else 1
            authors = ", ".join(
                f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(author_count)
            )
            book_rows.append(
                (
                    _title(rng),
                    authors,
                    _isbn13(rng, used_isbns) if rng.random() < 0.9 else None,
                    f"{rng.choice(_PLACES)} Chronicles" if rng.random() < 0.15 else None,
                    "; ".join(rng.sample(_SUBJECTS, rng.randint(1, 3))),
                    rng.choice(_PUBLISHERS),
                    rng.randint(1950, today.year),
                    "en",
                )
            )
        book_ids = []
        for row in book_rows:
            book_ids.append(
                inserted_id(
                    conn.execute(
                        "INSERT INTO Books (Title, Author, ISBN, Series, Subjects, Publisher, "
                        "Year, Language) VALUES (?,?,?,?,?,?,?,?)",
                        row,
                    )
                )
            )
            if progress:
                progress.advance()
        next_barcode = int(
            conn.execute("SELECT Value FROM LibrarySettings WHERE Key = 'barcode_next'").fetchone()[
                0
            ]
        )
        copies: list[tuple[int, int]] = []
        for book_id in book_ids:
            for _ in range(rng.choice((1, 1, 2, 2, 2, 3))):
                barcode = f"C{next_barcode}"
                next_barcode += 1
                copy_id = inserted_id(
                    conn.execute(
                        "INSERT INTO Copies (BookID, Barcode, Location) VALUES (?,?,?)",
                        (book_id, barcode, rng.choice(_LOCATIONS)),
                    )
                )
                copies.append((copy_id, book_id))
        conn.execute(
            "UPDATE LibrarySettings SET Value = ? WHERE Key = 'barcode_next'", (str(next_barcode),)
        )
        patron_ids = []
        for number in range(patrons):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first}.{last}.{number}@example.com".lower()
            role = "Student" if number % 25 else "Librarian"
            patron_ids.append(
                conn.execute(
                    "INSERT INTO Users (Name, Role, Email, CardNumber, GroupName, PasswordHash) "
                    "VALUES (?,?,?,?,?,?)",
                    (
                        f"{first} {last}",
                        role,
                        None if number % 40 == 7 else email,
                        f"S{number + 1001}" if role == "Student" else f"L{number + 1001}",
                        f"Year {7 + number % 7}" if role == "Student" else "Staff",
                        password_hash,
                    ),
                ).lastrowid
            )
            used_emails.add(email)
        book_of_copy = dict(copies)
        for email, isbn, lent_on, due in TEACHING_LOANS:
            copy_id = conn.execute(
                "SELECT c.CopyID FROM Copies c JOIN Books b ON b.BookID = c.BookID "
                "WHERE b.ISBN = ? ORDER BY c.CopyID LIMIT 1",
                (isbn,),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, LentBy) "
                "VALUES (?,?,?,?,?,?)",
                (
                    user_ids[email],
                    book_of_copy[copy_id],
                    copy_id,
                    lent_on,
                    due,
                    user_ids["bob@example.com"],
                ),
            )
        lendable = [copy for copy in copies if copy[1] not in book_ids[: len(TEACHING_BOOKS)]]
        rng.shuffle(lendable)
        # A quarter of the copies are out now, a few of them overdue; the rest
        # of the history is returned loans spread over the last three months.
        open_count = len(lendable) // 4
        for index, (copy_id, book_id) in enumerate(lendable):
            patron = rng.choice(patron_ids)
            history_loans = rng.randint(0, 3)
            start = today - timedelta(days=120)
            for _ in range(history_loans):
                loan_date = start + timedelta(days=rng.randint(0, 20))
                returned = loan_date + timedelta(days=rng.randint(1, 16))
                if returned >= today - timedelta(days=30):
                    break
                conn.execute(
                    "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt, "
                    "LentBy) VALUES (?,?,?,?,?,?,?)",
                    (
                        rng.choice(patron_ids),
                        book_id,
                        copy_id,
                        loan_date.isoformat(),
                        (loan_date + timedelta(days=14)).isoformat(),
                        f"{returned.isoformat()}T15:00:00Z",
                        user_ids["bob@example.com"],
                    ),
                )
                start = returned + timedelta(days=1)
            if index < open_count:
                # About one open loan in ten is overdue, as in a real school library.
                loan_date = today - timedelta(
                    days=rng.randint(15, 40) if rng.random() < 0.1 else rng.randint(0, 13)
                )
                conn.execute(
                    "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, LentBy) "
                    "VALUES (?,?,?,?,?,?)",
                    (
                        patron,
                        book_id,
                        copy_id,
                        loan_date.isoformat(),
                        (loan_date + timedelta(days=14)).isoformat(),
                        user_ids["bob@example.com"],
                    ),
                )
            else:
                for day in range(29, 0, -7):
                    if rng.random() < 0.3:
                        loan_date = today - timedelta(days=day + rng.randint(0, 6))
                        returned = min(loan_date + timedelta(days=rng.randint(1, 6)), today)
                        conn.execute(
                            "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, "
                            "ReturnedAt, LentBy) VALUES (?,?,?,?,?,?,?)",
                            (
                                rng.choice(patron_ids),
                                book_id,
                                copy_id,
                                loan_date.isoformat(),
                                (loan_date + timedelta(days=14)).isoformat(),
                                f"{returned.isoformat()}T10:30:00Z",
                                user_ids["bob@example.com"],
                            ),
                        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if progress:
        progress.finish()
    return {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("Users", "Books", "Copies", "Loans")
    }
