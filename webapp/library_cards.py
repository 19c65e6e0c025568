"""Library cards as PDF (ReportLab): credit-card size (ISO/IEC 7810 ID-1), ten per A4 sheet.

Each card shows the library's name, the patron's name and class, and the card
number as a Code 128 barcode with the number in human-readable form below it,
so the desk's scanner reads it like a copy's barcode. A thin outline is the
cutting guide. Code 128 encodes ASCII only: a card number with other
characters cannot be printed as a barcode and is left out (``printable``).

Rendering blocks (CPU): callers run ``render`` in a thread.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from webapp.labels import BOLD, FONT, draw_code128, fit
from webapp.models.cataloguing import CardHolder

CARD_WIDTH = 85.6 * mm
CARD_HEIGHT = 53.98 * mm
COLUMNS, ROWS = 2, 5
PER_PAGE = COLUMNS * ROWS
MARGIN_LEFT = (A4[0] - COLUMNS * CARD_WIDTH) / 2
MARGIN_TOP = (A4[1] - ROWS * CARD_HEIGHT) / 2


def printable(card_number: str) -> bool:
    """Whether Code 128 can carry the number (printable ASCII)."""
    return all(32 <= ord(character) < 127 for character in card_number)


def _card(canvas: Canvas, holder: CardHolder, x: float, y: float, library: str) -> None:
    pad = 4 * mm
    inner = CARD_WIDTH - 2 * pad
    canvas.setLineWidth(0.3)
    canvas.setStrokeGray(0.6)
    canvas.roundRect(x, y, CARD_WIDTH, CARD_HEIGHT, 3 * mm)
    top = y + CARD_HEIGHT - pad
    canvas.setFont(BOLD, 10)
    canvas.drawString(x + pad, top - 9, fit(library, BOLD, 10, inner))
    canvas.setFont(FONT, 7)
    canvas.drawString(x + pad, top - 18, "Library card")
    canvas.setFont(BOLD, 12)
    canvas.drawString(x + pad, top - 33, fit(holder.name, BOLD, 12, inner))
    if holder.group:
        canvas.setFont(FONT, 9)
        canvas.drawString(x + pad, top - 44, fit(f"Class {holder.group}", FONT, 9, inner))
    canvas.setFont(BOLD, 9)
    centre = x + CARD_WIDTH / 2
    canvas.drawCentredString(centre, y + pad, holder.card_number)
    draw_code128(canvas, holder.card_number, centre, y + pad + 11, inner, 12 * mm)


def render(holders: Sequence[CardHolder], library: str) -> bytes:
    """The PDF of one card per holder whose number is ``printable``, ten to a page."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"{library}: library cards")
    printed = [holder for holder in holders if printable(holder.card_number)]
    for index, holder in enumerate(printed):
        if index and index % PER_PAGE == 0:
            canvas.showPage()
        row, column = divmod(index % PER_PAGE, COLUMNS)
        x = MARGIN_LEFT + column * CARD_WIDTH
        y = A4[1] - MARGIN_TOP - (row + 1) * CARD_HEIGHT
        _card(canvas, holder, x, y, library)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
