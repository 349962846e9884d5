"""Geography for soft checks: which district a GPS point falls in, which site, how far away.

Pure functions over shapely geometries; nothing here knows about Kivy, HTTP or SQL.

The bundled gazetteer (`forms/data/zambezia_districts.geojson` and
`forms/data/transit_sites.geojson`) is APPROXIMATE demo data: its `approximate` flag says so,
and a deployment replaces the files with the official COD-AB GeoJSON and the site
management agency's site list, keeping the property names:

- districts file: top-level `properties` with `pcode_scheme` (e.g. "COD-AB 2019"; never join
  codes across schemes) and optionally `approximate`; each feature has `pcode`, `name` and
  `province_pcode` (the official COD-AB names `ADM2_PCODE`, `ADM2_PT` and `ADM1_PCODE` are
  accepted too);
- sites file: each feature has `site_id`, `name`, `site_type`, `district_pcode` and a
  Polygon boundary; `centre` ([lon, lat]) is optional and defaults to the boundary's
  representative point.

Coordinates follow ODK: callers pass latitude first; GeoJSON and shapely store (lon, lat).

Distances: `distance_m` is the haversine great-circle distance with ODK's Earth radius
(6 378 100 m). Distances to a polygon find the nearest boundary point in a plane where
longitude is scaled by cos(latitude of the query point), then measure the haversine distance
to that point; within a province this is accurate to well under 1%, plenty for a warning.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from shapely import STRtree, prepare
from shapely.affinity import scale
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, unary_union

from forms.geopoint import parse_geopoint  # re-exported: the geography API takes geopoints

__all__ = [
    "EARTH_RADIUS_M",
    "District",
    "Gazetteer",
    "Site",
    "default_gazetteer",
    "distance_m",
    "parse_geopoint",
]

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_DISTRICTS_PATH = DATA_DIR / "zambezia_districts.geojson"
DEFAULT_SITES_PATH = DATA_DIR / "transit_sites.geojson"

# ODK's distance() and area() use this radius; matching it keeps our numbers and the
# tablet's identical.
EARTH_RADIUS_M = 6_378_100.0

# A site added by a coordinator has a position but no surveyed boundary yet: this disc
# stands in for it (a large accommodation centre's grounds are about this wide).
POSITION_ONLY_RADIUS_M = 150.0

SITE_TYPES = frozenset({"accommodation_centre", "resettlement_site", "host_community"})


@dataclass(frozen=True)
class District:
    pcode: str
    name: str
    geometry: BaseGeometry = field(repr=False, compare=False)
    province_pcode: str | None = None


@dataclass(frozen=True)
class Site:
    site_id: str
    name: str
    site_type: str
    district_pcode: str
    centre: Point = field(repr=False, compare=False)
    boundary: Polygon = field(repr=False, compare=False)
    opened: str | None = None
    closed: str | None = None


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine, R = 6 378 100 m as in ODK)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _distance_to_geometry_m(lat: float, lon: float, geometry: BaseGeometry) -> float:
    """Metres from a point to the nearest point of `geometry` (0 when inside)."""
    point = Point(lon, lat)
    if geometry.covers(point):
        return 0.0
    # Find the nearest point where a degree of longitude and of latitude are about the same
    # length, then measure to it on the sphere.
    k = math.cos(math.radians(lat))
    scaled = scale(geometry, xfact=k, yfact=1.0, origin=(0, 0))
    _, nearest = nearest_points(Point(lon * k, lat), scaled)
    return distance_m(lat, lon, nearest.y, nearest.x / k)


def _read_geojson(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ValueError(f"{path}: expected a GeoJSON FeatureCollection")
    if not isinstance(data.get("features"), list):
        raise ValueError(f"{path}: the FeatureCollection has no 'features' list")
    return data


def _feature_geometry(path: Path, index: int, feature: Any) -> BaseGeometry:
    where = f"{path}: feature {index}"
    if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
        raise ValueError(f"{where} has no geometry")
    try:
        geometry = shape(feature["geometry"])
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise ValueError(f"{where} has an unreadable geometry ({exc})") from None
    if not isinstance(geometry, Polygon | MultiPolygon) or geometry.is_empty:
        raise ValueError(f"{where} must be a Polygon or MultiPolygon, not {geometry.geom_type}")
    if not geometry.is_valid:
        raise ValueError(f"{where} has an invalid (e.g. self-intersecting) polygon")
    return geometry


def _property(path: Path, index: int, properties: dict, *names: str) -> str:
    for name in names:
        value = properties.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise ValueError(f"{path}: feature {index} has no {names[0]!r} property")


def _load_districts(path: Path) -> tuple[list[District], dict[str, Any]]:
    data = _read_geojson(path)
    meta = data.get("properties") or {}
    districts: list[District] = []
    seen: set[str] = set()
    for index, feature in enumerate(data["features"]):
        geometry = _feature_geometry(path, index, feature)
        properties = feature.get("properties") or {}
        pcode = _property(path, index, properties, "pcode", "ADM2_PCODE")
        name = _property(path, index, properties, "name", "ADM2_PT", "ADM2_EN")
        province = properties.get("province_pcode") or properties.get("ADM1_PCODE")
        if pcode in seen:
            raise ValueError(f"{path}: district P-code {pcode!r} appears more than once")
        seen.add(pcode)
        districts.append(District(pcode, name, geometry, province))
    if not districts:
        raise ValueError(f"{path}: has no districts")
    if not isinstance(meta.get("pcode_scheme"), str):
        raise ValueError(
            f'{path}: add a top-level "properties": {{"pcode_scheme": ...}} naming the P-code '
            f'scheme (e.g. "COD-AB 2019"), so codes are never joined across schemes'
        )
    return districts, meta


def _load_sites(path: Path, district_pcodes: set[str]) -> dict[str, Site]:
    data = _read_geojson(path)
    sites: dict[str, Site] = {}
    for index, feature in enumerate(data["features"]):
        geometry = _feature_geometry(path, index, feature)
        if isinstance(geometry, MultiPolygon):
            raise ValueError(f"{path}: feature {index} must be a single Polygon")
        properties = feature.get("properties") or {}
        site_id = _property(path, index, properties, "site_id")
        if site_id in sites:
            raise ValueError(f"{path}: site_id {site_id!r} appears more than once")
        site_type = _property(path, index, properties, "site_type")
        if site_type not in SITE_TYPES:
            raise ValueError(
                f"{path}: site {site_id!r} has site_type {site_type!r}; "
                f"expected one of {', '.join(sorted(SITE_TYPES))}"
            )
        district_pcode = _property(path, index, properties, "district_pcode")
        if district_pcode not in district_pcodes:
            raise ValueError(
                f"{path}: site {site_id!r} is in district {district_pcode!r}, which the "
                f"districts file does not have (same P-code scheme?)"
            )
        centre_value = properties.get("centre")
        if centre_value is None:
            centre = geometry.representative_point()
        else:
            try:
                lon, lat = (float(v) for v in centre_value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{path}: site {site_id!r} has centre {centre_value!r}; expected [lon, lat]"
                ) from None
            centre = Point(lon, lat)
        sites[site_id] = Site(
            site_id=site_id,
            name=_property(path, index, properties, "name"),
            site_type=site_type,
            district_pcode=district_pcode,
            centre=centre,
            boundary=geometry,
            opened=properties.get("opened"),
            closed=properties.get("closed"),
        )
    return sites


class Gazetteer:
    """Districts and sites with fast point lookups. Build one with `Gazetteer.load`."""

    def __init__(
        self,
        districts: list[District],
        sites: dict[str, Site],
        *,
        approximate: bool = False,
        pcode_scheme: str = "",
        province_pcode: str | None = None,
        province_name: str | None = None,
    ) -> None:
        self.districts = districts
        self.sites = sites
        self.approximate = approximate
        self.pcode_scheme = pcode_scheme
        self.province_pcode = province_pcode
        self.province_name = province_name  # for messages: "outside Zambézia"
        self._by_pcode = {d.pcode: d for d in districts}
        self._district_tree = STRtree([d.geometry for d in districts])
        self._site_list = list(sites.values())
        self._site_tree = STRtree([s.boundary for s in self._site_list])
        self.province = unary_union([d.geometry for d in districts])
        prepare(self.province)

    @classmethod
    def load(
        cls, districts_path: str | Path | None = None, sites_path: str | Path | None = None
    ) -> Gazetteer:
        """Read the districts and sites GeoJSON files (the bundled ones by default).

        Raises ValueError naming the file and the feature when a file is not the GeoJSON
        described in this module's docstring.
        """
        districts_path = Path(districts_path or DEFAULT_DISTRICTS_PATH)
        sites_path = Path(sites_path or DEFAULT_SITES_PATH)
        districts, meta = _load_districts(districts_path)
        sites = _load_sites(sites_path, {d.pcode for d in districts})
        return cls(
            districts,
            sites,
            approximate=bool(meta.get("approximate", False)),
            pcode_scheme=meta["pcode_scheme"],
            province_pcode=meta.get("province_pcode"),
            province_name=meta.get("province_name"),
        )

    def with_sites(self, rows: list[dict[str, Any]]) -> Gazetteer:
        """This gazetteer's districts with another site list: the server's living list
        (rows with site_id, name, site_type, district_pcode, lat, lon, and `boundary` as
        GeoJSON text or None). A site known only by its position gets a disc of
        `POSITION_ONLY_RADIUS_M` around it as its boundary."""
        sites: dict[str, Site] = {}
        for row in rows:
            if row.get("lat") is None or row.get("lon") is None:
                continue
            centre = Point(float(row["lon"]), float(row["lat"]))
            boundary = shape(json.loads(row["boundary"])) if row.get("boundary") else None
            if not isinstance(boundary, Polygon):
                # Degrees of latitude are ~110.6 km; longitude shrinks with cos(latitude).
                k = math.cos(math.radians(centre.y))
                disc = Point(centre.x * k, centre.y).buffer(POSITION_ONLY_RADIUS_M / 110_600)
                boundary = scale(disc, xfact=1 / k, yfact=1.0, origin=(0, 0))
            sites[str(row["site_id"])] = Site(
                site_id=str(row["site_id"]),
                name=str(row["name"]),
                site_type=str(row.get("site_type") or ""),
                district_pcode=str(row.get("district_pcode") or ""),
                centre=centre,
                boundary=boundary,
                opened=row.get("opened"),
                closed=row.get("closed"),
            )
        return Gazetteer(
            self.districts,
            sites,
            approximate=self.approximate,
            pcode_scheme=self.pcode_scheme,
            province_pcode=self.province_pcode,
            province_name=self.province_name,
        )

    def district(self, pcode: str) -> District | None:
        return self._by_pcode.get(pcode)

    def district_of(self, lat: float, lon: float) -> District | None:
        """The district containing the point (on a shared border, the first in file order)."""
        hits = self._district_tree.query(Point(lon, lat), predicate="intersects")
        return self.districts[min(hits)] if len(hits) else None

    def site_of(self, lat: float, lon: float) -> Site | None:
        """The site whose boundary contains the point, or None."""
        hits = self._site_tree.query(Point(lon, lat), predicate="intersects")
        return self._site_list[min(hits)] if len(hits) else None

    def in_province(self, lat: float, lon: float, margin_m: float = 0) -> bool:
        """True when the point is inside the union of the districts, or within `margin_m`."""
        point = Point(lon, lat)
        if self.province.covers(point):
            return True
        if margin_m <= 0:
            return False
        # A degree of latitude is at least 110 km: rule out far points without the projection.
        if self.province.distance(point) * 110_000 > margin_m * 1.5:
            return False
        return _distance_to_geometry_m(lat, lon, self.province) <= margin_m

    def distance_to_site_m(self, lat: float, lon: float, site_id: str) -> float:
        """Metres from the point to the site's boundary; 0 inside. KeyError for an unknown site."""
        try:
            site = self.sites[site_id]
        except KeyError:
            raise KeyError(f"no site {site_id!r} in the gazetteer") from None
        return _distance_to_geometry_m(lat, lon, site.boundary)


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """The bundled (approximate) Zambezia gazetteer, loaded once."""
    return Gazetteer.load()
