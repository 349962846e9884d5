"""The living site list: sites as data this server owns (the `sites` table, migration 8).

Sites open and close by the dozen after a cyclone (74 accommodation centres closed in three
days after Freddy), so the list is not baked into the forms:

- **Seeded once** from the site list GeoJSON (`forms/data/transit_sites.geojson` or the site
  management agency's file) at the first start, `serve --init` (`seed`).
- **Coordinators** add and close sites (`add_site`, `close_site`), on the workspace's sites
  page or with `sync-server sites add|close|list`, each in their own district (a national
  coordinator anywhere); every change is a line in `audit_log`.
- **Tablets** get the list as the forms' `sites.csv` attachment (`live_attachments`): every
  published form that names that file is listed with the current file's sha256, so a
  tablet fetches it again after a change, at its next sync.
- **A new site found in the field** arrives as a record whose `site_id` is `new_site`, with
  its name, type and GPS (`record_proposals`): stored here as `proposed`, for a coordinator
  to confirm (it opens) or merge into an existing site.
- **Validation** uses the same list: uploads are checked against the live `sites.csv` and
  the site positions (`live_form_dir`, `gazetteer_rows`).

Statuses: open, closed (with its closing date), proposed, merged. SQL only here; the CSV
itself is made by `forms.site_list`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forms.geo import SITE_TYPES, default_gazetteer
from forms.site_list import NEW_SITE, SITES_FILE, seed_sites, sites_csv
from sync_server.auth import NATIONAL, iso, now_utc

SITE_ID_PREFIX = "MOZ-ZAM-"
LIVE_FILES = frozenset({SITES_FILE})  # attachments the server writes itself
LISTED = ("open", "closed")  # what tablets and pages list; proposed and merged are not
# Mozambique's extent, padded a little: a site outside it is a typing mistake.
LAT_RANGE = (-27.0, -10.2)
LON_RANGE = (30.1, 41.1)
_COLUMNS = (
    "site_id, name, site_type, district_pcode, posto_pcode, lat, lon, boundary, status, "
    "opened, closed, created_by, created_at, updated_at, proposed_by_record, merged_into"
)


class SiteError(ValueError):
    """A site change that can't be made; the message says what and what to do, and `code`
    names the reason (the workspace shows it in the page's language)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _audit(conn: sqlite3.Connection, account_id: str | None, action: str, site_id: str) -> None:
    conn.execute(
        "INSERT INTO audit_log (at, account_id, action, target, outcome) VALUES (?, ?, ?, ?, 'ok')",
        (iso(now_utc()), account_id, action, site_id),
    )


# --- reading ---------------------------------------------------------------------------


def list_sites(
    conn: sqlite3.Connection,
    *,
    district: str | None = None,
    statuses: tuple[str, ...] = LISTED,
) -> list[dict[str, Any]]:
    """Sites with these statuses (default open and closed), in one district or all, by id."""
    where = [f"status IN ({','.join('?' * len(statuses))})"]
    params: list[Any] = list(statuses)
    if district is not None and district != NATIONAL:
        where.append("district_pcode = ?")
        params.append(district)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM sites WHERE {' AND '.join(where)} ORDER BY site_id", params
    ).fetchall()
    return [_as_dict(row) for row in rows]


