"""The wire format of the sync protocol, version 1, shared by the server and the device client.

Layer 1 (`sync_core`): imported by `sync_server` (requests are validated with these models,
`/openapi.json` is generated from them) and by `fieldapp` (the API prefix, the batch size,
the enrollment URI, and the check of every pulled revision against `Revision`).

Every body is JSON. Pushes travel gzip-compressed (`Content-Encoding: gzip`). The models
here are the single definition of each message: the server validates requests with them
and `/openapi.json` is generated from them; the client builds its requests with them.
docs/sync-protocol.md shows a real request and response for every call.

A revision is immutable: the server stores the JSON object it received, canonicalised
(`canonical_json`), with its sha256, and forwards and serves exactly that.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

API_PREFIX = "/api/v1"
PROTOCOL_VERSION = 1

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
HLC_PATTERN = r"^\d{15}-\d{5}-[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$"

# What a supervisor's QR code holds: `dfk://enroll?code=...[&server=...]`.
ENROLL_URI_PREFIX = "dfk://enroll"

# The device's unit of upload, gzipped (about 4 s at 64 kbit/s). Small, so that a 2G link
# dropping every 30 s (64 kbit/s is about 8 KB/s) still gets whole batches through.
BATCH_TARGET_BYTES = 32 * 1024
MAX_BATCH_REVISIONS = 500
MAX_STATUS_IDS = 1000
MAX_ANSWER_DEPTH = 16  # a form nests repeats a few levels deep; more is a broken client

RevisionStatus = Literal["accepted", "already-had", "rejected", "conflicting-id"]
Role = Literal["device", "coordinator", "server"]


def canonical_json(value: Any) -> str:
    """One spelling per JSON value (sorted keys, no spaces, UTF-8), so hashes are stable."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_hash(body: str) -> str:
    """The sha256 of a revision's canonical JSON text (`canonical_json`), as stored."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def content_hash(revision: dict[str, Any]) -> str:
    """The sha256 of a revision's canonical JSON: equal hashes mean equal revisions."""
    return body_hash(canonical_json(revision))


def enrollment_uri(code: str, server_url: str | None = None) -> str:
    """What the QR code holds; the app's scanner reads the code (and server) from it."""
    uri = f"{ENROLL_URI_PREFIX}?code={code}"
    return f"{uri}&server={server_url}" if server_url else uri


def parse_enrollment_uri(text: str) -> tuple[str, str | None]:
    """(code, server address or None) from a scanned QR code or a typed code."""
    text = text.strip()
    if text.startswith(ENROLL_URI_PREFIX):
        query = parse_qs(urlparse(text).query)
        server = query.get("server", [None])[0]
        return query.get("code", [""])[0], server
    return text, None


# Cursors are server sequence numbers: SQLite integers, so at most 2**63 - 1. A larger one
# is refused as bad input (422) instead of failing in the database.
MAX_CURSOR = 2**63 - 1


class _Model(BaseModel):
    # Strict: a number where text belongs is a client bug to report, not to paper over.
    model_config = ConfigDict(extra="forbid", strict=True)


class Revision(_Model):
    """One saved edit of one record. The device makes every id; the server never changes one."""

    revision_id: str = Field(pattern=UUID_PATTERN, description="UUID of this edit")
    record_id: str = Field(pattern=UUID_PATTERN, description="UUID of the record edited")
    parent_revision_id: str | None = Field(
        None, pattern=UUID_PATTERN, description="the revision this edit started from"
    )
    form_id: str = Field(pattern=NAME_PATTERN)
    form_version: str = Field(min_length=1, max_length=100)
    device_id: str = Field(pattern=ID_PATTERN, description="the device that saved it")
    hlc: str = Field(
        pattern=HLC_PATTERN,
        description="hybrid logical clock: {physical_ms:015d}-{counter:05d}-{node}",
    )
    created_at: str = Field(min_length=10, max_length=40, description="ISO 8601 time")
    answers: dict[str, Any]
    merged_from: list[str] | None = Field(
        None,
        description="only on revisions a server made to merge concurrent edits: the heads "
        "it merged. Devices never send it.",
    )

    @field_validator("answers")
    @classmethod
    def _not_too_deep(cls, answers: dict[str, Any]) -> dict[str, Any]:
        # Checked without recursion, so a hostile nesting can't exhaust the stack.
        stack: list[tuple[Any, int]] = [(answers, 1)]
        while stack:
            value, depth = stack.pop()
            if depth > MAX_ANSWER_DEPTH:
                raise ValueError(f"answers are nested more than {MAX_ANSWER_DEPTH} levels deep")
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
        return answers


class PushRequest(_Model):
    device_id: str = Field(pattern=ID_PATTERN)
    batch_id: str = Field(pattern=ID_PATTERN, description="any id; retries may reuse it")
    revisions: list[Revision] = Field(max_length=MAX_BATCH_REVISIONS)


