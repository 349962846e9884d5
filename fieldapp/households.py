"""Households on the tablet: a new registration's id, finding one by its card, an update.

The life of a household id (`forms.household_id`):

1. A new household registration gets a fresh id when its draft is created
   (`FormSession` fills `household_id`, as it fills ODK metadata); the enumerator writes it
   on the household card or shows its QR (the household screen).
2. Later (a birth, a death, a departure) the enumerator types or scans the id from the card;
   `find_registration` finds the household's latest registration in this tablet's store
   (made here or pulled from the server), and `update_answers` pre-fills a new record from
   it with the same id and the chosen registration type. Consent is asked again, and the
   date is today's.
3. The server checks the id's check character (`forms.validation`) and files the new
   record with the same household id, so registrations of one household link up.

Pure logic over the store's facade: no Kivy, no SQL.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from forms.household_id import HouseholdIdError, new_household_id, normalise
from forms.model import Form
from forms.validation import HOUSEHOLD_ID

REGISTRATION_FORM = "household_registration"
REGISTRATION_TYPE = "registration_type"
UPDATE_TYPES = ("update", "re_registration")
APP_FILLED = (HOUSEHOLD_ID, REGISTRATION_TYPE)  # kept in a draft even before consent
# Asked again at every registration: consent is given for this interview, not forever.
ASKED_AGAIN = ("consent_informed", "consent_by", "consent_given", "consent_recontact",
               "consent_share", "registration_date", "enumerator")  # fmt: skip

__all__ = [
    "HouseholdIdError",
    "Registration",
    "find_registration",
    "has_household_id",
    "new_household_answers",
    "update_answers",
]


@dataclass(frozen=True)
class Registration:
    """A household's latest registration on this tablet."""

    household_id: str
    record_id: str
    answers: dict[str, Any]
    registrations: int  # how many records carry this id here

    @property
    def site_id(self) -> str:
        return str(self.answers.get("site_id") or "")

    @property
    def registered_on(self) -> str:
        return str(self.answers.get("registration_date") or "")

    @property
    def size(self) -> int:
        return len(self.answers.get("members") or [])


def has_household_id(form: Form) -> bool:
    """Whether the form registers households by id (a top-level `household_id`)."""
    return form.has_node(HOUSEHOLD_ID) and not form.node(HOUSEHOLD_ID).repeat_path


def new_household_answers(form: Form) -> dict[str, Any]:
    """What a new draft of the form starts with: a fresh household id and the type "new",
    if it has them (both are read-only: updates start from the household card screen)."""
    answers: dict[str, Any] = {}
    if has_household_id(form):
        answers[HOUSEHOLD_ID] = new_household_id()
        if form.has_node(REGISTRATION_TYPE):
            answers[REGISTRATION_TYPE] = "new"
    return answers


def find_registration(store: Any, typed: str) -> Registration | None:
    """The latest registration of the household whose card says `typed` (spaces, dashes,
    case and O/I/L typos forgiven); None when this tablet has none. HouseholdIdError
    when `typed` is not a household id (a mistyped character is caught here)."""
    household_id = normalise(typed)
    found = store.records_with_answer(REGISTRATION_FORM, HOUSEHOLD_ID, household_id)
    if not found:
        return None
    latest = found[0]
    return Registration(household_id, latest["record_id"], latest["answers"], len(found))


def update_answers(
    earlier: Registration, registration_type: str, today: dt.date | None = None
) -> dict[str, Any]:
    """A new registration pre-filled from the earlier one: same household id, the chosen
    type, today's date; consent and the enumerator are asked again."""
    if registration_type not in UPDATE_TYPES:
        raise ValueError(f"registration type {registration_type!r} is not one of {UPDATE_TYPES}")
    answers = copy.deepcopy(earlier.answers)
    for name in ASKED_AGAIN:
        answers.pop(name, None)
    answers[HOUSEHOLD_ID] = earlier.household_id
    answers[REGISTRATION_TYPE] = registration_type
    answers["registration_date"] = (today or dt.date.today()).isoformat()
    return answers
