"""Book covers: checked and shrunk with Pillow, kept in the instance folder, served by us.

A cover comes from staff (an upload) or from Open Library's covers service,
once per book. Either way it is untrusted bytes: ``prepare`` reads only the
formats a cover may have (JPEG, PNG, WebP, GIF), whatever the file's name or
declared type says; refuses a file that is not one of them (an SVG, a page
that calls itself .jpg) and an image whose header claims more pixels than
``MAX_PIXELS`` before decoding it (a decompression bomb); and writes new JPEGs
from the pixels alone, so no metadata (EXIF, GPS, comments) survives. Two sizes
are kept per book: ``s`` for search results and ``m`` for the book page.

The files are served by Shelfmark itself (``webapp/views/cataloguing.py``), so
the Content-Security-Policy keeps ``img-src 'self'``. Everything here blocks
(decoding, encoding, file I/O): callers run it in a thread; ``store_cover``
and ``fetch_once`` do so themselves.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from webapp.db import Database
from webapp.isbn_lookup import IsbnLookup
from webapp.models import cataloguing

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
# Width and height of each kept size's box; a cover keeps its proportions inside it.
SIZES = {"s": (80, 120), "m": (400, 600)}
JPEG_QUALITY = 85
TOO_MANY_PIXELS = "The image has far too many pixels for a cover."


class CoverRefused(ValueError):
    """Not an image a cover may be; the message says why, for the librarian."""


def prepare(data: bytes) -> dict[str, bytes]:
    """The cover's kept sizes as clean JPEG bytes, or ``CoverRefused``."""
    if not data:
        raise CoverRefused("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise CoverRefused(f"A cover may be at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check only warns below twice its limit: refuse instead.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise CoverRefused(TOO_MANY_PIXELS)
                image.seek(0)
                image.load()
                upright = ImageOps.exif_transpose(image)
                pixels = _flattened(upright)
    except CoverRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise CoverRefused(TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        raise CoverRefused("This is not a JPEG, PNG, WebP or GIF image.") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        # A truncated or corrupt file of an accepted format.
        raise CoverRefused("The image is damaged and cannot be read.") from None
    return {size: _jpeg(pixels, box) for size, box in SIZES.items()}


def _flattened(image: Image.Image) -> Image.Image:
    """RGB pixels only: transparency laid on white, palette and CMYK converted."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(pixels: Image.Image, box: tuple[int, int]) -> bytes:
    resized = pixels.copy()
    resized.thumbnail(box, Image.Resampling.LANCZOS)
    # A new image from the pixels alone: nothing of the original's info dict
    # (EXIF, ICC profile, comments) can reach the encoder.
    clean = Image.new("RGB", resized.size)
    clean.paste(resized)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


class CoverStore:
    """The covers folder: ``<book id>-<size>.jpg`` for each kept size."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, book_id: int, size: str) -> Path:
        if size not in SIZES:
            raise ValueError(f"no cover size {size!r}")
        return self.folder / f"{book_id}-{size}.jpg"

    def save(self, book_id: int, images: dict[str, bytes]) -> None:
        """Write each size through a temporary file, so a reader never sees half a cover."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for size, data in images.items():
            target = self.path(book_id, size)
            temporary = target.with_suffix(".tmp")
            temporary.write_bytes(data)
            os.replace(temporary, target)

    def read(self, book_id: int, size: str) -> bytes | None:
        try:
            return self.path(book_id, size).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, book_id: int) -> None:
        for size in SIZES:
            self.path(book_id, size).unlink(missing_ok=True)


def store_for(database: Path) -> CoverStore:
    """The covers folder beside the database, in the instance folder."""
    return CoverStore(database.parent / "covers")


async def store_cover(db: Database, store: CoverStore, book_id: int, data: bytes) -> int:
    """Check, shrink and keep ``data`` as the book's cover; returns its new version.
    Raises ``CoverRefused`` (nothing kept) for anything that is not a cover."""
    images = await asyncio.to_thread(prepare, data)
    await asyncio.to_thread(store.save, book_id, images)
    return await db.write(cataloguing.cover_added, book_id)


async def remove_cover(db: Database, store: CoverStore, book_id: int) -> None:
    await db.write(cataloguing.cover_removed, book_id)
    await asyncio.to_thread(store.delete, book_id)


async def fetch_once(db: Database, lookup: IsbnLookup, store: CoverStore, book_id: int) -> None:
    """Fetch the book's cover from Open Library's covers service, if it was never asked.

    Run in the background after a book is saved: the librarian never waits for it.
    A missing or refused image leaves the placeholder, and is not asked again.
    """
    if not lookup.fetches_covers:
        return
    isbn13 = await db.write(cataloguing.claim_cover_fetch, book_id)
    if isbn13 is None:
        return
    data = await lookup.fetch_cover(isbn13)
    if data is None:
        return
    try:
        await store_cover(db, store, book_id, data)
    except CoverRefused as refused:
        log.warning("cover for ISBN %s refused: %s", isbn13, refused)
