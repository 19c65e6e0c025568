"""What the library's emails say: subjects and bodies rendered from templates/email/.

One Jinja environment for every email, without Quart: the desk writes
hold-ready notices inside its transaction and the outbox renders reminders in
the writer's thread, neither of them in a request. ``.html`` templates are
autoescaped, as in the app; ``.txt`` ones are not (a plain-text body is not
HTML). Nothing here touches the database or the network: ``webapp.outbox``
stores and delivers what these functions return.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from webapp import reminder_stages
from webapp.loan_advice import RenewalAdvice
from webapp.mail import header_safe
from webapp.resources import TEMPLATES

_environment = Environment(
    loader=FileSystemLoader(str(TEMPLATES / "email")),
    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    # Compiled once per process: thousands of emails a night must not each stat the files.
    auto_reload=False,
)


@lru_cache(maxsize=8)
def _templates(name: str) -> tuple[Template, Template]:
    """The plain-text and HTML templates of the email ``name``."""
    return _environment.get_template(f"{name}.txt"), _environment.get_template(f"{name}.html")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body_text: str
    body_html: str


def _render(name: str, subject: str, context: Mapping[str, object]) -> RenderedEmail:
    text, html = _templates(name)
    return RenderedEmail(subject, text.render(context), html.render(context))


@dataclass(frozen=True)
class EmailItem:
    title: str
    barcode: str
    due: date
    days_overdue: int
    # What the rules let the patron do about it: renew online, or bring it back (and why).
    advice: RenewalAdvice


@dataclass(frozen=True)
class EmailSection:
    heading: str
    items: tuple[EmailItem, ...]


def reminder_subject(library_name: str, overdue: int, due_soon: int) -> str:
    """E.g. "Riverside Library: 2 overdue items and 1 item due back soon"."""
    parts = []
    if overdue:
        parts.append(f"{overdue} overdue item{'s' if overdue != 1 else ''}")
    if due_soon:
        parts.append(f"{due_soon} item{'s' if due_soon != 1 else ''} due back soon")
    return header_safe(f"{library_name}: {' and '.join(parts)}")


def reminder(
    library_name: str,
    patron_name: str,
    items: Iterable[tuple[int, str, str, date, RenewalAdvice]],
    as_of: date,
) -> RenderedEmail:
    """The reminder for one patron. ``items`` are (stage, title, barcode, due date, advice),
    the advice by ``loan_advice.renewal_advice`` for that loan on ``as_of``: the email
    suggests renewing online only for the loans the rules let the patron renew.

    Items are grouped by stage, the latest stage first, each under its heading;
    ``as_of`` is the date of the run that queued them (days overdue count to it).
    """
    by_stage: dict[int, list[EmailItem]] = defaultdict(list)
    for stage, title, barcode, due, advice in items:
        by_stage[stage].append(
            EmailItem(title, barcode, due, reminder_stages.days_from_due(due, as_of), advice)
        )
    sections = [
        EmailSection(reminder_stages.stage_heading(stage), tuple(by_stage[stage]))
        for stage in sorted(by_stage, reverse=True)
    ]
    subject = reminder_subject(
        library_name,
        sum(len(by_stage[s]) for s in by_stage if s > 0),
        sum(len(by_stage[s]) for s in by_stage if s < 0),
    )
    context = dict(
        library_name=library_name,
        patron_name=patron_name,
        sections=sections,
        subject=subject,
        any_renewable=any(item.advice.renewable for s in sections for item in s.items),
        item_count=sum(len(s.items) for s in sections),
    )
    return _render("reminder", subject, context)


def hold_ready(
    *, library_name: str, patron_name: str, title: str, author: str, barcode: str, pickup_by: date
) -> RenderedEmail:
    """The notice that a held title is on the hold shelf until ``pickup_by``."""
    context = {
        "library_name": library_name,
        "patron_name": patron_name,
        "title": title,
        "author": author,
        "barcode": barcode,
        "pickup_by": pickup_by,
    }
    return _render("hold_ready", f"Ready to collect: {title}", context)


@dataclass(frozen=True)
class ReceiptItem:
    """A line of a visit receipt: a copy lent (with its due date) or returned (``due`` None)."""

    title: str
    barcode: str
    due: date | None


def receipt(
    *,
    library_name: str,
    patron_name: str,
    day: date,
    lent: list[ReceiptItem],
    returned: list[ReceiptItem],
) -> RenderedEmail:
    """The receipt of one visit to the desk: what was lent, due when, and what came back."""
    subject = header_safe(f"{library_name}: your receipt for {day:%-d %B %Y}")
    context = {
        "library_name": library_name,
        "patron_name": patron_name,
        "day": day,
        "lent": lent,
        "returned": returned,
        "subject": subject,
    }
    return _render("receipt", subject, context)


def password_reset(*, library_name: str, patron_name: str, link: str, hours: int) -> RenderedEmail:
    """The email with a link to choose a new password (exactly one link)."""
    context = {
        "library_name": library_name,
        "patron_name": patron_name,
        "link": link,
        "hours": hours,
    }
    return _render("password_reset", header_safe(f"{library_name}: reset your password"), context)


def invitation(*, library_name: str, patron_name: str, link: str, days: int) -> RenderedEmail:
    """The invitation to choose a password and sign in (exactly one link)."""
    context = {
        "library_name": library_name,
        "patron_name": patron_name,
        "link": link,
        "days": days,
    }
    return _render("invitation", header_safe(f"Sign in to {library_name}"), context)


def holds_cancelled(*, library_name: str, patron_name: str, titles: list[str]) -> RenderedEmail:
    """The notice that a patron's holds were cancelled because their account was closed."""
    subject = header_safe(
        f"{library_name}: your hold{'s' if len(titles) != 1 else ''} "
        f"{'were' if len(titles) != 1 else 'was'} cancelled"
    )
    context = {"library_name": library_name, "patron_name": patron_name, "titles": titles}
    return _render("holds_cancelled", subject, context)


def leaver_letter(
    *, library_name: str, patron_name: str, items: list[tuple[str, str, date]]
) -> RenderedEmail:
    """The letter to a pupil leaving the school with items out: (title, barcode, due) each."""
    subject = header_safe(f"{library_name}: please return your library books")
    context = {"library_name": library_name, "patron_name": patron_name, "items": items}
    return _render("leaver_letter", subject, context)
