"""A local stand-in for Open Library (Books API and covers) and Google Books.

It answers on loopback from the fixtures in tests/fixtures/openlibrary/, in the
services' documented formats, and misbehaves on purpose for some ISBNs: a slow
answer, a 404, a 500, a body that is not JSON. The app is pointed at it through
SHELFMARK_OPENLIBRARY_URL, SHELFMARK_OPENLIBRARY_COVERS_URL and
SHELFMARK_GOOGLE_BOOKS_URL; no test reaches the internet.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from PIL import Image
from stdnum import ean

FIXTURES = Path(__file__).parent / "fixtures" / "openlibrary"


def _isbn(twelve: str) -> str:
    return twelve + ean.calc_check_digit(twelve)


FOX = "9780140328721"  # Fantastic Mr. Fox: fiction, with a cover
HAWKING = "9780553380163"  # A Brief History of Time: Dewey 523.1, no cover
ALGORITHMS = "9780262033848"  # known to Google Books only
UNKNOWN = _isbn("978000000001")  # {} from Open Library, nothing from Google
SLOW = _isbn("978000000002")  # answers after SLOW_SECONDS
MISSING = _isbn("978000000003")  # 404
BROKEN = _isbn("978000000004")  # 500
GARBLED = _isbn("978000000005")  # 200 with a body that is not JSON
SLOW_SECONDS = 5.0


def cover_jpeg() -> bytes:
    """A real cover-shaped JPEG."""
    out = io.BytesIO()
    Image.new("RGB", (300, 450), (180, 60, 20)).save(out, "JPEG")
    return out.getvalue()


class _Handler(BaseHTTPRequestHandler):
    server: FakeBookServices

    def log_message(self, format, *args):  # noqa: A002 - the standard library's name
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - the standard library's name
        url = urlparse(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        if url.path == "/api/books":
            isbn = query.get("bibkeys", "").removeprefix("ISBN:")
            self.server.requests[("openlibrary", isbn)] += 1
            return self._books_api(isbn)
        if url.path == "/volumes":
            isbn = query.get("q", "").removeprefix("isbn:")
            self.server.requests[("google", isbn)] += 1
            fixture = FIXTURES / f"google_{isbn}.json"
            body = (
                fixture.read_bytes()
                if fixture.exists()
                else b'{"kind": "books#volumes", "totalItems": 0}'
            )
            return self._send(200, body)
        if url.path.startswith("/b/isbn/"):
            isbn = url.path.removeprefix("/b/isbn/").split("-")[0]
            self.server.requests[("covers", isbn)] += 1
            if isbn == FOX:
                return self._send(200, cover_jpeg(), "image/jpeg")
            return self._send(404, b"not found", "text/plain")
        return self._send(404, b"not found", "text/plain")

    def _books_api(self, isbn: str) -> None:
        if isbn == SLOW:
            time.sleep(SLOW_SECONDS)
        if isbn == MISSING:
            return self._send(404, b'{"error": "notfound"}')
        if isbn == BROKEN:
            return self._send(500, b"<html>Internal Server Error</html>", "text/html")
        if isbn == GARBLED:
            return self._send(200, b'{"ISBN:' + isbn.encode() + b'": {"details": ')
        fixture = FIXTURES / f"books_{isbn}.json"
        self._send(200, fixture.read_bytes() if fixture.exists() else b"{}")


class FakeBookServices(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: Counter[tuple[str, str]] = Counter()

    def handle_error(self, request, client_address):
        """A client that gave up (the lookup's timeout) is expected: stay quiet about it."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def fake_book_services() -> Iterator[FakeBookServices]:
    server = FakeBookServices()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
