"""Notice wording staff can edit: the fields each notice offers, checking a draft, rendering it.

Pure: no database, no Quart, no clock. An admin writes a notice's subject and
plain-text body as a small Jinja template (docs/notices.md). Because the
author is a person typing into a web form, the template is run in Jinja's
sandbox (``ImmutableSandboxedEnvironment``) with ``StrictUndefined`` and
without Jinja's globals, and is checked before it is saved:

1. it must parse (a syntax error is refused with its line);
2. statically, every name it reads must be one of the kind's documented
   fields, every attribute one of the documented attributes (or a few harmless
   methods such as ``strftime``), every filter one of a short list, and it may
   not include, import, extend or define macros; anything starting with ``_``
   (the way out of every sandbox escape, ``''.__class__`` and friends) is
   refused by name;
3. it is rendered against sample data in the same sandbox, whose attribute
   check (``is_safe_attribute``) allows on our records only their documented
   fields: so what passed the check is also all it can reach when it is sent.

The HTML part of an edited notice is not a second template: it is the rendered
text, every character escaped, blank lines making paragraphs (``text_to_html``).
So an edit cannot put markup, a script or a tracking image into an email, and
staff keep one wording per notice instead of two that drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import escape

# Bounds on what an admin may save: a notice is a few paragraphs.
MAX_SUBJECT = 300
MAX_BODY = 10_000
# A rendered body longer than this is refused at save time and not sent as written.
MAX_RENDERED = 100_000
# Repeating a string or list ("-" * 60) is fine; a repetition this large is not.
MAX_REPEAT = 1_000
# Characters no email text needs (tabs and line breaks aside); NUL would also cut the
# text short in SQLite.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class NoticeItem:
    """A loan a reminder lists, as the template sees it."""

    title: str
    barcode: str
    due: date
    # Days from the due date to the run's date: negative before it.
    days_overdue: int
    # What the patron may do about it: renew online, or bring it back and why.
    advice: str
    renewable: bool


@dataclass(frozen=True)
class NoticeSection:
    """The loans of one reminder stage, under its heading ("Overdue by 7 days or more")."""

    heading: str
    items: tuple[NoticeItem, ...]


@dataclass(frozen=True)
class Field:
    name: str
    meaning: str


@dataclass(frozen=True)
class NoticeKind:
    key: str
    label: str
    # When this notice is sent (shown above the editor).
    sent_when: str
    fields: tuple[Field, ...]


_COMMON = (
    Field("patron_name", "the patron's name"),
    Field("library_name", "the library's name (SHELFMARK_LIBRARY_NAME)"),
)
_LOAN_FIELDS = (
    *_COMMON,
    Field(
        "sections",
        "the loans by stage, latest first; each has heading and items",
    ),
    Field(
        "items",
        "every loan the email lists; each has title, barcode, due (a date), "
        "days_overdue, advice (a sentence) and renewable (true or false)",
    ),
    Field("item_count", "how many loans the email lists"),
    Field("overdue_count", "how many of them are overdue"),
    Field("due_soon_count", "how many of them are due back soon"),
    Field("any_renewable", "true when at least one of them can be renewed online"),
)

KINDS: dict[str, NoticeKind] = {
    kind.key: kind
    for kind in (
        NoticeKind(
            "reminder",
            "Overdue reminder",
            "at night, to a patron with at least one overdue loan (loans due soon are listed "
            "too, in their own section); copied to the guardian's email when the patron has one",
            _LOAN_FIELDS,
        ),
        NoticeKind(
            "courtesy",
            "Courtesy notice (due soon)",
            "at night, to a patron whose loans reached a stage before the due date and none "
            "overdue; never copied to a guardian",
            _LOAN_FIELDS,
        ),
        NoticeKind(
            "hold_ready",
            "Hold ready to collect",
            "when a copy is set aside on the hold shelf for the patron",
            (
                *_COMMON,
                Field("title", "the title set aside"),
                Field("author", "its author (may be empty)"),
                Field("barcode", "the copy's barcode"),
                Field("pickup_by", "the last day to collect it (a date)"),
            ),
        ),
        NoticeKind(
            "invitation",
            "Invitation to sign in",
            "when staff invite patrons to choose a password",
            (
                *_COMMON,
                Field("link", "the one-time link to choose a password"),
                Field("days", "how many days the link works"),
            ),
        ),
    )
}

# Attributes a template may read besides our records' fields: a date's parts and
# formatting, a for loop's position, and a few ways to change a text's case.
VALUE_ATTRIBUTES = frozenset(
    {
        "strftime",
        "isoformat",
        "day",
        "month",
        "year",
        "upper",
        "lower",
        "title",
        "capitalize",
        "strip",
        "index",
        "index0",
        "first",
        "last",
        "length",
        "revindex",
    }
)
RECORD_ATTRIBUTES = {
    NoticeItem: frozenset(f.name for f in fields(NoticeItem)),
    NoticeSection: frozenset(f.name for f in fields(NoticeSection)),
}
ALLOWED_ATTRIBUTES = VALUE_ATTRIBUTES.union(*RECORD_ATTRIBUTES.values())
ALLOWED_FILTERS = frozenset(
    {
        "upper",
        "lower",
        "title",
        "capitalize",
        "trim",
        "default",
        "d",
        "length",
        "count",
        "first",
        "last",
        "join",
        "replace",
        "string",
        "int",
        "abs",
        "round",
        "truncate",
        "wordcount",
    }
)
# Statements that would reach other templates or define code of their own.
_REFUSED_NODES: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
}
# Jinja's own names inside a template: each a step towards its internals.
_SPECIAL_NAMES = frozenset({"self", "super", "varargs", "kwargs", "caller"})


class NoticeSandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox, narrowed to the documented fields of our records."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        allowed = RECORD_ATTRIBUTES.get(type(obj))
        if allowed is not None:
            return attr in allowed
        return attr in VALUE_ATTRIBUTES and super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        # "**" and "%" could build huge numbers or strings ("%999999999s"); "*" may repeat.
        if operator != "*":
            raise SecurityError(f"the operator {operator} is not available in notices")
        if isinstance(left, str | list | tuple) or isinstance(right, str | list | tuple):
            count = right if isinstance(left, str | list | tuple) else left
            if isinstance(count, int) and count > MAX_REPEAT:
                raise SecurityError(f"repeating something more than {MAX_REPEAT} times")
        return super().call_binop(context, operator, left, right)


def _sandbox() -> NoticeSandbox:
    environment = NoticeSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # No range(), cycler, joiner, namespace, lipsum or dict: a notice reads its fields only.
    environment.globals.clear()
    return environment


_SANDBOX = _sandbox()


@lru_cache(maxsize=32)
def _compiled(source: str) -> Template:
    """A saved template compiled once per process: a night's reminders share one wording."""
    return _SANDBOX.from_string(source)


