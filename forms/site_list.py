"""The site list as the forms read it: `sites.csv`, a select_one_from_file attachment.

The server owns the sites (its `sites` table: coordinators open and close them) and writes
this file from them; every published form that names `sites.csv` gets the current file,
so a tablet sees a new or closed site at its next sync. The forms bundled with the app carry
a copy made from `forms/data/transit_sites.geojson` (`bundled_sites_csv`), kept equal by a
test.

Columns: `name` (the site id, the answer), `label` and one label per form language,
`district` (P-code) and `site_type` for choice filters, `status` (open / closed). The forms
filter with ``status = 'open' and (district = ${district} or name = 'new_site')``; the
`new_site` row is the "other / new site" path: the tablet then asks for the new site's
name, type and GPS, and the server stores it as a proposed site for a coordinator.

Pure: no SQL, no HTTP.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SITES_FILE = "sites.csv"
NEW_SITE = "new_site"
STATUSES = ("open", "closed")
LANGUAGES = ("Português (pt)", "English (en)")
NEW_SITE_LABELS = {
    "Português (pt)": "Outro / novo local (não está na lista)",
    "English (en)": "Other / new site (not on the list)",
}
COLUMNS = ["name", "label", *(f"label::{lang}" for lang in LANGUAGES), "district",
           "site_type", "status"]  # fmt: skip


def site_label(site_id: str, name: str) -> str:
    """How a site is listed on the tablet: its id first, so two schools called the same are
    told apart ("MOZ-ZAM-0001 – Escola Primária de Namacurra-Sede")."""
    return f"{site_id} – {name}"


def sites_csv(sites: Iterable[Mapping[str, Any]]) -> bytes:
    """The `sites.csv` attachment for these sites (dicts with site_id, name, district_pcode,
    site_type and status), sorted by id, then the new-site row. Same sites, same bytes: the
    file's sha256 changes only when the list does."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for site in sorted(sites, key=lambda s: str(s["site_id"])):
        label = site_label(str(site["site_id"]), str(site["name"]))
        district = site.get("district_pcode") or ""
        kind = site.get("site_type") or ""
        status = site.get("status") or "open"
        labels = [label] * len(LANGUAGES)
        writer.writerow([site["site_id"], label, *labels, district, kind, status])
    labels = [NEW_SITE_LABELS[lang] for lang in LANGUAGES]
    writer.writerow([NEW_SITE, labels[0], *labels, "", "", "open"])
    return out.getvalue().encode("utf-8")


def seed_sites(path: Path) -> list[dict[str, Any]]:
    """The sites of a GeoJSON site list (the bundled demo list, or the site management
    agency's) as rows for the server's `sites` table: id, name, type, district, position
    (centre, [lon, lat]), status and dates."""
    collection = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for feature in collection.get("features", []):
        props = feature.get("properties") or {}
        if not props.get("site_id"):
            continue
        centre = props.get("centre")
        rows.append(
            {
                "site_id": str(props["site_id"]),
                "name": str(props.get("name") or props["site_id"]),
                "site_type": props.get("site_type"),
                "district_pcode": props.get("district_pcode"),
                "lon": float(centre[0]) if centre else None,
                "lat": float(centre[1]) if centre else None,
                "opened": props.get("opened"),
                "closed": props.get("closed"),
                "status": "closed" if props.get("closed") else "open",
                "boundary": json.dumps(geometry) if (geometry := feature.get("geometry")) else None,
            }
        )
    return rows


def bundled_sites_csv() -> bytes:
    """`sites.csv` as shipped beside the bundled forms: the demo site list."""
    return sites_csv(seed_sites(Path(__file__).parent / "data" / "transit_sites.geojson"))
