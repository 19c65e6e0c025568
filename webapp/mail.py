"""Building and delivering email: SMTP over one reused connection, or the in-app mailbox.

Mail leaves the machine only when ``SHELFMARK_SMTP_HOST`` is set. Without it,
:class:`MailboxTransport` "delivers" by accepting every message, and the job
marks it sent with transport ``'mailbox'``: librarians read it on
/admin/mailbox, and a demo, a test or a restored copy of the database never
mails a real patron.

Every delivery attempt ends in one :class:`Outcome`: ``accepted`` (the server
answered 250 to DATA), ``temporary`` (4xx, a timeout, a lost connection: try
again later) or ``permanent`` (5xx for this recipient or message: retrying
cannot help). A lost connection is reported as ``temporary`` and also ends the
batch, since every later message would fail the same way.
"""

from __future__ import annotations

import base64
import email.header
import email.utils
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol

import aiosmtplib

from webapp.config import Settings

OutcomeKind = Literal["accepted", "temporary", "permanent"]


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    detail: str = ""
    # True when the connection is gone, so the rest of the batch must wait.
    connection_lost: bool = False


@dataclass(frozen=True)
class OutgoingMessage:
    recipient: str
    subject: str
    body_text: str
    body_html: str
    header_message_id: str
    # A copy (an overdue reminder to a patron's guardian), or None.
    cc: str | None = None


