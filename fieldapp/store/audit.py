"""The audit log: the whitelist that keeps personal data out, and `AuditMixin`."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from sqlite_utils import Database

from fieldapp.store.common import (
    RECORD_STATES,
    _utc_now,
)

# ── Audit log whitelist ──────────────────────────────────────────────────────────────────

_CODE_RE = re.compile(r"[A-Za-z_/][A-Za-z0-9_.:/\[\]-]{0,79}")
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# A phone number or an ID number fits in an int too; no count we log comes near this.
_MAX_AUDIT_NUMBER = 10**8


def _audit_number(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return math.isfinite(value) and abs(value) < _MAX_AUDIT_NUMBER
    return False


def _audit_code(value: Any) -> bool:
    # Must start with a letter, "_" or "/": refuses names with spaces, phone numbers and
    # ID numbers written as strings, e-mail addresses and free text.
    return isinstance(value, str) and _CODE_RE.fullmatch(value) is not None


def _audit_codes(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) <= 100 and all(map(_audit_code, value))


def _audit_version(value: Any) -> bool:
    return isinstance(value, str) and _VERSION_RE.fullmatch(value) is not None


def _audit_uuid(value: Any) -> bool:
    return isinstance(value, str) and _UUID_RE.fullmatch(value) is not None


def _audit_state(value: Any) -> bool:
    return value in RECORD_STATES


_NUMBER_KEYS = (
    "count answer_count member_count record_count revision_count form_count reason_count "
    "attempts accepted rejected conflicts replaced pulled pushed bytes duration_ms "
    "http_status schema_version kept_local"
)
_CODE_KEYS = "code error_code reason_code field screen source status result"
_AUDIT_VALIDATORS: dict[str, Callable[[Any], bool]] = {
    **dict.fromkeys(_NUMBER_KEYS.split(), _audit_number),
    **dict.fromkeys(_CODE_KEYS.split(), _audit_code),
    **dict.fromkeys(("codes", "fields"), _audit_codes),
    **dict.fromkeys(("version", "form_version"), _audit_version),
    **dict.fromkeys(("revision_id", "parent_revision_id", "device_id"), _audit_uuid),
    **dict.fromkeys(("state", "from_state", "to_state"), _audit_state),
}
AUDIT_DETAIL_KEYS = frozenset(_AUDIT_VALIDATORS)


def _audit_row(action: str, record_id: Any, form_id: Any, details: dict[str, Any]) -> dict:
    """Check an audit entry against the whitelist; ``ValueError`` says what was refused."""
    if not _audit_code(action):
        raise ValueError("audit action must be a short identifier such as 'export_made'")
    if record_id is not None and not _audit_uuid(record_id):
        raise ValueError("audit record_id must be a record's uuid")
    if form_id is not None and not _audit_code(form_id):
        raise ValueError("audit form_id must be a form id")
    for key, value in details.items():
        check = _AUDIT_VALIDATORS.get(key)
        if check is None:
            raise ValueError(
                f"audit detail {key!r} is not allowed (the audit log never holds personal "
                f"data); allowed keys: {', '.join(sorted(AUDIT_DETAIL_KEYS))}"
            )
        if value is not None and not check(value):
            # The refused value is deliberately left out of the message: it may be personal.
            raise ValueError(
                f"audit detail {key!r} refused: only counts, states, codes, field names "
                "and ids may be logged"
            )
    return {
        "at": _utc_now(),
        "action": action,
        "record_id": record_id,
        "form_id": form_id,
        "details": json.dumps(details, sort_keys=True),
    }


class AuditMixin:
    """`Store`'s audit log methods."""

    # Audit log ───────────────────────────────────────────────────────────────────────────

    def _audit(
        self,
        db: Database,
        action: str,
        *,
        record_id: str | None = None,
        form_id: str | None = None,
        **details: Any,
    ) -> None:
        db["audit_log"].insert(_audit_row(action, record_id, form_id, details))

    def audit(
        self, action: str, *, record_id: str | None = None, form_id: str | None = None, **details
    ) -> None:
        """Log an event. Never personal data: only whitelisted detail keys, and values that
        are counts, record states, codes, field names or ids.

        Raises ``ValueError`` for any other key or value (the message leaves the refused
        value out). ``AUDIT_DETAIL_KEYS`` lists the keys.
        """
        entry = _audit_row(action, record_id, form_id, details)
        with self._write(f"log {action!r} in the audit log") as db:
            db["audit_log"].insert(entry)

    def audit_entries(self, limit: int = 100) -> list[dict]:
        """The latest audit entries, newest first, with ``details`` as a dict."""
        rows = self._query(
            "SELECT id, at, action, record_id, form_id, details FROM audit_log "
            "ORDER BY id DESC LIMIT ?",
            [int(limit)],
        )
        for row in rows:
            row["details"] = json.loads(row["details"])
        return rows
