"""The tablet's warning before saving a probable duplicate household: the same engine as the
server (sync_core.dedup, tested in tests/test_dedup.py) over this tablet's own records."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from fieldapp.catalog import FormCatalog
from fieldapp.duplicates import find_local_duplicates
from fieldapp.session import FormSession
from fieldapp.store import Store
from forms.samples import sample_household

pytestmark = pytest.mark.unit


@pytest.fixture
def tablet(tmp_path):
    store = Store(tmp_path / "fieldapp.db")
    catalog = FormCatalog(store, tmp_path / "forms")
    catalog.install_bundled()
    yield store, catalog.newest("household_registration")
    store.close()


def register(store, form, answers, *, confirm=False):
    record_id = store.create_draft(form.form_id, form.version, answers)
    session = FormSession(
        form,
        store,
        record_id,
        clock=lambda: dt.datetime(2026, 11, 24, 9),
        duplicate_finder=lambda f, a, rid: find_local_duplicates(store, f, a, rid),
    )
    return session.finalize(confirm_duplicates=confirm)


def others_at_the_site(store, form, site_id: str) -> None:
    for seed in range(20, 26):
        assert register(store, form, sample_household(seed=seed, members=4, site_id=site_id))


def test_registering_the_same_family_twice_warns_before_saving(tablet):
    store, form = tablet
    first = sample_household(seed=1, members=5)
    assert register(store, form, first).finalized
    others_at_the_site(store, form, first["site_id"])

    # Another enumerator, the next day: the head's name typed differently.
    again = copy.deepcopy(first)
    again["hh_head_given_name"] = first["hh_head_given_name"].upper()
    again["hh_head_family_name"] = first["hh_head_family_name"] + "h"
    again["registration_date"] = "2026-11-21"
    outcome = register(store, form, again)
    assert not outcome.finalized
    assert len(outcome.duplicates) == 1
    match = outcome.duplicates[0]
    # Record titles carry the site and date, never the head's name (data minimisation).
    assert match.title == f"{first['site_id']} {first['registration_date']}"
    assert match.reason == "same phone, same members' ages, same name"  # English UI here
    assert store.record_counts("household_registration")["finalized"] == 7

    # The enumerator checks: it really is a different family. Saving goes ahead.
    assert register(store, form, again, confirm=True).finalized
    assert store.record_counts("household_registration")["finalized"] == 8


def test_the_spouse_registering_the_family_again_is_warned_about(tablet):
    store, form = tablet
    first = sample_household(seed=3, members=5)
    assert register(store, form, first).finalized
    others_at_the_site(store, form, first["site_id"])
    spouse = copy.deepcopy(first)
    spouse["members"][0], spouse["members"][1] = first["members"][1], first["members"][0]
    spouse["members"][0]["relationship"], spouse["members"][1]["relationship"] = "head", "spouse"
    spouse["hh_head_given_name"] = first["members"][1]["given_name"]
    spouse.pop("contact_phone")
    outcome = register(store, form, spouse)
    assert not outcome.finalized
    assert [m.title for m in outcome.duplicates] == [
        f"{first['site_id']} {first['registration_date']}"
    ]


def test_a_namesake_at_the_same_site_saves_without_a_warning(tablet):
    """The old check (a close name and the same site) warned here: many families at one
    site share a common name; another age, phone and members say it is another family."""
    store, form = tablet
    first = sample_household(seed=1)
    assert register(store, form, first).finalized
    namesake = sample_household(seed=2, site_id=first["site_id"])
    namesake["hh_head_given_name"] = first["hh_head_given_name"]
    namesake["hh_head_family_name"] = first["hh_head_family_name"]
    head = namesake["members"][0]  # another woman of that name, twenty years older
    head.update(dob_known="no", age_reported=49, age_estimated="yes")
    head.pop("dob", None)
    assert register(store, form, namesake).finalized


def test_a_different_family_at_the_same_site_saves_without_a_warning(tablet):
    store, form = tablet
    first = sample_household(seed=1)
    assert register(store, form, first).finalized
    other = sample_household(seed=5, site_id=first["site_id"])
    other["hh_head_given_name"], other["hh_head_family_name"] = "Lourenço", "Nhantumbo"
    assert register(store, form, other).finalized