@dataclass(frozen=True)
class Problem:
    """Why a draft was refused: which part (subject or body), the line, the reason."""

    part: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.part}, line {self.line}" if self.line else self.part
        return f"{where}: {self.reason}"


class WordingError(ValueError):
    """A stored wording that can no longer be rendered (the caller falls back to the default)."""


@dataclass(frozen=True)
class Wording:
    """A notice's subject and body templates as an admin saved them."""

    subject: str
    body: str


def _static_problems(part: str, tree: nodes.Template, field_names: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    for node in tree.find_all(nodes.Node):
        line = getattr(node, "lineno", None)
        if type(node) in _REFUSED_NODES:
            keyword = _REFUSED_NODES[type(node)]
            problems.append(Problem(part, line, f"{{% {keyword} %}} is not available in notices"))
        elif isinstance(node, nodes.Getattr):
            problems += _attribute_problem(part, line, node.attr)
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            problems += _attribute_problem(part, line, node.arg.value)
        elif isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
            problems.append(
                Problem(part, line, f"the filter {node.name!r} is not available in notices")
            )
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in _SPECIAL_NAMES:
            problems.append(Problem(part, line, f"{node.name!r} is not a field of this notice"))
        elif isinstance(node, nodes.Name) and node.ctx == "store" and node.name.startswith("_"):
            problems.append(Problem(part, line, "names starting with _ are not allowed"))
    unknown = sorted(find_undeclared_variables(tree) - field_names)
    for name in unknown:
        first = next(
            (n for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"), None
        )
        problems.append(
            Problem(
                part,
                first.lineno if first else None,
                f"{name!r} is not a field of this notice",
            )
        )
    return problems


def _attribute_problem(part: str, line: int | None, attr: str) -> list[Problem]:
    if attr.startswith("_"):
        return [Problem(part, line, f"{attr!r}: names starting with _ are not allowed")]
    if attr not in ALLOWED_ATTRIBUTES:
        return [Problem(part, line, f"{attr!r} is not a documented field or attribute")]
    return []


def _template_line(error: BaseException) -> int | None:
    """The template line a render error came from, from the traceback Jinja rewrites."""
    line = None
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def check(kind: str, subject: str, body: str) -> list[Problem]:
    """Everything wrong with a draft of ``kind``'s wording; empty when it may be saved."""
    notice = KINDS[kind]
    field_names = {f.name for f in notice.fields}
    problems: list[Problem] = []
    for part, source, limit in (("subject", subject, MAX_SUBJECT), ("body", body, MAX_BODY)):
        if not source.strip():
            problems.append(Problem(part, None, "must not be empty"))
            continue
        if len(source) > limit:
            problems.append(Problem(part, None, f"is {len(source)} characters; at most {limit}"))
            continue
        control = _CONTROL.search(source)
        if control:
            line = source.count("\n", 0, control.start()) + 1
            problems.append(Problem(part, line, "contains a control character (such as NUL)"))
            continue
        try:
            tree = _SANDBOX.parse(source)
            found = _static_problems(part, tree, field_names)
        except TemplateSyntaxError as error:
            problems.append(Problem(part, error.lineno, error.message or "broken template"))
            continue
        if found:
            problems += found
            continue
        try:
            rendered = _SANDBOX.from_string(source).render(sample_context(kind))
        # A draft is code someone typed: whatever it raises refuses it, and is not our error.
        except Exception as error:
            problems.append(Problem(part, _template_line(error), _reason(error)))
            continue
        if len(rendered) > MAX_RENDERED:
            problems.append(Problem(part, None, f"renders to more than {MAX_RENDERED} characters"))
    return problems


def _reason(error: BaseException) -> str:
    if isinstance(error, SecurityError):
        return f"refused by the sandbox: {error}"
    return str(error) or type(error).__name__


def render(wording: Wording, context: Mapping[str, object]) -> tuple[str, str]:
    """The subject (one line) and plain-text body of a saved wording for this context.

    Raises ``WordingError`` when it cannot be rendered (a field missing from
    the data, an oversized result): the caller sends the default instead.
    """
    try:
        subject = _compiled(wording.subject).render(context)
        body = _compiled(wording.body).render(context)
    except Exception as error:
        raise WordingError(_reason(error)) from error
    if len(body) > MAX_RENDERED:
        raise WordingError(f"the body renders to more than {MAX_RENDERED} characters")
    return " ".join(subject.split()), body


def text_to_html(subject: str, text: str, link: str | None = None) -> str:
    """The HTML part of an edited notice: the text escaped, paragraphs at blank lines,
    line breaks kept, and ``link`` (an invitation's) made a link wherever it appears."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    shown = []
    for paragraph in paragraphs:
        html = str(escape(paragraph.strip("\n"))).replace("\n", "<br>\n")
        if link:
            safe_link = str(escape(link))
            html = html.replace(safe_link, f'<a href="{safe_link}">{safe_link}</a>')
        shown.append(f"<p>{html}</p>")
    return (
        '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>\n<body>\n"
        + "\n".join(shown)
        + "\n</body>\n</html>\n"
    )


def loan_context(
    *,
    library_name: str,
    patron_name: str,
    sections: list[NoticeSection],
) -> dict[str, object]:
    """The fields of a reminder or courtesy notice, from its sections (latest stage first)."""
    items = [item for section in sections for item in section.items]
    return {
        "library_name": library_name,
        "patron_name": patron_name,
        "sections": sections,
        "items": items,
        "item_count": len(items),
        "overdue_count": sum(1 for item in items if item.days_overdue > 0),
        "due_soon_count": sum(1 for item in items if item.days_overdue <= 0),
        "any_renewable": any(item.renewable for item in items),
    }


def sample_context(kind: str) -> dict[str, object]:
    """Made-up data of the right shape, to check a draft against (and to preview without
    a patron)."""
    common = {"library_name": "Riverside School Library", "patron_name": "Sam Sample"}
    if kind == "hold_ready":
        return {
            **common,
            "title": "The Sample Book",
            "author": "A. N. Author",
            "barcode": "S0001",
            "pickup_by": date(2026, 12, 4),
        }
    if kind == "invitation":
        return {**common, "link": "https://library.example.org/password/sample-link", "days": 14}
    overdue = NoticeItem(
        "The Late Book", "S0002", date(2026, 11, 20), 8, "Please bring it back to the desk.", False
    )
    soon = NoticeItem(
        "The Next Book",
        "S0003",
        date(2026, 11, 30),
        -2,
        "You can renew it online: sign in and choose Renew.",
        True,
    )
    sections = [NoticeSection("Due back soon", (soon,))]
    if kind == "reminder":
        sections.insert(0, NoticeSection("Overdue by 7 days or more", (overdue,)))
    return loan_context(sections=sections, **common)
