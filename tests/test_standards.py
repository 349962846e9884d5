import json
import math

import pytest

from forms.standards import (
    DEFAULT_THRESHOLDS_PATH,
    POST_EMERGENCY_THRESHOLDS_PATH,
    Indicator,
    Rating,
    assess,
    load_thresholds,
    rate,
)

pytestmark = pytest.mark.unit


def indicator(direction, green, amber):
    return Indicator(
        id="x",
        form_id="site_check",
        field="x",
        label={"en": "X", "pt": "X"},
        direction=direction,
        green=green,
        amber=amber,
        unit="people",
        source="test",
    )


LATRINES = indicator("max", 20, 50)
WATER = indicator("min", 15, 7.5)


@pytest.mark.parametrize(
    ("value", "colour"),
    [(0, "green"), (20, "green"), (20.01, "amber"), (50, "amber"), (50.1, "red"), (400, "red")],
)
def test_max_direction_lower_is_better(value, colour):
    assert rate(LATRINES, value) == colour


@pytest.mark.parametrize(
    ("value", "colour"),
    [(40, "green"), (15, "green"), (14.99, "amber"), (7.5, "amber"), (7.49, "red"), (0, "red")],
)
def test_min_direction_higher_is_better(value, colour):
    assert rate(WATER, value) == colour


@pytest.mark.parametrize("value", [None, math.nan, "", "  ", "n/a", math.inf, True])
def test_missing_values_are_not_rated(value):
    assert rate(LATRINES, value) is None


def test_numeric_strings_from_calculates_are_rated():
    assert rate(LATRINES, "25.5") == "amber"
    assert rate(WATER, "16") == "green"


def test_bundled_emergency_thresholds():
    thresholds = load_thresholds()
    assert (thresholds.standard, thresholds.edition, thresholds.phase) == (
        "Sphere",
        "2018",
        "emergency",
    )
    ids = {i.id for i in thresholds.for_form("site_check")}
    assert {
        "people_per_latrine",
        "people_per_tap",
        "people_per_handpump",
        "litres_per_person_day",
        "covered_m2_per_person",
        "site_m2_per_person",
        "female_male_latrine_ratio",
        "water_distance_m",
        "water_queue_min",
        "accessible_latrine_pct",
    } <= ids
    assert thresholds.for_form("household_registration") == []
    water = thresholds.indicator("litres_per_person_day")
    assert (water.direction, water.green, water.amber) == ("min", 15, 7.5)
    assert (thresholds.indicator("covered_m2_per_person").green) == 3.5
    site = thresholds.indicator("site_m2_per_person")
    assert (site.green, site.amber) == (45, 30)
    ratio = thresholds.indicator("female_male_latrine_ratio")
    assert (ratio.direction, ratio.green, ratio.amber) == ("min", 3, 1)
    for item in thresholds.indicators:
        assert item.label["en"] and item.label["pt"] and item.source, item.id


def test_post_emergency_thresholds_are_stricter():
    emergency = load_thresholds(DEFAULT_THRESHOLDS_PATH)
    post = load_thresholds(POST_EMERGENCY_THRESHOLDS_PATH)
    assert post.phase == "post-emergency"
    assert post.indicator("people_per_tap").green == 100
    assert post.indicator("water_distance_m").green == 200
    assert post.indicator("people_per_latrine").green == 20
    assert [i.id for i in post.indicators] == [i.id for i in emergency.indicators]
    for item in post.indicators:
        before = emergency.indicator(item.id)
        if item.direction == "max":
            assert item.green <= before.green and item.amber <= before.amber, item.id
        else:
            assert item.green >= before.green and item.amber >= before.amber, item.id


def test_rating_text_names_threshold_and_source():
    thresholds = load_thresholds()
    latrine = thresholds.indicator("people_per_latrine")
    rating = Rating(latrine, 64.0, rate(latrine, 64.0))
    assert rating.colour == "red"
    text = rating.threshold_text()
    assert "≤ 20 people" in text and "Sphere" in text
    assert "Pessoas por latrina funcional: 64 (red" in rating.message("pt")


