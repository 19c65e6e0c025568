"""The notice template checks and the sandbox, without a server or a database."""

from __future__ import annotations

from datetime import date

import pytest

from webapp import emails, notice_templates
from webapp.loan_advice import RENEWABLE, RenewalAdvice
from webapp.notice_templates import Wording, WordingError, check, render, text_to_html

ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ patron_name['__class__'] }}",
    "{{ patron_name|attr('__class__') }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ namespace.__init__ }}",
    "{% include 'reminder.txt' %}",
    "{% extends 'reminder.txt' %}",
    "{% import 'reminder.txt' as r %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{{ '%999999999s' % patron_name }}",
    "{{ 'x' * 1000000000 }}",
    "{{ 9 ** 999999 }}",
    "{{ patron_name.ljust(999999999) }}",
    "{{ '{0.__class__}'.format(patron_name) }}",
    "{{ range(999999999)|list }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_template_injection_is_refused_in_the_body_and_the_subject(source):
    body_problems = check(
        "hold_ready", "Ready: {{ title }}", f"Dear {{{{ patron_name }}}},\n\n{source}"
    )
    assert body_problems, source
    assert body_problems[0].part == "body" and body_problems[0].line == 3
    assert check("hold_ready", source, "Dear {{ patron_name }}"), source


def test_an_unknown_field_is_refused_with_its_line_and_name():
    problems = check("invitation", "Sign in", "Dear {{ patron_name }},\n\n{{ password }}\n")
    assert [(p.part, p.line) for p in problems] == [("body", 3)]
    assert "'password' is not a field of this notice" in str(problems[0])
    # A field of another notice is outside this one's set too.
    (problem,) = check("hold_ready", "{{ link }}", "Dear {{ patron_name }}")
    assert problem.part == "subject" and "'link'" in problem.reason


def test_an_attribute_outside_the_documented_set_is_refused():
    body = "{% for item in items %}\n{{ item.title }}\n{{ item.loan_id }}\n{% endfor %}"
    (problem,) = check("reminder", "Late", body)
    assert problem.line == 3 and "'loan_id'" in problem.reason


def test_broken_syntax_is_refused_with_its_line():
    (problem,) = check("reminder", "Late", "Dear {{ patron_name }},\n\n{% if item_count %}\nno end")
    assert problem.part == "body" and problem.line == 4
    assert "endif" in problem.reason
    (problem,) = check("reminder", "{{ library_name", "Dear")
    assert problem.part == "subject" and problem.line == 1


def test_empty_and_oversized_drafts_are_refused():
    assert [str(p) for p in check("invitation", " ", "")] == [
        "subject: must not be empty",
        "body: must not be empty",
    ]
    (problem,) = check("invitation", "Hi", "x" * (notice_templates.MAX_BODY + 1))
    assert "at most 10000" in problem.reason
    (problem,) = check("invitation", "Hi", "Dear\n{{ patron_name }}\x00")
    assert (problem.line, problem.reason) == (2, "contains a control character (such as NUL)")


def test_a_good_template_renders_its_fields():
    wording = Wording(
        "{{ library_name }}: {{ item_count }} late",
        "Dear {{ patron_name }},\n{% for item in items %}\n- {{ item.title|upper }} "
        "due {{ item.due.strftime('%-d %B') }}{{ ';' if not loop.last }}\n{% endfor %}",
    )
    assert check("reminder", wording.subject, wording.body) == []
    subject, text = render(wording, notice_templates.sample_context("reminder"))
    assert subject == "Riverside School Library: 2 late"
    assert text == (
        "Dear Sam Sample,\n- THE LATE BOOK due 20 November;\n- THE NEXT BOOK due 30 November\n"
    )


