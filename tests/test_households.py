"""Probable duplicate households: the pure matching, and the warning before finalizing."""

from __future__ import annotations

import datetime as dt

import pytest

from fieldapp.catalog import FormCatalog
from fieldapp.duplicates import find_local_duplicates
from fieldapp.session import FormSession
from fieldapp.store import Store
from forms.households import (
    HouseholdKey,
    name_similarity,
    normalise_name,
    normalise_phone,
    probable_duplicate,
)
from forms.samples import sample_household

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("a", "b", "alike"),
    [
        ("Ana Mussa", "ana mussa", True),
        ("Mussá, Ana", "Ana Mussa", True),  # order, accent and punctuation
        ("Castigo Mutemba", "Castigo Muthemba", True),  # a typing variant
        ("Ana Mussa", "Rosa Cossa", False),
        ("", "Ana Mussa", False),
    ],
)
def test_name_similarity(a, b, alike):
    assert (name_similarity(a, b) >= 0.85) is alike


def test_normalisation():
    assert normalise_name("  Mussá,  Ana ") == "ana mussa"
    assert normalise_phone("+258 84 123 4567") == normalise_phone("841234567") == "841234567"


def test_a_close_name_needs_a_shared_phone_or_site():
    new = HouseholdKey("new", "Ana Mussa", "841234567", "MOZ-ZAM-0001")
    assert probable_duplicate(new, HouseholdKey("a", "Ana Musa", None, "MOZ-ZAM-0001")).reason == (
        "same site"
    )
    assert probable_duplicate(new, HouseholdKey("b", "Ana Musa", "+258841234567", None)).reason == (
        "same phone"
    )
    assert probable_duplicate(new, HouseholdKey("c", "Ana Musa", None, "MOZ-ZAM-0002")) is None
    assert probable_duplicate(new, HouseholdKey("new", "Ana Mussa", None, "MOZ-ZAM-0001")) is None


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


def test_registering_the_same_family_twice_warns_before_saving(tablet):
    store, form = tablet
    first = sample_household(seed=1)
    assert register(store, form, first).finalized

    again = sample_household(seed=2, site_id=first["site_id"])
    again["hh_head_given_name"] = first["hh_head_given_name"]
    again["hh_head_family_name"] = first["hh_head_family_name"].upper()
    outcome = register(store, form, again)
    assert not outcome.finalized
    assert [m.reason for m in outcome.duplicates] == ["same site"]
    assert store.record_counts("household_registration")["finalized"] == 1

    # The enumerator checks: it really is a different family. Saving goes ahead.
    assert register(store, form, again, confirm=True).finalized
    assert store.record_counts("household_registration")["finalized"] == 2


def test_a_different_family_at_the_same_site_saves_without_a_warning(tablet):
    store, form = tablet
    first = sample_household(seed=1)
    assert register(store, form, first).finalized
    other = sample_household(seed=5, site_id=first["site_id"])
    other["hh_head_given_name"], other["hh_head_family_name"] = "Lourenço", "Nhantumbo"
    assert register(store, form, other).finalized
