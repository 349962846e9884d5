"""Accent and case folding: the one home of "João" matching "joao".

Enumerators type names without accents on a tablet keyboard, and the same name is spelt
"Mussá" and "Mussa" in different registers; searches and duplicate checks compare folded
text. Layer 0: no Kivy, HTTP or SQL.
"""

from __future__ import annotations

import unicodedata

__all__ = ["fold", "strip_accents"]


def strip_accents(text: str) -> str:
    """`"Mussá Ção"` -> `"Mussa Cao"`: letters without their combining marks (NFKD)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def fold(text: str) -> str:
    """Fold case and accents and squeeze spaces: `"  João  Sitoe"` -> `"joao sitoe"`."""
    return " ".join(strip_accents(text).casefold().split())
