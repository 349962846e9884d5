"""The tablet's position for ODK's `start-geopoint` and the audit log's locations.

`LocationTracker` keeps the latest fix from plyer's GPS where the platform has one
(Android); `latest()` gives it while it is fresh, else None with `reason` saying why:
`no-gps` (this desktop, a tablet without GPS or permission) or `no-fix` (the GPS has not
found the satellites yet, or its last fix is too old). The form session asks it once, when
a record is created. No Kivy here: plyer calls `on_location` from its own thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# ODK Collect takes start-geopoint from the first fix after the form opens; a fix older
# than this (the enumerator walked on) is not the record's start.
MAX_AGE_S = 120.0


@dataclass(frozen=True)
class Fix:
    latitude: float
    longitude: float
    altitude: float = 0.0
    accuracy: float = 0.0

    def as_geopoint(self) -> str:
        """ODK's geopoint answer: "lat lon altitude accuracy"."""
        return f"{self.latitude:.6f} {self.longitude:.6f} {self.altitude:.1f} {self.accuracy:.1f}"


class LocationTracker:
    """The latest GPS fix, kept while the app runs."""

    def __init__(
        self, *, max_age_s: float = MAX_AGE_S, clock: Callable[[], float] = time.monotonic
    ):
        self.max_age_s = max_age_s
        self.clock = clock
        self.available = False
        self._fix: tuple[float, Fix] | None = None
        self._lock = threading.Lock()

    @property
    def reason(self) -> str:
        """Why `latest()` has nothing: `no-gps` or `no-fix` ('' when it has a fix)."""
        if not self.available:
            return "no-gps"
        return "" if self.latest() else "no-fix"

    def start(self, platform: str) -> bool:
        """Listen to the GPS where plyer has one (Android, iOS); False elsewhere."""
        if platform not in ("android", "ios"):
            return False  # plyer prints a traceback when asked here: don't ask
        try:
            from plyer import gps

            gps.configure(on_location=self.on_location)
            gps.start(minTime=5000, minDistance=0)
        except (ImportError, NotImplementedError, ModuleNotFoundError):
            return False
        self.available = True
        return True

    def on_location(self, **location: float) -> None:
        fix = Fix(
            float(location["lat"]),
            float(location["lon"]),
            float(location.get("altitude", 0.0) or 0.0),
            float(location.get("accuracy", 0.0) or 0.0),
        )
        with self._lock:
            self.available = True
            self._fix = (self.clock(), fix)

    def latest(self, max_age_s: float | None = None) -> Fix | None:
        """The latest fix if it is fresh: at most `max_age_s` old (default: the tracker's)."""
        limit = self.max_age_s if max_age_s is None else max_age_s
        with self._lock:
            if self._fix is None or self.clock() - self._fix[0] > limit:
                return None
            return self._fix[1]
