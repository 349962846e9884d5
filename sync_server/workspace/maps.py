"""Outline maps as inline SVG, from the district GeoJSON shipped with the forms.

No tile server and no internet: the district office sees district outlines, the transit
sites as dots coloured by their rating, and a record's GPS position. Coordinates are
projected equirectangularly with longitude scaled by cos(mean latitude), which is exact
enough at a province's scale. The SVG is built as data for the template (which escapes
every text); nothing here writes markup.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forms import FORMS_DIR

DISTRICTS_PATH = FORMS_DIR / "data" / "zambezia_districts.geojson"
WIDTH = 640.0


@dataclass
class Shape:
    pcode: str
    name: str
    path: str  # SVG path data
    label_xy: tuple[float, float]
    highlighted: bool = False


@dataclass
class Dot:
    x: float
    y: float
    colour: str  # green / amber / red / none
    label: str = ""
    count: int = 0
    link: str = ""


@dataclass
class OutlineMap:
    width: float
    height: float
    shapes: list[Shape]
    dots: list[Dot] = field(default_factory=list)
    approximate: bool = True


@functools.lru_cache(maxsize=4)
def _districts(path: str) -> tuple[list[dict[str, Any]], bool]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    approximate = bool((data.get("properties") or {}).get("approximate", False))
    return data.get("features", []), approximate


def district_names(path: Path = DISTRICTS_PATH) -> dict[str, str]:
    """P-code -> district name, from the district GeoJSON ({} without one)."""
    if not path.is_file():
        return {}
    features, _ = _districts(str(path))
    return {f["properties"].get("pcode", ""): f["properties"].get("name", "") for f in features}


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry.get("type") == "Polygon":
        return list(geometry["coordinates"])
    if geometry.get("type") == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    return []


class Projection:
    def __init__(self, rings: list[list[list[float]]], width: float = WIDTH, pad: float = 8):
        lons = [p[0] for ring in rings for p in ring]
        lats = [p[1] for ring in rings for p in ring]
        self.west, self.east = min(lons), max(lons)
        self.south, self.north = min(lats), max(lats)
        self.kx = math.cos(math.radians((self.south + self.north) / 2))
        span_x = max((self.east - self.west) * self.kx, 1e-6)
        self.scale = (width - 2 * pad) / span_x
        self.pad = pad
        self.width = width
        self.height = (self.north - self.south) * self.scale + 2 * pad

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        x = self.pad + (lon - self.west) * self.kx * self.scale
        y = self.pad + (self.north - lat) * self.scale
        return round(x, 1), round(y, 1)


def outline_map(
    highlight: set[str] | None = None,
    only: set[str] | None = None,
    path: Path = DISTRICTS_PATH,
    width: float = WIDTH,
) -> OutlineMap | None:
    """Districts (all, or `only` these P-codes) as SVG paths; None without a GeoJSON."""
    if not path.is_file():
        return None
    features, approximate = _districts(str(path))
    chosen = [f for f in features if only is None or f["properties"].get("pcode") in only]
    if not chosen:
        return None
    projection = Projection([r for f in chosen for r in _rings(f["geometry"])], width)
    shapes = []
    for feature in chosen:
        props = feature["properties"]
        parts = []
        xs, ys = [], []
        for ring in _rings(feature["geometry"]):
            points = [projection.xy(lon, lat) for lon, lat, *_ in ring]
            xs += [p[0] for p in points]
            ys += [p[1] for p in points]
            parts.append("M" + " L".join(f"{x},{y}" for x, y in points) + " Z")
        shapes.append(
            Shape(
                pcode=props.get("pcode", ""),
                name=props.get("name", ""),
                path=" ".join(parts),
                label_xy=(round(sum(xs) / len(xs), 1), round(sum(ys) / len(ys), 1)),
                highlighted=bool(highlight and props.get("pcode") in highlight),
            )
        )
    result = OutlineMap(projection.width, round(projection.height, 1), shapes,
                        approximate=approximate)  # fmt: skip
    result.projection = projection  # type: ignore[attr-defined]
    return result


def record_map(position: tuple[float, float] | None, district: str | None) -> OutlineMap | None:
    """The record's district outline with its GPS position as a dot."""
    if position is None:
        return None
    found = outline_map(highlight={district} if district else None,
                        only={district} if district else None, width=320)  # fmt: skip
    if found is None:
        return None
    lat, lon = position
    x, y = found.projection.xy(lon, lat)  # type: ignore[attr-defined]
    found.dots.append(Dot(x, y, "record"))
    return found
