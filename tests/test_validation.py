"""validate_record: types, relevance, requirements, constraints, choices, repeats and GPS."""

from __future__ import annotations

import datetime as dt

import pytest

from forms import validate_record

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 11, 24, 10, 0)

HOUSEHOLD = """
| survey |
| | type | name | label::English (en) | label::Português (pt) | relevant | constraint | constraint_message::English (en) | constraint_message::Português (pt) | required | calculation | repeat_count | soft_constraint | soft_constraint_message::English (en) | choice_filter |
| | select_one yn | consent | Consent? | Consentimento? | | | | | yes | | | | | |
| | text | head_name | Head's name | Nome do chefe | ${consent} = 'yes' | | | | yes | | | | | |
| | integer | n_members | Members | Membros | ${consent} = 'yes' | . >= 1 and . <= 20 | 1 to 20 | 1 a 20 | yes | | | . <= 15 | Large household | |
| | begin_repeat | members | Member | Membro | ${consent} = 'yes' | | | | | | ${n_members} | | | |
| | text | given_name | Name | Nome | | | | | yes | | | | | |
| | integer | age | Age | Idade | | . >= 0 and . <= 110 | Age 0 to 110 | Idade 0 a 110 | yes | | | | | |
| | select_one sex | sex | Sex | Sexo | | | | | yes | | | | | |
| | select_multiple vuln | vulnerabilities | Vulnerabilities | Vulnerabilidades | ${age} >= 10 | | | | | | | | | |
| | calculate | is_child | | | | | | | | if(${age} < 18, 1, 0) | | | | |
| | calculate | label_here | | | | | | | | concat(${given_name}, ' (', ${age}, ')') | | | | |
| | end_repeat | | | | | | | | | | | | | |
| | calculate | n_children | | | | | | | | sum(${is_child}) | | | | |
| | calculate | share_children | | | | | | | | if(${n_members} > 0, ${n_children} div ${n_members}, '') | | | | |
| | select_one province | province | Province | Província | ${consent} = 'yes' | | | | | | | | | |
| | select_one district | district | District | Distrito | ${consent} = 'yes' | | | | | | | | | province = ${province} |
| | date | displaced_on | Displaced on | Deslocado em | ${consent} = 'yes' | . <= today() | Not in the future | Não no futuro | | | | | | |
| | geopoint | gps | GPS | GPS | ${consent} = 'yes' | | | | | | | | | |
| choices |
| | list_name | name | label::English (en) | label::Português (pt) | province |
| | yn | yes | Yes | Sim | |
| | yn | no | No | Não | |
| | sex | f | Female | Feminino | |
| | sex | m | Male | Masculino | |
| | vuln | pregnant | Pregnant | Grávida | |
| | vuln | chronic | Chronic illness | Doença crónica | |
| | province | zam | Zambézia | Zambézia | |
| | province | nam | Nampula | Nampula | |
| | district | MZ1120 | Namacurra | Namacurra | zam |
| | district | MZ0701 | Angoche | Angoche | nam |
| settings |
| | form_id | version | default_language |
| | hh | 1 | English (en) |
"""


@pytest.fixture
def form(load):
    return load(HOUSEHOLD)


def good_record(**changes):
    record = {
        "consent": "yes",
        "head_name": "Ana Mussa",
        "n_members": 2,
        "members": [
            {"given_name": "Ana", "age": 34, "sex": "f", "vulnerabilities": ["pregnant"]},
            {"given_name": "Zito", "age": 4, "sex": "m"},
        ],
        "province": "zam",
        "district": "MZ1120",
        "displaced_on": "2026-03-01",
        "gps": "-17.48 37.02 10 5",
    }
    record.update(changes)
    return record


def codes(result):
    return {(issue.path, issue.code) for issue in result.errors}


def test_a_complete_household_is_valid_and_gets_its_calculations(form):
    result = validate_record(form, good_record(), now=NOW)
    assert result.ok, result.errors
    assert result.record["n_children"] == 1
    assert result.record["share_children"] == 0.5
    assert result.record["members"][1]["is_child"] == 1
    assert result.record["members"][0]["label_here"] == "Ana (34)"
    assert result.calculated["members[2].label_here"] == "Zito (4)"


def test_required_only_when_relevant(form):
    refused = validate_record(form, {"consent": "no"}, now=NOW)
    assert refused.ok  # nothing else is required once consent is refused
    missing = validate_record(form, {"consent": "yes"}, now=NOW)
    assert ("head_name", "required") in codes(missing)
    assert ("n_members", "required") in codes(missing)


