"""The three bundled forms, through our own loader and validator, as a field team uses them."""

from __future__ import annotations

import datetime as dt

import pytest

from forms import bundled_form_paths, load_form, validate_record
from forms.samples import sample_household, sample_site_check
from forms.standards import load_thresholds

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 11, 24, 9, 0)


@pytest.fixture(scope="module")
def forms():
    return {form.form_id: form for form in map(load_form, bundled_form_paths())}


def test_the_three_forms_load_in_both_languages(forms):
    assert set(forms) == {"household_registration", "site_check", "diaspora_mapping"}
    for form in forms.values():
        assert form.languages == ["English (en)", "Português (pt)"]
        assert form.default_language == "Português (pt)"


@pytest.mark.parametrize("seed", range(5))
def test_sample_households_with_six_members_are_valid(forms, seed):
    result = validate_record(forms["household_registration"], sample_household(seed), now=NOW)
    assert result.ok, result.errors
    assert result.record["hh_size"] == 6
    assert result.record["n_heads"] == 1


def test_household_flags_are_computed(forms):
    record = sample_household(1)
    head = record["members"][0]
    head.update(sex="F", dob_known="no", age_reported=16, age_estimated="no", school_attending="no")
    head.pop("dob", None)
    for member in record["members"][1:]:
        if member["relationship"] == "spouse":
            member.update(dob_known="no", age_reported=17, school_attending="no")
            member.pop("dob", None)
    # A child-headed household is offered a protection referral before it can be saved.
    result = validate_record(forms["household_registration"], record, now=NOW, language="en")
    assert {e.path for e in result.errors} == {"referral_offered"}
    record.update(referral_offered="no")
    result = validate_record(forms["household_registration"], record, now=NOW, language="en")
    assert result.ok, result.errors
    assert result.record["female_headed"] == 1
    assert result.record["child_headed"] == 1
    # A child-headed household is flagged, never refused.
    assert any(w.path == "members[1].relationship" for w in result.warnings)


def test_exactly_one_head(forms):
    record = sample_household(2)
    record["members"][1]["relationship"] = "head"
    result = validate_record(forms["household_registration"], record, now=NOW)
    assert ("n_heads_check", "constraint") in {(e.path, e.code) for e in result.errors}
    record["members"][0]["relationship"] = "spouse"
    record["members"][1]["relationship"] = "spouse"
    result = validate_record(forms["household_registration"], record, now=NOW)
    assert ("n_heads_check", "constraint") in {(e.path, e.code) for e in result.errors}


def test_refused_consent_keeps_only_a_non_identifying_tally(forms):
    form = forms["household_registration"]
    record = sample_household(3)
    record.update(consent_given="no", refusal_reason="privacy")
    result = validate_record(form, record, now=NOW)
    assert result.ok, result.errors
    personal = {q.name for q in form.questions() if q.sensitivity != "public"}
    assert not personal & set(result.record)
    assert "members" not in result.record
    assert result.record["site_id"] == record["site_id"]


def test_pregnancy_only_for_women_of_plausible_age(forms):
    record = sample_household(4)
    man = next(m for m in record["members"] if m["sex"] == "M")
    man["vulnerabilities"] = ["pregnant"]
    result = validate_record(forms["household_registration"], record, now=NOW)
    assert any(
        e.code in ("constraint", "choice-filtered") and e.name == "vulnerabilities"
        for e in result.errors
    )


def test_household_gps_far_from_its_site_warns(forms):
    record = sample_household(5)
    record["hh_gps"] = "-16.839 36.986 0 5"  # Mocuba town, not the declared site
    result = validate_record(forms["household_registration"], record, now=NOW, language="en")
    assert result.ok
    assert "geopoint-far-from-site" in {w.code for w in result.warnings}
    record["hh_gps"] = "-25.96 32.57 0 5"  # Maputo
    result = validate_record(forms["household_registration"], record, now=NOW, language="en")
    assert "This point is outside Zambézia. Check the GPS or the site." in [
        w.message for w in result.warnings
    ]


def test_site_check_rates_sphere_indicators(forms):
    result = validate_record(
        forms["site_check"], sample_site_check(1, latrines=8, individuals=480), now=NOW
    )
    assert result.ok, result.errors
    ratings = {r.indicator.id: (r.value, r.colour) for r in result.ratings}
    assert ratings["people_per_latrine"] == (60.0, "red")  # 480 people, 8 latrines
    assert ratings["people_per_tap"] == (160.0, "green")  # 3 taps, ≤ 250
    red = [w for w in result.warnings if w.code == "standard-red"]
    assert [w.path for w in red] == ["people_per_latrine"]
    assert "Sphere" in red[0].message