def get_site(conn: sqlite3.Connection, site_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM sites WHERE site_id = ?", (site_id,)).fetchone()
    return _as_dict(row) if row else None


def _as_dict(row: sqlite3.Row) -> dict[str, Any]:
    site = dict(row)
    # The shape the pages and the pull have always used for a site.
    site["centre"] = [site["lon"], site["lat"]] if site["lat"] is not None else None
    return site


class SiteList:
    """The open and closed sites, read afresh at each use: what `ServerContext.sites` and
    the workspace iterate. A `sync-server sites` command in another process changes the
    table under a running server, so nothing is cached (a few hundred rows: well under a
    millisecond)."""

    def __init__(self, db: Any) -> None:
        self._db = db

    def __iter__(self) -> Iterator[dict[str, Any]]:
        # Its own connection: callers iterate inside their own `db.read()` block, and a
        # thread's read connection can't begin a second transaction.
        from sync_server.db import connect

        conn = connect(self._db.path, read_only=True)
        try:
            return iter(list_sites(conn))
        finally:
            conn.close()

    def __len__(self) -> int:
        return len(list(iter(self)))


# --- seeding ---------------------------------------------------------------------------


def seed(conn: sqlite3.Connection, path: Path) -> int:
    """Fill the table from a site list GeoJSON, once (a later start never re-adds a site a
    coordinator changed). Returns how many sites were added."""
    if conn.execute("SELECT 1 FROM meta WHERE key = 'sites_seeded'").fetchone():
        return 0
    added = 0
    if path.is_file():
        now = iso(now_utc())
        for site in seed_sites(path):
            conn.execute(
                "INSERT OR IGNORE INTO sites (site_id, name, site_type, district_pcode, lat, lon, "
                "boundary, status, opened, closed, created_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'seed', ?, ?)",
                (site["site_id"], site["name"], site["site_type"] or "accommodation_centre",
                 site["district_pcode"] or "", site["lat"], site["lon"], site["boundary"],
                 site["status"], site["opened"], site["closed"], now, now),
            )  # fmt: skip
            added += 1
    conn.execute("INSERT INTO meta (key, value) VALUES ('sites_seeded', ?)", (str(path),))
    return added


# --- coordinator changes -----------------------------------------------------------------


def _check_scope(scope: str, district: str) -> None:
    if scope not in (NATIONAL, district):
        raise SiteError(
            "out-of-scope",
            f"site in district {district} is outside your district {scope}: ask that "
            "district's coordinator or a national coordinator",
        )


def _check_date(value: str | None, what: str) -> str:
    if not value:
        raise SiteError("date-invalid", f"{what} is missing (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise SiteError("date-invalid", f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


def _next_site_id(conn: sqlite3.Connection) -> str:
    numbers = [
        int(match.group(1))
        for (site_id,) in conn.execute("SELECT site_id FROM sites")
        if (match := re.fullmatch(re.escape(SITE_ID_PREFIX) + r"(\d+)", site_id))
    ]
    return f"{SITE_ID_PREFIX}{max(numbers, default=0) + 1:04d}"


def check_new_site(
    name: str, site_type: str, district: str, lat: float | None, lon: float | None
) -> tuple[str, float, float]:
    """The cleaned name and position of a new site; SiteError saying which field is wrong."""
    name = " ".join(str(name or "").split())
    if not name:
        raise SiteError("name-missing", "the site needs a name")
    if len(name) > 120:
        raise SiteError("name-long", f"the site name has {len(name)} characters; at most 120")
    if site_type not in SITE_TYPES:
        raise SiteError(
            "type-unknown", f"site type {site_type!r} is not one of {', '.join(sorted(SITE_TYPES))}"
        )
    if default_gazetteer().district(district) is None:
        raise SiteError(
            "district-unknown", f"district {district!r} is not a P-code of the gazetteer"
        )
    if lat is None or lon is None:
        raise SiteError("position-missing", "the site needs a position (latitude and longitude)")
    if not (LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LON_RANGE[0] <= lon <= LON_RANGE[1]):
        raise SiteError(
            "position-outside",
            f"position {lat}, {lon} is outside Mozambique (latitude first, e.g. -17.48 37.02)",
        )
    return name, float(lat), float(lon)


def add_site(
    conn: sqlite3.Connection,
    *,
    name: str,
    site_type: str,
    district: str,
    lat: float | None,
    lon: float | None,
    opened: str,
    account_id: str | None,
    scope: str = NATIONAL,
    posto: str | None = None,
) -> str:
    """Open a new site in `district` (the caller's `scope` must cover it); its new id."""
    _check_scope(scope, district)
    name, lat, lon = check_new_site(name, site_type, district, lat, lon)
    opened = _check_date(opened, "the opening date")
    site_id = _next_site_id(conn)
    now = iso(now_utc())
    conn.execute(
        "INSERT INTO sites (site_id, name, site_type, district_pcode, posto_pcode, lat, lon, "
        "status, opened, created_by, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)",
        (site_id, name, site_type, district, posto or None, lat, lon, opened, account_id, now,
         now),
    )  # fmt: skip
    _audit(conn, account_id, "site-added", site_id)
    return site_id


def close_site(
    conn: sqlite3.Connection,
    site_id: str,
    *,
    closed: str,
    account_id: str | None,
    scope: str = NATIONAL,
) -> None:
    """Close an open site from `closed` (a date not before it opened)."""
    site = get_site(conn, site_id)
    if site is None:
        raise SiteError("not-found", f"there is no site {site_id!r}")
    _check_scope(scope, site["district_pcode"])
    if site["status"] != "open":
        raise SiteError(
            "not-open", f"site {site_id} is {site['status']}, not open: nothing to close"
        )
    closed = _check_date(closed, "the closing date")
    if site["opened"] and closed < site["opened"]:
        raise SiteError(
            "closes-before-opening",
            f"site {site_id} opened on {site['opened']}; it can't close before",
        )
    conn.execute(
        "UPDATE sites SET status = 'closed', closed = ?, updated_at = ? WHERE site_id = ?",
        (closed, iso(now_utc()), site_id),
    )
    _audit(conn, account_id, "site-closed", site_id)


def confirm_site(
    conn: sqlite3.Connection, site_id: str, *, account_id: str | None, scope: str = NATIONAL
) -> None:
    """A proposed site becomes an open site of the list."""
    site = _proposed(conn, site_id, scope)
    conn.execute(
        "UPDATE sites SET status = 'open', opened = coalesce(opened, ?), updated_at = ? "
        "WHERE site_id = ?",
        (dt.date.today().isoformat(), iso(now_utc()), site["site_id"]),
    )
    _audit(conn, account_id, "site-confirmed", site_id)


def merge_site(
    conn: sqlite3.Connection,
    site_id: str,
    into: str,
    *,
    account_id: str | None,
    scope: str = NATIONAL,
) -> None:
    """A proposed site is one already listed (`into`): it is kept as merged, never listed."""
    _proposed(conn, site_id, scope)
    target = get_site(conn, into)
    if target is None or target["status"] not in LISTED:
        raise SiteError("merge-target", f"there is no listed site {into!r} to merge {site_id} into")
    conn.execute(
        "UPDATE sites SET status = 'merged', merged_into = ?, updated_at = ? WHERE site_id = ?",
        (into, iso(now_utc()), site_id),
    )
    _audit(conn, account_id, "site-merged", site_id)


def _proposed(conn: sqlite3.Connection, site_id: str, scope: str) -> dict[str, Any]:
    site = get_site(conn, site_id)
    if site is None or site["status"] != "proposed":
        raise SiteError("not-proposed", f"there is no proposed site {site_id!r}")
    _check_scope(scope, site["district_pcode"])
    return site


# --- proposals from tablets ----------------------------------------------------------------


def record_proposals(conn: sqlite3.Connection, account_id: str, items: list[Any]) -> list[str]:
    """Store a proposed site for each stored revision that chose "new site" (inside the
    push's write transaction). One proposal per record: its edits don't add more."""
    added = []
    for item in items:
        if item.reasons:
            continue
        answers = item.raw.get("answers") or {}
        if answers.get("site_id") != NEW_SITE:
            continue
        record_id = item.raw.get("record_id")
        if conn.execute(
            "SELECT 1 FROM sites WHERE proposed_by_record = ?", (record_id,)
        ).fetchone():
            continue
        lat = lon = None
        parts = str(answers.get("new_site_gps") or "").split()
        if len(parts) >= 2:
            lat, lon = float(parts[0]), float(parts[1])
        site_id = _next_site_id(conn)
        now = iso(now_utc())
        conn.execute(
            "INSERT INTO sites (site_id, name, site_type, district_pcode, lat, lon, status, "
            "created_by, created_at, updated_at, proposed_by_record) "
            "VALUES (?, ?, ?, ?, ?, ?, 'proposed', ?, ?, ?, ?)",
            (site_id, " ".join(str(answers.get("new_site_name") or "").split())[:120] or "?",
             answers.get("new_site_type") or "accommodation_centre",
             item.district or answers.get("district") or "", lat, lon, account_id, now, now,
             record_id),
        )  # fmt: skip
        _audit(conn, account_id, "site-proposed", site_id)
        added.append(site_id)
    return added


# --- what tablets and validation read ----------------------------------------------------------


def current_sites_csv(conn: sqlite3.Connection) -> bytes:
    """The forms' `sites.csv` as of now: open and closed sites (closed ones stay, so older
    records still show their site's name), and the new-site row."""
    return sites_csv(list_sites(conn))


def live_attachments(conn: sqlite3.Connection) -> dict[str, bytes]:
    """Attachments the server writes itself, by name: they replace the published file of
    that name in every form that has one."""
    return {SITES_FILE: current_sites_csv(conn)}


def gazetteer_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Open and closed sites with their positions, for `forms.geo.Gazetteer.with_sites`."""
    keys = ("site_id", "name", "site_type", "district_pcode", "lat", "lon", "boundary",
            "opened", "closed")  # fmt: skip
    return [{k: site[k] for k in keys} for site in list_sites(conn)]


def live_form_dir(data_dir: Path, form_path: Path, conn: sqlite3.Connection) -> Path:
    """The published form as validation must see it: its folder with the live `sites.csv`
    and `sites.json` (positions), in `<data dir>/live/<bundle>-<digest>/`.

    Content-addressed: the same list gives the same folder, made once; a published folder
    itself never changes. Forms without `sites.csv` are returned as they are.
    """
    if not (form_path.parent / SITES_FILE).is_file():
        return form_path
    csv_bytes = current_sites_csv(conn)
    positions = json.dumps(gazetteer_rows(conn), sort_keys=True).encode()
    digest = hashlib.sha256(csv_bytes + b"\0" + positions).hexdigest()[:16]
    target = data_dir / "live" / f"{form_path.parent.name}-{digest}"
    if not (target / form_path.name).is_file():
        staging = target.with_name(f".{target.name}.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(form_path.parent, staging)
        (staging / SITES_FILE).write_bytes(csv_bytes)
        (staging / "sites.json").write_bytes(positions)
        try:
            staging.rename(target)
        except OSError:  # made meanwhile by another request: same content
            shutil.rmtree(staging, ignore_errors=True)
    return target / form_path.name