def test_non_relevant_answers_are_dropped(form):
    record = good_record(consent="no")
    result = validate_record(form, record, now=NOW)
    assert result.ok
    assert result.record == {"consent": "no", "n_children": 0}
    # and inside a repeat, per instance: the 4-year-old can't have vulnerabilities
    record = good_record()
    record["members"][1]["vulnerabilities"] = ["chronic"]
    result = validate_record(form, record, now=NOW)
    assert "vulnerabilities" not in result.record["members"][1]
    assert result.record["members"][0]["vulnerabilities"] == ["pregnant"]


def test_constraint_messages_in_the_chosen_language(form):
    record = good_record()
    record["members"][0]["age"] = 130
    english = validate_record(form, record, now=NOW, language="en")
    portuguese = validate_record(form, record, now=NOW, language="pt")
    assert [(i.path, i.code, i.message) for i in english.errors] == [
        ("members[1].age", "constraint", "Age 0 to 110")
    ]
    assert portuguese.errors[0].message == "Idade 0 a 110"


def test_built_in_messages_are_translated(form):
    result = validate_record(form, {"consent": "yes"}, now=NOW, language="pt")
    required = next(i for i in result.errors if i.code == "required")
    assert required.message == "Esta pergunta é obrigatória."


def test_soft_constraint_warns_without_blocking(form):
    record = good_record(n_members=16)
    record["members"] = [{"given_name": f"P{i}", "age": 20, "sex": "m"} for i in range(16)]
    result = validate_record(form, record, now=NOW)
    assert result.ok
    assert [(w.path, w.code, w.message) for w in result.warnings] == [
        ("n_members", "soft-constraint", "Large household")
    ]


def test_repeat_count_must_match(form):
    result = validate_record(form, good_record(n_members=3), now=NOW)
    assert [(i.path, i.code, i.message) for i in result.errors] == [
        ("members", "repeat-count", "Expected 3 entries here, found 2.")
    ]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("n_members", "two", "integer"),
        ("n_members", 2.5, "integer"),
        ("n_members", True, "integer"),
        ("n_members", 2**40, "integer-range"),
        ("displaced_on", "2026-02-30", "date"),
        ("displaced_on", "yesterday", "date"),
        ("displaced_on", "2099-01-01", "constraint"),
        ("head_name", "x" * 10_000, "text-too-long"),
        ("head_name", "Ana\x00\x1b[2J", "control-characters"),
        ("head_name", 42, "text"),
        ("consent", "maybe", "choice"),
        ("gps", "0 0", "geopoint-null-island"),
        ("gps", "-95 37", "geopoint-range"),
        ("gps", "somewhere", "geopoint"),
        ("district", "MZ0701", "choice-filtered"),
        ("district", "MZ9999", "choice"),
    ],
)
def test_bad_answers_get_a_clear_error(form, field, value, code):
    result = validate_record(form, good_record(**{field: value}), now=NOW)
    assert (field, code) in codes(result)
    issue = next(i for i in result.errors if i.path == field)
    assert issue.message and issue.name == field


def test_an_invalid_answer_is_kept_as_typed(form):
    result = validate_record(form, good_record(n_members="two"), now=NOW)
    assert result.record["n_members"] == "two"


def test_numbers_typed_as_text_are_accepted_and_normalised(form):
    result = validate_record(form, good_record(n_members=" 2 "), now=NOW)
    assert result.ok and result.record["n_members"] == 2


def test_select_multiple_checks_every_choice(form):
    record = good_record()
    record["members"][0]["vulnerabilities"] = ["pregnant", "flying"]
    assert ("members[1].vulnerabilities", "choice") in codes(validate_record(form, record))
    record["members"][0]["vulnerabilities"] = ["pregnant", "pregnant"]
    assert ("members[1].vulnerabilities", "choice-repeated") in codes(validate_record(form, record))


def test_unknown_fields_and_bad_shapes_are_errors(form):
    result = validate_record(form, good_record(password="x", members={"a": 1}), now=NOW)
    assert ("password", "unknown-field") in codes(result)
    assert ("members", "repeat-shape") in codes(result)
    nested = good_record()
    nested["members"][0]["shoe_size"] = 42
    assert ("members[1].shoe_size", "unknown-field") in codes(validate_record(form, nested))
    assert codes(validate_record(form, ["not", "a", "dict"])) == {("", "not-an-object")}


def test_gps_accuracy_worse_than_the_limit_is_a_warning(form):
    result = validate_record(form, good_record(gps="-17.48 37.02 10 120"), now=NOW)
    assert result.ok
    assert [w.code for w in result.warnings] == ["geopoint-accuracy"]


