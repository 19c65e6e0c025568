"""Covers: real images are kept clean and small; anything else is refused with a message.

Through the upload form as a librarian uses it, and ``covers.prepare`` for what
the stored files hold. No refused file breaks a page or loosens the CSP.
"""

from __future__ import annotations

import io
import sqlite3
import struct
import zlib

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage

from webapp import covers

from .conftest import log_in

CSP_IMAGES = "img-src 'self' data:"


def png_bytes(size=(600, 900), mode="RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (20, 120, 200, 128) if mode == "RGBA" else (20, 120, 200)).save(
        out, "PNG"
    )
    return out.getvalue()


def jpeg_with_metadata() -> bytes:
    """A camera photo: EXIF with a GPS position and the camera's make, and a comment."""
    image = Image.new("RGB", (1200, 1800), (200, 180, 40))
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"taken in the head's office")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels: a decompression bomb
    would inflate to that many; decoding must never start."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
LIAR = b"<html><script>alert('I am a JPEG')</script></html>"


def test_a_png_and_a_jpeg_become_small_clean_jpegs():
    for data in (png_bytes(), jpeg_with_metadata()):
        kept = covers.prepare(data)
        assert set(kept) == {"s", "m"}
        for size, (width, height) in covers.SIZES.items():
            with Image.open(io.BytesIO(kept[size])) as image:
                assert image.format == "JPEG"
                assert image.width <= width and image.height <= height
                assert not image.getexif()
                assert "comment" not in image.info and "exif" not in image.info


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (SVG, "not a JPEG, PNG, WebP or GIF"),
        (LIAR, "not a JPEG, PNG, WebP or GIF"),
        (png_claiming(8000, 8000), "far too many pixels"),
        (png_claiming(100_000, 100_000), "far too many pixels"),
        (png_bytes()[:200], "damaged"),
        (b"", "empty"),
    ],
    ids=["svg", "html-called-jpeg", "64-megapixels", "10-gigapixels", "truncated", "empty"],
)
def test_anything_but_a_cover_is_refused_with_its_reason(data, said):
    with pytest.raises(covers.CoverRefused, match=said):
        covers.prepare(data)


@pytest.fixture
async def librarian(app):
    client = app.test_client()
    token = await log_in(client, "bob@example.com")
    return client, token


async def upload(client, token, book_id: int, data: bytes, filename: str, content_type: str):
    return await client.post(
        f"/books/{book_id}/cover",
        form={"csrf_token": token},
        files={
            "cover": FileStorage(io.BytesIO(data), filename=filename, content_type=content_type)
        },
    )


def first_book(settings) -> tuple[int, str]:
    conn = sqlite3.connect(settings.database)
    row = conn.execute("SELECT BookID, Title FROM Books ORDER BY BookID LIMIT 1").fetchone()
    conn.close()
    return row


async def test_an_uploaded_cover_shows_in_search_the_book_page_and_is_served_by_us(
    librarian, settings
):
    client, token = librarian
    book_id, title = first_book(settings)
    response = await upload(client, token, book_id, jpeg_with_metadata(), "photo.jpg", "image/jpeg")
    assert response.status_code == 303
    book_page = await client.get(f"/books/{book_id}")
    html = await book_page.get_data(as_text=True)
    assert f'src="/covers/{book_id}-m.jpg?v=1"' in html
    assert book_page.headers["Content-Security-Policy"].count(CSP_IMAGES) == 1
    results = await (await client.get("/search", query_string={"q": title, "go": "0"})).get_data(
        as_text=True
    )
    assert f'src="/covers/{book_id}-s.jpg?v=1" width="40" height="60" loading="lazy"' in results
    served = await client.get(f"/covers/{book_id}-s.jpg?v=1")
    assert served.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(await served.get_data())) as image:
        assert not image.getexif()
    # A second cover gets a new address, so no browser keeps showing the first.
    await upload(client, token, book_id, png_bytes(), "cover.png", "image/png")
    html = await (await client.get(f"/books/{book_id}")).get_data(as_text=True)
    assert f'src="/covers/{book_id}-m.jpg?v=2"' in html


@pytest.mark.parametrize(
    ("data", "filename", "content_type"),
    [
        (SVG, "cover.svg", "image/svg+xml"),
        (LIAR, "cover.jpg", "image/jpeg"),
        (png_claiming(100_000, 100_000), "huge.png", "image/png"),
    ],
    ids=["svg", "liar", "bomb"],
)
async def test_a_refused_upload_is_a_422_with_the_reason_and_changes_nothing(
    librarian, settings, data, filename, content_type
):
    client, token = librarian
    book_id, _ = first_book(settings)
    response = await upload(client, token, book_id, data, filename, content_type)
    assert response.status_code == 422
    assert "That file cannot be a cover" in await response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"].count(CSP_IMAGES) == 1
    page = await client.get(f"/books/{book_id}")
    assert page.status_code == 200
    assert "/covers/" not in await page.get_data(as_text=True)
    assert (await client.get(f"/covers/{book_id}-m.jpg")).status_code == 404


async def test_removing_a_cover_brings_back_the_placeholder(librarian, settings):
    client, token = librarian
    book_id, _ = first_book(settings)
    await upload(client, token, book_id, png_bytes(), "cover.png", "image/png")
    response = await client.post(
        f"/books/{book_id}/cover", form={"csrf_token": token, "action": "remove"}
    )
    assert response.status_code == 303
    html = await (await client.get(f"/books/{book_id}")).get_data(as_text=True)
    assert "cover-none" in html and f"/covers/{book_id}-" not in html
    assert (await client.get(f"/covers/{book_id}-m.jpg")).status_code == 404


async def test_only_staff_may_change_a_cover(app, settings):
    client = app.test_client()
    await log_in(client, "alice@example.com")
    book_id, _ = first_book(settings)
    assert (await client.get(f"/books/{book_id}/cover")).status_code == 403
