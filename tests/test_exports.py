"""Exports read back with real readers (csv, openpyxl, json + shapely, an HXL hashtag check)
and compared with the records in the server's database: every record, every member, labels
in the language asked for, nothing personal in a shareable export, small counts suppressed;
a concurrent push leaves an export consistent; bad input leaves no file behind.

The database is a real SQLite file. Households come from the form engine (validated sample
households, as a tablet sends them) and are stored by the package's seeding helper or by
the server's own `store_batch` (for edits and conflicts); HTTP goes through the real app
in-process.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import re
import sqlite3
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape

from forms import FORMS_DIR, load_form, validate_record
from forms.geo import default_gazetteer
from forms.samples import sample_household, sample_site_check
from sync_server import auth, records
from sync_server.exports import (
    FILE_SUFFIX,
    BadOptions,
    ExportOptions,
    OutOfScope,
    UnknownForm,
    UnknownFormat,
    export,
    query,
)
from sync_server.exports.progress import line
from sync_server.exports.testing import seed_records
from sync_server.testing import fresh_app

# The server in-process (its ASGI app) and real SQLite files; the CLI test is a real process.
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
HOUSEHOLD = FORMS_DIR / "household_registration.xlsx"
SITE_CHECK = FORMS_DIR / "site_check.xlsx"
FORM = "household_registration"
DISTRICT = "MZ1120"  # Namacurra
SITE = "MOZ-ZAM-0001"  # its accommodation centre
HXL_HASHTAG = re.compile(r"^#[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*$")


@pytest.fixture(scope="module")
def household_form():
    return load_form(HOUSEHOLD)


def households(form, seeds, **kwargs) -> list[dict[str, Any]]:
    """Sample households as the tablet sends them (answers plus calculated values)."""
    out = []
    for seed in seeds:
        result = validate_record(form, sample_household(seed, **kwargs))
        assert result.ok, result.errors
        out.append(result.record)
    return out


def store(db, who: auth.Principal, raws: list[dict[str, Any]]) -> list[records.StoredResult]:
    """Revisions through the server's own storing and merging, as a push does."""
    items = []
    for raw in raws:
        item = records.incoming(raw)
        item.district = raw["answers"].get("district")
        item.site_id = raw["answers"].get("site_id")
        items.append(item)
    return db.write(lambda conn: records.store_batch(conn, who, uuid.uuid4().hex, items))


def revision(record_id, answers, device, ms, parent=None) -> dict[str, Any]:
    return {
        "revision_id": str(uuid.uuid4()),
        "record_id": record_id,
        "parent_revision_id": parent,
        "form_id": FORM,
        "form_version": load_form(HOUSEHOLD).version,
        "device_id": device,
        "hlc": f"{ms:015d}-00000-{device}",
        "created_at": "2026-11-21T10:00:00.000000Z",
        "answers": answers,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory, household_form):
    """The app on a fresh data dir, seeded: 24 households across Zambezia created on
    2026-11-10, 6 more at one Namacurra site on 2026-11-20, a record with a hard conflict,
    and site checks (two for one site, on different days)."""
    data_dir = tmp_path_factory.mktemp("exports") / "data"
    app = fresh_app(data_dir)
    with TestClient(app) as client:
        db = app.state.db
        early = households(household_form, range(100, 124))
        seed_records(db, HOUSEHOLD, early, created_at="2026-11-10T08:00:00.000000Z")
        late = households(household_form, range(200, 206), site_id=SITE)
        seed_records(
            db, HOUSEHOLD, late, device_id="device-late", enumerator="Amélia Teste",
            created_at="2026-11-20T08:00:00.000000Z",
        )  # fmt: skip
        # A record edited on two tablets: the same answer changed twice is a hard conflict.
        devices = [auth.Principal(f"tablet-{n}", "device", DISTRICT) for n in "ab"]
        for who in devices:
            db.write(
                lambda conn, who=who: conn.execute(
                    "INSERT INTO accounts (account_id, role, name, district, created_at) "
                    "VALUES (?, 'device', ?, ?, '2026-11-01')",
                    (who.account_id, f"Enumerator {who.account_id}", DISTRICT),
                )
            )
        base = households(household_form, [300], site_id=SITE)[0]
        record_id = str(uuid.uuid4())
        first = revision(record_id, base, "tablet-a", 1_795_000_000_000)
        store(db, devices[0], [first])
        for n, (who, phone) in enumerate(zip(devices, ["841111111", "842222222"], strict=True)):
            store(db, who, [revision(record_id, {**base, "contact_phone": phone},
                                     who.account_id, 1_795_000_100_000 + n,
                                     parent=first["revision_id"])])  # fmt: skip
        site_form = load_form(SITE_CHECK)
        checks = [validate_record(site_form, sample_site_check(n)).record for n in range(8)]
        newer = validate_record(
            site_form, {**sample_site_check(0, latrines=4), "assessment_date": "2026-11-25"}
        ).record
        seed_records(db, SITE_CHECK, [*checks, newer])
        _, token = db.write(
            lambda conn: auth.create_coordinator(conn, name="Coord", district=DISTRICT)
        )
        code, _ = db.write(lambda conn: auth.create_code(conn, name="T", district=DISTRICT))
        device_token, _ = db.write(lambda conn: auth.redeem_code(conn, code, "tablet-c"))
        yield {"app": app, "client": client, "db": db, "token": token, "data_dir": data_dir,
               "conflict_record": record_id, "device_token": device_token}  # fmt: skip


