"""What a data team cares about in the bundled XLSForms, read the way ODK reads them (pyxform).

These tests look at content: both languages everywhere, a sensitivity on every field, no
personal data without consent, the Sphere indicators computed where the thresholds expect
them, site lists in step with the gazetteer, and only the XLSForm subset our engine supports.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pycountry
import pytest
from pyxform.xls2json import parse_file_to_json

from forms import load_form
from forms.site_list import bundled_sites_csv
from forms.standards import DEFAULT_THRESHOLDS_PATH, POST_EMERGENCY_THRESHOLDS_PATH, load_thresholds

pytestmark = pytest.mark.unit

FORMS_DIR = Path(__file__).resolve().parents[1] / "forms"
DATA_DIR = FORMS_DIR / "data"
FORM_IDS = ("household_registration", "site_check", "diaspora_mapping")
LANGUAGES = ("Português (pt)", "English (en)")
SENSITIVITIES = {"public", "personal", "sensitive"}
# The consent question that gates personal data in each form that collects it.
CONSENT_GATE = {
    "household_registration": "${consent_given} = 'yes'",
    "diaspora_mapping": "${consent_participate} = 'yes'",
}

# pyxform's JSON type names for the XLSForm types our engine supports.
SUPPORTED_TYPES = {
    "text",
    "integer",
    "decimal",
    "range",
    "select one",
    "select all that apply",
    "note",
    "acknowledge",
    "date",
    "time",
    "dateTime",
    "geopoint",
    "geotrace",
    "geoshape",
    "image",
    "photo",
    "barcode",
    "calculate",
    "hidden",
    "group",
    "repeat",
}
FUNCTIONS = {
    "not",
    "selected",
    "count-selected",
    "selected-at",
    "jr:choice-name",
    "count",
    "sum",
    "max",
    "min",
    "if",
    "coalesce",
    "concat",
    "string-length",
    "substr",
    "contains",
    "starts-with",
    "regex",
    "today",
    "now",
    "date",
    "decimal-date-time",
    "format-date",
    "int",
    "number",
    "round",
    "string",
    "boolean",
    "position",
    "indexed-repeat",
    "once",
    "uuid",
    "distance",
    "area",
    "true",
    "false",
    "join",
    "pulldata",
}
KEYWORDS = {"and", "or", "div", "mod"}
TRANSLATED_KEYS = ("label", "hint")
TRANSLATED_BIND_KEYS = ("jr:constraintMsg", "jr:requiredMsg")


def file_columns(itemset: str) -> set[str]:
    """The columns of a choice list attached to the forms (select_one_from_file)."""
    with open(FORMS_DIR / itemset, encoding="utf-8", newline="") as f:
        return set(next(csv.reader(f)))


@cache
def parsed(form_id: str) -> dict:
    return parse_file_to_json(str(FORMS_DIR / f"{form_id}.xlsx"))


def walk(node: dict, ancestors: tuple = ()) -> Iterator[tuple[dict, tuple]]:
    """Every survey node with its enclosing groups, minus the meta group pyxform adds."""
    for child in node.get("children", []):
        if child.get("name") == "meta" and child["type"] == "group" and not ancestors:
            continue
        yield child, ancestors
        yield from walk(child, (*ancestors, child))


def nodes(form_id: str) -> dict[str, dict]:
    return {node["name"]: node for node, _ in walk(parsed(form_id))}


def is_data(node: dict) -> bool:
    return node["type"] not in ("group", "repeat")


def expressions(node: dict) -> dict[str, str]:
    """The XPath-like expressions of a node, keyed by the column they came from."""
    bind = node.get("bind", {})
    found = {
        "relevant": bind.get("relevant"),
        "constraint": bind.get("constraint"),
        "calculation": bind.get("calculate"),
        "read_only": bind.get("readonly"),
        "choice_filter": node.get("choice_filter"),
        "soft_constraint": node.get("soft_constraint"),
        "repeat_count": node.get("control", {}).get("jr:count"),
        "default": node.get("default"),
        "geo_site": node.get("geo_site"),
    }
    required = bind.get("required")
    if required not in (None, "yes", "no", "true()", "false()"):
        found["required"] = required
    return {key: value for key, value in found.items() if value}


def strip_literals(expression: str) -> str:
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", expression)


def references(expression: str) -> set[str]:
    return set(re.findall(r"\$\{([^}]+)\}", expression))


def geojson(name: str) -> dict:
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


# ---- structure and languages ---------------------------------------------------------------


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_settings(form_id):
    form = parsed(form_id)
    assert form["id_string"] == form_id
    assert re.fullmatch(r"20\d{8}", form["version"])
    assert form["default_language"] == "Português (pt)"
    assert form["instance_name"]


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_only_supported_types(form_id):
    for node, _ in walk(parsed(form_id)):
        assert node["type"] in SUPPORTED_TYPES, f"{form_id}.{node['name']}: {node['type']}"
        itemset = node.get("itemset")
        assert (
            itemset is None
            or itemset in parsed(form_id)["choices"]
            or (itemset.endswith(".csv") and (FORMS_DIR / itemset).is_file())
        ), f"{form_id}.{node['name']}: choices from the choices sheet or a file beside the form"


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_every_text_in_both_languages(form_id):
    form = parsed(form_id)
    for node, _ in walk(form):
        where = f"{form_id}.{node['name']}"
        if node["type"] not in ("calculate", "hidden"):
            assert isinstance(node.get("label"), dict), f"{where} has no translated label"
        texts = [node.get(key) for key in TRANSLATED_KEYS]
        texts += [node.get("bind", {}).get(key) for key in TRANSLATED_BIND_KEYS]
        texts.append(node.get("soft_constraint_message"))
        for text in filter(None, texts):
            assert isinstance(text, dict), f"{where}: {text!r} is not translated"
            for language in LANGUAGES:
                assert (text.get(language) or "").strip(), f"{where} lacks {language}"
        if node.get("soft_constraint"):
            assert node.get("soft_constraint_message"), f"{where}: soft constraint has no message"
        if node.get("bind", {}).get("constraint"):
            assert node["bind"].get("jr:constraintMsg"), f"{where}: constraint has no message"
    for list_name, choices in form["choices"].items():
        for choice in choices:
            for language in LANGUAGES:
                assert (choice["label"].get(language) or "").strip(), (
                    f"{form_id} choice {list_name}/{choice['name']} lacks {language}"
                )


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_every_data_row_has_a_sensitivity(form_id):
    for node, _ in walk(parsed(form_id)):
        if is_data(node):
            assert node.get("sensitivity") in SENSITIVITIES, f"{form_id}.{node['name']}"
        else:
            assert not node.get("sensitivity"), f"{form_id}.{node['name']}: groups hold no data"


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_expressions_use_the_supported_subset(form_id):
    names = set(nodes(form_id))
    form = parsed(form_id)
    for node, _ in walk(form):
        for column, expression in expressions(node).items():
            where = f"{form_id}.{node['name']} {column}: {expression}"
            bare = strip_literals(expression)
            assert "[" not in bare and "]" not in bare, f"{where}: no predicates"
            assert "/" not in bare, f"{where}: no paths"
            assert "current()" not in bare, where
            for function in re.findall(r"([A-Za-z_][\w:.-]*)\s*\(", bare):
                assert function in FUNCTIONS | KEYWORDS, f"{where}: {function}() unsupported"
            for ref in references(expression):
                assert ref in names, f"{where}: ${{{ref}}} is not a field of the form"
            if column == "choice_filter":
                if node["itemset"].endswith(".csv"):
                    columns = file_columns(node["itemset"])
                else:
                    columns = {"name"} | {
                        key for choice in form["choices"][node["itemset"]] for key in choice
                    }
                for word in re.findall(r"(?<![\w{$-])([A-Za-z_]\w*)\b(?!\s*\()", bare):
                    if word in KEYWORDS or word in ("true", "false"):
                        continue
                    assert word in columns, f"{where}: {word} is not a column of the choices"
    for ref in references(form["instance_name"]):
        assert ref in names, f"{form_id} instance_name: ${{{ref}}}"


# ---- data protection -----------------------------------------------------------------------


@pytest.mark.parametrize("form_id", sorted(CONSENT_GATE))
def test_consent_comes_first(form_id):
    first_group, _ = next(walk(parsed(form_id)))
    assert first_group["name"] == "consent"
    questions = [c["name"] for c in first_group["children"] if c["type"] != "note"]
    gate = CONSENT_GATE[form_id].split("}")[0][2:]
    assert gate in questions


@pytest.mark.parametrize("form_id", sorted(CONSENT_GATE))
def test_personal_data_only_with_consent(form_id):
    gate = CONSENT_GATE[form_id]
    for node, ancestors in walk(parsed(form_id)):
        if node.get("sensitivity") in ("personal", "sensitive"):
            relevants = [a.get("bind", {}).get("relevant") or "" for a in (*ancestors, node)]
            assert any(gate in relevant for relevant in relevants), (
                f"{form_id}.{node['name']} is {node['sensitivity']} but is still asked when "
                f"consent is refused"
            )


def test_household_refusal_keeps_only_an_anonymous_tally():
    gate = CONSENT_GATE["household_registration"]
    always = [
        node["name"]
        for node, ancestors in walk(parsed("household_registration"))
        if is_data(node)
        and node["type"] != "note"
        and not any(gate in (a.get("bind", {}).get("relevant") or "") for a in [*ancestors, node])
    ]
    assert {"site_id", "registration_date", "refusal_reason"} <= set(always)
    assert "household_id" not in always  # a refusal keeps no household id
    by_name = nodes("household_registration")
    assert all(by_name[name]["sensitivity"] == "public" for name in always)


def test_recontact_details_need_recontact_consent():
    for form_id, phone in (
        ("household_registration", "contact_phone"),
        ("diaspora_mapping", "contact_phone"),
    ):
        node, ancestors = next((n, a) for n, a in walk(parsed(form_id)) if n["name"] == phone)
        relevants = " ".join(a.get("bind", {}).get("relevant") or "" for a in (*ancestors, node))
        assert "${consent_recontact} = 'yes'" in relevants
        assert node["sensitivity"] == "personal"


def test_site_check_has_no_personal_instance_name():
    form = parsed("site_check")
    by_name = nodes("site_check")
    for ref in references(form["instance_name"]):
        assert by_name[ref]["sensitivity"] == "public"


@pytest.mark.parametrize(
    ("form_id", "field", "sensitivity"),
    [
        ("household_registration", "hh_head_given_name", "personal"),
        ("household_registration", "dob", "personal"),
        ("household_registration", "hh_gps", "personal"),
        ("household_registration", "id_doc_number", "sensitive"),
        ("household_registration", "vulnerabilities", "sensitive"),
        ("household_registration", "wg_seeing", "sensitive"),
        ("household_registration", "disability", "sensitive"),
        ("household_registration", "hh_size", "public"),
        ("diaspora_mapping", "legal_status", "sensitive"),
        ("diaspora_mapping", "contact_email", "personal"),
        ("site_check", "individuals", "public"),
    ],
)
def test_sensitivity_follows_the_data_protection_rules(form_id, field, sensitivity):
    assert nodes(form_id)[field]["sensitivity"] == sensitivity


# ---- household rules ------------------------------------------------------------------------


def test_household_computes_its_flags_from_the_members_repeat():
    by_name = nodes("household_registration")
    assert by_name["members"]["type"] == "repeat"
    calc = {name: node.get("bind", {}).get("calculate") for name, node in by_name.items()}
    assert calc["hh_size"] == "count(${members})"
    assert calc["n_heads"] == "sum(${is_head})"
    for flag in ("female_headed", "child_headed", "n_under5", "n_60plus", "n_disability"):
        assert calc[flag], flag
    check = by_name["n_heads_check"]
    assert check["type"] == "integer"
    assert check["bind"]["readonly"] == "yes"
    assert check["bind"]["calculate"] == "${n_heads}"
    assert check["bind"]["constraint"] == ". = 1"


def test_household_validation_rules():
    by_name = nodes("household_registration")
    assert by_name["hh_size_declared"]["bind"]["constraint"] == ". >= 1 and . <= 20"
    assert by_name["hh_size_declared"]["soft_constraint"] == ". <= 15"
    assert ">= 12" in by_name["relationship"]["bind"]["constraint"]
    assert ">= 18" in by_name["relationship"]["soft_constraint"]  # child-headed: warn only
    assert by_name["age_reported"]["bind"]["constraint"] == ". >= 0 and . <= 110"
    assert ". <= today()" in by_name["dob"]["bind"]["constraint"]
    assert by_name["displacement_date"]["bind"]["constraint"] == ". <= ${registration_date}"
    vulnerabilities = by_name["vulnerabilities"]
    assert "${sex} = 'F'" in vulnerabilities["bind"]["constraint"]
    assert "12" in vulnerabilities["soft_constraint"] and "49" in vulnerabilities["soft_constraint"]
    assert by_name["washington_group"]["bind"]["relevant"] == "${age_years} >= 5"
    assert "6" in by_name["school_attending"]["bind"]["relevant"]
    assert by_name["need_3"]["bind"]["constraint"] == ". != ${need_1} and . != ${need_2}"
    assert by_name["registration_date"]["default"] == "today()"


# ---- sites and districts --------------------------------------------------------------------


@pytest.mark.parametrize("form_id", ["household_registration", "site_check"])
def test_site_choices_match_the_transit_sites(form_id):
    """The bundled forms read their sites from sites.csv, made from the demo site list (the
    server writes its own from the sites table), plus the "new site" row."""
    sites = {
        f["properties"]["site_id"]: f["properties"]["district_pcode"]
        for f in geojson("transit_sites.geojson")["features"]
    }
    form = load_form(FORMS_DIR / f"{form_id}.xlsx")
    question = form.question("site_id")
    choices = {c.name: c.properties["district"] for c in form.choices_for(question)}
    assert choices == {**sites, "new_site": ""}
    assert (FORMS_DIR / "sites.csv").read_bytes() == bundled_sites_csv()
    site_question = nodes(form_id)["site_id"]
    assert site_question["itemset"] == "sites.csv"
    assert site_question["choice_filter"] == (
        "status = 'open' and (district = ${district} or name = 'new_site')"
    )
    district_names = {c["name"] for c in parsed(form_id)["choices"]["district"]}
    pcodes = {f["properties"]["pcode"] for f in geojson("zambezia_districts.geojson")["features"]}
    assert district_names == pcodes


def test_household_gps_is_checked_against_the_declared_site():
    gps = nodes("household_registration")["hh_gps"]
    assert gps["type"] == "geopoint"
    assert gps["geo_site"] == "${site_id}"


# ---- site check -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [DEFAULT_THRESHOLDS_PATH, POST_EMERGENCY_THRESHOLDS_PATH])
def test_indicator_fields_exist_in_site_check(path):
    by_name = nodes("site_check")
    for indicator in load_thresholds(path).for_form("site_check"):
        assert indicator.field in by_name, indicator.id
        node = by_name[indicator.field]
        if node["type"] == "calculate":
            # A ratio must give '' rather than Infinity when its denominator is 0 or missing.
            calculation = node["bind"]["calculate"]
            assert calculation.startswith("if(") and "> 0" in calculation, indicator.field
        else:
            assert node["type"] in ("integer", "decimal"), indicator.field


def test_site_population_bands_add_up_to_the_total():
    bands = [f"{sex}_{band}" for sex in "fm" for band in ("0_4", "5_17", "18_59", "60plus")]
    by_name = nodes("site_check")
    constraint = by_name["m_60plus"]["bind"]["constraint"]
    assert "${individuals}" in constraint
    assert all(f"${{{b}}}" in constraint for b in bands[:-1])
    assert "2" in by_name["individuals"]["soft_constraint"]
    assert "9" in by_name["individuals"]["soft_constraint"]


def test_site_check_sections_are_field_lists():
    groups = [n for n, a in walk(parsed("site_check")) if n["type"] == "group" and not a]
    assert len(groups) >= 9
    assert all(g.get("control", {}).get("appearance") == "field-list" for g in groups)


# ---- diaspora -------------------------------------------------------------------------------


def test_diaspora_countries_are_iso_alpha3_with_portuguese_names():
    choices = {c["name"]: c["label"] for c in parsed("diaspora_mapping")["choices"]["country"]}
    assert set(choices) == {country.alpha_3 for country in pycountry.countries}
    expected = {
        "ZAF": "África do Sul",
        "MWI": "Malawi",
        "TZA": "Tanzânia",
        "PRT": "Portugal",
        "GBR": "Reino Unido",
        "DEU": "Alemanha",
        "ESP": "Espanha",
    }
    for code, name in expected.items():
        assert choices[code]["Português (pt)"] == name
    assert "Essuatíni" in choices["SWZ"]["Português (pt)"]
    assert "Estados Unidos" in choices["USA"]["Português (pt)"]


def test_diaspora_legal_status_is_optional_and_sensitive():
    by_name = nodes("diaspora_mapping")
    legal = by_name["legal_status"]
    assert legal.get("bind", {}).get("required") in (None, "no", "")
    assert "prefer_not_to_say" in {c["name"] for c in legal["choices"]}
    assert legal["sensitivity"] == "sensitive"
    for consent in ("consent_participate", "consent_recontact", "consent_share_inace"):
        assert by_name[consent]["type"] == "select one"


def test_diaspora_departure_year_is_bounded_by_this_year():
    constraint = nodes("diaspora_mapping")["first_departure_year"]["bind"]["constraint"]
    assert ". >= 1950" in constraint
    assert "format-date(today(), '%Y')" in constraint


def test_diaspora_amount_bands_follow_the_currency():
    form = parsed("diaspora_mapping")
    currencies = {c["name"] for c in form["choices"]["currency"]}
    assert currencies == {"ZAR", "MZN", "USD"}
    bands = {c["currency"] for c in form["choices"]["amount_band"]}
    assert currencies <= bands
    assert "${remit_currency}" in nodes("diaspora_mapping")["remit_amount_band"]["choice_filter"]


# ---- issue #11: the content a Zambezia deployment needs ------------------------------------


def choice_names(form_id: str, list_name: str) -> list[str]:
    return [c["name"] for c in parsed(form_id)["choices"][list_name]]


def test_household_record_titles_carry_no_personal_data():
    by_name = nodes("household_registration")
    for ref in references(parsed("household_registration")["instance_name"]):
        assert by_name[ref]["sensitivity"] == "public", ref


@pytest.mark.parametrize(
    ("field", "sensitivity"),
    [
        # Quasi-identifiers: with sex and age they single a person or household out.
        ("displacement_date", "personal"),
        ("arrival_date_site", "personal"),
        ("relationship", "personal"),
        ("present", "personal"),
        ("school_attending", "personal"),
        ("documents_held", "sensitive"),
        # What analysis needs instead.
        ("displacement_month", "public"),
        ("age_band", "public"),
        ("origin_posto", "public"),
    ],
)
def test_household_quasi_identifiers_are_tagged(field, sensitivity):
    assert nodes("household_registration")[field]["sensitivity"] == sensitivity


def test_small_protection_counts_carry_a_tag_that_suppresses_them():
    """Shareable exports write a count tagged #affected below 5 as '<5'."""
    for form_id, fields in (
        ("household_registration", ("n_uasc_reported", "n_unaccompanied_derived",
                                    "n_disability", "child_headed", "n_missing")),
        ("site_check", ("n_uasc", "n_child_headed_hh", "n_disability")),
    ):  # fmt: skip
        for name in fields:
            assert nodes(form_id)[name]["hxl"].startswith("#affected"), (form_id, name)


