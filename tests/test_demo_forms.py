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
