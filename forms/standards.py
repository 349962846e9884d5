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

Optional keys, for the cases a plain ratio gets wrong:

- `facility_field` and `population_field` (with a `zero_message` in en and pt): a ratio
  such as people per latrine is empty when there are no latrines, yet zero functioning
  latrines for 480 people is the worst case, not "no value". When the facility count is 0
  and the population above 0 the indicator is red with its own message (reason "zero").
- `not_rated_when` ({"school_used_as_shelter": "yes"}): the standard does not apply to the
  record (Sphere's 45 m² per person of site area is for planned sites, not a school used
  as a collective centre); the indicator is left out (reason "not_applicable").
- `mixed_with` (other facility fields): people per tap divides everyone by the taps, which
  overstates the load when the site also has hand pumps or wells. When any of these other
  facilities is above 0 the per-type ratio is left out (reason "mixed") and
- `capacity_of` (indicator ids) rates instead the load on all water points together:
  people ÷ (taps × the tap standard + pumps × the pump standard + ...) in percent, with the
  per-type standards of the same file, so the post-emergency file gives the stricter load.
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

Reason = Literal["zero", "not_applicable", "mixed"]

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
    facility_field: str | None = None
    population_field: str | None = None
    zero_message: dict[str, str] = field(default_factory=dict, compare=False)
    not_rated_when: dict[str, str] = field(default_factory=dict, compare=False)
    mixed_with: tuple[str, ...] = ()
    capacity_of: tuple[str, ...] = ()

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
    reason: Reason | None = None  # why there is no plain value (see the module docstring)
    population: float | None = None  # with reason "zero": the people left without

    def threshold_text(self, language: str = "en") -> str:
        """What the value is measured against, with its source, for display next to it."""
        return f"{self.indicator.threshold_text(language)}: {self.indicator.source}"

    def text(self, language: str = "en") -> str:
        """What is rated: the indicator's label, or for reason "zero" its own message
        ("No functioning latrine for 480 people")."""
        if self.reason != "zero":
            return self.indicator.text(language)
        text = self.indicator.zero_message
        said = text.get(language) or text.get("en") or self.indicator.text(language)
        return said.format(population=_number(self.population or 0))

    def message(self, language: str = "en") -> str:
        """One line for a warning list, e.g. "People per functional latrine: 64 (red; ...)"."""
        if self.reason == "zero":
            return f"{self.text(language)} ({self.colour}; {self.threshold_text(language)})"
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
    """Rate every indicator of `form_id` whose field is in the record.

    With `skip_missing` (the default) an indicator without a value is left out; otherwise
    it is listed with no colour (and its reason when it does not apply to the record).
    """
    ratings = []
    for indicator in thresholds.for_form(form_id):
        rating = _assess_one(thresholds, indicator, record)
        if rating.colour is None and skip_missing:
            continue
        ratings.append(rating)
    return ratings


def _assess_one(thresholds: Thresholds, indicator: Indicator, record: Mapping[str, Any]) -> Rating:
    def number(name: str | None) -> float | None:
        return _as_number(record.get(name)) if name else None

    if any(str(record.get(k, "")) == v for k, v in indicator.not_rated_when.items()):
        return Rating(indicator, None, None, "not_applicable")
    others_in_use = any((number(other) or 0) > 0 for other in indicator.mixed_with)
    if others_in_use and (number(indicator.facility_field) or 0) > 0:
        return Rating(indicator, None, None, "mixed")
    if indicator.capacity_of:
        value = _capacity_load(thresholds, indicator, record)
    else:
        value = number(indicator.field)
    population = number(indicator.population_field)
    if (
        value is None
        and number(indicator.facility_field) == 0
        and population is not None
        and population > 0
    ):
        return Rating(indicator, None, "red", "zero", population)
    return Rating(indicator, value, rate(indicator, value))


def _capacity_load(
    thresholds: Thresholds, indicator: Indicator, record: Mapping[str, Any]
) -> float | None:
    """People as a percentage of what the site's water points serve at their standards;
    None unless at least two kinds of water point are in use (one kind is its own ratio)."""
    population = _as_number(record.get(indicator.population_field or ""))
    if population is None or population <= 0:
        return None
    capacity, kinds = 0.0, 0
    for part_id in indicator.capacity_of:
        part = thresholds.indicator(part_id)
        count = _as_number(record.get(part.facility_field or "")) or 0
        if count > 0:
            capacity += count * part.green
            kinds += 1
    if kinds < 2:
        return None
    return round(100 * population / capacity, 1)


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
    extra = _parse_optional(where, raw)
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
        **extra,
    )


def _parse_optional(where: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The optional keys described in the module docstring, checked."""
    extra: dict[str, Any] = {}
    for key in ("facility_field", "population_field"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise ValueError(f"{where}: {key!r} must name a field")
            extra[key] = raw[key]
    for key in ("zero_message", "not_rated_when"):
        if key in raw:
            value = raw[key]
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ValueError(f"{where}: {key!r} must map text to text")
            extra[key] = dict(value)
    for key in ("mixed_with", "capacity_of"):
        if key in raw:
            value = raw[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{where}: {key!r} must be a list of names")
            extra[key] = tuple(value)
    if "facility_field" in extra and "population_field" in extra:
        message = extra.get("zero_message", {})
        if not (message.get("en") and message.get("pt")):
            raise ValueError(
                f"{where}: a 'facility_field' needs a 'zero_message' in en and pt, said when "
                "there are none of the facilities for the people present"
            )
    if extra.get("capacity_of") and "population_field" not in extra:
        raise ValueError(f"{where}: 'capacity_of' needs a 'population_field'")
    return extra


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
    for indicator in indicators:
        for part_id in indicator.capacity_of:
            part = next((i for i in indicators if i.id == part_id), None)
            if part is None or not part.facility_field or part.direction != "max":
                raise ValueError(
                    f"{path}: indicator {indicator.id!r}: 'capacity_of' names {part_id!r}, "
                    "which must be a people-per-facility indicator of the file"
                )
    return Thresholds(
        standard=str(data["standard"]),
        edition=str(data["edition"]),
        phase=str(data["phase"]),
        indicators=indicators,
        source=str(path),
    )
