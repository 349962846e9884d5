"""The forms this server publishes, the site list, and the scope of a record.

Published forms are copied into `<data dir>/forms/<sha256>.xlsx` and listed in the `forms`
table; every version ever published stays, because a tablet may upload a record days later
that was filled with an older version, and it is validated against exactly that version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forms import load_form
from sync_server.auth import iso, now_utc

log = logging.getLogger("sync_server.catalog")


class PublishError(Exception):
    """A form can't be published; the message says why and what to do."""


@dataclass(frozen=True)
class PublishedForm:
    form_id: str
    version: str
    title: str
    sha256: str
    size: int
    file_name: str
    current: bool


def publish_form(
    conn: sqlite3.Connection, data_dir: Path, path: Path
) -> tuple[PublishedForm, bool]:
    """Publish the XLSForm at `path` (inside a write transaction).

    Returns the form and whether it is new. Publishing the same file again is a no-op;
    a different file with the same form id and version is refused, because records already
    filled with that version would then be validated against a different definition.
    """
    form = load_form(path)  # raises FormLoadError with every problem
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    row = conn.execute(
        "SELECT sha256 FROM forms WHERE form_id = ? AND version = ?", (form.form_id, form.version)
    ).fetchone()
    if row is not None:
        if row["sha256"] != digest:
            raise PublishError(
                f"{path}: form {form.form_id!r} version {form.version!r} is already published "
                "with different content. Change the version in the form's settings sheet and "
                "publish again."
            )
        return _published(conn, form.form_id, form.version), False
    forms_dir = data_dir / "forms"
    forms_dir.mkdir(parents=True, exist_ok=True)
    file_name = f"{digest}{path.suffix}"
    if not (forms_dir / file_name).exists():
        shutil.copyfile(path, forms_dir / file_name)
    conn.execute(
        "INSERT INTO forms (form_id, version, title, sha256, size, file_name, published_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (form.form_id, form.version, form.title, digest, len(content), file_name, iso(now_utc())),
    )
    return _published(conn, form.form_id, form.version), True


def _published(conn: sqlite3.Connection, form_id: str, version: str) -> PublishedForm:
    return next(f for f in published_forms(conn) if (f.form_id, f.version) == (form_id, version))


def published_forms(conn: sqlite3.Connection) -> list[PublishedForm]:
    """Every published version; the most recently published of each form is `current`."""
    rows = conn.execute(
        "SELECT form_id, version, title, sha256, size, file_name, rowid FROM forms "
        "ORDER BY form_id, rowid"
    ).fetchall()
    latest = {row["form_id"]: row["rowid"] for row in rows}
    return [
        PublishedForm(
            form_id=row["form_id"],
            version=row["version"],
            title=row["title"],
            sha256=row["sha256"],
            size=row["size"],
            file_name=row["file_name"],
            current=latest[row["form_id"]] == row["rowid"],
        )
        for row in rows
    ]


def form_files(conn: sqlite3.Connection, data_dir: Path) -> dict[tuple[str, str], Path]:
    """(form id, version) -> the published file, for every version ever published."""
    return {(f.form_id, f.version): data_dir / "forms" / f.file_name for f in published_forms(conn)}


def form_info(form: PublishedForm) -> dict[str, Any]:
    """A published form as the protocol's `FormInfo` lists it."""
    return {
        "form_id": form.form_id,
        "version": form.version,
        "title": form.title,
        "sha256": form.sha256,
        "size": form.size,
        "current": form.current,
    }


def load_sites(path: Path | None) -> list[dict[str, Any]]:
    """The transit sites from a GeoJSON file (properties only); empty if there is none."""
    if path is None or not path.is_file():
        return []
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.error("cannot read the site list %s: %s", path, error)
        return []
    sites = []
    for feature in collection.get("features", []):
        props = feature.get("properties") or {}
        if not props.get("site_id"):
            continue
        sites.append(
            {
                "site_id": str(props["site_id"]),
                "name": str(props.get("name") or props["site_id"]),
                "site_type": props.get("site_type"),
                "district_pcode": props.get("district_pcode"),
                "opened": props.get("opened"),
                "closed": props.get("closed"),
                "centre": props.get("centre"),
            }
        )
    return sites