def test_gbv_and_trafficking_are_never_asked_of_a_household():
    words = ("violên", "violen", "tráfico", "traffick", "abuso", "abuse", "sexual")
    for node, _ in walk(parsed("household_registration")):
        text = " ".join(str(v) for v in (node.get("label") or {}).values()).lower()
        assert not any(word in text for word in words), node["name"]
    # The site check asks about the community's perception only, never about people.
    concerns = nodes("site_check")["community_concerns"]
    assert concerns["sensitivity"] == "public"
    assert "nunca sobre pessoas" in concerns["hint"]["Português (pt)"]
    assert {"children_leaving_work", "child_marriage", "offers_jobs_transport"} <= set(
        choice_names("site_check", "concern")
    )


def test_household_protection_referral_asks_no_narrative():
    by_name = nodes("household_registration")
    assert by_name["protection_referral"]["bind"]["relevant"] == "${protection_trigger} = 1"
    trigger = by_name["protection_trigger"]["bind"]["calculate"]
    for cause in ("${child_headed}", "${no_adult}", "${n_uasc_reported}", "${missing_members}"):
        assert cause in trigger
    for name in ("referral_offered", "referral_agreed", "referral_services", "referral_made"):
        assert by_name[name]["type"] in ("select one", "select all that apply"), name
        assert by_name[name]["sensitivity"] == "sensitive", name
    assert by_name["no_adult"]["bind"]["calculate"] == (
        "if(${n_adults} = 0 and ${n_children} > 0, 1, 0)"
    )


