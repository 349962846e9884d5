"""Text is legible in the sun: contrast measured from the theme's colours (WCAG 2.x)."""

from __future__ import annotations

import pytest

from fieldapp.screens.theme import (
    ERROR_COLOUR,
    HINT_COLOUR,
    PAGE_BACKGROUND,
    TEXT_COLOUR,
    WARNING_COLOUR,
)

pytestmark = pytest.mark.unit

PAGE = PAGE_BACKGROUND  # Window.clearcolor and the Page background


def luminance(colour) -> float:
    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground, background) -> float:
    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_formula_matches_wcag_examples():
    assert contrast((0, 0, 0), (1, 1, 1)) == pytest.approx(21)
    assert contrast((0.4667, 0.4667, 0.4667), (1, 1, 1)) == pytest.approx(4.48, abs=0.02)


@pytest.mark.parametrize("name", ["HINT_COLOUR", "TEXT_COLOUR", "ERROR_COLOUR", "WARNING_COLOUR"])
def test_every_text_colour_reads_at_least_4_5_to_1_on_the_page(name):
    colour = {
        "HINT_COLOUR": HINT_COLOUR,
        "TEXT_COLOUR": TEXT_COLOUR,
        "ERROR_COLOUR": ERROR_COLOUR,
        "WARNING_COLOUR": WARNING_COLOUR,
    }[name]
    assert contrast(colour, PAGE) >= 4.5


def test_no_kv_file_spells_a_colour_out():
    """One home for the look: .kv rules name theme colours (`theme.TEXT_COLOUR`), never
    numbers, so a colour changed in theme.py changes everywhere."""
    import re
    from pathlib import Path

    import fieldapp.screens.theme

    spelled = re.compile(r"^\s*(rgba|color|background_color)\s*:.*\d\.\d", re.MULTILINE)
    folder = Path(fieldapp.screens.theme.__file__).parent
    found = {kv.name: spelled.findall(kv.read_text("utf-8")) for kv in sorted(folder.glob("*.kv"))}
    assert {name: lines for name, lines in found.items() if lines} == {}
