"""Rendering a page runs no synchronous template context processor.

Quart runs a synchronous context processor in a worker thread on every render;
webapp._drop_flask_context_processors removes the one every blueprint inherits
from Flask. These tests fail loudly if a Flask or Quart upgrade changes what
blueprints inherit, so that function is revisited instead of silently doing nothing.
"""

from __future__ import annotations

import inspect

from quart import Blueprint, Quart

from webapp import create_app

REVISIT = (
    "Flask/Quart changed what a blueprint inherits: revisit "
    "webapp._drop_flask_context_processors (delete it if blueprints no longer "
    "start with a synchronous context processor)"
)


async def test_a_new_blueprint_still_inherits_a_synchronous_processor_that_adds_nothing():
    inherited = Blueprint("probe", __name__).template_context_processors[None]

    assert inherited, REVISIT
    assert not any(inspect.iscoroutinefunction(p) for p in inherited), REVISIT
    async with Quart(__name__).test_request_context("/"):
        assert [processor() for processor in inherited] == [{}] * len(inherited), REVISIT


async def test_pages_of_every_blueprint_render_without_a_synchronous_processor(settings):
    app = create_app(settings)

    synchronous = {
        name: processors
        for name, processors in app.template_context_processors.items()
        if any(not inspect.iscoroutinefunction(processor) for processor in processors)
    }

    assert app.blueprints and synchronous == {}
    # Quart's own processor (request, session and g in templates) is still there.
    assert app.template_context_processors[None]
