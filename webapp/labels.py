"""Label sheets as PDF (ReportLab): spine labels and Code 128 barcode labels.

A sheet is a grid of labels on a page (``Sheet``): the presets are the common
A4 and US Letter sheets, and a custom sheet is any grid with its margins and
gaps. A print may start at any position of the first sheet (``start``), so a
half-used sheet goes back in the printer. A barcode label carries the library's
name, the copy's barcode as Code 128 with the same text in human-readable form
below it, and the short title; a spine label the shelf mark, large, and the
short title. Bars are 0.33 mm wide (narrower only when a long barcode would not
fit), which every scanner reads; tests/test_labels.py renders each preset with
poppler and decodes every barcode with zxing.

Rendering blocks (CPU): callers run ``render`` in a thread.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import inch, mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

PAGES = {"A4": A4, "Letter": LETTER}
KINDS = ("both", "barcode", "spine")
BAR_WIDTH = 0.33 * mm
MIN_BAR_WIDTH = 0.19 * mm
FONT = "Helvetica"
BOLD = "Helvetica-Bold"


@dataclass(frozen=True)
class Sheet:
    """A grid of labels on a page; lengths in points (1/72 inch)."""

    name: str
    title: str
    page: str
    rows: int
    columns: int
    label_width: float
    label_height: float
    margin_top: float
    margin_left: float
    gap_x: float = 0.0
    gap_y: float = 0.0

    @property
    def per_page(self) -> int:
        return self.rows * self.columns

    @property
    def page_size(self) -> tuple[float, float]:
        return PAGES[self.page]

    def origin(self, position: int) -> tuple[float, float]:
        """The bottom-left corner of the label at ``position`` (0-based, row by row)."""
        row, column = divmod(position % self.per_page, self.columns)
        x = self.margin_left + column * (self.label_width + self.gap_x)
        top = self.page_size[1] - self.margin_top - row * (self.label_height + self.gap_y)
        return x, top - self.label_height


PRESETS = {
    sheet.name: sheet
    for sheet in (
        Sheet("a4-3x7", "A4, 3 × 7 (63.5 × 38.1 mm, like L7160)", "A4", 7, 3,
              63.5 * mm, 38.1 * mm, 15.15 * mm, 7.2 * mm, gap_x=2.5 * mm),
        Sheet("a4-3x8", "A4, 3 × 8 (63.5 × 33.9 mm, like L7159)", "A4", 8, 3,
              63.5 * mm, 33.9 * mm, 13.1 * mm, 6.5 * mm, gap_x=2.5 * mm),
        Sheet("letter-3x10", "US Letter, 3 × 10 (2⅝ × 1 in, like 5160)", "Letter", 10, 3,
              2.625 * inch, 1 * inch, 0.5 * inch, 0.1875 * inch, gap_x=0.125 * inch),
        Sheet("letter-2x10", "US Letter, 2 × 10 (4 × 1 in, like 5161)", "Letter", 10, 2,
              4 * inch, 1 * inch, 0.5 * inch, 0.15625 * inch, gap_x=0.1875 * inch),
    )
}  # fmt: skip
DEFAULT_SHEET = "a4-3x7"


def custom_sheet(
    page: str,
    rows: int,
    columns: int,
    margin_top_mm: float,
    margin_left_mm: float,
    gap_x_mm: float = 0.0,
    gap_y_mm: float = 0.0,
) -> Sheet:
    """A grid that fills the page inside equal margins; ``ValueError`` with a message if
    the numbers leave no room for a label."""
    if page not in PAGES:
        raise ValueError("Choose A4 or Letter.")
    if not (1 <= rows <= 40 and 1 <= columns <= 10):
        raise ValueError("A sheet has 1–40 rows and 1–10 columns.")
    width, height = PAGES[page]
    label_width = (width - 2 * margin_left_mm * mm - (columns - 1) * gap_x_mm * mm) / columns
    label_height = (height - 2 * margin_top_mm * mm - (rows - 1) * gap_y_mm * mm) / rows
    if label_width < 20 * mm or label_height < 10 * mm:
        raise ValueError("With these margins and gaps a label would be too small to print on.")
    return Sheet(
        "custom", f"{page}, {columns} × {rows} (custom)", page, rows, columns,
        label_width, label_height, margin_top_mm * mm, margin_left_mm * mm,
        gap_x_mm * mm, gap_y_mm * mm,
    )  # fmt: skip


@dataclass(frozen=True)
class Label:
    """What one label shows. ``barcode`` set: a barcode label; else a spine label."""

    shelf_mark: str | None
    title: str
    barcode: str | None = None


def labels_for(copies: Iterable, kind: str = "both") -> list[Label]:
    """The labels for copies (anything with barcode, title and shelf_mark), in order:
    for "both", each copy's barcode label and then its spine label."""
    if kind not in KINDS:
        raise ValueError(f"kind is one of {', '.join(KINDS)}")
    made = []
    for copy in copies:
        if kind in ("both", "barcode"):
            made.append(Label(copy.shelf_mark, copy.title, copy.barcode))
        if kind in ("both", "spine"):
            made.append(Label(copy.shelf_mark, copy.title))
    return made


