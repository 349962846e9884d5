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


def N_(message: str) -> str:
    """Mark a string for translation where it is defined; `_()` translates it when shown."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for `count`, in the UI language ("1 rascunho")."""
    return _current.ngettext(singular, plural, count)


# Numbers, dates and times in the UI language's conventions (12,5 in Portuguese) and in
# the device's time zone: Mozambique's unless the tablet says otherwise.
BABEL_LOCALES = {"pt": "pt_MZ", "en": "en_GB"}
DEFAULT_TIME_ZONE = "Africa/Maputo"


def babel_locale() -> str:
    return BABEL_LOCALES.get(_language, "en_GB")


def format_number(value: float | int, decimals: int | None = None) -> str:
    """12.5 -> "12,5" in Portuguese; `decimals` fixes the digits after the separator."""
    from babel.numbers import format_decimal

    if decimals is None:
        return format_decimal(value, locale=babel_locale())
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=babel_locale())


def time_zone():
    """The device's time zone: $TZ when it names one, else Africa/Maputo."""
    import os
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(os.environ.get("TZ") or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def format_moment(iso_utc: str) -> str:
    """'2026-11-30T01:19:37Z' -> '30/11/2026, 03:19' (pt, Maputo time), or the text as is."""
    import datetime as dt

    from babel.dates import format_datetime

    try:
        moment = dt.datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    except ValueError:
        return iso_utc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return format_datetime(moment, "short", tzinfo=time_zone(), locale=babel_locale())
