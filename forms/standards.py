"""Minimum standards (Sphere / UNHCR) as data, and the green/amber/red rating of indicators.

Thresholds live in a JSON file a camp manager can switch (emergency or post-emergency
phase) or edit; `forms/data/sphere_thresholds.json` is the bundled emergency set. Each
indicator names the form and the field (a question or calculate) that holds its value:

    {"standard": "Sphere", "edition": "2018", "phase": "emergency",
     "indicators": [{"id": "people_per_latrine", "form_id": "site_check",
                     "field": "people_per_latrine", "label": {"en": ..., "pt": ...},
                     "direction": "max", "green": 20, "amber": 50, "unit": "people",
                     "source": "Sphere 2018 WASH: ..."}]}

`direction` "max" means lower is better: green when value <= green, amber when
value <= amber, otherwise red. "min" means higher is better: green when value >= green,
amber when value >= amber, otherwise red. Ratings are warnings shown with their threshold
and source, never errors that block a record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Colour",
    "Indicator",
    "Rating",
    "Thresholds",
    "assess",
    "load_thresholds",
    "rate",
]

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_THRESHOLDS_PATH = DATA_DIR / "sphere_thresholds.json"
POST_EMERGENCY_THRESHOLDS_PATH = DATA_DIR / "sphere_thresholds_post_emergency.json"

Colour = Literal["green", "amber", "red"]
Direction = Literal["max", "min"]


@dataclass(frozen=True)
class Indicator:
    id: str
    form_id: str
    field: str
    label: dict[str, str]
    direction: Direction
    green: float
    amber: float
    unit: str
    source: str

    def text(self, language: str = "en") -> str:
        """The label in `language` ("pt" or "en"), falling back to English."""
        return self.label.get(language) or self.label.get("en") or self.id

    def threshold_text(self, language: str = "en") -> str:
        """The standard in words, e.g. "≤ 20 people (amber ≤ 50)"."""
        sign = "≤" if self.direction == "max" else "≥"
        amber_word = "amarelo" if language == "pt" else "amber"
        return (
            f"{sign} {_number(self.green)} {self.unit} ({amber_word} {sign} {_number(self.amber)})"
        )


@dataclass(frozen=True)
class Thresholds:
    standard: str
    edition: str
    phase: str
    indicators: tuple[Indicator, ...]
    source: str = field(default="", compare=False)

    def for_form(self, form_id: str) -> list[Indicator]:
        """The indicators rated on records of one form, in file order."""
        return [indicator for indicator in self.indicators if indicator.form_id == form_id]

    def indicator(self, indicator_id: str) -> Indicator:
        for indicator in self.indicators:
            if indicator.id == indicator_id:
                return indicator
        raise KeyError(f"{self.source or 'thresholds'}: no indicator {indicator_id!r}")

    @property
    def title(self) -> str:
        """E.g. "Sphere 2018, emergency phase"."""
        return f"{self.standard} {self.edition}, {self.phase} phase"


@dataclass(frozen=True)
class Rating:
    indicator: Indicator
    value: float | None
    colour: Colour | None

    def threshold_text(self, language: str = "en") -> str:
        """What the value is measured against, with its source, for display next to it."""
        return f"{self.indicator.threshold_text(language)}: {self.indicator.source}"

    def message(self, language: str = "en") -> str:
        """One line for a warning list, e.g. "People per functional latrine: 64 (red; ...)"."""
        shown = "—" if self.value is None else _number(self.value)
        colour = self.colour or ("sem valor" if language == "pt" else "no value")
        return (
            f"{self.indicator.text(language)}: {shown} ({colour}; {self.threshold_text(language)})"
        )


def _number(value: float) -> str:
    return f"{value:g}"


def _as_number(value: Any) -> float | None:
    """A record value as a float, or None when missing (None, '', NaN, not a number)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def rate(indicator: Indicator, value: float | str | None) -> Colour | None:
    """Green, amber or red for a value; None when the value is missing or NaN.

    Calculated values from a form may arrive as strings ('' when a guarded division had no
    denominator); numeric strings are read as numbers and anything else counts as missing.
    """
    number = _as_number(value)
    if number is None:
        return None
    if indicator.direction == "max":
        if number <= indicator.green:
            return "green"
        return "amber" if number <= indicator.amber else "red"
    if number >= indicator.green:
        return "green"
    return "amber" if number >= indicator.amber else "red"


