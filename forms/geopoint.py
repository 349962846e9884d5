"""Geopoint answers: the one home of reading ODK's "lat lon [altitude [accuracy]]" text.

The validator checks geopoint answers with it, the expression engine's `distance()` and
`area()` read their points with it, and `parse_geopoint` gives the numbers with an error that
quotes the text. Layer 0: pure, no shapely (`forms.geo` holds the geometry).
"""

from __future__ import annotations

import math
import re

__all__ = ["ODK_NUMBER", "geopoint_numbers", "parse_geopoint", "split_geopoint"]

# What ODK reads as a number in a geopoint: digits, '-' and '.'. It keeps out what float()
# accepts but ODK doesn't: nan, inf, 1_0, 1e5.
ODK_NUMBER = re.compile(r"[-.0-9]+")


def geopoint_numbers(text: str, *, odk_numbers: bool = False) -> list[float] | None:
    """The 2 to 4 numbers of a geopoint, or None when the text is not that shape.

    With `odk_numbers`, only ODK's spelling of a number counts (see `ODK_NUMBER`). The
    numbers are not range-checked: callers decide what an impossible latitude means.
    """
    parts = text.split()
    if not 2 <= len(parts) <= 4:
        return None
    if odk_numbers and not all(ODK_NUMBER.fullmatch(part) for part in parts):
        return None
    try:
        return [float(part) for part in parts]
    except ValueError:  # "1-2"
        return None


def split_geopoint(text: str) -> tuple[float, float, float | None, float | None]:
    """(lat, lon, altitude, accuracy) of a geopoint already known to be well formed."""
    numbers = geopoint_numbers(text)
    if numbers is None:
        raise ValueError(f"not a geopoint: {text!r}")
    lat, lon = numbers[0], numbers[1]
    altitude = numbers[2] if len(numbers) > 2 else None
    accuracy = numbers[3] if len(numbers) > 3 else None
    return lat, lon, altitude, accuracy


def parse_geopoint(text: str) -> tuple[float, float, float | None, float | None]:
    """Split an ODK geopoint answer "lat lon [altitude [accuracy]]" into numbers.

    Returns (lat, lon, altitude, accuracy), with None for the parts that are absent.
    Raises ValueError, quoting the text, when it is not a geopoint.
    """
    if not isinstance(text, str):
        raise ValueError(f"geopoint must be text like '-17.879 36.888 0 5', got {text!r}")
    parts = text.split()
    if not 2 <= len(parts) <= 4:
        raise ValueError(
            f"geopoint {text!r} must be 'latitude longitude [altitude [accuracy]]', "
            f"separated by spaces"
        )
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"geopoint {text!r} has a part that is not a number") from None
    if any(not math.isfinite(n) for n in numbers):
        raise ValueError(f"geopoint {text!r} has a part that is not a finite number")
    lat, lon = numbers[0], numbers[1]
    if not -90 <= lat <= 90:
        raise ValueError(f"geopoint {text!r}: latitude {lat} is outside -90..90")
    if not -180 <= lon <= 180:
        raise ValueError(f"geopoint {text!r}: longitude {lon} is outside -180..180")
    altitude = numbers[2] if len(numbers) > 2 else None
    accuracy = numbers[3] if len(numbers) > 3 else None
    if accuracy is not None and accuracy < 0:
        raise ValueError(f"geopoint {text!r}: accuracy {accuracy} must not be negative")
    return lat, lon, altitude, accuracy