def header_safe(value: str) -> str:
    """A header value with CR, LF and other control characters removed (no header injection)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def valid_address(address: str) -> bool:
    """Whether ``address`` is one plain mailbox that can go in a To: header unchanged."""
    if not address or len(address) > 254 or header_safe(address) != address:
        return False
    name, parsed = email.utils.parseaddr(address)
    local, _, domain = parsed.partition("@")
    return parsed == address and not name and bool(local) and bool(domain) and "@" not in domain


def sender_domain(mail_from: str) -> str:
    address = email.utils.parseaddr(mail_from)[1]
    return address.rsplit("@", 1)[1] if "@" in address else "localhost"


def email_bytes(message: OutgoingMessage, mail_from: str) -> bytes:
    """The message as it goes on the wire: text and HTML alternatives, our fixed Message-ID.

    Written out directly rather than through ``email.message.EmailMessage``,
    whose header parsing and content managers cost about 2 ms a message on the
    benchmark machine, more than the whole SMTP exchange with a local relay
    (docs/benchmarks.md, Reminders). Every header value is cleaned by
    ``header_safe`` and RFC 2047-encoded (and folded) by ``email.header``; the
    bodies are UTF-8 in base64, which any server accepts. Only an address
    beyond ASCII (sent with SMTPUTF8) makes the result 8-bit.
    """
    boundary = f"=_{secrets.token_hex(16)}"
    lines = [
        f"From: {_from_header(mail_from)}",
        f"To: {header_safe(message.recipient)}",
        *([f"Cc: {header_safe(message.cc)}"] if message.cc else []),
        f"Subject: {_encoded(header_safe(message.subject))}",
        f"Date: {email.utils.formatdate(localtime=False)}",
        f"Message-ID: {header_safe(message.header_message_id)}",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
    ]
    for subtype, body in (("plain", message.body_text), ("html", message.body_html)):
        lines += [
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: base64",
            "",
            base64.encodebytes(body.encode("utf-8")).decode("ascii").replace("\n", "\r\n"),
        ]
    lines += [f"--{boundary}--", ""]
    return "\r\n".join(lines).encode("utf-8")


def _encoded(value: str) -> str:
    """A header value as RFC 2047 words where it needs them, folded with CRLF."""
    charset = "us-ascii" if value.isascii() else "utf-8"
    return email.header.Header(value, charset).encode(linesep="\r\n")


@lru_cache(maxsize=4)
def _from_header(mail_from: str) -> str:
    name, address = email.utils.parseaddr(header_safe(mail_from))
    return email.utils.formataddr((name, address), charset="utf-8")


def envelope_sender(mail_from: str) -> str:
    """The address in ``mail_from`` (``'Library <library@example.org>'``), for MAIL FROM."""
    return email.utils.parseaddr(header_safe(mail_from))[1]


class Transport(Protocol):
    @property
    def name(self) -> Literal["smtp", "mailbox"]: ...

    async def open(self) -> Outcome | None: ...

    async def deliver(self, message: OutgoingMessage) -> Outcome: ...

    async def close(self) -> None: ...


class MailboxTransport:
    """No mail server: every message is kept in the app, in the in-app mailbox."""

    name: Literal["mailbox"] = "mailbox"

    async def open(self) -> Outcome | None:
        return None

    async def deliver(self, message: OutgoingMessage) -> Outcome:
        return Outcome("accepted", "kept in the in-app mailbox")

    async def close(self) -> None:
        return None


class SmtpTransport:
    """One SMTP connection for a whole batch, each message classified on its own."""

    name: Literal["smtp"] = "smtp"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            timeout=settings.smtp_timeout,
            start_tls=settings.smtp_starttls,
            username=settings.smtp_user or None,
            password=settings.smtp_password or None,
            local_hostname=sender_domain(settings.mail_from),
        )

    async def open(self) -> Outcome | None:
        """Connect (and log in); an Outcome when the server cannot be used now."""
        try:
            await self._client.connect()
        except aiosmtplib.SMTPAuthenticationError as error:
            return Outcome("temporary", f"login refused: {error.code} {error.message}", True)
        except aiosmtplib.SMTPResponseException as error:
            return Outcome("temporary", f"server answered {error.code} {error.message}", True)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
            return Outcome("temporary", f"cannot reach the mail server: {error}", True)
        return None

    async def deliver(self, message: OutgoingMessage) -> Outcome:
        if not valid_address(message.recipient):
            return Outcome("permanent", f"not a usable email address: {message.recipient!r}")
        recipient = header_safe(message.recipient)
        # The copy rides on the same transaction (one DATA, one Message-ID): it is sent
        # exactly when the patron's is. A copy address the server refuses does not stop
        # the patron's; aiosmtplib raises only when every recipient is refused.
        recipients = [recipient]
        if message.cc and valid_address(message.cc) and message.cc != recipient:
            recipients.append(message.cc)
        sender = envelope_sender(self._settings.mail_from)
        # As aiosmtplib's send_message does: an address beyond ASCII needs SMTPUTF8.
        utf8 = not (sender.isascii() and all(r.isascii() for r in recipients))
        try:
            await self._client.sendmail(
                sender,
                recipients,
                email_bytes(message, self._settings.mail_from),
                mail_options=["SMTPUTF8"] if utf8 else None,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            refused = error.recipients[0]
            return _classify(refused.code, refused.message)
        except aiosmtplib.SMTPSenderRefused as error:
            return Outcome("temporary", f"sender refused: {error.code} {error.message}")
        except aiosmtplib.SMTPServerDisconnected as error:
            return Outcome("temporary", f"connection lost: {error}", True)
        except aiosmtplib.SMTPResponseException as error:
            return _classify(error.code, error.message)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
            return Outcome("temporary", f"connection lost: {error}", True)
        return Outcome("accepted")

    async def close(self) -> None:
        if not self._client.is_connected:
            return
        try:
            await self._client.quit()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            self._client.close()


def _classify(code: int, text: str) -> Outcome:
    detail = f"{code} {text}".strip()
    if 500 <= code < 600:
        return Outcome("permanent", detail)
    return Outcome("temporary", detail)


def transport_for(settings: Settings) -> Transport:
    """SMTP only when a host is configured; the in-app mailbox otherwise."""
    if settings.smtp_host:
        return SmtpTransport(settings)
    return MailboxTransport()
