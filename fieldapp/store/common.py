"""Constants and small helpers every part of the store uses."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fieldapp.store.errors import RecordNotFound, StoreError
from fieldapp.store.values import Revision

RECORD_STATES = ("draft", "finalized", "sent")
FORM_SOURCES = ("bundled", "server")

BUSY_TIMEOUT_MS = 5000
# How long a write waits for another thread's write before giving up with a StoreError.
WRITE_LOCK_TIMEOUT_S = 30.0

_DEVICE_ID = "device_id"
_HLC_LAST = "hlc_last"
_MANAGED_SETTINGS = frozenset({_DEVICE_ID, _HLC_LAST})


# ── Helpers ──────────────────────────────────────────────────────────────────────────────


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _to_json(value: Any, what: str) -> str:
    try:
        # NaN is not JSON: the server would refuse the revision, so refuse it at entry
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} can't be stored as JSON: {exc}") from exc


def _one_row(db: Any, sql: str, params: Sequence[Any], missing: StoreError) -> tuple:
    """The one row `sql` selects, or raise `missing`: a store error saying what was not
    found, and where (`RecordNotFound` for a record id no table holds, ...)."""
    row = db.execute(sql, list(params)).fetchone()
    if row is None:
        raise missing
    return row


def _not_on_this_tablet(record_id: str) -> StoreError:
    return RecordNotFound(f"record {record_id} is not on this tablet")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _version_key(version: str) -> tuple:
    # Natural order, so version "10" is newer than "9" and "2024061201" than "2024053001"
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.findall(r"\d+|\D+", version)
    )


def _check_state(state: str) -> None:
    if state not in RECORD_STATES:
        raise ValueError(f"unknown record state {state!r}; expected one of {RECORD_STATES}")


_WRITE_LOCKS: dict[Path, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock_for(path: Path) -> threading.Lock:
    # Shared by every Store on the same file in this process, so two Store objects
    # queue on a lock rather than polling SQLite's busy handler.
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(path, threading.Lock())


# Older SQLite builds (Android's among them) allow 999 parameters per statement
_IDS_PER_QUERY = 500

_REVISION_COLUMNS = (
    "revision_id, record_id, parent_revision_id, form_id, form_version, device_id, hlc, "
    "created_at, answers"
)


def _revision(row: Sequence) -> Revision:
    """A Revision from a row selected with ``_REVISION_COLUMNS``."""
    return Revision(*row[:8], answers=json.loads(row[8]))
