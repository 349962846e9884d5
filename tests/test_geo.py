import json
import math
import time

import pytest
from shapely.geometry import shape

from forms.geo import (
    DEFAULT_DISTRICTS_PATH,
    DEFAULT_SITES_PATH,
    EARTH_RADIUS_M,
    Gazetteer,
    default_gazetteer,
    distance_m,
    parse_geopoint,
)

pytestmark = pytest.mark.unit

QUELIMANE = (-17.879, 36.888)
MOCUBA = (-16.839, 36.986)
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180


@pytest.fixture(scope="module")
def gazetteer():
    return default_gazetteer()


@pytest.mark.parametrize(
    ("town", "lat", "lon", "pcode"),
    [
        ("Quelimane", *QUELIMANE, "MZ1103"),
        ("Mocuba", *MOCUBA, "MZ1114"),
        ("Nicoadala", -17.60, 36.82, "MZ1122"),
        ("Morrumbala", -17.32, 35.58, "MZ1118"),
        ("Chinde", -18.58, 36.46, "MZ1102"),
        ("Gurué", -15.467, 36.983, "MZ1106"),
        ("Alto Molócuè", -15.649, 37.664, "MZ1101"),
    ],
)
def test_known_towns_fall_in_their_districts(gazetteer, town, lat, lon, pcode):
    district = gazetteer.district_of(lat, lon)
    assert district is not None, town
    assert district.pcode == pcode, town
    assert gazetteer.in_province(lat, lon)


@pytest.mark.parametrize(
    ("place", "lat", "lon"),
    [
        ("Indian Ocean off Quelimane", -18.30, 37.40),
        ("Maputo", -25.9692, 32.5732),
        ("Blantyre, Malawi", -15.786, 35.005),
    ],
)
def test_points_outside_the_province(gazetteer, place, lat, lon):
    assert gazetteer.district_of(lat, lon) is None, place
    assert not gazetteer.in_province(lat, lon), place
    assert not gazetteer.in_province(lat, lon, margin_m=1000), place


def test_in_province_margin(gazetteer):
    # About 2 km east of the province's north-eastern corner at (-16.82, 39.00).
    lat, lon = -16.82, 39.02
    assert not gazetteer.in_province(lat, lon)
    assert not gazetteer.in_province(lat, lon, margin_m=1000)
    assert gazetteer.in_province(lat, lon, margin_m=5000)


def test_bundled_gazetteer_describes_itself(gazetteer):
    assert gazetteer.approximate is True
    assert gazetteer.pcode_scheme == "COD-AB 2019"
    assert gazetteer.province_pcode == "MZ11"
    assert [d.pcode for d in gazetteer.districts] == [f"MZ11{n:02d}" for n in range(1, 24)]
    assert default_gazetteer() is gazetteer  # cached
    minx, miny, maxx, maxy = gazetteer.province.bounds
    assert miny >= -18.91 and maxy <= -14.98 and minx >= 35.30 and maxx <= 39.0


def test_districts_do_not_overlap(gazetteer):
    districts = gazetteer.districts
    for i, first in enumerate(districts):
        for second in districts[i + 1 :]:
            assert first.geometry.intersection(second.geometry).area < 1e-9, (
                first.pcode,
                second.pcode,
            )


def test_sites_are_found_at_their_centres(gazetteer):
    assert len(gazetteer.sites) == 8
    for site_id, site in gazetteer.sites.items():
        lat, lon = site.centre.y, site.centre.x
        assert gazetteer.site_of(lat, lon).site_id == site_id
        assert gazetteer.district_of(lat, lon).pcode == site.district_pcode
        assert gazetteer.distance_to_site_m(lat, lon, site_id) == 0


def test_sites_are_realistic(gazetteer):
    for site in gazetteer.sites.values():
        district = gazetteer.district(site.district_pcode)
        assert district.geometry.contains(site.boundary), site.site_id
        lat = site.centre.y
        hectares = site.boundary.area * METRES_PER_DEGREE**2 * math.cos(math.radians(lat)) / 1e4
        assert 2 <= hectares <= 20, site.site_id
        assert site.opened.startswith("2023-")
        assert site.closed is None


def test_site_of_outside_any_site(gazetteer):
    assert gazetteer.site_of(*QUELIMANE) is None
    assert gazetteer.site_of(-25.9692, 32.5732) is None


def test_distance_to_site(gazetteer):
    site = gazetteer.sites["MOZ-ZAM-0001"]
    lat, lon = site.centre.y, site.centre.x
    north = lat + 1000 / METRES_PER_DEGREE
    # The site is about 220 m × 160 m, so its edge is 80–110 m north of the centre.
    assert 880 < gazetteer.distance_to_site_m(north, lon, "MOZ-ZAM-0001") < 930
    far = gazetteer.distance_to_site_m(*QUELIMANE, "MOZ-ZAM-0001")
    assert far == pytest.approx(distance_m(*QUELIMANE, lat, lon), rel=0.01)
    with pytest.raises(KeyError, match="MOZ-ZAM-9999"):
        gazetteer.distance_to_site_m(lat, lon, "MOZ-ZAM-9999")