def test_assess_rates_the_fields_present_in_a_record():
    thresholds = load_thresholds()
    record = {"people_per_latrine": "35.5", "litres_per_person_day": 6, "people_per_tap": ""}
    ratings = {r.indicator.id: r.colour for r in assess(thresholds, "site_check", record)}
    assert ratings == {"people_per_latrine": "amber", "litres_per_person_day": "red"}
    all_ratings = assess(thresholds, "site_check", record, skip_missing=False)
    assert len(all_ratings) == len(thresholds.for_form("site_check"))


# ---- bad files ------------------------------------------------------------------------------


def bundled():
    return json.loads(DEFAULT_THRESHOLDS_PATH.read_text(encoding="utf-8"))


def write(tmp_path, data):
    path = tmp_path / "camp_thresholds.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_invalid_json_names_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"camp_thresholds\.json: not valid JSON"):
        load_thresholds(write(tmp_path, "{"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("phase"), "missing phase"),
        (lambda d: d.update(indicators=[]), "non-empty list"),
        (lambda d: d["indicators"][0].update(direction="up"), "'people_per_latrine': direction"),
        (lambda d: d["indicators"][0].update(green="twenty"), "'people_per_latrine': 'green'"),
        (lambda d: d["indicators"][0].update(amber=10), "amber (10) must be at least green"),
        (lambda d: d["indicators"][4].update(amber=20), "amber (20) must be at most green"),
        (lambda d: d["indicators"][1].pop("field"), "'people_per_tap' is missing field"),
        (lambda d: d["indicators"][1].update(label="People"), "'people_per_tap': \"label\""),
        (lambda d: d["indicators"][2].update(id="people_per_latrine"), "more than once"),
    ],
)
def test_bad_thresholds_name_file_and_indicator(tmp_path, change, message):
    data = bundled()
    change(data)
    with pytest.raises(ValueError, match=r"camp_thresholds\.json") as error:
        load_thresholds(write(tmp_path, data))
    assert message in str(error.value)


# ---- the cases a plain ratio gets wrong (issue #11) ------------------------------------------


EMERGENCY = load_thresholds(DEFAULT_THRESHOLDS_PATH)
POST = load_thresholds(POST_EMERGENCY_THRESHOLDS_PATH)


def ratings_of(record, thresholds=EMERGENCY, skip_missing=True):
    return {r.indicator.id: r for r in assess(thresholds, "site_check", record,
                                             skip_missing=skip_missing)}  # fmt: skip


def test_zero_latrines_with_people_present_is_red_with_its_own_message():
    # The form's ratio is '' when there is no latrine to divide by.
    record = {"individuals": 480, "latrines_functional": 0, "people_per_latrine": ""}
    rating = ratings_of(record)["people_per_latrine"]
    assert (rating.colour, rating.reason, rating.value) == ("red", "zero", None)
    assert rating.message("pt").startswith("Nenhuma latrina funcional para 480 pessoas (red")
    assert rating.message("en").startswith("No functioning latrine for 480 people")
    assert rating.text("pt") == "Nenhuma latrina funcional para 480 pessoas"
    # No people, no latrines: nothing to rate.
    assert "people_per_latrine" not in ratings_of({**record, "individuals": 0})


def test_zero_taps_is_red_only_when_taps_are_a_source():
    record = {"individuals": 300, "taps_functional": 0, "people_per_tap": ""}
    rating = ratings_of(record)["people_per_tap"]
    assert (rating.colour, rating.reason) == ("red", "zero")
    assert "none works, for 300 people" in rating.message()
    # Taps not asked (no piped water at the site): not rated at all.
    assert "people_per_tap" not in ratings_of({"individuals": 300, "people_per_tap": ""})


def test_no_sex_segregated_latrines_is_red():
    record = {"latrines_functional": 12, "latrines_segregated": 0,
              "female_male_latrine_ratio": ""}  # fmt: skip
    rating = ratings_of(record)["female_male_latrine_ratio"]
    assert (rating.colour, rating.reason) == ("red", "zero")
    assert "No sex-segregated latrines" in rating.message()
    assert "Nenhuma latrina separada por sexo" in rating.message("pt")
    segregated = {"latrines_functional": 12, "latrines_segregated": 8,
                  "female_male_latrine_ratio": 3}  # fmt: skip
    assert ratings_of(segregated)["female_male_latrine_ratio"].colour == "green"