def fit(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` points."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def draw_code128(
    canvas: Canvas, value: str, x_centre: float, y: float, width: float, height: float
) -> None:
    """A Code 128 symbol centred on ``x_centre`` with its quiet zones, at most ``width`` wide."""
    bar_width = BAR_WIDTH
    symbol = Code128(value, barWidth=bar_width, barHeight=height, humanReadable=False)
    if symbol.width > width:
        bar_width = max(MIN_BAR_WIDTH, bar_width * width / symbol.width)
        symbol = Code128(value, barWidth=bar_width, barHeight=height, humanReadable=False)
    symbol.drawOn(canvas, x_centre - symbol.width / 2, y)


def _barcode_label(canvas: Canvas, label: Label, x: float, y: float, sheet: Sheet, library: str):
    width, height = sheet.label_width, sheet.label_height
    pad = 2 * mm
    inner = width - 2 * pad
    centre = x + width / 2
    canvas.setFont(FONT, 6.5)
    canvas.drawCentredString(centre, y + height - pad - 5, fit(library, FONT, 6.5, inner))
    canvas.drawCentredString(centre, y + pad, fit(label.title, FONT, 6.5, inner))
    text_y = y + pad + 8
    canvas.setFont(BOLD, 9)
    canvas.drawCentredString(centre, text_y, label.barcode or "")
    bar_bottom = text_y + 10
    bar_height = max(6 * mm, min(14 * mm, y + height - pad - 9 - bar_bottom))
    draw_code128(canvas, label.barcode or "", centre, bar_bottom, width - 2 * mm, bar_height)


def _spine_label(canvas: Canvas, label: Label, x: float, y: float, sheet: Sheet):
    width, height = sheet.label_width, sheet.label_height
    pad = 2 * mm
    inner = width - 2 * pad
    centre = x + width / 2
    lines = (label.shelf_mark or "").split(" ", 1)
    size = min(16.0, (height - 14) / max(len(lines), 1) * 0.8)
    line_y = y + height - pad - size
    canvas.setFont(BOLD, size)
    for line in lines:
        canvas.drawCentredString(centre, line_y, fit(line, BOLD, size, inner))
        line_y -= size * 1.1
    canvas.setFont(FONT, 6.5)
    canvas.drawCentredString(centre, y + pad, fit(label.title, FONT, 6.5, inner))


def render(labels: Sequence[Label], sheet: Sheet, library: str, start: int = 1) -> bytes:
    """The PDF of ``labels`` laid on ``sheet`` from position ``start`` (1-based) of the
    first page."""
    if not 1 <= start <= sheet.per_page:
        raise ValueError(f"The start position is 1–{sheet.per_page} on this sheet.")
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=sheet.page_size, pageCompression=1)
    canvas.setTitle(f"{library}: labels")
    position = start - 1
    for index, label in enumerate(labels):
        if index and position % sheet.per_page == 0:
            canvas.showPage()
        x, y = sheet.origin(position)
        if label.barcode:
            _barcode_label(canvas, label, x, y, sheet, library)
        else:
            _spine_label(canvas, label, x, y, sheet)
        position += 1
    canvas.showPage()
    canvas.save()
    return out.getvalue()
