"""Import (upload, preview, confirm) and CSV export, for staff.

Between upload and confirm the file stays on the server, under the instance
folder (next to the database) as ``imports/<token>.upload``; the browser's
signed session holds only the random token, the kind and the file's name.
The client never sends the file back, so what is confirmed is exactly what
was previewed, and nothing the browser sends can name another file (the
token must match ``_TOKEN``). A new upload replaces the previous one, and
uploads left behind for a day are removed at the next upload.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from pathlib import Path

from quart import Blueprint, Response, redirect, render_template, request, session, url_for

from webapp.access import Access, allow
from webapp.body_limits import accepts_upload
from webapp.db import connect_sync
from webapp.exporting import EXPORTS, stream_csv
from webapp.importing import books as book_import
from webapp.importing import marc as marc_import
from webapp.importing import patrons as patron_import
from webapp.importing import staging
from webapp.request_context import get_db, get_settings, signed_in_user

log = logging.getLogger("shelfmark")

blueprint = Blueprint("import_export", __name__)

KINDS = {"books": "Books (CSV)", "patrons": "Patrons (CSV)", "marc": "Books (MARC21 or MARCXML)"}
FIELDS = {"books": book_import.FIELDS, "patrons": patron_import.FIELDS, "marc": ()}
FIELD_LABELS = {
    "title": "Title",
    "author": "Author(s)",
    "isbn": "ISBN",
    "year": "Year",
    "language": "Language",
    "series": "Series",
    "subjects": "Subjects",
    "publisher": "Publisher",
    "copies": "Number of copies",
    "barcodes": "Barcodes",
    "location": "Shelf location",
    "name": "Name",
    "email": "Email address",
    "role": "Role",
    "card_number": "Card number",
    "group": "Class or group",
    "active": "Active",
    "item_type": "Item type of the copies",
    "category": "Patron category",
    "guardian_email": "Guardian's email",
}
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
STALE_UPLOAD_SECONDS = 24 * 3600


def _upload_dir() -> Path:
    return get_settings().database.resolve().parent / "imports"


def _pending() -> tuple[dict, Path] | None:
    """This session's uploaded file waiting for confirmation, if it is still there."""
    state = session.get("import")
    if not state or not _TOKEN.match(state.get("token", "")) or state.get("kind") not in KINDS:
        return None
    path = _upload_dir() / f"{state['token']}.upload"
    return (state, path) if path.exists() else None


def _forget_pending() -> None:
    pending = _pending()
    if pending:
        pending[1].unlink(missing_ok=True)
    session.pop("import", None)