def test_people_per_shower_and_zero_showers():
    assert ratings_of({"people_per_shower": 40})["people_per_shower"].colour == "green"
    assert ratings_of({"people_per_shower": 80})["people_per_shower"].colour == "amber"
    assert ratings_of({"people_per_shower": 40}, POST)["people_per_shower"].colour == "amber"
    zero = ratings_of({"individuals": 90, "showers_functional": 0})["people_per_shower"]
    assert (zero.colour, zero.reason) == ("red", "zero")


def test_mixed_water_sources_rate_the_load_on_all_water_points():
    # 1,000 people, 2 taps and 2 hand pumps: "500 per tap" and "500 per pump" would both
    # charge everyone to one kind of point. Together they serve 2×250 + 2×500 = 1,500.
    record = {"individuals": 1000, "taps_functional": 2, "handpumps_functional": 2,
              "people_per_tap": 500, "people_per_handpump": 500}  # fmt: skip
    rated = ratings_of(record)
    assert "people_per_tap" not in rated and "people_per_handpump" not in rated
    load = rated["water_point_load_pct"]
    assert load.value == pytest.approx(66.7) and load.colour == "green"
    every = ratings_of(record, skip_missing=False)
    assert every["people_per_tap"].reason == every["people_per_handpump"].reason == "mixed"
    # Post-emergency standards (100 per tap, 250 per pump) give 1000 / 700 = 143%: amber.
    assert ratings_of(record, POST)["water_point_load_pct"].value == pytest.approx(142.9)
    assert ratings_of(record, POST)["water_point_load_pct"].colour == "amber"
    # One kind of water point: its own ratio, no load.
    alone = ratings_of({"individuals": 1000, "taps_functional": 2, "people_per_tap": 500})
    assert alone["people_per_tap"].colour == "amber" and "water_point_load_pct" not in alone


def test_a_school_used_as_shelter_is_not_rated_on_site_area():
    record = {"site_m2_per_person": 8, "school_used_as_shelter": "yes",
              "covered_m2_per_person": 2}  # fmt: skip
    rated = ratings_of(record)
    assert "site_m2_per_person" not in rated
    assert rated["covered_m2_per_person"].colour == "red"  # still rated on covered space
    assert ratings_of(record, skip_missing=False)["site_m2_per_person"].reason == ("not_applicable")
    planned = ratings_of({**record, "school_used_as_shelter": "no"})
    assert planned["site_m2_per_person"].colour == "red"


def test_post_emergency_water_and_hand_pumps_follow_unhcr():
    water, pump = POST.indicator("litres_per_person_day"), POST.indicator("people_per_handpump")
    assert (water.green, pump.green) == (20, 250)
    assert "UNHCR" in water.source and "UNHCR" in pump.source
    assert rate(water, 17) == "amber" and rate(pump, 300) == "amber"


@pytest.mark.parametrize("thresholds", [EMERGENCY, POST], ids=["emergency", "post"])
def test_every_threshold_is_traced_to_its_source(thresholds):
    """Each number names the standard it comes from; a band that is a project choice says so."""
    standards = ("Sphere", "UNHCR", "WASH guidance", "Computed")
    for item in thresholds.indicators:
        assert any(word in item.source for word in standards), item.id
        if item.facility_field:
            assert item.zero_message["en"] and item.zero_message["pt"], item.id
            assert "{population}" in item.zero_message["en"], item.id
    assert EMERGENCY.indicator("people_per_shower").source.startswith("UNHCR WASH Standards")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda i: i.update(facility_field=""), "'facility_field' must name a field"),
        (lambda i: i.pop("zero_message"), "needs a 'zero_message' in en and pt"),
        (lambda i: i.update(mixed_with="wells"), "'mixed_with' must be a list"),
    ],
)
def test_bad_optional_keys_name_the_indicator(tmp_path, change, message):
    data = bundled()
    change(data["indicators"][0])
    with pytest.raises(ValueError, match="'people_per_latrine'") as error:
        load_thresholds(write(tmp_path, data))
    assert message in str(error.value)


def test_capacity_must_name_people_per_facility_indicators(tmp_path):
    data = bundled()
    data["indicators"][-1]["capacity_of"] = ["litres_per_person_day"]
    with pytest.raises(ValueError, match="'water_point_load_pct': 'capacity_of' names"):
        load_thresholds(write(tmp_path, data))
