"""Every printed barcode scans: label sheets and library cards rendered by poppler
(pdftoppm, Debian's poppler-utils) and read back by a real barcode reader (zxing-cpp).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest
import zxingcpp
from PIL import Image

from webapp import labels, library_cards, shelf_marks
from webapp.cli import main
from webapp.models.cataloguing import CardHolder, LabelItem

from .conftest import log_in


def scanned(pdf: Path, dpi: int = 200) -> list[str]:
    """The text of every barcode on every page of ``pdf``, page by page, as a scanner reads it
    (200 dpi is coarser than any label printer)."""
    assert shutil.which("pdftoppm"), "the label tests need pdftoppm: apt-get install poppler-utils"
    prefix = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(prefix)], check=True)
    found = []
    for page in sorted(pdf.parent.glob(f"{prefix.name}-*.png")):
        with Image.open(page) as image:
            found += [
                result.text
                for result in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
            ]
    return found


def items(count: int) -> list[LabelItem]:
    return [
        LabelItem(n, f"SM{n:06d}", f"A rather long title for copy number {n}", "Author", "FIC ROW")
        for n in range(1, count + 1)
    ]


@pytest.mark.parametrize("name", sorted(labels.PRESETS))
def test_every_barcode_label_of_every_preset_scans(tmp_path, name):
    sheet = labels.PRESETS[name]
    copies = items(sheet.per_page + 2)  # a second page too
    pdf = tmp_path / f"{name}.pdf"
    pdf.write_bytes(
        labels.render(labels.labels_for(copies, "both"), sheet, "St Mary's Library", start=4)
    )
    assert sorted(scanned(pdf)) == sorted(copy.barcode for copy in copies)


def test_a_custom_sheet_started_half_way_scans_too(tmp_path):
    sheet = labels.custom_sheet("Letter", rows=8, columns=2, margin_top_mm=12, margin_left_mm=8,
                                gap_x_mm=4, gap_y_mm=2)  # fmt: skip
    copies = items(9)
    pdf = tmp_path / "custom.pdf"
    pdf.write_bytes(labels.render(labels.labels_for(copies, "barcode"), sheet, "L", start=11))
    assert sorted(scanned(pdf)) == sorted(copy.barcode for copy in copies)


def test_a_long_barcode_is_narrowed_to_fit_and_still_scans(tmp_path):
    copy = LabelItem(1, "LIBRARY-2026-0000000123456", "T", "A", None)
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(
        labels.render(labels.labels_for([copy], "barcode"), labels.PRESETS["a4-3x8"], "L")
    )
    # Bars narrower than 0.33 mm need a printer's resolution: 300 dpi, the least of any.
    assert scanned(pdf, dpi=300) == [copy.barcode]


def test_impossible_sheets_and_start_positions_are_refused_with_a_message():
    with pytest.raises(ValueError, match="too small"):
        labels.custom_sheet("A4", rows=40, columns=10, margin_top_mm=10, margin_left_mm=10)
    with pytest.raises(ValueError, match="start position"):
        labels.render([], labels.PRESETS["a4-3x7"], "L", start=22)


def test_library_cards_scan_and_ten_fit_a_page(tmp_path):
    holders = [CardHolder(n, f"Pupil {n}", "7B", f"C{n:05d}") for n in range(1, 13)]
    holders.append(CardHolder(99, "Zoë", "7B", "CARTE-É"))  # Code 128 cannot carry it
    pdf = tmp_path / "cards.pdf"
    pdf.write_bytes(library_cards.render(holders, "St Mary's Library"))
    assert sorted(scanned(pdf)) == sorted(h.card_number for h in holders[:-1])
    assert len(list(tmp_path.glob("cards-*.png"))) == 2


def test_shelf_marks_sort_in_shelf_order_as_plain_text():
    typed = ["fic row", "823.914 tol", "5.133 lov", "523.1 haw", "REF ATL", "92 MAN"]
    kept = sorted(shelf_marks.normalise(mark) for mark in typed)
    assert kept == ["005.133 LOV", "092 MAN", "523.1 HAW", "823.914 TOL", "FIC ROW", "REF ATL"]
    with pytest.raises(ValueError, match="shelf mark"):
        shelf_marks.normalise("<b>FIC</b>")


# --- the print queue and the command line -------------------------------------------


def queued_barcodes(database: Path) -> list[str]:
    conn = sqlite3.connect(database)
    rows = conn.execute(
        "SELECT c.Barcode FROM LabelQueue q JOIN Copies c ON c.CopyID = q.CopyID"
    ).fetchall()
    conn.close()
    return sorted(row[0] for row in rows)


def test_the_cli_prints_the_queue_which_then_empties(demo_copy, tmp_path, capsys):
    queued = queued_barcodes(demo_copy)
    assert queued, "new copies join the print queue"
    pdf = tmp_path / "queue.pdf"
    code = main(["--database", str(demo_copy), "labels", "--queue", "--sheet", "letter-3x10",
                 "--output", str(pdf)])  # fmt: skip
    assert code == 0
    assert f"labels for {len(queued)} copies" in capsys.readouterr().out
    assert sorted(scanned(pdf)) == queued
    assert queued_barcodes(demo_copy) == []
    assert main(["--database", str(demo_copy), "labels", "--queue", "--output", str(pdf)]) == 1


def test_the_cli_prints_chosen_barcodes_and_refuses_unknown_ones(demo_copy, tmp_path, capsys):
    chosen = queued_barcodes(demo_copy)[:3]
    pdf = tmp_path / "chosen.pdf"
    assert main(["--database", str(demo_copy), "labels", "--barcodes", ",".join(chosen),
                 "--output", str(pdf)]) == 0  # fmt: skip
    assert sorted(scanned(pdf)) == chosen
    assert main(["--database", str(demo_copy), "labels", "--barcodes", "NOPE1",
                 "--output", str(tmp_path / "x.pdf")]) == 1  # fmt: skip
    assert "NOPE1" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()
    assert main(["--database", str(demo_copy), "labels", "--queue", "--sheet", "a5-1x1",
                 "--output", str(pdf)]) == 2  # fmt: skip


def test_the_cli_prints_a_class_of_library_cards(demo_copy, tmp_path):
    conn = sqlite3.connect(demo_copy)
    (group,) = conn.execute(
        "SELECT GroupName FROM Users WHERE GroupName IS NOT NULL AND CardNumber IS NOT NULL "
        "AND Active = 1 GROUP BY GroupName ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    cards = sorted(row[0] for row in conn.execute(
        "SELECT CardNumber FROM Users WHERE GroupName = ? AND Active = 1 AND CardNumber IS NOT NULL",
        (group,),
    ))  # fmt: skip
    conn.close()
    pdf = tmp_path / "cards.pdf"
    assert (
        main(["--database", str(demo_copy), "cards", "--group", group, "--output", str(pdf)]) == 0
    )
    assert sorted(scanned(pdf)) == cards
    assert main(["--database", str(demo_copy), "cards", "--group", "No such class",
                 "--output", str(tmp_path / "none.pdf")]) == 1  # fmt: skip


async def test_print_labels_on_the_web_takes_the_queue_or_the_ticked_copies(
    app, settings, tmp_path
):
    client = app.test_client()
    token = await log_in(client, "bob@example.com")
    queued = queued_barcodes(settings.database)
    page = await (await client.get("/labels")).get_data(as_text=True)
    assert f"Print queue ({len(queued)})" in page
    conn = sqlite3.connect(settings.database)
    ticked = [row[0] for row in conn.execute("SELECT CopyID FROM LabelQueue LIMIT 2")]
    ticked_codes = sorted(
        conn.execute("SELECT Barcode FROM Copies WHERE CopyID = ?", (copy_id,)).fetchone()[0]
        for copy_id in ticked
    )
    conn.close()
    response = await client.post(
        "/labels/print",
        data=urlencode(
            [("csrf_token", token), ("sheet", "a4-3x8"), ("kind", "barcode"), ("start", "5")]
            + [("copy", str(copy_id)) for copy_id in ticked]
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    pdf = tmp_path / "ticked.pdf"
    pdf.write_bytes(await response.get_data())
    assert sorted(scanned(pdf)) == ticked_codes
    rest = queued_barcodes(settings.database)
    assert rest == sorted(set(queued) - set(ticked_codes))
    response = await client.post(
        "/labels/print", form={"csrf_token": token, "sheet": "custom", "rows": "6", "columns": "2"}
    )
    pdf = tmp_path / "queue.pdf"
    pdf.write_bytes(await response.get_data())
    assert sorted(scanned(pdf)) == rest
    assert queued_barcodes(settings.database) == []


async def test_a_bad_label_form_is_a_422_with_messages(app):
    client = app.test_client()
    token = await log_in(client, "bob@example.com")
    response = await client.post(
        "/labels/print",
        form={"csrf_token": token, "sheet": "custom", "rows": "lots", "barcodes": "NOPE1"},
    )
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert "Type a number from 1 to 40." in page
    assert "No copy has the barcode NOPE1." in page


async def test_library_cards_from_the_patrons_page(app, settings, tmp_path):
    client = app.test_client()
    await log_in(client, "bob@example.com")
    assert 'action="/patrons/cards.pdf"' in await (await client.get("/patrons")).get_data(
        as_text=True
    )
    conn = sqlite3.connect(settings.database)
    user_id, card = conn.execute(
        "SELECT UserID, CardNumber FROM Users WHERE CardNumber IS NOT NULL AND Active = 1 LIMIT 1"
    ).fetchone()
    conn.close()
    response = await client.get(f"/patrons/{user_id}/card.pdf")
    assert response.headers["Content-Type"] == "application/pdf"
    pdf = tmp_path / "card.pdf"
    pdf.write_bytes(await response.get_data())
    assert scanned(pdf) == [card]
    assert (await client.get("/patrons/cards.pdf?group=No+such+class")).status_code == 404


async def test_the_queue_can_be_emptied_without_printing(app, settings):
    client = app.test_client()
    token = await log_in(client, "bob@example.com")
    assert queued_barcodes(settings.database)
    response = await client.post("/labels/clear", form={"csrf_token": token})
    assert response.status_code == 303
    assert queued_barcodes(settings.database) == []
    page = await (await client.get("/labels")).get_data(as_text=True)
    assert "The queue is empty" in page