def test_distance_quelimane_mocuba():
    assert distance_m(*QUELIMANE, *MOCUBA) == pytest.approx(116_000, rel=0.01)
    assert distance_m(*MOCUBA, *QUELIMANE) == pytest.approx(distance_m(*QUELIMANE, *MOCUBA))
    assert distance_m(*QUELIMANE, *QUELIMANE) == 0


def test_district_lookup_is_fast(gazetteer):
    points = [(-18.9 + 4 * i / 2000, 35.3 + 3.7 * (i * 7 % 2000) / 2000) for i in range(2000)]
    start = time.perf_counter()
    for lat, lon in points:
        gazetteer.district_of(lat, lon)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-17.879 36.888 12.5 4.0", (-17.879, 36.888, 12.5, 4.0)),
        ("-17.879 36.888", (-17.879, 36.888, None, None)),
        ("  -17.879   36.888 0 ", (-17.879, 36.888, 0.0, None)),
    ],
)
def test_parse_geopoint(text, expected):
    assert parse_geopoint(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "latitude longitude"),
        ("-17.879", "latitude longitude"),
        ("-17.879 36.888 0 5 9", "latitude longitude"),
        ("abc 36.888", "not a number"),
        ("-95 36.888 0 5", "latitude"),
        ("-17.879 190 0 5", "longitude"),
        ("-17.879 36.888 0 -1", "accuracy"),
        ("nan 36.888", "finite"),
    ],
)
def test_parse_geopoint_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        parse_geopoint(text)


def test_parse_geopoint_rejects_non_text():
    with pytest.raises(ValueError):
        parse_geopoint(None)  # type: ignore[arg-type]


# ---- bad files ------------------------------------------------------------------------------


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def districts_json():
    return json.loads(DEFAULT_DISTRICTS_PATH.read_text(encoding="utf-8"))


def test_invalid_json_names_the_file(tmp_path):
    path = write(tmp_path, "broken_districts.geojson", "{not json")
    with pytest.raises(ValueError, match=r"broken_districts\.geojson"):
        Gazetteer.load(path, DEFAULT_SITES_PATH)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(type="Feature"), "FeatureCollection"),
        (lambda d: d["features"][0]["properties"].pop("pcode"), "feature 0 has no 'pcode'"),
        (
            lambda d: d["features"][1].update(geometry={"type": "Point", "coordinates": [36, -17]}),
            "feature 1 must be a Polygon",
        ),
        (
            lambda d: d["features"][2].update(geometry={"type": "Polygon", "coordinates": "x"}),
            "feature 2 has an unreadable geometry",
        ),
        (lambda d: d["properties"].pop("pcode_scheme"), "pcode_scheme"),
        (lambda d: d["features"][3]["properties"].update(pcode="MZ1101"), "more than once"),
    ],
)
def test_bad_districts_file(tmp_path, change, message):
    data = districts_json()
    change(data)
    path = write(tmp_path, "bad_districts.geojson", data)
    with pytest.raises(ValueError, match=r"bad_districts\.geojson") as error:
        Gazetteer.load(path, DEFAULT_SITES_PATH)
    assert message in str(error.value)


def test_sites_in_unknown_district_are_rejected(tmp_path):
    sites = json.loads(DEFAULT_SITES_PATH.read_text(encoding="utf-8"))
    sites["features"][0]["properties"]["district_pcode"] = "MZ0401"
    path = write(tmp_path, "bad_sites.geojson", sites)
    with pytest.raises(ValueError, match=r"bad_sites\.geojson.*MZ0401"):
        Gazetteer.load(DEFAULT_DISTRICTS_PATH, path)


def test_official_cod_ab_property_names_are_accepted(tmp_path):
    data = districts_json()
    data["properties"] = {"pcode_scheme": "COD-AB 2019"}
    for feature in data["features"]:
        p = feature["properties"]
        feature["properties"] = {
            "ADM2_PCODE": p["pcode"],
            "ADM2_PT": p["name"],
            "ADM1_PCODE": p["province_pcode"],
        }
    gazetteer = Gazetteer.load(write(tmp_path, "official.geojson", data), DEFAULT_SITES_PATH)
    assert gazetteer.approximate is False
    assert gazetteer.district_of(*QUELIMANE).name == "Cidade de Quelimane"
    assert shape(data["features"][0]["geometry"]).equals(gazetteer.districts[0].geometry)
