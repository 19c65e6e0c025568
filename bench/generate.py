"""A deterministic benchmark library: titles, copies, patrons and loan history.

Titles sound real because they are recombined from the real goodbooks-10k
catalogue: a word-level bigram chain learnt from its titles ("The Lord of
the ..." continues the way real titles do), authors from its first and last
names. So word frequencies, and with them the sizes of FTS5 doclists, look
like a library's rather than a word list's.

Rows go straight into a database file created by the project's own
migrations, through its triggers (the FTS5 index, ``TimesBorrowed``), in
batches of a few thousand rows per transaction on a plain sqlite3
connection (see ``webapp.db.connect_sync``).

Usage from other benchmarks::

    from bench.generate import generate
    generate("bench/results/lib.sqlite3", titles=100_000, patrons=20_000,
             loans=100_000, overdue=5_000)

or from the shell: ``python -m bench.generate PATH --titles 1000000``.
"""

from __future__ import annotations

import argparse
import csv
import random
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from webapp.db import connect_sync, migrate
from webapp.models.accounts import hash_password
from webapp.progress import Progress
from webapp.resources import MIGRATIONS

# The shared data folder sits beside the checkout (/work/main) or, for a
# worktree, a level higher (/work/wt/NAME): the nearest one that exists.
GOODBOOKS_CSV = next(
    (
        folder / "shared" / "data" / "goodbooks-10k" / "books.csv"
        for folder in Path(__file__).resolve().parents[1:]
        if (folder / "shared" / "data" / "goodbooks-10k" / "books.csv").exists()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "data" / "goodbooks-10k" / "books.csv",
)
BATCH_ROWS = 5_000
# Every generated patron and the staff account share this password, hashed
# once: argon2 per patron would take longer than everything else together.
PASSWORD = "bench"
LIBRARIAN_EMAIL = "librarian@bench.example.org"
TODAY = date(2026, 11, 29)
# Loans spread over this many days before TODAY.
HISTORY_DAYS = 3 * 365
SUBJECTS = (
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
    "Romance",
    "Horror",
    "Classics",
    "Philosophy",
    "Cookery",
    "Politics",
    "Religion",
    "Young adult",
    "Picture books",
    "Drama",
)
PUBLISHERS = (
    "Penguin",
    "Puffin",
    "Bloomsbury",
    "Walker Books",
    "Scholastic",
    "Faber",
    "Usborne",
    "Macmillan",
    "HarperCollins",
    "Vintage",
    "Orion",
    "Hodder",
)
LOCATIONS = (
    "Fiction A–F",
    "Fiction G–M",
    "Fiction N–S",
    "Fiction T–Z",
    "Non-fiction",
    "Reference",
    "Junior",
    "Young adult",
)

_START, _END = "\x00start", "\x00end"


@dataclass(frozen=True)
class Vocabulary:
    """What titles and names are recombined from."""

    followers: dict[str, tuple[str, ...]]  # bigram chain over title words, with repeats
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    series: tuple[str, ...]


def load_vocabulary(csv_path: Path = GOODBOOKS_CSV) -> Vocabulary:
    """Learn the title chain and the names from a goodbooks-style ``books.csv``."""
    if not csv_path.exists():
        raise FileNotFoundError(
            f"the vocabulary file {csv_path} is missing (goodbooks-10k books.csv)"
        )
    followers: dict[str, list[str]] = {}
    first_names: list[str] = []
    last_names: list[str] = []
    series: list[str] = []
    with csv_path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            title = record.get("original_title") or record["title"]
            if "(" in record["title"]:
                bracket = record["title"].rsplit("(", 1)[1].split(",")[0].split("#")[0]
                if bracket.strip():
                    series.append(bracket.strip().rstrip(")"))
            title_words = title.split()
            if not title_words:
                continue
            for previous, word in zip([_START, *title_words], [*title_words, _END], strict=True):
                followers.setdefault(previous, []).append(word)
            for author in record["authors"].split(","):
                names = author.split()
                if len(names) >= 2:
                    first_names.append(names[0])
                    last_names.append(names[-1])
    return Vocabulary(
        followers={word: tuple(nexts) for word, nexts in followers.items()},
        first_names=tuple(first_names),
        last_names=tuple(last_names),
        series=tuple(series),
    )


def make_title(rng: random.Random, vocabulary: Vocabulary, max_words: int = 9) -> str:
    """A title walked along the bigram chain, 1 to ``max_words`` words long."""
    words: list[str] = []
    word = _START
    while len(words) < max_words:
        word = rng.choice(vocabulary.followers.get(word) or vocabulary.followers[_START])
        if word == _END:
            break
        words.append(word)
    return " ".join(words) or rng.choice(vocabulary.first_names)


def isbn13_for(number: int) -> str:
    """A valid, unique ISBN-13 for book ``number`` (under a billion)."""
    body = f"979{number:09d}"
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _batches(rows: Iterator[tuple], size: int = BATCH_ROWS) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert_batches(
    conn: sqlite3.Connection, sql: str, rows: Iterator[tuple], progress: Progress | None
) -> None:
    for batch in _batches(rows):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")
        if progress:
            progress.advance(len(batch))


def generate(
    path: str | Path,
    *,
    titles: int = 1_000_000,
    patrons: int = 200_000,
    loans: int = 1_000_000,
    overdue: int = 50_000,
    copies_per_title: float = 2.0,
    seed: int = 1,
    progress: bool = True,
    vocabulary_csv: Path = GOODBOOKS_CSV,
) -> dict[str, int]:
    """Create a new database at ``path`` and fill it; returns row counts by table.

    Books ``1..titles`` get 1 to 3 copies (``copies_per_title`` on average, 1 to 3);
    patrons ``Users`` are Students with card ``P0000001``… and email
    ``patron1@bench.example.org``…, all with password ``bench``, as is the one
    librarian ``librarian@bench.example.org``. Of ``loans``, ``overdue`` are
    still open and past due on ``TODAY``; the rest were returned. Popularity
    is skewed (a few books take most loans), so ``TimesBorrowed`` ranks.
    Refuses an existing file, so a benchmark never appends to stale data.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; delete it or choose another path")
    if overdue > loans:
        raise ValueError("overdue loans are part of loans: overdue must not exceed loans")
    rng = random.Random(seed)
    vocabulary = load_vocabulary(vocabulary_csv)
    conn = connect_sync(path)
    # A benchmark file is rebuilt, never recovered: skip fsync while filling it.
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -100000")
    migrate(conn, MIGRATIONS)

    def bar(label: str, total: int) -> Progress | None:
        return Progress(label, total) if progress else None

    _insert_batches(
        conn,
        "INSERT INTO Books (BookID, Title, Author, ISBN, Series, Subjects, Publisher, Year, "
        "Language, AddedAt) VALUES (?,?,?,?,?,?,?,?,?,?)",
        _book_rows(rng, vocabulary, titles),
        bar("titles", titles),
    )
    first_copy, copy_count = _add_copies(conn, rng, titles, copies_per_title, bar)
    total_copies = sum(copy_count)
    if overdue > total_copies:
        raise ValueError(
            f"{overdue:,} overdue loans need as many copies; there are {total_copies:,}"
        )
    librarian_id = _add_users(conn, patrons, bar)
    # Patrons are in their Year categories before they borrow, so each loan's snapshot
    # of its borrower's category (Loans.BorrowerCategory) names the Year, as at a desk.
    add_rules_matrix(conn, seed)
    _add_loans(
        conn, rng, titles, patrons, loans, overdue, first_copy, copy_count, librarian_id, bar
    )
    conn.execute("INSERT INTO BooksSearch (BooksSearch) VALUES ('optimize')")
    conn.execute("PRAGMA optimize")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("Books", "Copies", "Users", "Loans")
    }
    conn.close()
    return counts


# A school's full rules matrix: ten patron categories × ten item types, every cell set.
MATRIX_CATEGORIES = (
    *(f"Year {year}" for year in range(7, 14)),
    "Teacher",
    "Staff",
    "Visitor",
)
MATRIX_EXTRA_ITEM_TYPES = ("Audiobook", "Graphic novel", "Map", "Kit")


def add_rules_matrix(conn: sqlite3.Connection, seed: int = 1) -> None:
    """Fill the rules matrix to 10 × 10 (every cell its own rule), spread the copies over
    the ten item types and the Student patrons over the Year categories.

    Every cell lends (none is "not for loan", no limit of its type below 10) and every
    category allows 10 loans, so a benchmark's lends succeed as they did under one rule
    per role, while each lend and desk panel resolves its rule in a full matrix.
    """
    rng = random.Random(seed)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO ItemTypes (Name) VALUES (?) ON CONFLICT DO NOTHING",
        [(name,) for name in MATRIX_EXTRA_ITEM_TYPES],
    )
    conn.execute("UPDATE PatronCategories SET MaxLoans = max(MaxLoans, 10), BlockWhenOverdue = 0")
    categories = [
        conn.execute("SELECT CategoryID FROM PatronCategories WHERE Name = ?", (name,)).fetchone()[
            0
        ]
        for name in MATRIX_CATEGORIES
    ]
    item_types = [row[0] for row in conn.execute("SELECT ItemTypeID FROM ItemTypes ORDER BY 1")]
    conn.execute("DELETE FROM CirculationRules WHERE CategoryID IS NOT NULL")
    conn.executemany(
        "INSERT INTO CirculationRules (CategoryID, ItemTypeID, LoanDays, MaxRenewals, "
        "MaxOfType, HoldsAllowed, NotForLoan) VALUES (?, ?, ?, ?, ?, 1, 0)",
        [
            (category, item_type, rng.choice((7, 14, 21, 28)), rng.randint(0, 3),
             rng.choice((None, 10, 20)))
            for category in categories
            for item_type in item_types
        ],
    )  # fmt: skip
    conn.executemany(
        "UPDATE Copies SET ItemTypeID = ? WHERE CopyID % ? = ?",
        [(item_type, len(item_types), n) for n, item_type in enumerate(item_types)],
    )
    conn.execute(
        "UPDATE Users SET CategoryID = (SELECT CategoryID FROM PatronCategories "
        "WHERE Name = 'Year ' || (7 + Users.UserID % 7)) WHERE Role = 'Student'"
    )
    conn.execute("COMMIT")


def _book_rows(rng: random.Random, vocabulary: Vocabulary, titles: int) -> Iterator[tuple]:
    for number in range(1, titles + 1):
        author_count = 2 if rng.random() < 0.08 else 1
        author = ", ".join(
            f"{rng.choice(vocabulary.first_names)} {rng.choice(vocabulary.last_names)}"
            for _ in range(author_count)
        )
        series = None
        if rng.random() < 0.12:
            series = f"{rng.choice(vocabulary.series)}, #{rng.randint(1, 9)}"
        yield (
            number,
            make_title(rng, vocabulary),
            author,
            isbn13_for(number) if rng.random() < 0.9 else None,
            series,
            "; ".join(rng.sample(SUBJECTS, rng.randint(1, 3))),
            rng.choice(PUBLISHERS),
            rng.randint(1900, TODAY.year),
            "en" if rng.random() < 0.9 else rng.choice(("fr", "de", "es", "it", "pl")),
            _added_at(number, titles),
        )


def _added_at(book_id: int, titles: int) -> str:
    """When book ``book_id`` and its copies were catalogued: ids grow with AddedAt, as in a
    catalogue filled over twenty years."""
    added = TODAY - timedelta(days=20 * 365) + timedelta(days=(20 * 365 * book_id) // titles)
    return f"{added.isoformat()}T09:00:00Z"


def _add_copies(conn, rng, titles, copies_per_title, bar) -> tuple[list[int], list[int]]:
    """Copies for every book; returns each book's first CopyID and copy count (index = BookID)."""
    extra = max(copies_per_title - 1.0, 0.0)
    copy_count = [0] * (titles + 1)
    first_copy = [0] * (titles + 1)
    next_copy = 1
    for book_id in range(1, titles + 1):
        # 1 + (0, 1 or 2 more copies), averaging copies_per_title.
        count = 1 + sum(rng.random() < extra / 2 for _ in range(2))
        copy_count[book_id] = count
        first_copy[book_id] = next_copy
        next_copy += count

    def rows() -> Iterator[tuple]:
        for book_id in range(1, titles + 1):
            for offset in range(copy_count[book_id]):
                copy_id = first_copy[book_id] + offset
                yield (
                    copy_id,
                    book_id,
                    f"B{copy_id:08d}",
                    LOCATIONS[book_id % len(LOCATIONS)],
                    _added_at(book_id, titles),
                )

    _insert_batches(
        conn,
        "INSERT INTO Copies (CopyID, BookID, Barcode, Location, AddedAt) VALUES (?,?,?,?,?)",
        rows(),
        bar("copies", next_copy - 1),
    )
    conn.execute(
        "UPDATE LibrarySettings SET Value = ? WHERE Key = 'barcode_next'", (str(next_copy),)
    )
    conn.execute("UPDATE LibrarySettings SET Value = 'B' WHERE Key = 'barcode_prefix'")
    return first_copy, copy_count


def _add_users(conn, patrons, bar) -> int:
    """The patrons (UserID 1..patrons) and one librarian; returns the librarian's id."""
    password_hash = hash_password(PASSWORD)

    def rows() -> Iterator[tuple]:
        for number in range(1, patrons + 1):
            yield (
                number,
                f"Patron {number}",
                "Student",
                f"patron{number}@bench.example.org",
                f"P{number:07d}",
                f"Year {7 + number % 7}",
                password_hash,
            )

    _insert_batches(
        conn,
        "INSERT INTO Users (UserID, Name, Role, Email, CardNumber, GroupName, PasswordHash) "
        "VALUES (?,?,?,?,?,?,?)",
        rows(),
        bar("patrons", patrons),
    )
    return conn.execute(
        "INSERT INTO Users (Name, Role, Email, CardNumber, PasswordHash) VALUES (?,?,?,?,?)",
        ("Bench Librarian", "Librarian", LIBRARIAN_EMAIL, "L9999999", password_hash),
    ).lastrowid


def _popular_book(rng: random.Random, titles: int) -> int:
    """A book drawn with a heavy skew: a few titles take most loans.

    Popularity rank r maps to a book id by multiplying with a large prime, so
    the popular books are spread over the whole catalogue, old and new.
    """
    rank = int(titles * rng.random() ** 4)
    return (rank * 1_000_003) % titles + 1


def _add_loans(
    conn, rng, titles, patrons, loans, overdue, first_copy, copy_count, librarian_id, bar
) -> None:
    """``overdue`` open loans past due, on distinct copies; the rest returned."""
    if patrons < 1 and loans:
        raise ValueError("loans need at least one patron")
    overdue_copies: list[int] = []
    seen_copies: set[int] = set()
    while len(overdue_copies) < overdue:
        book_id = _popular_book(rng, titles) if rng.random() < 0.5 else rng.randint(1, titles)
        copy_id = first_copy[book_id] + rng.randrange(copy_count[book_id])
        if copy_id not in seen_copies:
            seen_copies.add(copy_id)
            overdue_copies.append(copy_id)

    def rows() -> Iterator[tuple]:
        for number in range(loans):
            patron = rng.randint(1, patrons)
            if number < overdue:
                copy_id = overdue_copies[number]
                book_id = _book_of_copy(first_copy, copy_id)
                loan_date = TODAY - timedelta(days=rng.randint(15, 120))
                due = loan_date + timedelta(days=14)
                yield (
                    patron,
                    book_id,
                    copy_id,
                    loan_date.isoformat(),
                    due.isoformat(),
                    None,
                    librarian_id,
                )
                continue
            book_id = _popular_book(rng, titles)
            copy_id = first_copy[book_id] + rng.randrange(copy_count[book_id])
            loan_date = TODAY - timedelta(days=rng.randint(130, HISTORY_DAYS))
            due = loan_date + timedelta(days=14)
            returned = loan_date + timedelta(days=rng.randint(1, 20))
            yield (
                patron,
                book_id,
                copy_id,
                loan_date.isoformat(),
                due.isoformat(),
                f"{returned.isoformat()}T15:00:00Z",
                librarian_id,
            )

    _insert_batches(
        conn,
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt, LentBy) "
        "VALUES (?,?,?,?,?,?,?)",
        rows(),
        bar("loans", loans),
    )


