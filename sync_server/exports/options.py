"""What an export is asked for, and the errors a person can act on.

ExportError                 a request that can't be exported; nothing is written
├── UnknownFormat           the format is not csvzip, xlsx, geojson or hxl
├── UnknownForm             no such form published on this server
├── BadOptions              dates that don't parse or end before they start, bad status…
└── OutOfScope (403)        a district or site outside the caller's scope, or a full
                            export without a coordinator account
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Format = Literal["csvzip", "xlsx", "geojson", "hxl"]
FORMATS: tuple[Format, ...] = ("csvzip", "xlsx", "geojson", "hxl")
# What a record's status means here: the state of its conflicts on the server.
STATUSES = ("clean", "soft-conflict", "open-conflict")
DEFAULT_THRESHOLD = 5
FILE_SUFFIX = {"csvzip": ".zip", "xlsx": ".xlsx", "geojson": ".geojson", "hxl": ".csv"}
MEDIA_TYPE = {
    "csvzip": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
    "hxl": "text/csv; charset=utf-8",
}


class ExportError(Exception):
    """The export can't be made as asked; `message` says what and what to do."""

    status = 422
    code = "bad-export"

    def __init__(self, message: str, *, where: str = ""):
        super().__init__(message)
        self.message = message
        self.where = where


class UnknownFormat(ExportError):
    code = "unknown-format"


class UnknownForm(ExportError):
    status = 404
    code = "unknown-form"


class BadOptions(ExportError):
    code = "bad-options"


class OutOfScope(ExportError):
    status = 403
    code = "out-of-scope"


@dataclass(frozen=True)
class ExportOptions:
    """One export. `shareable` (the default) leaves out personal and sensitive questions and
    free text, pseudonymises record ids, puts household GPS at the site, and suppresses
    people counts below `threshold`; `shareable=False` is the full export (coordinators,
    audited, with a stated purpose)."""

    form_id: str
    format: str = "csvzip"
    date_from: dt.date | None = None  # the day a record was created on the tablet (UTC)
    date_to: dt.date | None = None  # inclusive
    district: str | None = None
    site_id: str | None = None
    enumerator: str | None = None  # account name given to `sync-server enroll`, or device id
    status: str | None = None  # one of STATUSES
    labels: bool = True  # choice labels (True) or choice names/codes (False)
    language: str | None = None  # ISO code ("pt"); None: the form's default language
    include_open_conflicts: bool = True
    every_revision: bool = False  # one row per revision instead of the merged record
    shareable: bool = True
    threshold: int = DEFAULT_THRESHOLD
    purpose: str = ""

    def check(self) -> ExportOptions:
        """Raise an ExportError for what is wrong before anything is read or written."""
        if self.format not in FORMATS:
            raise UnknownFormat(
                f"Unknown export format {self.format!r}: use one of {', '.join(FORMATS)}.",
                where="format",
            )
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise BadOptions(
                f"The date range ends ({self.date_to}) before it starts ({self.date_from}): "
                "swap the dates.",
                where="date_to",
            )
        if self.status is not None and self.status not in STATUSES:
            raise BadOptions(
                f"Unknown status {self.status!r}: use one of {', '.join(STATUSES)}.",
                where="status",
            )
        if self.threshold < 1:
            raise BadOptions("The suppression threshold must be 1 or more.", where="threshold")
        if not self.shareable and not self.purpose.strip():
            raise BadOptions(
                "A full export (with personal data) needs a stated purpose.", where="purpose"
            )
        return self

    def audit_details(self) -> dict[str, Any]:
        """The options as the audit log keeps them: the enumerator filter only as 'set',
        since a name is personal data."""
        details = {k: v for k, v in asdict(self).items() if v not in (None, "")}
        for key in ("date_from", "date_to"):
            if key in details:
                details[key] = details[key].isoformat()
        if "enumerator" in details:
            details["enumerator"] = "set"
        return details


def parse_date(text: str | None, where: str) -> dt.date | None:
    """A YYYY-MM-DD option, or a BadOptions naming the option."""
    if text is None or text == "":
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadOptions(
            f"{where} {text!r} is not a date: write it as YYYY-MM-DD (e.g. 2026-11-20).",
            where=where,
        ) from None


@dataclass
class ExportSummary:
    """What an export wrote: for the CLI's last line, the audit log and the HTTP headers."""

    path: str
    format: str
    form_id: str
    records: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    shareable: bool = True
    # (district, site) -> [records, summed people counts...], for the summary table.
    site_counts: dict[tuple[str, str], list[float]] = field(default_factory=dict, repr=False)
