"""Realistic synthetic records of the demo forms, for tests, benchmarks, load tests and demos.

Every name, phone number and position here is invented. `sample_household(seed=n)` returns
the same household for the same seed, valid against the bundled household form.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from forms.geo import default_gazetteer
from forms.household_id import new_household_id
from forms.places import NOT_LISTED, postos_of

GIVEN_FEMALE = [
    "Ana",
    "Maria",
    "Luísa",
    "Rosa",
    "Celeste",
    "Felismina",
    "Joana",
    "Amélia",
    "Graça",
    "Esperança",
    "Fátima",
    "Marta",
]
GIVEN_MALE = [
    "João",
    "Manuel",
    "Alberto",
    "Zito",
    "Armando",
    "Fernando",
    "Castigo",
    "Jacinto",
    "Pedro",
    "Cristóvão",
    "Lourenço",
    "Tomás",
]
FAMILY = [
    "Mussa",
    "Cossa",
    "Sitoe",
    "Mutemba",
    "Nhamussua",
    "Chiposse",
    "Massinga",
    "Luís",
    "Raposo",
    "Mabunda",
    "Chaúque",
    "Nhantumbo",
    "Saize",
    "Mucavele",
]


def sample_household(
    seed: int = 0,
    members: int = 6,
    *,
    registration_date: dt.date = dt.date(2026, 11, 20),
    site_id: str | None = None,
) -> dict[str, Any]:
    """A consented household registration with `members` people, the first the head."""
    rng = random.Random(seed)
    sites = default_gazetteer().sites
    site = sites[site_id or rng.choice(sorted(sites))]
    site_id, district = site.site_id, site.district_pcode
    lat, lon = site.centre.y, site.centre.x
    family = rng.choice(FAMILY)
    head_sex = rng.choice(["F", "M"])
    head_given = rng.choice(GIVEN_FEMALE if head_sex == "F" else GIVEN_MALE)
    people = [
        _member(rng, family, head_given, head_sex, "head", rng.randint(22, 60), registration_date)
    ]
    for position in range(1, members):
        if position == 1:
            sex = "M" if head_sex == "F" else "F"
            relationship, age = "spouse", rng.randint(20, 60)
        else:
            sex = rng.choice(["F", "M"])
            relationship, age = "son_daughter", rng.randint(0, 17)
        given = rng.choice(GIVEN_FEMALE if sex == "F" else GIVEN_MALE)
        people.append(_member(rng, family, given, sex, relationship, age, registration_date))
    displaced = registration_date - dt.timedelta(days=rng.randint(3, 60))
    arrived = displaced + dt.timedelta(days=rng.randint(0, (registration_date - displaced).days))
    return {
        "interview_language": rng.choice(["chuabo", "lomwe", "portuguese"]),
        "interpreter_used": "yes",
        "consent_informed": "yes",
        "consent_by": "self",
        "consent_given": "yes",
        "consent_recontact": "yes",
        "consent_share": "yes",
        # Its own random stream: the rest of a seed's household stays as it always was.
        "registration_type": "new",
        "household_id": new_household_id(random.Random(f"household-{seed}")),
        "registration_date": registration_date.isoformat(),
        "enumerator": f"ENUM-{rng.randint(1, 40):03d}",
        "district": district,
        "site_id": site_id,
        "site_type": "accommodation_centre",
        "hh_gps": f"{lat + rng.uniform(-0.0005, 0.0005):.6f} "
        f"{lon + rng.uniform(-0.0005, 0.0005):.6f} 12 {rng.randint(3, 15)}",
        "origin_country": "MOZ",
        "origin_province": "MZ11",
        "origin_district": district,
        **_posto(rng, district, "origin_posto", "origin_posto_other"),
        "origin_bairro": f"Bairro {rng.randint(1, 12)}",
        "displacement_date": displaced.isoformat(),
        "displacement_cause": rng.choice(["flood", "cyclone"]),
        "arrival_date_site": arrived.isoformat(),
        "times_displaced": rng.choice([1, 1, 2, 3]),
        "house_damage": rng.choice(["partial", "severe", "destroyed"]),
        "shelter_situation": rng.choice(["collective_building", "tent", "tarpaulin"]),
        "intention": rng.choice(["return", "stay", "undecided"]),
        "return_barriers": ["house_destroyed", "land_flooded"],
        "return_conditions": ["shelter_materials"],
        "hh_head_given_name": head_given,
        "hh_head_family_name": family,
        "hh_size_declared": members,
        "hh_language": rng.choice(["chuabo", "lomwe", "makhuwa"]),
        "members": people,
        "documents_held": ["bi"],
        "need_1": "food",
        "need_2": "shelter",
        "need_3": "drinking_water",
        "livelihood_before": rng.choice(["farming", "fishing"]),
        "livelihood_now": "casual_labour",
        "food_sources": ["assistance", "purchase"],
        "meals_yesterday": rng.randint(1, 3),
        "cooking_fuel": "firewood",
        "water_treatment": "chlorine",
        "water_containers": rng.randint(1, 4),
        "soap_available": "yes",
        "bednets": rng.randint(0, 3),
        "missing_members": "no",
        "contact_phone": f"8{rng.randint(2, 7)}{rng.randint(0, 9_999_999):07d}",
    }


def _posto(rng: random.Random, district: str, name: str, other: str) -> dict[str, str]:
    """A post of the district from the postos file, or "not listed" with a written name."""
    postos = postos_of(district)
    if not postos:
        return {name: NOT_LISTED, other: "Sede"}
    return {name: rng.choice(postos).name}


def _member(
    rng: random.Random,
    family: str,
    given: str,
    sex: str,
    relationship: str,
    age: int,
    registered: dt.date,
) -> dict[str, Any]:
    member: dict[str, Any] = {
        "given_name": given,
        "family_name": family,
        "sex": sex,
        "relationship": relationship,
        "present": "yes",
        "id_doc_type": "bi" if age >= 18 else "birth_certificate",
        "vulnerabilities": ["none"],
    }
    if rng.random() < 0.5:
        born = registered - dt.timedelta(days=int(age * 365.25) + rng.randint(10, 300))
        member.update(dob_known="yes", dob=born.isoformat(), age_estimated="no")
    else:
        member.update(dob_known="no", age_reported=age, age_estimated="yes")
    if member["id_doc_type"] != "none":
        member["id_doc_number"] = f"{rng.randint(10**11, 10**12 - 1)}{rng.choice('ABCDEFGHJ')}"
    if 6 <= age <= 17:
        member["school_attending"] = rng.choice(["yes", "no"])
    if age >= 5:
        member["wg_respondent"] = "self" if age >= 18 else "proxy"
        for domain in ("seeing", "hearing", "walking", "remembering", "selfcare", "communicating"):
            member[f"wg_{domain}"] = rng.choices(
                ["no_difficulty", "some", "a_lot"], weights=[85, 12, 3]
            )[0]
    return member


def sample_site_check(
    seed: int = 0, *, latrines: int = 20, individuals: int = 480, site_id: str | None = None
) -> dict:
    """A transit-site check whose Sphere indicators depend on `latrines` and `individuals`."""
    rng = random.Random(seed)
    sites = default_gazetteer().sites
    site = sites[site_id or sorted(sites)[seed % 8]]
    households = max(1, individuals // 5)
    bands = _split(rng, individuals, 8)
    return {
        "assessment_date": "2026-11-20",
        "assessment_round": 3,
        "key_informant_type": "site_manager",
        "district": site.district_pcode,
        **_posto(rng, site.district_pcode, "posto_administrativo", "posto_other"),
        "site_id": site.site_id,
        "site_type": site.site_type,
        "date_opened": "2026-10-02",
        "site_gps": f"{site.centre.y:.6f} {site.centre.x:.6f} 10 6",
        "site_area_m2": 30_000,
        "land_ownership": "public",
        "site_committee": "yes",
        "committee_women": "yes",
        "accessibility": "road",
        "households": households,
        "individuals": individuals,
        **dict(
            zip(
                [
                    "f_0_4",
                    "f_5_17",
                    "f_18_59",
                    "f_60plus",
                    "m_0_4",
                    "m_5_17",
                    "m_18_59",
                    "m_60plus",
                ],
                bands,
                strict=True,
            )
        ),
        "arrivals": rng.randint(0, 40),
        "departures": rng.randint(0, 20),
        "main_origin_province": "MZ11",
        "main_origin_district": site.district_pcode,
        "main_cause": "flood",
        **{
            name: 0
            for name in (
                "n_pregnant",
                "n_lactating",
                "n_uasc",
                "n_child_headed_hh",
                "n_female_headed_hh",
                "n_elderly_alone",
                "n_disability",
                "n_chronically_ill",
                "hh_without_shelter",
                "hh_tent",
                "hh_tarpaulin",
                "hh_makeshift",
                "damaged_shelters",
            )
        },
        "hh_collective": households,
        "covered_area_m2": individuals * 3.0,
        "water_sources": ["piped_tap"],
        "taps_functional": 3,
        "water_litres_known": "yes",
        "water_litres_per_day": individuals * 14.0,
        "water_distance_known": "yes",
        "water_distance_m": 150,
        "water_queue_known": "yes",
        "water_queue_min": 20,
        "water_treatment_site": "household_chlorine",
        "containers_adequate": "partial",
        "latrines_functional": latrines,
        "latrines_female": latrines * 3 // 4,
        "latrines_male": latrines - latrines * 3 // 4,
        "latrines_lockable": latrines // 2,
        "latrines_lit": latrines // 4,
        "latrines_accessible": latrines // 5,
        "latrine_distance_m": 40,
        "showers_functional": 6,
        "handwashing_stations": 5,
        "soap_available_site": "partial",
        "mhm_items": "no",
        "solid_waste": "pit_burning",
        "drainage": "partial",
        "open_defecation": "no",
        "food_distribution_7d": "yes",
        "health_facility": "nearby",
        "health_facility_km": 2.5,
        "awd_cases_7d": 0,
        "bednets_distributed": "yes",
        "measles_vaccination": "dont_know",
        "muac_screening": "no",
        "school_attendance": "about_half",
        "school_used_as_shelter": "yes",
        "lighting": "partial",
        "safety_women_night": "somewhat_unsafe",
        "referral_pathway": "yes",
        "psea_focal_point": "yes",
        "feedback_mechanism": "dont_know",
        "child_friendly_space": "no",
        "women_safe_space": "no",
        "community_concerns": ["none"],
        "linha_verde_known": "some",
        "protection_referral_made": "no",
        "languages_spoken": ["portuguese", "chuabo"],
        "preferred_channel": "community_radio",
        "site_need_1": "shelter",
        "site_need_2": "sanitation_hygiene",
        "site_need_3": "food",
        "majority_intention": "return",
    }


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def sample_diaspora_interview(seed: int = 0) -> dict:
    """A consented interview with a Mozambican working in Gauteng who sends money home."""
    rng = random.Random(seed)
    return {
        "consent_participate": "yes",
        "consent_recontact": "yes",
        "consent_share_inace": rng.choice(["yes", "no"]),
        "interview_date": "2026-11-18",
        "interviewer": f"INT-{rng.randint(1, 20):02d}",
        "interview_mode": "face_to_face",
        "generation": "born_mozambique",
        "origin_province": "MZ11",
        "origin_district": "MZ1114",
        "nationalities": ["mozambican"],
        "residence_country": "ZAF",
        "residence_za_province": "ZA-GP",
        "residence_city": "Johannesburg",
        "residence_area": "urban",
        "first_departure_year": 2009,
        "migration_reasons": ["work"],
        "years_abroad": 17,
        "visit_frequency": "once_a_year",
        "sex": rng.choice(["F", "M"]),
        "age": rng.randint(25, 55),
        "marital_status": "married",
        "dependants_mz": rng.randint(0, 6),
        "legal_status": "prefer_not_to_say",
        "consular_documents": ["passport"],
        "education_level": "secondary_2",
        "languages": ["portuguese", "english", "zulu"],
        "skills": ["construction", "driving"],
        "work_status": "self_employed",
        "occupation_isco": "7",
        "sector_isic": "F",
        "recruitment_channel": "family_friends",
        "owns_business": "yes",
        "business_location": "both",
        "sends_money": "yes",
        "remit_frequency": "monthly",
        "remit_currency": "ZAR",
        "remit_amount_band": "zar_1000_1999",
        "remit_channels": ["mpesa", "informal_driver"],
        "remit_uses": ["daily_needs", "education"],
        "remit_recipients": ["parents", "children"],
        "remit_province": "MZ11",
        "remit_district": "MZ1114",
        "sends_goods": "yes",
        "goods_types": ["food", "building_materials"],
        "interest_invest": "maybe",
        "invested_mz": "yes",
        "invested_sectors": ["agriculture"],
        "trades_mz": "no",
        "donated_mz": "yes",
        "invest_sectors": ["agriculture", "commerce"],
        "return_intention": "circular",
        "engagement_interests": ["skills_transfer", "trade"],
        "obstacles": ["bureaucracy", "transfer_costs"],
        "association_member": "yes",
        "association_types": ["hometown"],
        "association_role": "member",
        "contact_preferred": "whatsapp",
        "contact_whatsapp": f"+2782{rng.randint(0, 9_999_999):07d}",
    }
