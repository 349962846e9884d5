"""Household ids (forms/household_id.py) and the tablet's update cycle without Kivy
(fieldapp/households.py): made without coordination, mistakes caught, found again by the
id on the card, an update pre-filled with the same id."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from fieldapp.catalog import FormCatalog
from fieldapp.duplicates import find_local_duplicates
from fieldapp.households import find_registration, update_answers
from fieldapp.session import FormSession
from fieldapp.store import Store
from forms.household_id import (
    ALPHABET,
    HouseholdIdError,
    is_valid,
    new_household_id,
    normalise,
)
from forms.samples import sample_household
from forms.validation import validate_record

pytestmark = pytest.mark.unit


def test_new_ids_are_valid_and_distinct():
    ids = {new_household_id() for _ in range(5000)}
    assert len(ids) == 5000
    assert all(is_valid(i) and len(i) == 13 and i[5] == i[11] == "-" for i in ids)


@pytest.mark.parametrize("seed", range(5))
def test_every_single_wrong_character_and_almost_every_swap_is_caught(seed):
    raw = new_household_id(random.Random(seed)).replace("-", "")
    for position in range(len(raw)):
        for char in ALPHABET.replace(raw[position], ""):
            with pytest.raises(HouseholdIdError, match="mistyped"):
                normalise(raw[:position] + char + raw[position + 1 :])
    for position in range(len(raw) - 1):
        a, b = raw[position], raw[position + 1]
        if a == b or {a, b} == {"0", "Z"}:  # Luhn's one blind spot
            continue
        with pytest.raises(HouseholdIdError):
            normalise(raw[:position] + b + a + raw[position + 2 :])


def test_typing_is_forgiving_but_says_what_is_wrong():
    household_id = new_household_id(random.Random(11))
    sloppy = household_id.replace("-", " ").lower().replace("0", "o").replace("1", "l")
    assert normalise(sloppy) == household_id
    assert not is_valid(sloppy)  # forms store the canonical spelling only
    with pytest.raises(HouseholdIdError, match="empty"):
        normalise(" - ")
    with pytest.raises(HouseholdIdError, match="needs 11"):
        normalise(household_id[:-2])
    with pytest.raises(HouseholdIdError, match="never used: U"):
        normalise("U" + household_id[1:])


@pytest.fixture
def tablet(tmp_path):
    store = Store(tmp_path / "fieldapp.db")
    catalog = FormCatalog(store, tmp_path / "forms")
    catalog.install_bundled()
    yield store, catalog.newest("household_registration")
    store.close()


def finalize(store, form, answers):
    record_id = store.create_draft(form.form_id, form.version, answers)
    session = FormSession(
        form,
        store,
        record_id,
        clock=lambda: dt.datetime(2026, 11, 30, 9),
        duplicate_finder=lambda f, summary, rid: find_local_duplicates(store, f, summary, rid),
    )
    return record_id, session.finalize()


def test_the_validator_refuses_a_wrong_check_character_and_a_refusal_keeps_no_id(tablet):
    _store, form = tablet
    answers = sample_household(seed=3)
    good = answers["household_id"]
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    result = validate_record(form, {**answers, "household_id": wrong}, now=dt.datetime(2026, 12, 1))
    assert [(e.name, e.code) for e in result.errors] == [("household_id", "household-id")]
    assert wrong in result.errors[0].message
    refused = {**answers, "consent_given": "no", "refusal_reason": "no_time"}
    kept = validate_record(form, refused, now=dt.datetime(2026, 12, 1)).record
    assert "household_id" not in kept


def test_an_update_finds_the_registration_by_its_id_and_is_not_a_duplicate(tablet):
    store, form = tablet
    answers = sample_household(seed=5, members=4)
    first_id, outcome = finalize(store, form, answers)
    assert outcome.finalized
    typed = answers["household_id"].lower().replace("-", "")
    found = find_registration(store, typed)
    assert found is not None and found.record_id == first_id and found.size == 4
    assert find_registration(store, new_household_id(random.Random(99))) is None

    update = update_answers(found, "update", today=dt.date(2026, 11, 30))
    assert update["household_id"] == answers["household_id"]
    assert update["registration_type"] == "update"
    assert update["registration_date"] == "2026-11-30"
    assert "consent_given" not in update and "enumerator" not in update
    update.update({key: answers[key] for key in answers if key.startswith("consent_")},
                  enumerator="ENUM-002")  # fmt: skip
    second_id, outcome = finalize(store, form, update)
    assert outcome.finalized and not outcome.duplicates
    again = find_registration(store, answers["household_id"])
    assert again.record_id == second_id and again.registrations == 2

    # The same family registered as "new" a second time is still warned about.
    _third, outcome = finalize(store, form, {**answers, "household_id": new_household_id()})
    assert not outcome.finalized and outcome.duplicates
    with pytest.raises(ValueError, match="registration type"):
        update_answers(found, "new")
