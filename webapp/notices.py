"""Emails the desk writes to the Outbox, rendered from templates/email/ without Quart.

The nightly job calls into the circulation model outside any request, so the
hold notice is rendered with a plain Jinja environment over the same template
folder (autoescaped for .html, as in the app).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from webapp.resources import TEMPLATES
from webapp.templating import short_date


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    body_text: str
    body_html: str


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["short_date"] = short_date
    return environment


def hold_ready(
    *, library_name: str, patron_name: str, title: str, author: str, barcode: str, pickup_by: date
) -> RenderedMail:
    context = {
        "library_name": library_name,
        "patron_name": patron_name,
        "title": title,
        "author": author,
        "barcode": barcode,
        "pickup_by": pickup_by,
    }
    environment = _environment()
    return RenderedMail(
        subject=f"Ready to collect: {title}",
        body_text=environment.get_template("email/hold_ready.txt").render(context),
        body_html=environment.get_template("email/hold_ready.html").render(context),
    )