def test_languages_of_zambezia_and_the_complaints_line():
    for form_id in ("household_registration", "site_check"):
        names = choice_names(form_id, "language")
        assert {"chuabo", "lomwe", "makhuwa", "elolo", "sena", "cinyanja"} <= set(names)
        labels = {c["name"]: c["label"]["Português (pt)"]
                  for c in parsed(form_id)["choices"]["language"]}  # fmt: skip
        assert labels["chuabo"].startswith("Echuwabo")
    by_name = nodes("household_registration")
    for name in ("interview_language", "interpreter_used", "hh_language"):
        assert by_name[name]["sensitivity"] == "public"
    script = by_name["consent_script"]["label"]
    assert "Linha Verde 1458" in script["Português (pt)"]
    assert "Linha Verde 1458" in script["English (en)"]
    assert "Linha Verde 1458" in nodes("site_check")["linha_verde_known"]["label"]["English (en)"]


def test_origin_can_be_outside_mozambique_malawi_first():
    names = choice_names("household_registration", "country")
    assert names[:2] == ["MOZ", "MWI"]
    assert set(names) == {country.alpha_3 for country in pycountry.countries}
    by_name = nodes("household_registration")
    assert by_name["origin_province"]["bind"]["relevant"] == "${origin_country} = 'MOZ'"
    assert "${origin_country} != 'MOZ'" in by_name["origin_place_abroad"]["bind"]["relevant"]