def test_relevance_and_calculation_order_follows_dependencies(load):
    # `flag` is used before the row that computes it, as ODK allows.
    form = load("""
        | survey |
        | | type | name | label | relevant | calculation |
        | | integer | a | A | | |
        | | text | b | B | ${flag} = 1 | |
        | | calculate | flag | | | if(${a} > 5, 1, 0) |
        """)
    assert validate_record(form, {"a": 9, "b": "kept"}).record == {"a": 9, "b": "kept", "flag": 1}
    assert validate_record(form, {"a": 1, "b": "dropped"}).record == {"a": 1, "flag": 0}


def test_references_inside_a_repeat_use_the_same_instance(load):
    form = load("""
        | survey |
        | | type | name | label | relevant | constraint |
        | | integer | min_age | Minimum | | |
        | | begin_repeat | people | People | | |
        | | integer | age | Age | | . >= ${min_age} |
        | | text | school | School | ${age} >= 6 and ${age} <= 17 | |
        | | end_repeat | | | | |
        """)
    record = {
        "min_age": 1,
        "people": [{"age": 10, "school": "EP1"}, {"age": 30, "school": "x"}, {"age": 0}],
    }
    result = validate_record(form, record)
    assert result.record["people"][0] == {"age": 10, "school": "EP1"}
    assert result.record["people"][1] == {"age": 30}
    assert codes(result) == {("people[3].age", "constraint")}


def test_required_expression_and_read_only_calculated_constraint(load):
    form = load("""
        | survey |
        | | type | name | label | required | calculation | read_only | constraint | constraint_message |
        | | integer | a | A | | | | | |
        | | text | b | B | ${a} > 3 | | | | |
        | | integer | check | Check | | ${a} * 2 | yes | . < 10 | Too big |
        """)
    assert codes(validate_record(form, {"a": 2})) == set()
    assert codes(validate_record(form, {"a": 4})) == {("b", "required")}
    too_big = validate_record(form, {"a": 6, "b": "x"})
    assert [(i.path, i.message) for i in too_big.errors] == [("check", "Too big")]


@pytest.mark.parametrize(
    ("kind", "good", "bad", "code"),
    [
        ("decimal", "2,5", "2.5.1", "decimal"),
        ("time", "14:05", "25:61", "time"),
        ("dateTime", "2026-11-24T10:00:00+02:00", "2026-13-01T10:00", "datetime"),
        ("geotrace", "-17.1 36.1 0 0;-17.2 36.2 0 0", "-17.1 36.1 0 0", "geotrace"),
        ("geoshape", "-17 36;-17 36.1;-17.1 36.1;-17 36", "-17 36;-17 36.1;-17 36", "geoshape"),
        ("acknowledge", "OK", "nope", "acknowledge"),
        ("barcode", "5601234567890", 5601234567890, "text"),
        ("image", "a1b2.jpg", ["a.jpg"], "text"),
    ],
)
def test_every_input_type_checks_its_format(load, kind, good, bad, code):
    form = load(f"""
        | survey |
        | | type | name | label |
        | | {kind} | q | Q |
        """)
    assert validate_record(form, {"q": good}).ok
    assert codes(validate_record(form, {"q": bad})) == {("q", code)}


def test_range_respects_start_end_and_step(load):
    form = load("""
        | survey |
        | | type | name | label | parameters |
        | | range | r | R | start=0 end=10 step=2 |
        """)
    assert validate_record(form, {"r": 4}).ok
    assert codes(validate_record(form, {"r": 5})) == {("r", "range")}
    assert codes(validate_record(form, {"r": 12})) == {("r", "range")}


def test_or_other_accepts_other_and_requires_the_text(load):
    form = load("""
        | survey |
        | | type | name | label |
        | | select_one c or_other | colour | Colour |
        | choices |
        | | list_name | name | label |
        | | c | red | Red |
        """)
    assert codes(validate_record(form, {"colour": "other"})) == {("colour_other", "required")}
    assert validate_record(form, {"colour": "other", "colour_other": "teal"}).ok
    assert validate_record(form, {"colour": "red", "colour_other": "x"}).record == {"colour": "red"}


def test_result_answers_what_a_screen_needs(form):
    """The app draws from the result: relevance, values, filtered choices, expressions."""
    record = good_record(province="nam")
    record.pop("district")
    result = validate_record(form, record, now=NOW)
    district = form.question("district")
    assert [c.name for c in result.filtered_choices(district)] == ["MZ0701"]
    assert result.is_relevant("head_name")
    assert not result.is_relevant("vulnerabilities", (1,))  # the 4-year-old
    assert result.value("is_child", (1,)) == 1.0
    assert result.evaluate("concat(${head_name}, ' / ', ${n_children})") == "Ana Mussa / 1"
    refused = validate_record(form, {"consent": "no"}, now=NOW)
    assert not refused.is_relevant("head_name")
