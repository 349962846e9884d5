"""The on-device duplicate warning: before saving, compare with this tablet's records."""

from __future__ import annotations

from typing import Any

from forms import Form
from forms.households import HouseholdKey, Match, find_duplicates
from forms.validation import validate_record


def find_local_duplicates(
    store, form: Form, answers: dict[str, Any], record_id: str
) -> list[Match]:
    """Probable duplicates of the household in `answers` among this form's local records."""
    from fieldapp.session import record_summary

    summary = record_summary(form, validate_record(form, answers))
    if not summary["title"]:
        return []
    new = HouseholdKey(record_id, summary["title"], summary["phone"], summary["site_id"])
    candidates = [
        HouseholdKey(row.record_id, row.title, row.phone, row.site_id)
        for row in store.household_candidates(form.form_id, site_id=new.site_id, phone=new.phone)
    ]
    return find_duplicates(new, candidates)
