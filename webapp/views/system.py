"""Operational endpoints."""

from __future__ import annotations

import sqlite3

from quart import Blueprint

from webapp.access import Access, allow
from webapp.request_context import get_db

blueprint = Blueprint("system", __name__)


@blueprint.get("/healthz")
@allow(Access.PUBLIC)
async def healthz():
    """200 with a small JSON body when the database answers, 503 when it does not."""
    try:
        await get_db().fetch_value("SELECT count(*) FROM sqlite_master")
    except (sqlite3.Error, ValueError, RuntimeError) as error:
        return {"status": "unavailable", "database": type(error).__name__}, 503
    return {"status": "ok", "database": "ok"}, 200