def test_site_check_post_emergency_thresholds_are_stricter(forms):
    from forms.standards import POST_EMERGENCY_THRESHOLDS_PATH

    record = sample_site_check(1, latrines=20, individuals=480)  # 24 people per latrine
    emergency = validate_record(forms["site_check"], record, now=NOW)
    post = validate_record(
        forms["site_check"],
        record,
        now=NOW,
        thresholds=load_thresholds(POST_EMERGENCY_THRESHOLDS_PATH),
    )
    colour = {r.indicator.id: r.colour for r in emergency.ratings}
    post_colour = {r.indicator.id: r.colour for r in post.ratings}
    assert colour["people_per_tap"] == "green"
    assert post_colour["people_per_tap"] != "green"  # ≤ 100 per tap after the emergency


def test_site_check_population_bands_must_add_up(forms):
    record = sample_site_check(2)
    record["m_60plus"] += 5
    result = validate_record(forms["site_check"], record, now=NOW)
    assert ("m_60plus", "constraint") in {(e.path, e.code) for e in result.errors}


def test_diaspora_interview_with_optional_legal_status(forms):
    form = forms["diaspora_mapping"]
    required = validate_record(form, {"consent_participate": "yes"}, now=NOW)
    missing = {e.path for e in required.errors if e.code == "required"}
    assert "residence_country" in missing
    assert "legal_status" not in missing  # optional, and "prefer not to say" is offered
    assert form.choice("legal_status", "prefer_not_to_say") is not None
    assert form.question("legal_status").sensitivity == "sensitive"
    refused = validate_record(
        form,
        {
            "consent_participate": "no",
            "interview_date": "2026-11-20",
            "interviewer": "INT-01",
            "interview_mode": "phone",
        },
        now=NOW,
    )
    assert refused.ok
    assert form.choice("country", "ZAF") is not None
    assert form.text(form.choice("country", "ZAF").label, "pt") == "África do Sul"


def test_site_check_with_no_latrine_is_red_not_unrated(forms):
    record = sample_site_check(1, latrines=0, individuals=480)
    result = validate_record(forms["site_check"], record, now=NOW, language="pt")
    assert result.ok, result.errors
    assert result.record.get("people_per_latrine") in ("", None)  # nothing to divide by
    assert result.is_relevant("zero_latrines_note")
    red = {w.path: w.message for w in result.warnings if w.code == "standard-red"}
    assert red["people_per_latrine"].startswith("Nenhuma latrina funcional para 480 pessoas")


def test_site_check_latrines_none_marked_for_women_or_men_is_red(forms):
    record = sample_site_check(1, latrines=10, individuals=480)
    record.update(latrines_female=0, latrines_male=0)
    result = validate_record(forms["site_check"], record, now=NOW, language="en")
    assert result.is_relevant("no_segregated_note")
    red = {w.path: w.message for w in result.warnings if w.code == "standard-red"}
    assert "No sex-segregated latrines" in red["female_male_latrine_ratio"]


def test_site_check_school_used_as_shelter_is_not_rated_on_site_area(forms):
    record = sample_site_check(1, individuals=480)  # 30,000 m² for 480: 62.5 m² each
    record.update(site_area_m2=2_000, school_used_as_shelter="no")
    planned = validate_record(forms["site_check"], record, now=NOW)
    assert {r.indicator.id: r.colour for r in planned.ratings}["site_m2_per_person"] == "red"
    record["school_used_as_shelter"] = "yes"
    school = validate_record(forms["site_check"], record, now=NOW)
    assert school.ok, school.errors
    assert "site_m2_per_person" not in {r.indicator.id for r in school.ratings}


def test_site_check_mixed_water_sources_are_rated_together(forms):
    record = sample_site_check(1, individuals=480)
    record.update(water_sources=["piped_tap", "handpump"], taps_functional=1,
                  handpumps_functional=1)  # fmt: skip
    result = validate_record(forms["site_check"], record, now=NOW)
    assert result.ok, result.errors
    rated = {r.indicator.id: r for r in result.ratings}
    assert "people_per_tap" not in rated  # 480 per tap would blame the tap for everyone
    assert rated["water_point_load_pct"].value == 64.0  # 480 / (250 + 500)


def test_site_check_water_unknowns_are_not_guessed(forms):
    record = sample_site_check(1)
    record.update(water_litres_known="no", water_queue_known="no")
    for name in ("water_litres_per_day", "water_queue_min"):
        record.pop(name)
    result = validate_record(forms["site_check"], record, now=NOW)
    assert result.ok, result.errors
    rated = {r.indicator.id for r in result.ratings}
    assert not rated & {"litres_per_person_day", "water_queue_min"}
