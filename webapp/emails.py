"""What the library's emails say: subjects and bodies rendered from templates/email/.

One Jinja environment for every email, without Quart: the desk writes
hold-ready notices inside its transaction and the outbox renders reminders in
the writer's thread, neither of them in a request. ``.html`` templates are
autoescaped, as in the app; ``.txt`` ones are not (a plain-text body is not
HTML). Nothing here touches the database or the network: ``webapp.outbox``
stores and delivers what these functions return.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from webapp import notice_templates, reminder_stages
from webapp.loan_advice import RenewalAdvice
from webapp.mail import header_safe
from webapp.notice_templates import NoticeItem, NoticeSection, Wording, WordingError
from webapp.resources import TEMPLATES

log = logging.getLogger(__name__)

_loader = FileSystemLoader(str(TEMPLATES / "email"))
_environment = Environment(
    loader=_loader,
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


def reminder_subject(library_name: str, overdue: int, due_soon: int) -> str:
    """E.g. "Riverside Library: 2 overdue items and 1 item due back soon"."""
    parts = []
    if overdue:
        parts.append(f"{overdue} overdue item{'s' if overdue != 1 else ''}")
    if due_soon:
        parts.append(f"{due_soon} item{'s' if due_soon != 1 else ''} due back soon")
    return header_safe(f"{library_name}: {' and '.join(parts)}")


# The built-in wording of the notices staff can edit (webapp/notice_templates.py): the
# subject as a template, the body being the .txt file. Saved unchanged, it renders the
# same text as the file does; until someone saves, the file (and its .html twin) is used.
DEFAULT_SUBJECTS = {
    "reminder": "{{ library_name }}: "
    "{% if overdue_count %}{{ overdue_count }} overdue item{{ 's' if overdue_count != 1 }}"
    "{% endif %}{% if overdue_count and due_soon_count %} and {% endif %}"
    "{% if due_soon_count %}{{ due_soon_count }} item{{ 's' if due_soon_count != 1 }} "
    "due back soon{% endif %}",
    "courtesy": "{{ library_name }}: "
    "{{ due_soon_count }} item{{ 's' if due_soon_count != 1 }} due back soon",
    "hold_ready": "Ready to collect: {{ title }}",
    "invitation": "Sign in to {{ library_name }}",
}
# Overdue and due-soon loans share one email a night, so they share one body file.
_DEFAULT_BODY_FILES = {
    "reminder": "reminder",
    "courtesy": "reminder",
    "hold_ready": "hold_ready",
    "invitation": "invitation",
}


def default_wording(kind: str) -> Wording:
    """The built-in subject and body of ``kind``, as the editor starts from them."""
    source, _, _ = _loader.get_source(_environment, f"{_DEFAULT_BODY_FILES[kind]}.txt")
    return Wording(DEFAULT_SUBJECTS[kind], source)


def edited(
    wording: Wording, context: Mapping[str, object], link: str | None = None
) -> RenderedEmail:
    """An edited wording rendered in the sandbox; the HTML part made from the text.

    Raises ``WordingError`` when it cannot be rendered with this context.
    """
    subject, text = notice_templates.render(wording, context)
    subject = header_safe(subject)
    return RenderedEmail(subject, text, notice_templates.text_to_html(subject, text, link))


def _edited_or_default(
    kind: str,
    wording: Wording | None,
    context: Mapping[str, object],
    default: Callable[[], RenderedEmail],
    link: str | None = None,
) -> RenderedEmail:
    """The edited wording when there is one; the default when none, or when it fails here.

    Saving checked the wording against sample data, so this falls back only on
    data the check could not foresee; a notice is never lost to a wording.
    """
    if wording is None:
        return default()
    try:
        return edited(wording, context, link)
    except WordingError as error:
        log.warning(
            "the edited %s notice could not be rendered (%s): sent as built in", kind, error
        )
        return default()


def reminder(
    library_name: str,
    patron_name: str,
    items: Iterable[tuple[int, str, str, date, RenewalAdvice]],
    as_of: date,
    wordings: Mapping[str, Wording] | None = None,
) -> RenderedEmail:
    """The reminder for one patron. ``items`` are (stage, title, barcode, due date, advice),
    the advice by ``loan_advice.renewal_advice`` for that loan on ``as_of``: the email
    suggests renewing online only for the loans the rules let the patron renew.

    Items are grouped by stage, the latest stage first, each under its heading;
    ``as_of`` is the date of the run that queued them (days overdue count to it).
    An email with an overdue item is a ``reminder``, one with only items due soon a
    ``courtesy`` notice: ``wordings`` gives the edited wording of either (none: built in).
    """
    by_stage: dict[int, list[NoticeItem]] = defaultdict(list)
    for stage, title, barcode, due, advice in items:
        by_stage[stage].append(
            NoticeItem(
                title,
                barcode,
                due,
                reminder_stages.days_from_due(due, as_of),
                advice.advice,
                advice.renewable,
            )
        )
    sections = [
        NoticeSection(reminder_stages.stage_heading(stage), tuple(by_stage[stage]))
        for stage in sorted(by_stage, reverse=True)
    ]
    overdue = sum(len(by_stage[s]) for s in by_stage if s > 0)
    subject = reminder_subject(
        library_name, overdue, sum(len(by_stage[s]) for s in by_stage if s < 0)
    )

    def built_in() -> RenderedEmail:
        context = dict(
            library_name=library_name,
            patron_name=patron_name,
            sections=sections,
            subject=subject,
            any_renewable=any(item.renewable for s in sections for item in s.items),
            item_count=sum(len(s.items) for s in sections),
        )
        return _render("reminder", subject, context)

    kind = "reminder" if overdue else "courtesy"
    wording = (wordings or {}).get(kind)
    if wording is None:
        # The usual night: no fields to gather for a sandbox that will not run.
        return built_in()
    return _edited_or_default(
        kind,
        wording,
        notice_templates.loan_context(
            library_name=library_name, patron_name=patron_name, sections=sections
        ),
        built_in,
    )


def hold_ready(
    *,
    library_name: str,
    patron_name: str,
    title: str,
    author: str,
    barcode: str,
    pickup_by: date,
    wording: Wording | None = None,
) -> RenderedEmail:
    """The notice that a held title is on the hold shelf until ``pickup_by``
    (in ``wording`` when staff edited it)."""
    context = {
        "library_name": library_name,
        "patron_name": patron_name,
        "title": title,
        "author": author,
        "barcode": barcode,
        "pickup_by": pickup_by,
    }
    return _edited_or_default(
        "hold_ready",
        wording,
        context,
        lambda: _render("hold_ready", f"Ready to collect: {title}", context),
    )


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


def invitation(
    *, library_name: str, patron_name: str, link: str, days: int, wording: Wording | None = None
) -> RenderedEmail:
    """The invitation to choose a password and sign in (exactly one link), in ``wording``
    when staff edited it."""
    context = {
        "library_name": library_name,
        "patron_name": patron_name,
        "link": link,
        "days": days,
    }
    return _edited_or_default(
        "invitation",
        wording,
        context,
        lambda: _render("invitation", header_safe(f"Sign in to {library_name}"), context),
        link,
    )


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