def _save_upload(path: Path, data: bytes) -> None:
    """Write the upload, or leave nothing: a partial file on a full disk would keep it full."""
    try:
        path.write_bytes(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _remove_stale_uploads(directory: Path) -> None:
    cutoff = time.time() - STALE_UPLOAD_SECONDS
    for path in directory.glob("*.upload"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            continue


async def _start_page(error: str | None = None, status: int = 200):
    body = await render_template(
        "admin/import.html",
        kinds=KINDS,
        error=error,
        result=session.pop("import_result", None),
        pending=_pending(),
    )
    return body, status


@blueprint.get("/admin/import")
@allow(Access.STAFF)
async def import_start():
    return await _start_page()


def _check_upload(kind: str, data: bytes) -> None:
    """Refuse files that cannot be what the librarian said they are, with the reason."""
    if not data:
        raise ValueError("The file is empty.")
    if kind == "marc":
        if not marc_import.looks_like_marc(data):
            raise ValueError(
                "That is not a MARC file: choose a MARC21 (.mrc) or MARCXML (.xml) export."
            )
        return
    if marc_import.looks_like_marc(data):
        raise ValueError("That looks like a MARC file: choose 'Books (MARC21 or MARCXML)'.")
    book_import.csv_header(data)


@blueprint.post("/admin/import")
@allow(Access.STAFF)
@accepts_upload
async def import_upload():
    form = await request.form
    files = await request.files
    kind = form.get("kind", "")
    upload = files.get("file")
    if kind not in KINDS:
        return await _start_page("Choose what the file holds.", 422)
    if upload is None or not upload.filename:
        return await _start_page("Choose a file to upload.", 422)
    data = upload.read()
    try:
        _check_upload(kind, data)
    except ValueError as error:
        return await _start_page(f"{upload.filename}: {error}", 422)
    await _discard_staged()
    _forget_pending()
    directory = _upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    _remove_stale_uploads(directory)
    token = secrets.token_urlsafe(24)
    # A full disk raises here; the app answers 503 (webapp.write_failures).
    await asyncio.to_thread(_save_upload, directory / f"{token}.upload", data)
    session["import"] = {"token": token, "kind": kind, "name": upload.filename[-200:]}
    return redirect(url_for("import_export.import_preview"), 303)


def _mapping_from(args) -> dict[str, str] | None:
    """The column choices the librarian made on the preview, or None to detect them."""
    chosen = {key[4:]: value for key, value in args.items() if key.startswith("map_")}
    return chosen or None


def _book_rows(kind: str, path: Path, mapping: dict[str, str] | None):
    """The mapping used and the rows of a books CSV or MARC upload, read as they are
    needed (in the staging's worker thread): memory stays bounded at any file size."""
    if kind == "marc":
        stream = path.open("rb")
        return {}, marc_import.iter_marc(stream), stream
    text = book_import.open_upload(path)
    try:
        used, rows = book_import.iter_books_csv(text, mapping)
    except BaseException:
        text.close()
        raise
    return used, rows, text


async def _stage_books(state: dict, path: Path, mapping: dict[str, str] | None):
    """The staged run for this upload and mapping: the preview's, or staged now.

    Returns the mapping used, the run's id and its summary; a file that cannot be
    read (or a mapping without a title) raises ValueError.
    """
    db = get_db()
    used, rows, stream = await asyncio.to_thread(_book_rows, state["kind"], path, mapping)
    try:
        key = staging.mapping_key(used)
        found = await db.read(staging.find_staged, state["token"], key)
        if found is not None:
            import_id, summary = found
            return used, import_id, book_import.ImportSummary.from_json(summary)
        import_id, summary = await staging.run_async(
            db, book_import.stage_steps(rows, source=state["token"], mapping=key)
        )
        return used, import_id, summary
    finally:
        await asyncio.to_thread(stream.close)


def _patron_work(database: Path, path: Path, mapping, allow_admin: bool, apply: bool):
    """Read, and plan or apply, a patrons file in a worker thread."""
    _, rows = patron_import.read_patrons_csv(path.read_bytes(), mapping, allow_admin=allow_admin)
    conn = connect_sync(database)
    try:
        if apply:
            return patron_import.apply_patrons(conn, rows, allow_admin=allow_admin)
        return patron_import.plan_patrons(conn, rows, allow_admin=allow_admin)
    finally:
        conn.close()


def _column_choices(kind: str, path: Path) -> tuple[list[str], dict[str, str]]:
    if kind == "marc":
        return [], {}
    with book_import.open_upload(path) as text:
        header = book_import.csv_header(text)
    return header, (patron_import if kind == "patrons" else book_import).detect_mapping(header)


@blueprint.get("/admin/import/preview")
@allow(Access.STAFF)
async def import_preview():
    pending = _pending()
    if pending is None:
        return await _start_page("There is no upload waiting: choose the file again.", 409)
    state, path = pending
    mapping = _mapping_from(request.args)
    try:
        header, detected = await asyncio.to_thread(_column_choices, state["kind"], path)
    except ValueError as error:
        _forget_pending()
        return await _start_page(f"{state['name']}: {error}", 422)
    summary, message, used = None, None, mapping or detected
    try:
        if state["kind"] == "patrons":
            summary = await asyncio.to_thread(
                _patron_work, get_db().path, path, mapping, signed_in_user().is_admin, False
            )
        else:
            used, _, summary = await _stage_books(state, path, mapping)
    except ValueError as error:
        if state["kind"] == "marc":
            _forget_pending()
            return await _start_page(f"{state['name']}: {error}", 422)
        message = str(error)
    body = await render_template(
        "admin/import_preview.html",
        state=state,
        kind_label=KINDS[state["kind"]],
        header=header,
        mapping=used,
        fields=FIELDS[state["kind"]],
        field_labels=FIELD_LABELS,
        total=summary.rows if summary else 0,
        summary=summary,
        groups=sorted(summary.groups.values(), key=lambda group: group.examples[0][0])
        if summary
        else [],
        samples=summary.samples if summary else [],
        error=message,
    )
    return body, 422 if message else 200


@blueprint.post("/admin/import/confirm")
@allow(Access.STAFF)
async def import_confirm():
    pending = _pending()
    if pending is None:
        return await _start_page("There is no upload waiting: choose the file again.", 409)
    state, path = pending
    form = await request.form
    mapping = _mapping_from(form)
    try:
        if state["kind"] == "patrons":
            summary = await asyncio.to_thread(
                _patron_work, get_db().path, path, mapping, signed_in_user().is_admin, True
            )
        else:
            _, import_id, summary = await _stage_books(state, path, mapping)
            summary.copies_added = await staging.run_async(
                get_db(), book_import.publish_or_discard(import_id)
            )
    except ValueError as error:
        return await _start_page(f"Nothing was imported: {error}", 422)
    _forget_pending()
    log.info(
        "import of %s (%s) by %s: %s",
        state["name"],
        state["kind"],
        signed_in_user().email,
        summary.counts(),
    )
    session["import_result"] = {
        "name": state["name"],
        "kind": state["kind"],
        "new": summary.new,
        "updated": summary.updated,
        "duplicate": summary.duplicate,
        "invalid": summary.invalid,
        "copies_added": summary.copies_added,
    }
    return redirect(url_for("import_export.import_start"), 303)


async def _discard_staged() -> None:
    """Drop what this session's preview staged (in short transactions)."""
    state = session.get("import")
    if state and _TOKEN.match(state.get("token", "")):
        await staging.run_async(get_db(), staging.cleanup_steps(state["token"]))


@blueprint.post("/admin/import/cancel")
@allow(Access.STAFF)
async def import_cancel():
    await _discard_staged()
    _forget_pending()
    return redirect(url_for("import_export.import_start"), 303)


@blueprint.get("/admin/export/<any(books, patrons, loans):kind>.csv")
@allow(Access.STAFF)
async def export_csv(kind: str):
    """The whole table as CSV, streamed page by page."""
    filename = f"shelfmark-{kind}.csv"
    return Response(
        stream_csv(get_db(), EXPORTS[kind]),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
