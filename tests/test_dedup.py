"""The dedup engine (sync_core.dedup): normalisation, blocking, comparison and scoring,
on households written by hand so that each case says what a coordinator would expect."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from sync_core.dedup import (
    Household,
    Member,
    Model,
    find_duplicates,
    household_from_answers,
    normalise_phone,
    phonetic,
    score_new,
)
from sync_core.dedup.compare import FIELD, Features, candidate_pairs, compare
from sync_core.dedup.normalise import name_key, name_tokens
from sync_core.dedup.synthetic import generate

pytestmark = pytest.mark.unit

FAMILY = (Member(41, "M"), Member(35, "F"), Member(12, "F"), Member(9, "M"), Member(3, "F"))


def household(record_id: str, **fields) -> Household:
    """Castigo Mutemba's family at MOZ-ZAM-0001, unless `fields` say otherwise."""
    base = Household(
        record_id=record_id,
        head_given_name="Castigo Ernesto",
        head_family_name="Mutemba",
        sex="M",
        age=41,
        phone="841234567",
        site_id="MOZ-ZAM-0001",
        origin_district="MZ1120",
        registration_date=dt.date(2026, 3, 2),
        lat=-17.48,
        lon=37.02,
        household_size=5,
        members=FAMILY,
    )
    return replace(base, **fields)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Mussa", "Musa"),
        ("Momade", "Mohamed"),
        ("Momade", "Muhammad"),
        ("Assane", "Hassane"),
        ("Issufo", "Issufu"),
        ("Mutemba", "Muthemba"),
        ("Chale", "Shale"),
        ("Teresa", "Tereza"),
        ("Said", "Saíde"),
    ],
)
def test_spellings_enumerators_mix_up_sound_alike(a, b):
    assert phonetic(name_tokens(a)[0]) == phonetic(name_tokens(b)[0])


@pytest.mark.parametrize(("a", "b"), [("Mussa", "Massa"), ("Ana", "Anifa"), ("Rosa", "Rosta")])
def test_different_names_keep_different_keys(a, b):
    assert phonetic(name_tokens(a)[0]) != phonetic(name_tokens(b)[0])


def test_names_fold_accents_case_spacing_particles_and_order():
    assert name_tokens("  MUSSÁ,  Ana  da Graça ") == ("mussa", "ana", "graca")
    assert name_key(name_tokens("Ana Musa")) == name_key(name_tokens("mussá ana"))


@pytest.mark.parametrize(
    "typed", ["+258 84 123 4567", "00258841234567", "258841234567", "84 123 45 67", "841234567"]
)
def test_phones_keep_their_last_nine_digits(typed):
    assert normalise_phone(typed) == "841234567"


def test_a_phone_too_short_to_be_one_is_missing_not_different():
    assert normalise_phone("84 123") == ""
    assert normalise_phone(None) == ""


def levels_of(a: Household, b: Household) -> dict[str, int]:
    f = Features([a, b])
    levels, _ = compare(f, np.array([0]), np.array([1]))
    return {name: int(levels[0, index]) for name, index in FIELD.items()}


def test_a_re_registration_by_another_enumerator_agrees_on_everything_that_matters():
    again = household(
        "b",
        head_given_name="castigo",  # second given name dropped
        head_family_name="MUTHEMBA",
        age=42,
        phone="+258 84 123 4576",  # last two digits transposed
        members=(Member(42, "M"), *FAMILY[1:]),
    )
    levels = levels_of(household("a"), again)
    assert levels["given"] == 2  # one name dropped
    assert levels["family"] == 2  # same, after the phonetic key
    assert levels["phone"] == 1  # one digit off
    assert levels["age"] == 2  # 1-2 years
    assert levels["members"] == 3  # four or more alike


def test_given_and_family_names_swapped_between_the_fields_still_agree():
    levels = levels_of(
        household("a"), household("b", head_given_name="Mutemba", head_family_name="Castigo")
    )
    assert levels["given"] == 3 and levels["family"] == 2


def test_missing_fields_are_unknown_not_disagreements():
    levels = levels_of(household("a"), household("b", phone="", lat=None, lon=None, age=None))
    assert levels["phone"] == levels["gps"] == levels["age"] == -1


def test_blocking_finds_a_pair_that_shares_only_the_phone_or_only_the_members():
    first = household("a")
    other_name_same_phone = household(
        "b", head_given_name="Ana", head_family_name="Cossa", site_id="MOZ-ZAM-0002"
    )
    spouse_no_phone = household(
        "c",
        head_given_name="Rosa",
        head_family_name="Chale",
        sex="F",
        age=35,
        phone="",
        members=(FAMILY[1], FAMILY[0], *FAMILY[2:]),
    )
    stranger = household(
        "d",
        head_given_name="Pedro",
        head_family_name="Nantumbo",
        phone="829999999",
        site_id="MOZ-ZAM-0009",
        household_size=2,
        members=(Member(60, "M"), Member(58, "F")),
    )
    f = Features([first, other_name_same_phone, spouse_no_phone, stranger])
    i, j, _ = candidate_pairs(f)
    pairs = set(zip(i.tolist(), j.tolist(), strict=True))
    assert (0, 1) in pairs and (0, 2) in pairs
    assert not {(0, 3), (1, 3), (2, 3)} & pairs