def db_records(server, form_id=FORM, district=None) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(f"file:{server['db'].path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    sql = "SELECT * FROM records WHERE form_id = ?"
    params = [form_id]
    if district:
        sql += " AND district = ?"
        params.append(district)
    found = {r["record_id"]: {**dict(r), "answers": json.loads(r["answers"])}
             for r in conn.execute(sql, params)}  # fmt: skip
    conn.close()
    return found


def coordinator(district=DISTRICT) -> auth.Principal:
    return auth.Principal("coordinator-test", "coordinator", district)


def run(server, tmp_path, name="out", **options) -> tuple[Path, Any]:
    principal = options.pop("principal", None)
    opts = ExportOptions(form_id=options.pop("form_id", FORM), **options)
    path = tmp_path / (name if "." in name else name + FILE_SUFFIX.get(opts.format, ""))
    return path, export(server["db"], opts, path, principal=principal)


def read_zip(path: Path) -> dict[str, list[dict[str, str]]]:
    tables = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            text = archive.read(name).decode("utf-8-sig")
            tables[name.removesuffix(".csv")] = list(csv.DictReader(io.StringIO(text)))
    return tables


def full(**kwargs):
    return {"shareable": False, "purpose": "tracing family members", "principal": coordinator(),
            **kwargs}  # fmt: skip


# --- CSV zip --------------------------------------------------------------------------


def test_csv_zip_has_every_record_and_every_member_joined_by_keys(server, tmp_path, household_form):
    path, summary = run(server, tmp_path, format="csvzip", labels=False, **full())
    tables = read_zip(path)
    assert set(tables) == {FORM, f"{FORM}-members", "summary_by_site"}
    expected = db_records(server, district=DISTRICT)
    main = {row["KEY"]: row for row in tables[FORM]}
    assert set(main) == set(expected) and summary.records == len(expected) >= 7
    members_by_parent: dict[str, list[dict[str, str]]] = {}
    for row in tables[f"{FORM}-members"]:
        members_by_parent.setdefault(row["PARENT_KEY"], []).append(row)
    for record_id, record in expected.items():
        answers, row = record["answers"], main[record_id]
        assert row["registration_date"] == answers["registration_date"]
        assert row["hh_head_family_name"] == answers["hh_head_family_name"]
        assert row["contact_phone"] == answers["contact_phone"]
        lat, lon, alt, acc = answers["hh_gps"].split()
        assert (float(row["hh_gps-Latitude"]), float(row["hh_gps-Longitude"])) == (
            float(lat),
            float(lon),
        )
        assert (float(row["hh_gps-Altitude"]), float(row["hh_gps-Accuracy"])) == (
            float(alt),
            float(acc),
        )
        assert row["documents_held"] == " ".join(answers["documents_held"])
        for choice in household_form.choices_for(household_form.question("documents_held")):
            assert row[f"documents_held/{choice.name}"] == str(
                int(choice.name in answers["documents_held"])
            )
        members = members_by_parent[record_id]
        assert [m["KEY"] for m in members] == [
            f"{record_id}/members[{n}]" for n in range(1, len(answers["members"]) + 1)
        ]
        for member, given in zip(members, answers["members"], strict=True):
            assert member["given_name"] == given["given_name"]
            assert member["sex"] == given["sex"]
            assert member["vulnerabilities"] == " ".join(given["vulnerabilities"])
            assert member["vulnerabilities/none"] == "1"
            assert member["vulnerabilities/pregnant"] == "0"
    assert summary.rows[f"{FORM}-members"] == sum(
        len(r["answers"]["members"]) for r in expected.values()
    )
    assert main[server["conflict_record"]]["Status"] == "open-conflict"


@pytest.mark.parametrize(
    ("language", "female", "head"),
    [("pt", "Feminino", "Chefe do agregado"), ("en", "Female", None)],
)
def test_choice_labels_are_in_the_language_asked_for(
    server, tmp_path, household_form, language, female, head
):
    path, _ = run(server, tmp_path, format="csvzip", language=language, **full())
    members = read_zip(path)[f"{FORM}-members"]
    sex = household_form.question("sex")
    labels = {
        c.name: household_form.text(c.label, language) for c in household_form.choices_for(sex)
    }
    assert labels["F"] == female
    assert {m["sex"] for m in members} <= set(labels.values())
    assert female in {m["sex"] for m in members}
    relationship = household_form.question("relationship")
    head_label = household_form.text(
        household_form.choice(relationship.choice_list, "head").label, language
    )
    assert head is None or head_label == head
    assert head_label in {m["relationship"] for m in members}


# --- XLSX -----------------------------------------------------------------------------


def test_xlsx_has_a_sheet_per_table_with_a_frozen_header_and_the_same_rows(server, tmp_path):
    csv_path, _ = run(server, tmp_path, "a.zip", format="csvzip", **full())
    xlsx_path, summary = run(server, tmp_path, "a.xlsx", format="xlsx", **full())
    tables = read_zip(csv_path)
    workbook = openpyxl.load_workbook(xlsx_path, read_only=False)
    assert workbook.sheetnames == [FORM, "members", "summary_by_site"]
    for sheet_name, table in zip(workbook.sheetnames, tables, strict=True):
        sheet = workbook[sheet_name]
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.b for cell in sheet[1])
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == list(tables[table][0].keys())
        assert len(rows) - 1 == len(tables[table])
        for got, want in zip(rows[1:], tables[table], strict=True):
            for a, b in zip(got, want.values(), strict=True):
                _same(a, b)
    assert summary.rows["household_registration-members"] == workbook["members"].max_row - 1


