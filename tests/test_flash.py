"""Flash messages: on the next full page after a redirect, or out of band in an htmx answer."""

from __future__ import annotations

from quart import Blueprint, flash, redirect

from webapp import create_app
from webapp.access import Access, allow
from webapp.htmx import render_fragment, render_page_or_fragment

from .conftest import log_in

HX = {"HX-Request": "true"}

# Stand-ins for views that change something and say so (answering htmx with a
# fragment, a plain form with a redirect) and for one that has nothing to say.
saving = Blueprint("saving", __name__)


@saving.post("/test-save")
@allow(Access.PUBLIC)
async def save():
    await flash("Saved <b>draft</b>.", "success")
    return await render_fragment("layout/_nav.html")


@saving.post("/test-save-and-redirect")
@allow(Access.PUBLIC)
async def save_and_redirect():
    await flash("Saved.", "success")
    return redirect("/search")


@saving.get("/test-quiet")
@allow(Access.PUBLIC)
async def quiet():
    return await render_page_or_fragment("catalogue/search.html", "layout/_nav.html")


async def test_a_message_flashed_before_a_redirect_shows_once_on_the_next_page(client):
    await log_in(client, "alice@example.com")
    # log_in followed the redirect to /search, which showed and used up the message.
    html = await (await client.get("/search")).get_data(as_text=True)
    assert "Signed in as Alice Smith." not in html
    assert '<div id="flash" aria-live="polite"></div>' in html


async def test_signing_in_and_out_say_so_on_the_next_page(client):
    token = await log_in(client, "alice@example.com")
    response = await client.post("/logout", form={"csrf_token": token})
    assert response.status_code == 302
    html = await (await client.get("/search")).get_data(as_text=True)
    assert '<p class="flash info">You have signed out.</p>' in html


async def test_an_htmx_answer_carries_the_message_as_an_out_of_band_swap(settings):
    app = create_app(settings)
    app.register_blueprint(saving)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        token = await log_in(client, "alice@example.com")
        await client.get("/search")
        response = await client.post("/test-save", headers={**HX, "X-CSRF-Token": token})
        html = await response.get_data(as_text=True)
        assert '<div id="flash" aria-live="polite" hx-swap-oob="innerHTML">' in html
        assert '<p class="flash success">Saved &lt;b&gt;draft&lt;/b&gt;.</p>' in html
        assert "Sign out Alice Smith" in html and "<html" not in html
        # Shown once: the next fragment has nothing to add to the flash region.
        quiet = await client.get("/test-quiet", headers=HX)
        assert quiet.status_code == 200
        assert 'id="flash"' not in await quiet.get_data(as_text=True)


async def test_a_plain_form_gets_the_message_on_the_page_it_is_sent_to(settings):
    app = create_app(settings)
    app.register_blueprint(saving)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        token = await log_in(client, "alice@example.com")
        await client.get("/search")
        response = await client.post("/test-save-and-redirect", form={"csrf_token": token})
        assert response.status_code == 302
        html = await (await client.get("/search")).get_data(as_text=True)
        assert '<p class="flash success">Saved.</p>' in html
