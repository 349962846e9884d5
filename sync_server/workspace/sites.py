"""Transit sites rated against the minimum standards (Sphere by default).

Each site-check record is validated by the form engine (which computes the ratios, e.g.
people per latrine) and every indicator of the thresholds file is rated green, amber or
red (`forms.standards.assess`). A site's status is its latest check; its trend is the
worst colour of each of its checks in date order. Results are cached per revision id:
a revision never changes.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from forms.model import Form
from forms.standards import Rating, Thresholds, assess, load_thresholds
from forms.validation import validate_record

SITE_FORM = "site_check"
ORDER = {"red": 0, "amber": 1, "green": 2, None: 3}


@dataclass
class Check:
    record_id: str
    date: str
    ratings: list[Rating]

    @property
    def worst(self) -> str | None:
        colours = [r.colour for r in self.ratings if r.colour]
        return min(colours, key=lambda c: ORDER[c]) if colours else None

    def count(self, colour: str) -> int:
        return sum(1 for r in self.ratings if r.colour == colour)


@dataclass
class SiteStatus:
    site: dict[str, Any]
    checks: list[Check] = field(default_factory=list)  # oldest first
    households: int = 0

    @property
    def latest(self) -> Check | None:
        return self.checks[-1] if self.checks else None

    @property
    def colour(self) -> str | None:
        return self.latest.worst if self.latest else None

    def sort_key(self) -> tuple[Any, ...]:
        latest = self.latest
        if latest is None:
            return (3, 0, 0, self.site["name"])
        return (ORDER[latest.worst], -latest.count("red"), -latest.count("amber"),
                self.site["name"])  # fmt: skip


@functools.lru_cache(maxsize=1)
def thresholds() -> Thresholds:
    return load_thresholds()


_rated: dict[str, tuple[str, list[Rating]]] = {}


def _rate(form: Form, head_revision_id: str, answers_json: str) -> tuple[str, list[Rating]]:
    """(check date, ratings) of one site check; cached by its head revision id."""
    cached = _rated.get(head_revision_id)
    if cached is not None:
        return cached
    answers = json.loads(answers_json)
    result = validate_record(form, answers, now=dt.datetime.now())
    values = {**result.record, **result.calculated}
    date = str(answers.get("assessment_date") or "")
    rated = (date, assess(thresholds(), form.form_id, values, skip_missing=False))
    if len(_rated) > 4096:
        _rated.clear()
    _rated[head_revision_id] = rated
    return rated


def site_statuses(
    sites: list[dict[str, Any]],
    rows: list[Any],
    form_for: Any,
    households: dict[str, int],
) -> list[SiteStatus]:
    """Every site with its checks rated, below standard first.

    `rows` are site-check records (record_id, site_id, head_revision_id, answers,
    form_id, form_version); `form_for(form_id, version)` returns the loaded form.
    """
    statuses = {s["site_id"]: SiteStatus(site=s, households=households.get(s["site_id"], 0))
                for s in sites}  # fmt: skip
    for row in rows:
        status = statuses.get(row["site_id"])
        form = form_for(row["form_id"], row["form_version"])
        if status is None or form is None:
            continue
        date, ratings = _rate(form, row["head_revision_id"], row["answers"])
        status.checks.append(Check(row["record_id"], date or row["updated_at"][:10], ratings))
    for status in statuses.values():
        status.checks.sort(key=lambda c: (c.date, c.record_id))
    return sorted(statuses.values(), key=SiteStatus.sort_key)