def _same(a: Any, b: str) -> None:
    """An XLSX cell (typed) holds what the CSV cell (text) holds."""
    if a is None:
        assert b == ""
    elif isinstance(a, int | float):
        assert float(a) == float(b)
    else:
        assert a == b


# --- GeoJSON --------------------------------------------------------------------------


def test_geojson_has_household_points_and_sites_with_their_latest_sphere_ratings(server, tmp_path):
    path, _summary = run(server, tmp_path, format="geojson", **full())
    collection = json.loads(path.read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection"
    points = [f for f in collection["features"] if f["properties"]["feature_type"] == FORM]
    sites = {f["properties"]["site_id"]: f for f in collection["features"]
             if f["properties"]["feature_type"] == "site"}  # fmt: skip
    expected = db_records(server, district=DISTRICT)
    assert {f["properties"]["KEY"] for f in points} == set(expected)
    for feature in points:
        geometry = shape(feature["geometry"])
        lat, lon, *_ = map(
            float, expected[feature["properties"]["KEY"]]["answers"]["hh_gps"].split()
        )
        assert geometry.equals(Point(lon, lat))
        assert feature["properties"]["registration_date"]
    gazetteer = default_gazetteer()
    assert set(sites) == {
        s.site_id for s in gazetteer.sites.values() if s.district_pcode == DISTRICT
    }
    site = sites[SITE]
    assert shape(site["geometry"]).is_valid and shape(site["geometry"]).contains(
        gazetteer.sites[SITE].centre
    )
    # The site check of 2026-11-25 (4 latrines) is the latest: its latrines rate red.
    assert site["properties"]["last_check_date"] == "2026-11-25"
    assert site["properties"]["people_per_latrine"] == 480 / 4
    assert site["properties"]["people_per_latrine_rating"] == "red"


def test_site_checks_are_points_at_the_site_with_their_answers(server, tmp_path):
    path, summary = run(server, tmp_path, form_id="site_check", format="geojson")
    collection = json.loads(path.read_text(encoding="utf-8"))
    checks = [f for f in collection["features"] if f["properties"]["feature_type"] == "site_check"]
    assert len(checks) == summary.records == 9
    for feature in checks:
        assert shape(feature["geometry"]).geom_type == "Point"
        assert feature["properties"]["site_id"]


# --- HXL ------------------------------------------------------------------------------


def test_hxl_csv_has_a_hashtag_row_from_the_form_and_codes_in_code_columns(
    server, tmp_path, household_form
):
    path, summary = run(server, tmp_path, format="hxl")
    rows = list(csv.reader(path.open(encoding="utf-8")))
    header, tags, data = rows[0], rows[1], rows[2:]
    assert all(HXL_HASHTAG.match(tag) for tag in tags), tags
    tagged = {q.name: q.hxl for q in household_form.questions() if q.hxl}
    by_header = dict(zip(header, tags, strict=True))
    assert by_header["district"] == "#adm2+code" == tagged["district"]
    assert (
        by_header["hh_gps-Latitude"] == "#geo+lat" and by_header["hh_gps-Longitude"] == "#geo+lon"
    )
    assert by_header["KEY"] == "#meta+id"
    assert len(data) == summary.records == len(db_records(server))
    districts = {r["answers"]["district"] for r in db_records(server).values()}
    assert {row[header.index("district")] for row in data} == districts
    assert all(
        re.fullmatch(r"\d{4}-\d{2}-\d{2}", row[header.index("registration_date")]) for row in data
    )


# --- personal data --------------------------------------------------------------------


def personal_strings(server) -> set[str]:
    """Every name, phone, ID number, record id and exact GPS of the test data."""
    found: set[str] = set()
    conn = sqlite3.connect(f"file:{server['db'].path}?mode=ro", uri=True)
    for (body,) in conn.execute("SELECT body FROM revisions"):
        revision = json.loads(body)
        answers = revision["answers"]
        found |= {revision["record_id"], revision["revision_id"], revision["device_id"]}
        for key in ("hh_head_given_name", "hh_head_family_name", "contact_phone"):
            if answers.get(key):
                found.add(str(answers[key]))
        if answers.get("hh_gps"):
            found.update(answers["hh_gps"].split()[:2])
        for member in answers.get("members", []):
            found |= {member["given_name"], member["family_name"], member.get("id_doc_number", "")}
    found |= {name for (name,) in conn.execute("SELECT name FROM accounts")}
    conn.close()
    found.discard("")
    return found


def words_of(value: Any) -> set[str]:
    text = str(value)
    return {text, *re.split(r"[\s,;/()\[\]\"]+", text)}


@pytest.mark.parametrize("fmt", ["csvzip", "xlsx", "geojson", "hxl"])
def test_a_shareable_export_has_no_name_phone_id_or_exact_position(server, tmp_path, fmt):
    path, summary = run(server, tmp_path, format=fmt)
    assert summary.records == len(db_records(server))
    cells: set[str] = set()
    if fmt == "csvzip":
        for rows in read_zip(path).values():
            for row in rows:
                for value in [*row.values(), *row.keys()]:
                    cells |= words_of(value)
    elif fmt == "xlsx":
        for sheet in openpyxl.load_workbook(path):
            for row in sheet.iter_rows(values_only=True):
                for value in row:
                    cells |= words_of("" if value is None else value)
    elif fmt == "geojson":
        for feature in json.loads(path.read_text(encoding="utf-8"))["features"]:
            for key, value in feature["properties"].items():
                cells |= words_of(key) | words_of(value)
            if feature["geometry"]["type"] == "Point":
                cells |= {f"{c:.6f}" for c in feature["geometry"]["coordinates"]}
    else:
        for row in csv.reader(path.open(encoding="utf-8")):
            for value in row:
                cells |= words_of(value)
    secrets_found = personal_strings(server) & cells
    assert not secrets_found
    # and as raw bytes, for the long unique ones (phones, ids, record ids)
    raw = path.read_bytes() if fmt in ("geojson", "hxl") else b""
    for text in personal_strings(server):
        if len(text) >= 9:
            assert text.encode() not in raw


def test_a_shareable_export_places_households_at_their_site(server, tmp_path):
    path, _ = run(server, tmp_path, format="csvzip")
    gazetteer = default_gazetteer()
    for row in read_zip(path)[FORM]:
        assert row["hh_gps-Altitude"] == row["hh_gps-Accuracy"] == ""
        assert "hh_head_given_name" not in row and "contact_phone" not in row
    codes, _ = run(server, tmp_path, "codes.zip", format="csvzip", labels=False)
    for row in read_zip(codes)[FORM]:
        centre = gazetteer.sites[row["site_id"]].centre
        assert (float(row["hh_gps-Latitude"]), float(row["hh_gps-Longitude"])) == (
            centre.y,
            centre.x,
        )


def test_shareable_keys_are_keyed_hashes_stable_across_exports(server, tmp_path):
    first, _ = run(server, tmp_path, "1.zip", format="csvzip")
    second, _ = run(server, tmp_path, "2.zip", format="csvzip")
    keys = [row["KEY"] for row in read_zip(first)[FORM]]
    assert keys == [row["KEY"] for row in read_zip(second)[FORM]]
    ids = set(db_records(server))
    assert not ids & set(keys)
    plain = {hashlib.sha256(i.encode()).hexdigest()[:32] for i in ids}
    assert not plain & set(keys)  # not a plain hash: without the secret, no way back
    conn = sqlite3.connect(server["db"].path)
    secret = conn.execute("SELECT value FROM meta WHERE key = 'export_secret'").fetchone()[0]
    conn.close()
    keyed = {
        hmac.new(secret.encode(), f"record:{i}".encode(), hashlib.sha256).hexdigest()[:32]
        for i in ids
    }
    assert set(keys) == keyed


def test_small_counts_are_suppressed_in_shareable_aggregate_tables(server, tmp_path):
    path, _ = run(server, tmp_path, format="csvzip", labels=False)
    summary = {row["site_id"]: row for row in read_zip(path)["summary_by_site"]}
    per_site: dict[str, list[dict[str, Any]]] = {}
    for record in db_records(server).values():
        per_site.setdefault(record["answers"]["site_id"], []).append(record["answers"])
    for site_id, answers in per_site.items():
        shown = summary[site_id]["records"]
        assert shown == (str(len(answers)) if len(answers) >= 5 else "<5")
        people = sum(a["hh_size"] for a in answers)
        assert summary[site_id]["hh_size"] == (str(people) if people >= 5 else "<5")
    assert summary[SITE]["records"] == str(len(per_site[SITE])) and len(per_site[SITE]) >= 5
    checks, _ = run(server, tmp_path, "sc.zip", form_id="site_check", format="csvzip")
    for row in read_zip(checks)["site_check"]:
        assert row["n_pregnant"] == "<5"  # the samples have 0
        assert int(row["individuals"]) >= 5
    full_checks, _ = run(
        server, tmp_path, "scf.zip", form_id="site_check", format="csvzip", **full()
    )
    assert {row["n_pregnant"] for row in read_zip(full_checks)["site_check"]} == {"0"}


# --- options --------------------------------------------------------------------------


def test_options_filter_by_date_district_site_enumerator_and_status(server, tmp_path):
    def keys(**options):
        path, _summary = run(
            server, tmp_path, f"{uuid.uuid4().hex}.zip", format="csvzip", **full(**options)
        )
        return {row["KEY"] for row in read_zip(path)[FORM]}

    everything = db_records(server, district=DISTRICT)
    late = keys(date_from=dt.date(2026, 11, 15))
    assert late == {k for k in everything if k not in keys(date_to=dt.date(2026, 11, 14))}
    assert keys(date_from=dt.date(2026, 11, 10), date_to=dt.date(2026, 11, 10)) | late == set(
        everything
    )
    assert keys(site_id=SITE) == {k for k, r in everything.items() if r["site_id"] == SITE}
    assert len(keys(enumerator="Amélia Teste")) == 6
    assert keys(enumerator="device-late") == keys(enumerator="Amélia Teste")
    conflicted = server["conflict_record"]
    assert keys(status="open-conflict") == {conflicted}
    assert conflicted not in keys(include_open_conflicts=False)
    assert keys(status="clean") == set(everything) - {conflicted}


def test_every_revision_gives_one_row_per_revision_with_its_record(server, tmp_path):
    path, _summary = run(
        server, tmp_path, format="csvzip", every_revision=True, site_id=SITE, **full()
    )
    main = read_zip(path)[FORM]
    conn = sqlite3.connect(server["db"].path)
    revisions = dict(
        conn.execute(
            "SELECT revision_id, record_id FROM revisions WHERE site_id = ? AND form_id = ?",
            (SITE, FORM),
        ).fetchall()
    )
    conn.close()
    assert {row["KEY"] for row in main} == set(revisions)
    assert all(row["RECORD_KEY"] == revisions[row["KEY"]] for row in main)
    conflicted = [row for row in main if row["RECORD_KEY"] == server["conflict_record"]]
    assert sorted(row["RevisionOrigin"] for row in conflicted) == [
        "device",
        "device",
        "device",
        "merge",
    ]
    assert {row["contact_phone"] for row in conflicted} >= {"841111111", "842222222"}


# --- who may export, and the audit log ------------------------------------------------


def test_a_full_export_needs_a_coordinator_and_is_recorded_without_personal_data(server, tmp_path):
    with pytest.raises(OutOfScope):
        run(server, tmp_path, format="csvzip", shareable=False, purpose="x")
    with pytest.raises(OutOfScope):
        run(server, tmp_path, format="csvzip", shareable=False, purpose="x",
            principal=auth.Principal("tablet-a", "device", DISTRICT))  # fmt: skip
    with pytest.raises(BadOptions, match="purpose"):
        run(server, tmp_path, format="csvzip", shareable=False, principal=coordinator())
    _, summary = run(server, tmp_path, format="xlsx", enumerator="Amélia Teste", **full())
    conn = sqlite3.connect(server["db"].path)
    at, account_id, action, details, outcome = conn.execute(
        "SELECT at, account_id, action, target, outcome FROM audit_log ORDER BY id DESC LIMIT 1"
    ).fetchone()
    conn.close()
    assert (account_id, action, outcome) == ("coordinator-test", "export.full", "ok")
    assert dt.datetime.fromisoformat(at.replace("Z", "+00:00")) > dt.datetime.now(
        dt.UTC
    ) - dt.timedelta(minutes=5)
    recorded = json.loads(details)
    assert recorded["records"] == summary.records == 6
    assert recorded["form_id"] == FORM and recorded["format"] == "xlsx"
    assert recorded["purpose"] == "tracing family members" and recorded["enumerator"] == "set"
    assert not personal_strings(server) & words_of(details) - {""}
    assert "Amélia" not in details


# --- consistency ----------------------------------------------------------------------


def test_a_push_during_an_export_is_not_half_in_it(server, tmp_path, household_form, monkeypatch):
    """Pages of 3: after the first page, a tablet pushes a new household and adds a member
    to a household not exported yet. The export shows the database as it was."""
    monkeypatch.setattr(query, "PAGE_SIZE", 3)
    db = server["db"]
    before = db_records(server, district=DISTRICT)
    last_id = list(before)[-2]  # exported on a later page
    last = before[last_id]
    tablet = auth.Principal("tablet-a", "device", DISTRICT)
    pushed: list[str] = []

    def push_now(done: int, total: int) -> None:
        if done and not pushed:
            new = households(household_form, [400], site_id=SITE)[0]
            record_id = str(uuid.uuid4())
            head = db.write(
                lambda conn: conn.execute(
                    "SELECT head_revision_id FROM records WHERE record_id = ?", (last_id,)
                ).fetchone()[0]
            )
            grown = {
                **last["answers"],
                "members": [*last["answers"]["members"], last["answers"]["members"][-1]],
            }
            results = store(
                db,
                tablet,
                [
                    revision(record_id, new, "tablet-a", 1_796_000_000_000),
                    revision(last_id, grown, "tablet-a", 1_796_000_000_001, parent=head),
                ],
            )
            assert [r.status for r in results] == ["accepted", "accepted"]
            pushed.append(record_id)

    opts = ExportOptions(FORM, format="csvzip", shareable=False, purpose="check", labels=False)
    path = tmp_path / "during.zip"
    summary = export(db, opts, path, principal=coordinator(), progress=push_now)
    assert pushed
    tables = read_zip(path)
    assert {row["KEY"] for row in tables[FORM]} == set(before) and summary.records == len(before)
    members = [m for m in tables[f"{FORM}-members"] if m["PARENT_KEY"] == last_id]
    assert len(members) == len(last["answers"]["members"])
    after, _ = run(server, tmp_path, "after.zip", format="csvzip", labels=False, **full())
    tables = read_zip(after)
    assert pushed[0] in {row["KEY"] for row in tables[FORM]}
    assert (
        len([m for m in tables[f"{FORM}-members"] if m["PARENT_KEY"] == last_id])
        == len(members) + 1
    )


# --- bad input ------------------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"form_id": "no_such_form"}, UnknownForm),
        ({"date_from": dt.date(2026, 11, 20), "date_to": dt.date(2026, 11, 1)}, BadOptions),
        ({"format": "pdf"}, UnknownFormat),
        ({"district": "MZ1122", "principal": coordinator()}, OutOfScope),
    ],
)
def test_bad_requests_say_what_is_wrong_and_write_nothing(server, tmp_path, options, error):
    with pytest.raises(error) as raised:
        run(server, tmp_path, "never.zip", **{"format": "csvzip", **options})
    assert raised.value.message
    assert leftovers(tmp_path) == []


