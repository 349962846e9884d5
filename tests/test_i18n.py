"""The UI speaks Portuguese and English: every string in the code has a Portuguese translation."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from fieldapp import i18n

pytestmark = pytest.mark.unit

FIELDAPP = Path(i18n.__file__).parent
# Strings passed to _() through a variable, which extraction can't see.
DYNAMIC = {"Today", "Now", "green", "amber", "red", "needs attention"}


def source_strings() -> set[str]:
    found = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(FIELDAPP), method_map=[("**.py", "python")], keywords={"_": None, "N_": None}
        )
    }
    return {m for m in found if isinstance(m, str)} | DYNAMIC


def catalogue() -> dict[str, str]:
    with i18n.catalogue_path("pt").open("rb") as po_file:
        return {m.id: m.string for m in read_po(po_file) if m.id}


def test_every_ui_string_has_a_portuguese_translation():
    translations = catalogue()
    missing = sorted(s for s in source_strings() if not translations.get(s))
    assert missing == []


def placeholders(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def test_translations_keep_every_placeholder():
    for source, translated in catalogue().items():
        assert placeholders(source) == placeholders(translated), source


def test_switching_language_changes_the_strings():
    i18n.set_language("pt")
    assert i18n._("Next") == "Seguinte"
    assert i18n._("Screen {position} of {total}").format(position=2, total=9) == "Ecrã 2 de 9"
    i18n.set_language("en")
    assert i18n._("Next") == "Next"
    with pytest.raises(ValueError, match=re.escape("unsupported language 'fr'")):
        i18n.set_language("fr")
    i18n.set_language("pt")