@pytest.mark.parametrize(
    ("form_id", "question", "district"),
    [("household_registration", "origin_posto", "origin_district"),
     ("site_check", "posto_administrativo", "district")],
)  # fmt: skip
def test_administrative_posts_come_from_the_replaceable_file(form_id, question, district):
    node = nodes(form_id)[question]
    assert node["itemset"] == "zambezia_postos.csv"
    assert node["choice_filter"] == f"district = ${{{district}}} or district = 'any'"
    with open(FORMS_DIR / "zambezia_postos.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    districts = {c["name"] for c in parsed(form_id)["choices"]["district"]}
    assert {r["district"] for r in rows} <= districts | {"any"}
    assert {r["scheme"] for r in rows} == {"COD-AB 2019"}
    for row in rows:
        # Never an invented P-code: empty, or a posto code of its own district with a source.
        assert row["pcode"] == "" or (
            re.fullmatch(r"MZ\d{6}", row["pcode"]) and row["pcode"].startswith(row["district"])
        ), row
        assert row["source"], row


def test_every_changed_form_has_the_new_version():
    for form_id in FORM_IDS:
        assert parsed(form_id)["version"] >= "2026120101", form_id


def test_site_check_water_unknowns_and_quality():
    by_name = nodes("site_check")
    for known, number in (("water_litres_known", "water_litres_per_day"),
                          ("water_distance_known", "water_distance_m"),
                          ("water_queue_known", "water_queue_min")):  # fmt: skip
        assert by_name[number]["bind"]["relevant"] == f"${{{known}}} = 'yes'"
    assert "0.2" in by_name["frc_mg_l"]["soft_constraint"]
    for name in ("mhm_items", "soap_available_site", "bednets_distributed",
                 "measles_vaccination", "muac_screening", "child_friendly_space",
                 "women_safe_space"):  # fmt: skip
        assert by_name[name]["sensitivity"] == "public", name
    assert "school_used_as_shelter" in by_name["site_m2_per_person"]["bind"]["calculate"]


def test_documents_include_the_bi_receipt_and_a_declaration():
    for list_name in ("documents", "id_doc"):
        assert {"talao_bi", "declaracao"} <= set(choice_names("household_registration", list_name))


def test_washington_group_has_its_preamble_and_who_answered():
    by_name = nodes("household_registration")
    assert "PROBLEMA DE SAÚDE" in by_name["wg_intro"]["label"]["Português (pt)"]
    assert choice_names("household_registration", "respondent") == ["self", "proxy"]
    labels = {c["name"]: c["label"]["English (en)"]
              for c in parsed("household_registration")["choices"]["vulnerability"]}  # fmt: skip
    assert "no responsible adult" in labels["unaccompanied_child"]
    assert "not necessarily from other relatives" in labels["separated_child"]


def test_diaspora_engagement_beyond_intentions():
    by_name = nodes("diaspora_mapping")
    for name in ("remit_recipients", "remit_province", "remit_district", "invested_mz",
                 "trades_mz", "donated_mz", "migration_reasons", "recruitment_channel"):  # fmt: skip
        assert by_name[name]["sensitivity"] == "public", name
    assert by_name["consular_documents"]["sensitivity"] == "sensitive"
    assert by_name["remit_district"]["choice_filter"] == "province = ${remit_province}"