def test_a_failure_in_the_middle_leaves_no_partial_file(server, tmp_path):
    (tmp_path / "old.zip").write_bytes(b"the previous export")

    def fail(done, total):
        if done:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        export(
            server["db"], ExportOptions(FORM, format="xlsx"), tmp_path / "old.zip", progress=fail
        )
    assert leftovers(tmp_path) == ["old.zip"]
    assert (tmp_path / "old.zip").read_bytes() == b"the previous export"


# --- HTTP -----------------------------------------------------------------------------


def test_a_coordinator_downloads_an_export_as_a_stream(server):
    client = server["client"]
    headers = {"Authorization": f"Bearer {server['token']}"}
    response = client.get(f"/api/v1/exports/{FORM}", params={"format": "xlsx"}, headers=headers)
    assert response.status_code == 200
    assert "content-length" not in response.headers  # streamed: unknown until the end
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="{FORM}-shareable-'
    )
    assert response.headers["x-export-records"] == str(len(db_records(server, district=DISTRICT)))
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook[FORM].max_row - 1 == len(db_records(server, district=DISTRICT))
    assert leftovers(server["data_dir"] / "exports") == []
    geo = client.get(f"/api/v1/exports/{FORM}", params={"format": "geojson"}, headers=headers)
    assert json.loads(geo.content)["type"] == "FeatureCollection"


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"format": "pdf"}, 422, "unknown-format"),
        ({"from": "2026-11-20", "to": "2026-11-01"}, 422, "bad-options"),
        ({"from": "20/11/2026"}, 422, "bad-options"),
        ({"district": "MZ1122"}, 403, "out-of-scope"),
        ({"full": "true"}, 422, "bad-options"),
    ],
)
def test_bad_export_requests_get_a_clear_error_and_no_file(server, params, status, code):
    headers = {"Authorization": f"Bearer {server['token']}"}
    response = server["client"].get(f"/api/v1/exports/{FORM}", params=params, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["message"]
    assert leftovers(server["data_dir"] / "exports") == []


def test_unknown_forms_and_non_coordinators_are_refused(server):
    client = server["client"]
    headers = {"Authorization": f"Bearer {server['token']}"}
    missing = client.get("/api/v1/exports/no_such_form", headers=headers)
    assert missing.status_code == 404 and "household_registration" in missing.json()["message"]
    assert client.get(f"/api/v1/exports/{FORM}").status_code == 401
    device = {"Authorization": f"Bearer {server['device_token']}"}
    refused = client.get(f"/api/v1/exports/{FORM}", headers=device)
    assert refused.status_code == 403 and "coordinator" in refused.json()["message"]


# --- command line ---------------------------------------------------------------------


@pytest.mark.system
def test_the_cli_exports_with_a_progress_bar_and_refuses_bad_input(server, tmp_path):
    out = tmp_path / "households.zip"
    command = [sys.executable, "-m", "sync_server.cli", "export", "--data-dir", str(server["data_dir"]),
               "--form", FORM, "--format", "csvzip", "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    total = len(db_records(server))
    assert f"{total:,}/{total:,} records 100%" in result.stderr
    assert f"Exported {total} record(s)" in result.stdout
    assert len(read_zip(out)[FORM]) == total
    bad = subprocess.run([*command[:-1], str(tmp_path / "x.zip"), "--from", "2026-11-20", "--to", "2026-11-01"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "ends (2026-11-01) before it starts" in bad.stderr
    full_without_token = subprocess.run([*command, "--full", "--purpose", "x"], capture_output=True,
                                        text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert full_without_token.returncode == 2 and "coordinator" in full_without_token.stderr
    assert leftovers(tmp_path) == ["households.zip"]
    full_path = tmp_path / "full.zip"
    with_token = [*command[:-1], str(full_path), "--full", "--purpose", "family tracing",
                  "--token", server["token"], "--quiet"]  # fmt: skip
    result = subprocess.run(with_token, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = read_zip(full_path)[FORM]
    assert {row["KEY"] for row in rows} == set(db_records(server, district=DISTRICT))
    assert all(row["hh_head_given_name"] for row in rows)


def test_the_progress_line_shows_count_percent_and_time_left():
    assert (
        line(250, 1000, 10.0)
        == "[#######-----------------------]       250/1,000 records  25%  0:30 left"
    )
    assert line(1000, 1000, 75.0).endswith("records 100%  done in 1:15")


# --- forms: the hxl column --------------------------------------------------------------


def test_a_form_gives_hxl_hashtags_from_either_column(load):
    form = load(
        """
        | survey |
        | | type | name | label | hxl | instance::hxl |
        | | text | a | A | #adm2+pcode | |
        | | integer | b | B | | #affected + hh |
        | | integer | c | C | | |
        | settings |
        | | form_id | version |
        | | t | 1 |
        """
    )
    assert [(q.name, q.hxl) for q in form.questions()] == [
        ("a", "#adm2+code"),
        ("b", "#affected+hh"),
        ("c", None),
    ]


def test_a_bad_hxl_hashtag_is_a_form_problem_naming_the_row(write_form):
    from forms import FormLoadError

    path = write_form(
        """
        | survey |
        | | type | name | label | hxl |
        | | text | a | A | adm2 code |
        | settings |
        | | form_id | version |
        | | t | 1 |
        """
    )
    with pytest.raises(FormLoadError) as raised:
        load_form(path)
    assert "HXL hashtag 'adm2 code'" in str(raised.value) and "row 2" in str(raised.value)


# --- the table layout (pure) -----------------------------------------------------------

NESTED = """
| survey |
| | type | name | label | sensitivity |
| | text | district | District | public |
| | select_multiple item | items | Items | public |
| | begin_repeat | members | Members | |
| | text | name | Name | personal |
| | begin_repeat | visits | Visits | |
| | integer | day | Day | public |
| | end_repeat | | | |
| | end_repeat | | | |
| choices |
| | list_name | name | label |
| | item | pot | Pot |
| | item | mat | Mat |
| settings |
| | form_id | version |
| | nested | {version} |
"""


def test_nested_repeats_get_keys_of_their_parents_and_old_questions_stay(load):
    from sync_server.exports.tables import RecordContext, build_layout, record_rows

    new = load(NESTED.format(version="2"), "new.md")
    old = load(
        NESTED.format(version="1").replace(
            "| | text | district |", "| | text | old_q | Old | public |\n| | text | district |"
        ),
        "old.md",
    )
    layout = build_layout([new, old], labels=True, language=None, shareable=False, threshold=5)
    assert [t.name for t in layout.tables] == ["nested", "nested-members", "nested-visits"]
    assert layout.main.headers[:5] == [
        "SubmissionDate",
        "district",
        "items",
        "items/pot",
        "items/mat",
    ]
    assert layout.main.headers[5] == "old_q"  # only the older version had it
    answers = {
        "district": "MZ1120",
        "members": [{"name": "Ana", "visits": [{"day": 1}, {"day": 2}]}, {"name": "Rui"}],
    }
    rows = [
        (table.name, row) for table, row in record_rows(layout, answers, RecordContext(key="K"))
    ]
    assert [name for name, _ in rows] == [
        "nested",
        "nested-members",
        "nested-visits",
        "nested-visits",
        "nested-members",
    ]
    main = dict(zip(layout.main.headers, rows[0][1], strict=True))
    assert (main["items"], main["items/pot"], main["items/mat"], main["old_q"]) == ("", "", "", "")
    visits = layout.tables[2]
    second_visit = dict(zip(visits.headers, rows[3][1], strict=True))
    assert second_visit == {"day": 2, "PARENT_KEY": "K/members[1]", "KEY": "K/members[1]/visits[2]"}
    shareable = build_layout([new], labels=True, language=None, shareable=True, threshold=5)
    assert "name" not in shareable.tables[1].headers
