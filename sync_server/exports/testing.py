"""Seed a server database fast, for export tests and benchmarks.

Records go straight into the `revisions` and `records` tables as the server would have
stored a first upload (one device revision each, no conflicts), in batches through the
database's single writer. Nothing here is validated: pass answers that the form engine
produced (`forms.validate_record(...).record`), as a tablet would send them.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from forms import load_form
from forms.scope import record_scope
from sync_core.hlc import format_hlc
from sync_core.protocol import canonical_json
from sync_server.auth import iso, now_utc
from sync_server.catalog import publish_form
from sync_server.db import Database

SEED_DEVICE = "seed-device-0001"
SEED_ENUMERATOR = "Seed Enumerator"


def ensure_device(db: Database, device_id: str, name: str, district: str) -> None:
    """An enrolled device account (no token) that the seeded records come from."""
    db.write(
        lambda conn: conn.execute(
            "INSERT OR IGNORE INTO accounts (account_id, role, name, district, created_at) "
            "VALUES (?, 'device', ?, ?, ?)",
            (device_id, name, district, iso(now_utc())),
        )
    )


def seed_records(
    db: Database,
    form_path: Path,
    answers: Iterable[dict[str, Any]],
    *,
    device_id: str = SEED_DEVICE,
    enumerator: str = SEED_ENUMERATOR,
    created_at: str = "2026-11-20T10:00:00.000000Z",
    batch_size: int = 1000,
) -> list[str]:
    """Publish the form (if needed) and store one record per answers dict; returns their
    record ids in order."""
    form, _ = db.write(lambda conn: publish_form(conn, db.data_dir, Path(form_path)))
    loaded = load_form(form_path)
    record_ids: list[str] = []
    iterator = iter(answers)
    counter = itertools.count()
    known_devices: set[str] = set()
    while True:
        chunk = list(itertools.islice(iterator, batch_size))
        if not chunk:
            return record_ids
        revision_rows = []
        record_rows = []
        moment = iso(now_utc())
        for record in chunk:
            district, site_id = record_scope(loaded, record)
            if device_id not in known_devices:
                ensure_device(db, device_id, enumerator, district or "MZ1120")
                known_devices.add(device_id)
            record_id = str(uuid.uuid4())
            revision_id = str(uuid.uuid4())
            hlc = format_hlc(1_795_000_000_000 + next(counter), 0, device_id)
            revision = {
                "revision_id": revision_id,
                "record_id": record_id,
                "parent_revision_id": None,
                "form_id": form.form_id,
                "form_version": form.version,
                "device_id": device_id,
                "hlc": hlc,
                "created_at": created_at,
                "answers": record,
            }
            body = canonical_json(revision)
            revision_rows.append(
                (revision_id, record_id, form.form_id, form.version, device_id, device_id, hlc,
                 hlc, created_at, moment, district, site_id, body,
                 hashlib.sha256(body.encode()).hexdigest())
            )  # fmt: skip
            record_rows.append(
                (record_id, form.form_id, form.version, district, site_id, revision_id,
                 canonical_json(record), moment)
            )  # fmt: skip
            record_ids.append(record_id)

        def insert(conn, revision_rows=revision_rows, record_rows=record_rows) -> None:
            conn.executemany(
                "INSERT INTO revisions (revision_id, record_id, form_id, form_version, "
                "device_id, uploaded_by, hlc, hlc_order, created_at, received_at, district, "
                "site_id, origin, body, sha256) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'device', ?, ?)",
                revision_rows,
            )
            conn.executemany(
                "INSERT INTO records (record_id, form_id, form_version, district, site_id, "
                "head_revision_id, answers, conflict, revision_count, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'none', 1, ?)",
                record_rows,
            )

        db.write(insert)