class Reason(_Model):
    """Why a revision was rejected, pointing at the answer to fix."""

    path: str = Field(description='"members[2].age"; empty when about the whole revision')
    field: str
    code: str = Field(description='"required", "constraint", "unknown-form", ...')
    message: str


class RevisionResult(_Model):
    revision_id: str
    record_id: str
    status: RevisionStatus
    reasons: list[Reason] = []
    conflict: Literal["soft", "hard"] | None = Field(
        None, description="set when this edit is concurrent with another edit of the record"
    )
    hlc_clamped: bool = Field(
        False, description="its timestamp was too far in the future and is ordered as now"
    )


class PushCounts(_Model):
    accepted: int = 0
    already_had: int = Field(0, alias="already-had")
    rejected: int = 0
    conflicting_id: int = Field(0, alias="conflicting-id")

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class PushResponse(_Model):
    batch_id: str
    results: list[RevisionResult]
    counts: PushCounts
    server_time: str


class PushStatusRequest(_Model):
    revision_ids: list[str] = Field(max_length=MAX_STATUS_IDS)


class PushStatusResponse(_Model):
    have: list[str] = Field(description="ids the server holds durably: don't send them again")
    missing: list[str]


class AttachmentInfo(_Model):
    name: str = Field(description="file name the form refers to, e.g. villages.csv")
    sha256: str
    size: int


class FormInfo(_Model):
    form_id: str
    version: str
    title: str
    sha256: str
    size: int
    current: bool = Field(description="the version new records should use")
    attachments: list[AttachmentInfo] = Field(
        default_factory=list,
        description="files published with the form (choice and lookup files, media); "
        "download each from /forms/{form_id}/{version}/attachments/{name}",
    )


class Site(_Model):
    site_id: str
    name: str
    site_type: str | None = None
    district_pcode: str | None = None
    opened: str | None = None
    closed: str | None = None
    centre: list[float] | None = None


class Decision(_Model):
    """A coordinator's decision on a conflict; its effect arrives as a normal revision."""

    conflict_id: str
    record_id: str
    chosen_revision_id: str
    revision_id: str = Field(description="the revision that applies the decision")
    decided_at: str
    note: str = ""


class PullResponse(_Model):
    cursor: int = Field(description="pass it back as ?cursor= to get the next page")
    more: bool = Field(description="true: ask again at once with the new cursor")
    server_id: str
    revisions: list[Revision]
    decisions: list[Decision] = []
    forms: list[FormInfo] | None = Field(None, description="sent with the last page only")
    sites: list[Site] | None = Field(None, description="sent with the last page only")


class StateRequest(_Model):
    cursor: int = Field(ge=0, le=MAX_CURSOR)
    server_id: str | None = Field(None, max_length=100)
    digest: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 over the sorted 'record_id head_revision_id' lines of the records "
        "the device holds in its scope, one per line, each ending in a newline",
    )


class StateResponse(_Model):
    status: Literal["in-sync", "resync"]
    reason: str
    server_id: str
    max_cursor: int


class EnrollRequest(_Model):
    code: str = Field(min_length=4, max_length=40, description="the one-time code, dashes optional")
    device_id: str = Field(pattern=ID_PATTERN)


class EnrollResponse(_Model):
    token: str = Field(description="send as 'Authorization: Bearer <token>' from now on")
    device_id: str
    role: Role
    district: str
    sites: list[str]
    server_id: str


class FieldChange(_Model):
    path: str
    base: Any = None
    values: dict[str, Any] = Field(description="revision id -> value it set")
    winner: Any = None


class Conflict(_Model):
    conflict_id: str
    record_id: str
    kind: Literal["soft", "hard"]
    status: Literal["open", "resolved"]
    base_revision_id: str
    revision_ids: list[str]
    winner_revision_id: str
    fields: list[FieldChange]
    district: str | None
    site_id: str | None
    detected_at: str
    resolved_at: str | None = None
    resolution_revision_id: str | None = None


class ConflictList(_Model):
    conflicts: list[Conflict]


class ResolveRequest(_Model):
    chosen_revision_id: str = Field(pattern=UUID_PATTERN)
    note: str = Field("", max_length=1000)


class TransferRequest(_Model):
    """A coordinator moves a record to another district (or site): docs/sync-protocol.md."""

    district: str = Field(pattern=r"^[A-Z]{2}[0-9]{2,8}$")
    site_id: str | None = Field(None, pattern=ID_PATTERN)


class RecordState(_Model):
    record_id: str
    form_id: str
    form_version: str
    head_revision_id: str
    revision_ids: list[str]
    answers: dict[str, Any]
    conflict: Literal["none", "soft", "hard"]
    district: str | None
    site_id: str | None


class Health(_Model):
    status: Literal["ok"]
    server_id: str
    protocol: int


class ErrorBody(BaseModel):
    """Every 4xx and 5xx body: what went wrong, where, and what to do."""

    error: str = Field(description='a stable code: "bad-json", "too-large", "auth", ...')
    message: str
    problems: list[dict[str, Any]] = []