def test_the_built_in_wording_passes_the_checks_and_renders_as_the_built_in_email():
    """The editor starts from the built-in wording: saved as it is, it says the same."""
    for kind in notice_templates.KINDS:
        default = emails.default_wording(kind)
        assert check(kind, default.subject, default.body) == [], kind
    items = [
        (8, "Late <b>Book</b>", "B1", date(2026, 11, 21), RenewalAdvice(False, "", "Bring it.")),
        (-2, "Soon Book", "B2", date(2026, 12, 1), RENEWABLE),
    ]
    built_in = emails.reminder("Lib", "Ann", items, date(2026, 11, 29))
    as_edited = emails.reminder(
        "Lib", "Ann", items, date(2026, 11, 29), {"reminder": emails.default_wording("reminder")}
    )
    assert (as_edited.subject, as_edited.body_text) == (built_in.subject, built_in.body_text)
    soon_only = items[1:]
    built_in = emails.reminder("Lib", "Ann", soon_only, date(2026, 11, 29))
    as_edited = emails.reminder(
        "Lib",
        "Ann",
        soon_only,
        date(2026, 11, 29),
        {"courtesy": emails.default_wording("courtesy")},
    )
    assert (as_edited.subject, as_edited.body_text) == (built_in.subject, built_in.body_text)


def test_the_html_part_of_an_edited_notice_is_its_text_escaped():
    html = text_to_html(
        "Hi <you>",
        "Dear <script>alert(1)</script> & co,\nline two\n\nOpen https://x.example/p?a=1&b=2",
        "https://x.example/p?a=1&b=2",
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<title>Hi &lt;you&gt;</title>" in html
    assert "<p>Dear &lt;script&gt;alert(1)&lt;/script&gt; &amp; co,<br>\nline two</p>" in html
    assert '<a href="https://x.example/p?a=1&amp;b=2">' in html


def test_a_wording_that_fails_on_real_data_raises_so_the_sender_falls_back():
    wording = Wording("Hi", "{{ items[5].title }}")
    with pytest.raises(WordingError):
        render(wording, notice_templates.sample_context("reminder"))
    # The sender then uses the built-in wording: the notice still goes out.
    email = emails.reminder(
        "Lib",
        "Ann",
        [(1, "Late", "B1", date(2026, 11, 27), RENEWABLE)],
        date(2026, 11, 29),
        {"reminder": wording},
    )
    assert email.subject == "Lib: 1 overdue item" and "Late" in email.body_text


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ items[0].__dict__ }}",
        "{{ sections[0].items[0].__class__ }}",
        "{{ '%9999s' % patron_name }}",
    ],
)
def test_the_sandbox_refuses_escapes_at_send_time_even_without_the_save_check(source):
    """A wording that somehow skipped the check (written into the database by hand) still
    cannot leave the sandbox when a notice is rendered: it fails, and the sender falls back."""
    with pytest.raises(WordingError):
        render(Wording("Hi", source), notice_templates.sample_context("reminder"))


def test_the_example_of_the_docs_passes_and_renders_as_shown():
    """docs/notices.md's example of an overdue reminder."""
    wording = Wording(
        "{{ library_name }}: {{ overdue_count }} book{{ 's' if overdue_count != 1 }} to bring back",
        "Dear {{ patron_name }},\n\n{% for item in items %}\n"
        "- {{ item.title }}, due {{ item.due.strftime('%-d %B') }}\n"
        "  {{ item.advice }}{% if item.days_overdue > 0 %} ({{ item.days_overdue }} days late)"
        "{% endif %}\n\n{% endfor %}\n\nThank you,\n{{ library_name }}\n",
    )
    assert check("reminder", wording.subject, wording.body) == []
    assert render(wording, notice_templates.sample_context("reminder")) == (
        "Riverside School Library: 1 book to bring back",
        "Dear Sam Sample,\n\n"
        "- The Late Book, due 20 November\n  Please bring it back to the desk. (8 days late)\n"
        "- The Next Book, due 30 November\n"
        "  You can renew it online: sign in and choose Renew.\n\n"
        "Thank you,\nRiverside School Library\n",
    )
