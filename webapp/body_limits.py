"""How much a request may send: a small body for every route, more only where files are posted.

One mechanism, fixed when the request is created, before a byte of its body is
read: ``install`` gives the app a request class that takes its body limit from
its route. Every route gets ``FORM_BODY_LIMIT``; a view marked
``@accepts_upload`` gets ``UPLOAD_BODY_LIMIT``. Quart's ``Body`` enforces that
limit as the bytes arrive (a declared ``Content-Length`` above it is refused
without storing anything; a chunked body stops being stored at the limit), and
``refuse_oversized_body``, the app's first ``before_request`` hook, answers 413
for a declared length above it before the session, the CSRF check or any
parsing runs. A urlencoded form may carry at most ``FORM_FIELD_LIMIT`` fields,
counted before it is parsed (Quart parses it with ``parse_qsl`` and no limit);
multipart forms have the same limit through Quart's ``MAX_FORM_PARTS``.

Why per route: an anonymous visitor can post to ``/login``, and the old single
32 MB limit let 25 such posts hold 1.6 GB, and one with 7.5 million fields
freeze the event loop for seconds (issue 17, item 2; docs/security.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from quart import Quart, Response, request
from quart.formparser import FormDataParser
from quart.wrappers import Body, Request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import Map, Rule

View = TypeVar("View", bound=Callable)

# The longest ordinary form is a book's (at most 2,642 characters in its fields);
# percent-encoded as CJK text (9 bytes a character) that is about 24 KB.
FORM_BODY_LIMIT = 32 * 1024
# Imports: a catalogue or patron CSV, or a MARC file, of up to 32 MB.
UPLOAD_BODY_LIMIT = 32 * 1024 * 1024
# The most fields a page's form has is a dozen; hidden fields and repeats included,
# 200 is ample, and parsing 200 fields costs nothing.
FORM_FIELD_LIMIT = 200


def accepts_upload(view: View) -> View:
    """Let this view's requests carry a file of up to ``UPLOAD_BODY_LIMIT`` bytes."""
    setattr(view, "body_limit", UPLOAD_BODY_LIMIT)  # noqa: B010 (a Callable type has no such attribute)
    return view


async def _parse_urlencoded(
    parser: FormDataParser,
    body: Body,
    mimetype: str,
    content_length: int | None,
    options: dict[str, str],
) -> tuple[MultiDict, MultiDict]:
    """Quart's urlencoded parsing, refusing more than ``max_form_parts`` fields first."""
    data = await body
    if parser.max_form_parts is not None and data.count(b"&") >= parser.max_form_parts:
        raise RequestEntityTooLarge()
    return MultiDict(parse_qsl(data.decode(), keep_blank_values=True)), MultiDict()


class FieldCountingFormDataParser(FormDataParser):
    parse_functions = {
        **FormDataParser.parse_functions,
        "application/x-www-form-urlencoded": _parse_urlencoded,
        "application/x-url-encoded": _parse_urlencoded,
    }


def _upload_routes(app: Quart) -> Map:
    """A map of just the routes that accept uploads (matching one costs microseconds)."""
    return Map(
        [
            Rule(rule.rule, methods=rule.methods, endpoint=rule.endpoint)
            for rule in app.url_map.iter_rules()
            if getattr(app.view_functions.get(rule.endpoint), "body_limit", None)
        ],
        converters=dict(app.url_map.converters),
    )


def install(app: Quart) -> None:
    """Give ``app`` per-route body limits (call once every blueprint is registered)."""
    uploads = _upload_routes(app).bind("shelfmark")
    app.config.update(MAX_CONTENT_LENGTH=FORM_BODY_LIMIT, MAX_FORM_PARTS=FORM_FIELD_LIMIT)

    def limit_for(method: str, path: str) -> int:
        if method in ("GET", "HEAD", "OPTIONS"):
            return FORM_BODY_LIMIT
        try:
            endpoint, _ = uploads.match(path, method=method)
        except HTTPException:
            return FORM_BODY_LIMIT
        return getattr(app.view_functions[endpoint], "body_limit", FORM_BODY_LIMIT)

    class RouteLimitedRequest(Request):
        """A request whose body limit is its route's, set before its body arrives."""

        form_data_parser_class = FieldCountingFormDataParser

        def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any):
            limit = limit_for(method, path)
            kwargs["max_content_length"] = limit
            super().__init__(method, scheme, path, *args, **kwargs)
            # The same limit for the multipart parser, which reads it from here.
            self.max_content_length = limit

    app.request_class = RouteLimitedRequest


async def refuse_oversized_body() -> None:
    """413 for a declared body above the route's limit, before anything reads or parses it."""
    limit = request.max_content_length
    length = request.content_length
    if limit is not None and length is not None and length > limit:
        raise RequestEntityTooLarge()


def close_after_refusal(response: Response) -> Response:
    """A 413 leaves the refused body unread on the connection, so the server closes it
    after the answer: say so (``Connection: close``). Otherwise a client that keeps its
    connections alive may send its next request into one being closed, and get "server
    disconnected" instead of an answer."""
    if response.status_code == 413:
        response.headers["Connection"] = "close"
    return response
