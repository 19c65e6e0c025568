"""The stylesheet's colour pairs meet WCAG 2.2 AA contrast in both colour schemes.

axe-core checks the pages the browser tests open; this checks every pair the
stylesheet's classes can put together, including states no demo page shows yet
(overdue, due soon, danger buttons).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "shelfmark.css"
TEXT = 4.5  # WCAG 1.4.3, normal-size text
NON_TEXT = 3.0  # WCAG 1.4.11, control borders and focus rings

TEXT_PAIRS = [
    ("text", "bg"),
    ("text", "surface"),
    ("text", "surface-2"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("muted", "surface-2"),
    ("link", "bg"),
    ("link", "surface"),
    ("link", "surface-2"),
    ("on-accent", "accent"),
    ("on-accent", "accent-hover"),
    ("on-danger", "danger-strong"),
    ("on-danger", "danger-strong-hover"),
    ("success-text", "success-bg"),
    ("warn-text", "warn-bg"),
    ("danger-text", "danger-bg"),
    ("danger-text", "bg"),
    ("danger-text", "surface"),
    ("warn-text", "bg"),
    ("warn-text", "surface"),
    ("none-text", "none-bg"),
    ("mark-text", "mark-bg"),
    ("text", "info-bg"),
    ("text", "success-bg"),
    ("text", "danger-bg"),
]
NON_TEXT_PAIRS = [
    ("border", "bg"),
    ("border", "surface"),
    ("focus", "bg"),
    ("focus", "surface"),
    ("accent", "bg"),
    ("accent", "surface"),
]


def _tokens(block: str) -> dict[str, str]:
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\b", block))


def colour_schemes() -> dict[str, dict[str, str]]:
    css = STYLESHEET.read_text(encoding="utf-8")
    light = _tokens(re.search(r":root\s*{(.*?)}", css, re.DOTALL).group(1))
    dark_block = re.search(
        r"@media \(prefers-color-scheme: dark\)\s*{\s*:root\s*{(.*?)}", css, re.DOTALL
    ).group(1)
    return {"light": light, "dark": {**light, **_tokens(dark_block)}}


def relative_luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_is_computed_as_wcag_defines_it():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_colour_pair_meets_aa(scheme):
    tokens = colour_schemes()[scheme]
    failing = {
        f"{fg} on {bg}": round(contrast(tokens[fg], tokens[bg]), 2)
        for fg, bg in TEXT_PAIRS
        if contrast(tokens[fg], tokens[bg]) < TEXT
    }
    assert failing == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_control_borders_and_focus_rings_stand_out(scheme):
    tokens = colour_schemes()[scheme]
    failing = {
        f"{fg} on {bg}": round(contrast(tokens[fg], tokens[bg]), 2)
        for fg, bg in NON_TEXT_PAIRS
        if contrast(tokens[fg], tokens[bg]) < NON_TEXT
    }
    assert failing == {}
