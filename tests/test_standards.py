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
