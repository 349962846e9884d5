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


def extracted() -> list:
    """Every message marked in the app's code: _("..."), N_("...") (codes' messages, such
    as the server's error codes) and ngettext("...", "...", n) as (singular, plural)."""
    return [
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(FIELDAPP),
            method_map=[("**.py", "python")],
            keywords={"_": None, "N_": None, "ngettext": (1, 2)},
        )
    ]


def source_strings() -> set[str]:
    return {m for m in extracted() if isinstance(m, str)} | DYNAMIC


def catalogue() -> dict[str, str]:
    with i18n.catalogue_path("pt").open("rb") as po_file:
        return {m.id: m.string for m in read_po(po_file) if m.id and isinstance(m.id, str)}


def plural_catalogue() -> dict[str, tuple[str, ...]]:
    with i18n.catalogue_path("pt").open("rb") as po_file:
        return {m.id[0]: tuple(m.string) for m in read_po(po_file) if isinstance(m.id, tuple)}


def test_every_ui_string_has_a_portuguese_translation():
    translations = catalogue()
    missing = sorted(s for s in source_strings() if not translations.get(s))
    assert missing == []


def test_every_plural_has_both_portuguese_forms():
    plurals = [m for m in extracted() if isinstance(m, tuple)]
    assert plurals, "ngettext is used for counts"
    translations = plural_catalogue()
    missing = [
        m[0] for m in plurals if len(translations.get(m[0], ())) < 2 or not all(translations[m[0]])
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("count", "expected"), [(1, "1 rascunho"), (2, "2 rascunhos"), (0, "0 rascunhos")]
)
def test_counts_agree_in_portuguese(count, expected):
    i18n.set_language("pt")
    try:
        assert i18n.ngettext("{count} draft", "{count} drafts", count).format(count=count) == (
            expected
        )
    finally:
        i18n.set_language("en")


def test_numbers_and_times_in_the_ui_language_and_maputo_time(monkeypatch):
    monkeypatch.delenv("TZ", raising=False)
    i18n.set_language("pt")
    try:
        assert i18n.format_number(12.5) == "12,5"
        assert i18n.format_number(0.46, 1) == "0,5"
        assert i18n.format_moment("2026-11-30T01:19:37Z") == "30/11/26, 03:19"  # UTC+2
    finally:
        i18n.set_language("en")
    assert i18n.format_number(12.5) == "12.5"


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


def test_every_server_error_code_has_a_message_the_app_translates():
    """The server answers failures as codes (sync_server.problems.CATALOGUE); the tablet
    turns each into words in the UI language, never the server's English message."""
    from fieldapp.sync_messages import MESSAGES, describe
    from sync_core.transport import SyncError
    from sync_server.problems import CATALOGUE

    codes = {code for _status, code in CATALOGUE}
    assert sorted(codes - set(MESSAGES)) == []
    translations = catalogue()
    assert [c for c in codes if not translations.get(MESSAGES[c])] == []
    i18n.set_language("pt")
    try:
        text = describe(SyncError("Unknown token.", code="auth"))
        assert text.endswith("Os seus dados estão seguros neste tablet.")
        assert "Unknown token" not in text
    finally:
        i18n.set_language("en")
