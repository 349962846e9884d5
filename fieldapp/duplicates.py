"""The on-device duplicate warning: before saving, compare with this tablet's records."""

from __future__ import annotations

from typing import Any

from forms import Form
from forms.households import HouseholdKey, Match, find_duplicates


def find_local_duplicates(
    store, form: Form, summary: dict[str, Any], record_id: str
) -> list[Match]:
    """Probable duplicates, among this form's local records, of the household whose
    `record_summary` (title, phone, site) is `summary`: the session has it already."""
    if not summary["title"]:
        return []
    new = HouseholdKey(record_id, summary["title"], summary["phone"], summary["site_id"])
    candidates = [
        HouseholdKey(row.record_id, row.title, row.phone, row.site_id)
        for row in store.household_candidates(form.form_id, site_id=new.site_id, phone=new.phone)
    ]
    return find_duplicates(new, candidates)