def assess(
    thresholds: Thresholds, form_id: str, record: Mapping[str, Any], *, skip_missing: bool = True
) -> list[Rating]:
    """Rate every indicator of `form_id` whose field is in the record."""
    ratings = []
    for indicator in thresholds.for_form(form_id):
        value = _as_number(record.get(indicator.field))
        if value is None and skip_missing:
            continue
        ratings.append(Rating(indicator, value, rate(indicator, value)))
    return ratings


_REQUIRED_TOP = ("standard", "edition", "phase", "indicators")
_REQUIRED_INDICATOR = ("id", "form_id", "field", "label", "direction", "green", "amber", "unit")


def _parse_indicator(path: Path, index: int, raw: Any) -> Indicator:
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: indicator {index} must be an object")
    name = raw.get("id") if isinstance(raw.get("id"), str) else f"number {index}"
    where = f"{path}: indicator {name!r}"
    missing = [key for key in _REQUIRED_INDICATOR if key not in raw]
    if missing:
        raise ValueError(f"{where} is missing {', '.join(missing)}")
    for key in ("id", "form_id", "field", "unit"):
        if not isinstance(raw[key], str) or (key != "unit" and not raw[key].strip()):
            raise ValueError(f"{where}: {key!r} must be text")
    label = raw["label"]
    if (
        not isinstance(label, dict)
        or not label
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in label.items())
    ):
        raise ValueError(f'{where}: "label" must map language codes to text, e.g. {{"en": ...}}')
    direction = raw["direction"]
    if direction not in ("max", "min"):
        raise ValueError(f"{where}: direction must be 'max' or 'min', not {direction!r}")
    numbers = {}
    for key in ("green", "amber"):
        value = raw[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{where}: {key!r} must be a number, not {value!r}")
        numbers[key] = float(value)
    green, amber = numbers["green"], numbers["amber"]
    if direction == "max" and amber < green:
        raise ValueError(
            f"{where}: for direction 'max' (lower is better) amber ({amber:g}) "
            f"must be at least green ({green:g})"
        )
    if direction == "min" and amber > green:
        raise ValueError(
            f"{where}: for direction 'min' (higher is better) amber ({amber:g}) "
            f"must be at most green ({green:g})"
        )
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise ValueError(f"{where}: 'source' must be text")
    return Indicator(
        id=raw["id"],
        form_id=raw["form_id"],
        field=raw["field"],
        label=dict(label),
        direction=direction,
        green=green,
        amber=amber,
        unit=raw["unit"],
        source=source,
    )


def load_thresholds(path: str | Path | None = None) -> Thresholds:
    """Read a thresholds file (the bundled emergency-phase Sphere set by default).

    Raises ValueError naming the file, and the indicator where there is one, when the data
    is not as described in this module's docstring.
    """
    path = Path(path or DEFAULT_THRESHOLDS_PATH)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with {', '.join(_REQUIRED_TOP)}")
    missing = [key for key in _REQUIRED_TOP if key not in data]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    if not isinstance(data["indicators"], list) or not data["indicators"]:
        raise ValueError(f"{path}: 'indicators' must be a non-empty list")
    indicators = tuple(
        _parse_indicator(path, index, raw) for index, raw in enumerate(data["indicators"])
    )
    seen: set[str] = set()
    for indicator in indicators:
        if indicator.id in seen:
            raise ValueError(f"{path}: indicator {indicator.id!r} appears more than once")
        seen.add(indicator.id)
    return Thresholds(
        standard=str(data["standard"]),
        edition=str(data["edition"]),
        phase=str(data["phase"]),
        indicators=indicators,
        source=str(path),
    )