def existing_site(model_households: int = 60) -> list[Household]:
    """Other families at the same site, so the new one has company."""
    district = generate(model_households, seed=11).households
    return [replace(h, site_id="MOZ-ZAM-0001") for h in district]


def test_the_same_family_typed_differently_is_a_probable_duplicate_with_reasons():
    again = household(
        "again",
        head_given_name="CASTIGO",
        head_family_name="Muthemba",
        phone="84 123 4567",
        age=40,
        registration_date=dt.date(2026, 3, 9),
    )
    matches = score_new(again, [household("first"), *existing_site()], Model.default())
    assert [m.record_id_2 for m in matches] == ["first"]
    assert matches[0].score > 0.99
    assert "same phone" in matches[0].reasons()
    assert "same members' ages and sexes" in matches[0].reasons()


def test_the_spouse_registering_the_family_again_without_the_phone_is_found():
    spouse = household(
        "spouse",
        head_given_name="Felismina",
        head_family_name="Nhamussua",
        sex="F",
        age=34,
        phone="",
        registration_date=dt.date(2026, 3, 4),
        members=(Member(34, "F"), Member(41, "M"), *FAMILY[2:]),
    )
    matches = score_new(spouse, [household("first"), *existing_site()], Model.default())
    assert [m.record_id_2 for m in matches] == ["first"]


@pytest.mark.parametrize(
    "look_alike",
    [
        # Another "Castigo Mutemba" at the site: another phone, age and family.
        dict(
            phone="847777777",
            age=29,
            members=(Member(29, "M"), Member(24, "F"), Member(2, "M")),
            household_size=3,
        ),
        # His son, named after him, pitched next to him with his own young family.
        dict(
            phone="",
            age=19,
            members=(Member(19, "M"), Member(18, "F"), Member(0, "F")),
            household_size=3,
            lat=-17.4802,
        ),
        # A family without a phone that gave the site focal point's number.
        dict(
            head_given_name="Maria",
            head_family_name="Mussa",
            sex="F",
            age=52,
            members=(Member(52, "F"), Member(15, "M")),
            household_size=2,
        ),
    ],
    ids=["namesake", "father-and-son", "focal-point-phone"],
)
def test_look_alikes_that_are_other_families_are_not_flagged(look_alike):
    new = household("new", **look_alike)
    assert score_new(new, [household("first"), *existing_site()], Model.default()) == []


def test_a_family_registered_three_times_is_reported_as_all_three_pairs():
    labelled = generate(3000, seed=5)
    result = find_duplicates(labelled.households)
    found = {tuple(sorted((p.record_id_1, p.record_id_2))) for p in result.pairs}
    by_family: dict[int, list[str]] = {}
    for record_id, family in labelled.family.items():
        by_family.setdefault(family, []).append(record_id)
    triples = [sorted(ids) for ids in by_family.values() if len(ids) == 3]
    assert triples, "the generator makes families registered three times"
    complete = [t for t in triples if {(t[0], t[1]), (t[0], t[2]), (t[1], t[2])} <= found]
    assert len(complete) >= len(triples) // 2
    assert all(any(set(t) <= set(c) for c in result.clusters) for t in complete)


def test_an_empty_or_single_list_has_no_pairs():
    assert find_duplicates([]).pairs == []
    assert find_duplicates([household("a")]).pairs == []


def test_a_registration_form_record_becomes_a_household():
    answers = {
        "hh_head_given_name": "Ana",
        "hh_head_family_name": "Mussa",
        "contact_phone": "841234567",
        "site_id": "MOZ-ZAM-0001",
        "origin_district": "MZ1120",
        "registration_date": "2026-11-20",
        "hh_gps": "-17.48 37.02 12 5",
        "hh_size_declared": 3,
        "members": [
            {"relationship": "head", "sex": "F", "age_reported": 34},
            {"relationship": "spouse", "sex": "M", "dob": "1985-12-01"},
            {"relationship": "son_daughter", "sex": "F"},
        ],
    }
    h = household_from_answers("r1", answers)
    assert (h.head_name, h.sex, h.age, h.household_size) == ("Ana Mussa", "F", 34, 3)
    assert h.members == (Member(34, "F"), Member(40, "M"), Member(None, "F"))
    assert (h.lat, h.lon, h.registration_date) == (-17.48, 37.02, dt.date(2026, 11, 20))