def _book_of_copy(first_copy: list[int], copy_id: int) -> int:
    """The book a copy belongs to: the last book whose first copy is at or before it."""
    low, high = 1, len(first_copy) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if first_copy[middle] <= copy_id:
            low = middle
        else:
            high = middle - 1
    return low


PRESETS = {
    # titles, patrons, loans, overdue
    "10k": (10_000, 2_000, 10_000, 500),
    "100k": (100_000, 20_000, 100_000, 5_000),
    "1m": (1_000_000, 200_000, 1_000_000, 50_000),
    # A large school's catalogue with a million loans: what bench/reports.py measures.
    "reports": (100_000, 20_000, 1_000_000, 20_000),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a benchmark library database.")
    parser.add_argument("path", help="new SQLite file to create")
    parser.add_argument(
        "--size",
        choices=PRESETS,
        default="10k",
        help="preset sizes: titles/patrons/loans/overdue (default 10k)",
    )
    parser.add_argument("--titles", type=int)
    parser.add_argument("--patrons", type=int)
    parser.add_argument("--loans", type=int)
    parser.add_argument("--overdue", type=int)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    titles, patrons, loans, overdue = PRESETS[args.size]
    try:
        counts = generate(
            args.path,
            titles=args.titles if args.titles is not None else titles,
            patrons=args.patrons if args.patrons is not None else patrons,
            loans=args.loans if args.loans is not None else loans,
            overdue=args.overdue if args.overdue is not None else overdue,
            seed=args.seed,
        )
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    print(", ".join(f"{count:,} {table.lower()}" for table, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
