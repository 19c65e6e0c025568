"""A real SMTP server (aiosmtpd on a free port) and a small library to remind."""

from __future__ import annotations

import asyncio
import email
import socket
import sqlite3
import threading
from datetime import date
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.controller import Controller

from webapp.db import connect_sync


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RecordingHandler:
    """Accepts mail like a real server, with the failures a test asks for.

    ``refuse`` maps a recipient to the RCPT answer (``'550 …'`` or ``'450 …'``).
    With ``hold_at`` = k, the k-th DATA waits (server side, before answering)
    until ``release`` is set; ``holding`` is set when it starts waiting. A
    message counts as received only once the server answers 250, as with any
    MTA: if the client's connection drops while it waits, aiosmtpd cancels the
    transaction and the message is not received.
    """

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}
        self.hold_at: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self._data_commands = 0
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self._data_commands += 1
        if self._data_commands == self.hold_at:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        with self._lock:
            self.received.append(message)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.received)

    def message_ids(self) -> list[str]:
        return [m["Message-ID"].strip() for m in self.messages()]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if m["To"] == address]


class SmtpServer:
    """aiosmtpd's Controller on a fixed free port, which can go down and come back."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        self.handler.release.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


class Library:
    """Patrons, books, copies and loans written straight into a test database."""

    def __init__(self, path) -> None:
        self.conn: sqlite3.Connection = connect_sync(path)
        self._barcodes = 0

    def patron(self, name: str, email: str | None) -> int:
        return self.conn.execute(
            "INSERT INTO Users (Name, Role, Email) VALUES (?, 'Student', ?)", (name, email)
        ).lastrowid

    def loan(self, user_id: int, title: str, due: date, lent: date | None = None) -> int:
        self._barcodes += 1
        book_id = self.conn.execute("INSERT INTO Books (Title) VALUES (?)", (title,)).lastrowid
        copy_id = self.conn.execute(
            "INSERT INTO Copies (BookID, Barcode) VALUES (?, ?)",
            (book_id, f"T{self._barcodes:05d}"),
        ).lastrowid
        lent = lent or date.fromordinal(due.toordinal() - 14)
        return self.conn.execute(
            "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (?,?,?,?,?)",
            (user_id, book_id, copy_id, lent.isoformat(), due.isoformat()),
        ).lastrowid

    def return_loan(self, loan_id: int, on: date) -> None:
        self.conn.execute(
            "UPDATE Loans SET ReturnedAt = ? WHERE LoanID = ?", (on.isoformat(), loan_id)
        )

    def renew(self, loan_id: int, new_due: date) -> None:
        """What a renewal does to a loan: a new due date."""
        self.conn.execute(
            "UPDATE Loans SET ReturnDate = ?, Renewals = Renewals + 1 WHERE LoanID = ?",
            (new_due.isoformat(), loan_id),
        )

    def outbox(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM Outbox ORDER BY MessageID").fetchall()

    def close(self) -> None:
        self.conn.close()
