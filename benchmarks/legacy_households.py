"""The tablet's duplicate check before issue 14, kept unchanged as the benchmark's baseline.

Enumerators spell the same name differently ("Muthemba"/"Mutemba", "Ana Maria"/"Maria
Ana", accents or not). A registration is a *probable duplicate* of another when the head's
name is close AND they share a phone number or a site: a close name alone is common
(many Anas at one school), and sharing a site alone means nothing.

Pure functions: the tablet uses them to warn before saving, the server to flag pairs for a
coordinator's review.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

NAME_THRESHOLD = 0.85


@dataclass(frozen=True)
class HouseholdKey:
    """What identifies a household for matching."""

    record_id: str
    head_name: str
    phone: str | None = None
    site_id: str | None = None


@dataclass(frozen=True)
class Match:
    record_id: str
    title: str
    score: float
    reason: str  # "same phone" / "same site"


def normalise_name(name: str) -> str:
    """Lower case, no accents or punctuation, words sorted: "Mussá, Ana" -> "ana mussa"."""
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    words = re.findall(r"[a-z]+", text)
    return " ".join(sorted(words))


def normalise_phone(phone: str | None) -> str:
    """The last nine digits: "+258 84 123 4567" and "841234567" are the same number."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[-9:]


def name_similarity(a: str, b: str) -> float:
    """0..1: how alike two people's names are, ignoring word order, case and accents."""
    left, right = normalise_name(a), normalise_name(b)
    if not left or not right:
        return 0.0
    return SequenceMatcher(None, left, right).ratio()


def probable_duplicate(new: HouseholdKey, existing: HouseholdKey) -> Match | None:
    """A Match when `existing` is probably the household `new` describes again."""
    if new.record_id == existing.record_id:
        return None
    score = name_similarity(new.head_name, existing.head_name)
    if score < NAME_THRESHOLD:
        return None
    same_phone = bool(normalise_phone(new.phone)) and (
        normalise_phone(new.phone) == normalise_phone(existing.phone)
    )
    same_site = bool(new.site_id) and new.site_id == existing.site_id
    if not (same_phone or same_site):
        return None
    reason = "same phone" if same_phone else "same site"
    return Match(existing.record_id, existing.head_name, round(score, 3), reason)


def find_duplicates(new: HouseholdKey, candidates: list[HouseholdKey]) -> list[Match]:
    """Every probable duplicate of `new`, best first."""
    matches = [m for c in candidates if (m := probable_duplicate(new, c)) is not None]
    return sorted(matches, key=lambda match: match.score, reverse=True)
