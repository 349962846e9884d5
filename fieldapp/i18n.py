"""UI strings in Portuguese and English, from gettext catalogues (babel).

The source strings in the code are English; `locale/pt/LC_MESSAGES/fieldapp.po` holds the
Portuguese. The catalogue is compiled in memory when the language is chosen, so a field
team can fix a translation by editing the .po file alone.

    from fieldapp.i18n import _, set_language
    set_language("pt")
    _("Next")  # "Seguinte"
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "fieldapp"
LANGUAGES = {"pt": "Português", "en": "English"}
DEFAULT_LANGUAGE = "pt"

_current: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue for `language`; English (the source) needs none."""
    path = catalogue_path(language)
    if language == "en" or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def set_language(language: str) -> None:
    global _current, _language
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; choose one of {sorted(LANGUAGES)}")
    _current = load_translations(language)
    _language = language


def current_language() -> str:
    return _language


def _(message: str) -> str:
    return _current.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return _current.ngettext(singular, plural, count)
