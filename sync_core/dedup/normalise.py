"""How names and phone numbers get typed, undone: the keys the dedup engine compares.

Enumerators write the same head of household as "Mussá, Ana Maria", "ANA MUSA" or
"Maria Ana Mussa"; the same phone as "+258 84 123 4567" or "841234567". Three steps:

- ``fold``: no accents, lower case, letters only, single spaces ("Mussá," -> "mussa");
- ``name_tokens``: the folded words without particles ("da", "dos", "e");
- ``phonetic``: a key per word that ignores the spellings enumerators mix up in Zambezia:
  doubled letters (Mussa/Musa), silent or added h (Hassane/Assane, Muthemba/Mutemba),
  ch/sh/x (Chale/Shale), z/s (Tereza/Teresa), y/i, w/u, k/qu/c, ph/f, final o/u
  (Issufo/Issufu), plus the Arabic names written many ways (Momade/Mohamed/Muhammad).

Phones keep their last nine digits (a Mozambican mobile, 8X XXX XXXX) after the country
code: "+258 84 123 4567", "00258841234567" and "84 123 45 67" are all "841234567".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from forms.text import fold as text_fold

PARTICLES = frozenset({"da", "das", "de", "do", "dos", "e"})

# Names with many spellings that no letter rule joins: each maps to one spelling.
VARIANTS: dict[str, str] = {}
for _canonical, _spellings in {
    "momade": "momade mohamed mohammed mohamad muhammad muhamad mahomed mamade mahamade",
    "amade": "amade ahmad ahmed amad",
    "assane": "assane hassane hassan assan",
    "issufo": "issufo issufu yussuf yusuf iussufo",
    "abdul": "abdul abdula abdulla",
    "abdala": "abdala abdalla abdallah",
    "aly": "ali aly alli",
    "rachide": "rachide rashid rachid",
    "sumail": "sumail ismail ismael sumaili",
    "jose": "jose joze",
    "saide": "saide said saidi",
    "joao": "joao joam",
}.items():
    for _spelling in _spellings.split():
        VARIANTS[_spelling] = _canonical

_LETTERS = re.compile(r"[a-z]+")
_DOUBLE = re.compile(r"(.)\1+")
_VOWELS = "aeiou"


def fold(text: str | None) -> str:
    """Lower case, no accents, letters only, one space between words (the accent and case
    folding is forms.text's)."""
    return " ".join(_LETTERS.findall(text_fold(text or "")))


@lru_cache(maxsize=65536)
def name_tokens(text: str | None) -> tuple[str, ...]:
    """The words of a name, folded, in order, without particles: "Maria da Graça" ->
    ("maria", "graca")."""
    return tuple(word for word in fold(text).split() if word not in PARTICLES)


@lru_cache(maxsize=65536)
def phonetic(word: str) -> str:
    """A sound-alike key for one folded word: phonetic("mussa") == phonetic("musa")."""
    word = VARIANTS.get(word, word)
    for before, after in (
        ("ph", "f"),
        ("th", "t"),
        ("sh", "x"),
        ("ch", "x"),
        ("qu", "k"),
        ("ck", "k"),
        ("y", "i"),
        ("w", "u"),
        ("z", "s"),
        ("ce", "se"),
        ("ci", "si"),
        ("c", "k"),
        ("nh", "N"),
        ("lh", "L"),
    ):
        word = word.replace(before, after)
    # A remaining h is silent in Portuguese spelling: Hassane/Assane, Muhala/Muala.
    word = word.replace("h", "")
    word = _DOUBLE.sub(r"\1", word)
    if word.endswith("u") and len(word) > 2 and word[-2] not in _VOWELS:
        word = word[:-1] + "o"
    return word


def name_key(tokens: Sequence[str]) -> str:
    """The order-free phonetic key of a whole name: "Ana Musa" and "Mussa, Ana" agree."""
    return " ".join(sorted(phonetic(token) for token in tokens))


def normalise_phone(phone: str | None) -> str:
    """The last nine digits: "+258 84 123 4567" and "841234567" are the same number.

    Fewer than nine digits is no usable number: "" (a missing phone, not a mismatch).
    """
    digits = re.sub(r"\D", "", phone or "")
    return digits[-9:] if len(digits) >= 9 else ""
