"""ODK's audit log (`audit` in the form's survey): `audit.csv`, written as the record is filled.

ODK Collect's format (docs.getodk.org/form-audit-log), so tools built for Collect's audits
read ours:

    event,node,start,end[,latitude,longitude,accuracy][,old-value,new-value]

- `event`: `form start`, `form resume`, `question`, `add repeat`, `delete repeat`,
  `constraint error`, `form save`, `form finalize`, `form exit`, and
  `location tracking enabled` when the form asks for locations (`location-priority`) and
  the tablet has a GPS, else `location providers disabled` (this desktop, a tablet without
  one) and the location columns stay empty;
- `node`: the answer's XPath in the record, `/data/members[2]/age` (`/data` is the
  instance root ODK uses), empty for form-level events;
- `start`, `end`: milliseconds since the epoch; a question's event spans the time its
  screen was shown;
- `latitude`, `longitude`, `accuracy` (when locations are asked): the tablet's latest fix
  when the event happened, if it is at most `location-max-age` seconds old (ODK's
  parameter; default 60), else empty. ODK also writes a `location changed` row every
  `location-min-interval`; we do not (the position rides on every event instead);
- with `track-changes=true`, `old-value`/`new-value`: the answer when the screen was
  shown and when it was left. Only then do rows hold answers, and the form's `audit`
  question is `sensitive` (personal data in the file).

The file lives with the record's other files (`Store.media_dir`) and the `audit` answer
holds its name, so it syncs like a photo (`fieldapp.media_sync`). Rows are appended as
events close, so a crash loses at most the screen being shown. Once the server has a
record's `audit.csv`, a later edit writes `audit-2.csv` (then `-3`, ...): an uploaded file
never changes. Pure Python with a clock you can inject; no Kivy.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fieldapp.location import Fix
from forms.model import Question

FILE_NAME = "audit.csv"
DEFAULT_LOCATION_MAX_AGE_S = 60.0  # ODK Collect's default for `location-max-age`


def _millis(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp() * 1000)


def node_path(path: str) -> str:
    """A record path as ODK's node: `members[2].age` -> `/data/members[2]/age`."""
    return "/data/" + path.replace(".", "/") if path else ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


class AuditLog:
    """The audit of one record's editing sessions, appended to its CSV file."""

    def __init__(
        self,
        question: Question,
        folder: Path,
        name: str,
        *,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
        has_gps: bool = False,
        locate: Callable[[float], Fix | None] | None = None,
    ):
        """`locate(max_age_s)` gives the tablet's latest fix no older than that, or None
        (`LocationTracker.latest`)."""
        parameters = question.parameters
        self.track_changes = parameters.get("track-changes", "").lower() == "true"
        self.locations = bool(parameters.get("location-priority"))
        self.has_gps = has_gps and locate is not None
        self.locate = locate
        try:
            self.location_max_age_s = float(
                parameters.get("location-max-age", DEFAULT_LOCATION_MAX_AGE_S)
            )
        except ValueError:
            self.location_max_age_s = DEFAULT_LOCATION_MAX_AGE_S
        self.path = Path(folder) / name
        self.clock = clock
        self.columns = ["event", "node", "start", "end"]
        if self.locations:
            self.columns += ["latitude", "longitude", "accuracy"]
        if self.track_changes:
            self.columns += ["old-value", "new-value"]
        # The questions on screen: path -> (shown at, value then).
        self._open: dict[str, tuple[int, Any]] = {}

    @staticmethod
    def file_name(current: str | None, shared: set[str]) -> str:
        """The audit file for this session: the record's current one while no revision the
        server may hold names it (`shared`), else the first free `audit.csv`,
        `audit-2.csv`, ...: a file the server may have never changes."""
        if current and current not in shared:
            return current
        candidates = (FILE_NAME if n == 1 else f"audit-{n}.csv" for n in range(1, 10_000))
        return next(name for name in candidates if name not in shared)

    def now(self) -> int:
        return _millis(self.clock())

    def event(self, event: str, node: str = "", start: int | None = None, **values: Any) -> None:
        """Append one row (its end is now; its start is now unless given)."""
        end = self.now()
        row = {"event": event, "node": node_path(node), "start": start or end, "end": end}
        if self.track_changes and event == "question":
            row["old-value"] = _text(values.get("old"))
            row["new-value"] = _text(values.get("new"))
        self._append([row])

    def start(self, resumed: bool) -> None:
        self.event("form resume" if resumed else "form start")
        if self.locations:
            enabled = self.has_gps
            self.event("location tracking enabled" if enabled else "location providers disabled")

    def show(self, values: dict[str, Any]) -> None:
        """The screen now shows these questions (record path -> answer now)."""
        moment = self.now()
        for path, value in values.items():
            self._open[path] = (moment, value)

    def leave_screen(self, values: dict[str, Any]) -> None:
        """Close the question events of the screen being left (`values`: answers now)."""
        end = self.now()
        rows = []
        for path, (start, old) in self._open.items():
            row = {"event": "question", "node": node_path(path), "start": start, "end": end}
            if self.track_changes:
                row["old-value"] = _text(old)
                row["new-value"] = _text(values.get(path, old))
            rows.append(row)
        self._open.clear()
        self._append(rows)

    def _position(self) -> dict[str, str]:
        """The location columns of a row written now: the latest fresh fix, or empty."""
        fix = self.locate(self.location_max_age_s) if self.has_gps and self.locate else None
        if fix is None:
            return {}
        return {
            "latitude": f"{fix.latitude:.6f}",
            "longitude": f"{fix.longitude:.6f}",
            "accuracy": f"{fix.accuracy:.1f}",
        }

    def _append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.locations:
            position = self._position()
            rows = [{**row, **position} for row in rows]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore",
                                lineterminator="\n")  # fmt: skip
        if new:
            writer.writeheader()
        writer.writerows(rows)
        with self.path.open("a", encoding="utf-8", newline="") as out:
            out.write(buffer.getvalue())
