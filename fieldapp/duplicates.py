"""The on-device duplicate warning: before saving, compare with this tablet's records.

The same engine as the server (sync_core.dedup), over the households this tablet holds:
the head's names, sex and age, phone, site, origin, dates, GPS, household size and the
members' ages and sexes, scored with the shipped model (`Model.default()`). A tablet holds
at most a few thousand households, so reading them all costs a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fieldapp.i18n import _
from forms import Form
from forms.validation import HOUSEHOLD_ID
from sync_core.dedup import Household, Model, ScoredPair, household_from_answers, score_new

MAX_RECORDS = 20_000  # households read from the tablet for one check


@dataclass(frozen=True)
class Match:
    """A household on this tablet that is probably the one being saved."""

    record_id: str
    title: str
    score: float
    reason: str  # what agrees, in the UI language: "same phone, same members' ages"


def _reason(pair: ScoredPair) -> str:
    """The few agreements an enumerator can check on the spot, in the UI language."""
    agree = set(pair.agreements)
    parts = []
    if "phone" in agree:
        parts.append(_("same phone"))
    if "members" in agree:
        parts.append(_("same members' ages"))
    if {"given", "family"} <= agree:
        parts.append(_("same name"))
    elif pair.levels.get("given") != "different" or pair.levels.get("family") == "same":
        parts.append(_("similar name"))
    if "site" in agree:
        parts.append(_("same site"))
    return ", ".join(parts[:3])


def find_local_duplicates(
    store, form: Form, summary: dict[str, Any], record_id: str
) -> list[Match]:
    """Probable duplicates, among this form's finalized or sent records on the tablet, of
    the household being saved (`record_id`, whose `record_summary` is `summary`)."""
    if not summary["title"]:
        return []
    answers = store.draft(record_id).answers
    new = household_from_answers(record_id, answers)
    rows = [
        row
        for row in store.records(
            form.form_id, state=("finalized", "sent"), limit=MAX_RECORDS, newest_first=True
        )
        if row.record_id != record_id
    ]
    titles = {row.record_id: row.title for row in rows}
    # An update (or re-registration) of a household carries its id: its earlier
    # registrations are the same family on purpose, not a duplicate. A "new" one is
    # compared with everything, whatever its id.
    household_id = answers.get(HOUSEHOLD_ID) if answers.get("registration_type") in (
        "update", "re_registration") else None  # fmt: skip
    candidates: list[Household] = []
    for row in rows:
        earlier = store.draft(row.record_id).answers
        if household_id and earlier.get(HOUSEHOLD_ID) == household_id:
            continue
        candidates.append(household_from_answers(row.record_id, earlier))
    return [
        Match(pair.record_id_2, titles[pair.record_id_2], pair.score, _reason(pair))
        for pair in score_new(new, candidates, _model(), population=len(candidates) + 1)
    ]


_MODEL: list[Model] = []


def _model() -> Model:
    if not _MODEL:
        _MODEL.append(Model.default())
    return _MODEL[0]
