"""Household ids: made on the tablet, printed on the household card, checked everywhere.

A household id looks like ``7K2M9-QX4PR-3``: ten random characters and one check character
in Crockford's base 32 (digits and capitals without I, L, O and U, so that nothing reads as
another character), grouped for reading aloud.

- **Unique without coordination.** A tablet that never met the server makes ids alone: ten
  random characters are 50 bits, so among a million households the chance that any two share
  an id is about 1 in 2 000 (n² / 2⁵¹). A device prefix plus counter would be shorter but
  needs the device id before enrollment and leaks which tablet registered the family.
- **A typing mistake is caught.** The check character is Luhn mod 32 over the ten
  characters: every single wrong character is detected, and every swap of two neighbours
  except 0 and Z (Luhn's one blind spot, as 09/90 for card numbers).
- **Forgiving input.** Reading an id from a card, people drop the dashes, type lower case,
  or read O as 0 and I or L as 1; `normalise` accepts all of that (Crockford's decoding).

Pure functions; `secrets` for the randomness, so the ids are not guessable in sequence.
"""

from __future__ import annotations

import random
import re
import secrets

__all__ = [
    "ALPHABET",
    "HouseholdIdError",
    "check_character",
    "is_valid",
    "new_household_id",
    "normalise",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
# Crockford's decoding of look-alikes.
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
BODY_LENGTH = 10
GROUP = 5
# The same shape as a regex, for the form's constraint column.
PATTERN = re.compile(rf"[{ALPHABET}]{{{GROUP}}}-[{ALPHABET}]{{{GROUP}}}-[{ALPHABET}]")


class HouseholdIdError(ValueError):
    """A household id that is not one: the message says what is wrong with it."""


def check_character(body: str) -> str:
    """Luhn mod 32 check character of `body` (characters of ALPHABET)."""
    total = 0
    factor = 2
    for char in reversed(body):
        addend = factor * _VALUE[char]
        total += addend // 32 + addend % 32
        factor = 1 if factor == 2 else 2
    return ALPHABET[(32 - total % 32) % 32]


def _format(body: str) -> str:
    return f"{body[:GROUP]}-{body[GROUP:]}-{check_character(body)}"


def new_household_id(rng: random.Random | None = None) -> str:
    """A fresh random household id such as ``7K2M9-QX4PR-3``.

    `rng` only for reproducible sample data; real ids come from `secrets`."""
    choice = rng.choice if rng is not None else secrets.choice
    return _format("".join(choice(ALPHABET) for _ in range(BODY_LENGTH)))


def normalise(text: str) -> str:
    """The canonical spelling of a typed or scanned id; HouseholdIdError when it is not one.

    Case, spaces and dashes don't matter, and O, I, L count as 0, 1, 1.
    """
    raw = re.sub(r"[\s\-_.]", "", str(text)).upper().translate(_ALIASES)
    if not raw:
        raise HouseholdIdError("the household id is empty")
    wrong = sorted({c for c in raw if c not in _VALUE})
    if wrong:
        raise HouseholdIdError(
            f"the household id {text!r} has characters that are never used: {''.join(wrong)}"
        )
    if len(raw) != BODY_LENGTH + 1:
        raise HouseholdIdError(
            f"the household id {text!r} has {len(raw)} characters; it needs "
            f"{BODY_LENGTH + 1} (like 7K2M9-QX4PR-3)"
        )
    body, check = raw[:BODY_LENGTH], raw[BODY_LENGTH]
    if check_character(body) != check:
        raise HouseholdIdError(
            f"the household id {text!r} is mistyped: its last character does not match "
            "(check the card again)"
        )
    return _format(body)


def is_valid(text: str) -> bool:
    """True when `text` is a household id spelt exactly canonically (as forms store it)."""
    try:
        return normalise(text) == text
    except HouseholdIdError:
        return False
