"""The workspace's Exports page in-process: every option reaches the export, the download
is the streamed file, a full export needs its purpose and is listed (without it) among
the recent exports, and bad input is the page again with a clear error in the page's
language and nothing exported or audited."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from forms import household_id
from sync_server import auth
from sync_server.app import create_app
from sync_server.workspace import accounts, testing

pytestmark = pytest.mark.integration

PASSWORD = "a long pass phrase"
FORM = "household_registration"


@pytest.fixture(scope="module")
def office(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """Households from one tablet in Namacurra (MZ1120) and one in Nicoadala (MZ1122)."""
    data_dir = tmp_path_factory.mktemp("exports-page") / "district"
    app = create_app(data_dir, validation_workers=0)
    with TestClient(app) as client:
        database = app.state.db
        for username, district in (("graca", "MZ1120"), ("nacional", auth.NATIONAL)):
            database.write(
                lambda c, u=username, d=district: accounts.create_login(
                    c, name=f"Coord {u}", username=u, password=PASSWORD, district=d
                )
            )
        ids: dict[str, list[str]] = {"MZ1120": [], "MZ1122": []}
        for device, district, site in (("tablet-a", "MZ1120", "MOZ-ZAM-0001"),
                                       ("tablet-b", "MZ1122", "MOZ-ZAM-0002")):  # fmt: skip
            code, _ = database.write(
                lambda c, d=district: auth.create_code(c, name="E", district=d)
            )
            token = client.post("/api/v1/enroll", json={"code": code, "device_id": device}).json()[
                "token"
            ]
            for seed in range(3):
                revision = testing.revision(device, testing.household(seed + len(ids[district])
                                                                      * 10, site_id=site))  # fmt: skip
                answer = client.post(
                    "/api/v1/push",
                    json={"device_id": device, "batch_id": revision["revision_id"][:16],
                          "revisions": [revision]},
                    headers={"Authorization": f"Bearer {token}"},
                )  # fmt: skip
                assert answer.json()["results"][0]["status"] == "accepted", answer.text
                ids[district].append(revision["record_id"])
        yield {"client": client, "ids": ids, "db": database}


def sign_in(office, username: str = "graca") -> TestClient:
    client = office["client"]
    client.cookies.clear()
    assert testing.sign_in(client, username, PASSWORD).status_code == 303
    return client


def post(client: TestClient, **fields: str) -> Any:
    page = client.get("/exports")
    return client.post("/exports", data={"csrf": testing.csrf_of(page.text), "form": FORM,
                                         **fields})  # fmt: skip


def audit_count(office) -> int:
    with office["db"].read() as conn:
        return conn.execute(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'export.%'"
        ).fetchone()[0]


def main_table(content: bytes) -> list[dict[str, str]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        text = archive.read(f"{FORM}.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_page_offers_every_option_and_the_navigation_links_to_it(office):
    client = sign_in(office)
    page = client.get("/exports")
    assert page.status_code == 200
    assert '<a href="/exports"' in page.text and '<a href="/duplicates"' in page.text
    for field in (
        'name="format"',
        'name="from"',
        'name="to"',
        'name="district"',
        'name="site"',
        'name="status"',
        'name="answers"',
        'name="language"',
        'name="conflicts"',
        'name="rows"',
        'name="kind"',
        'name="purpose"',
    ):
        assert field in page.text, field  # fmt: skip
    assert 'value="MZ1122"' not in page.text  # only the coordinator's own district


def test_a_shareable_csv_zip_streams_with_the_records_of_the_district_only(office):
    client = sign_in(office)
    answer = post(client, format="csvzip")
    assert answer.status_code == 200
    assert "content-length" not in answer.headers
    assert answer.headers["content-disposition"].startswith(
        f'attachment; filename="{FORM}-shareable-'
    )
    rows = main_table(answer.content)
    assert len(rows) == len(office["ids"]["MZ1120"])
    keys = {row["KEY"] for row in rows}
    assert not keys & set(office["ids"]["MZ1120"])  # untraceable ids
    # Never linked: each row is its own household, and its card id is hashed like KEY.
    assert len({row["household_id"] for row in rows}) == len(rows)
    assert not any(household_id.is_valid(row["household_id"]) for row in rows)
    assert "hh_head_given_name" not in rows[0]


def test_a_full_xlsx_with_codes_has_names_and_is_listed_without_its_purpose(office):
    client = sign_in(office)
    before = audit_count(office)
    answer = post(client, format="xlsx", kind="full", purpose="tracing Zulmira's family",
                  answers="codes")  # fmt: skip
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True)
    sheet = book[FORM]
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert len(rows) == 3 and "hh_head_given_name" in header
    keys = {row[header.index("KEY")] for row in rows}
    assert keys == set(office["ids"]["MZ1120"])
    assert {row[header.index("district")] for row in rows} == {"MZ1120"}  # a code, not a label
    assert audit_count(office) == before + 1
    page = client.get("/exports").text
    assert "Completa (com dados pessoais; auditada)" in page and "xlsx" in page
    assert "Zulmira" not in page  # the purpose is in the audit log, not on the page


def test_a_national_coordinator_exports_any_district(office):
    client = sign_in(office, "nacional")
    everything = main_table(post(client, format="csvzip", kind="full", purpose="x").content)
    assert {r["KEY"] for r in everything} == set(office["ids"]["MZ1120"] + office["ids"]["MZ1122"])
    one = main_table(post(client, format="csvzip", kind="full", purpose="x",
                          district="MZ1122").content)  # fmt: skip
    assert {r["KEY"] for r in one} == set(office["ids"]["MZ1122"])


@pytest.mark.parametrize(
    ("fields", "status", "text"),
    [
        ({"kind": "full"}, 422, "precisa de um motivo"),
        ({"from": "2026-11-20", "to": "2026-11-01"}, 422, "troque as datas"),
        ({"from": "20/11/2026"}, 422, "20/11/2026"),
        ({"district": "MZ1122"}, 403, "fora da sua área"),
        ({"format": "pdf"}, 422, "Formato desconhecido"),
        ({"form": "no_such_form"}, 404, "Escolha um formulário publicado"),
    ],
)
def test_bad_input_is_the_page_again_with_a_clear_error_and_nothing_exported(
    office, fields, status, text
):
    client = sign_in(office)
    before = audit_count(office)
    answer = post(client, **fields)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert 'id="errors"' in answer.text and text in answer.text
    for key, value in fields.items():  # what was typed is kept
        if key in ("from", "to", "purpose"):
            assert f'value="{value}"' in answer.text
    assert audit_count(office) == before
    leftovers = list((Path(office["db"].data_dir) / "exports").glob("*"))
    assert leftovers == []


def test_errors_are_in_english_on_the_english_page(office):
    client = sign_in(office)
    client.get("/language/en?next=/exports")
    answer = post(client, kind="full")
    assert "A full export (with personal data) needs a purpose." in answer.text
    client.get("/language/pt?next=/exports")


def test_a_download_without_the_form_token_is_refused(office):
    client = sign_in(office)
    before = audit_count(office)
    answer = client.post("/exports", data={"form": FORM, "format": "csvzip"})
    assert answer.status_code == 403 and "PK" not in answer.text[:2]
    assert audit_count(office) == before


def test_a_household_id_answer_is_the_household_id_of_a_record_never_linked(office, tmp_path):
    """Once the household form asks for a household id, an unlinked record carries it."""
    from forms import FORMS_DIR
    from sync_server.exports import ExportOptions, export
    from sync_server.exports.testing import seed_records

    answers = testing.household(70, site_id="MOZ-ZAM-0001")
    answers["household_id"] = "HH-MZ1120-0042"
    [record_id] = seed_records(office["db"], FORMS_DIR / f"{FORM}.xlsx", [answers])
    who = auth.Principal("coordinator-test", "coordinator", "MZ1120")
    full = tmp_path / "full.zip"
    export(office["db"], ExportOptions(FORM, shareable=False, purpose="x"), full, principal=who)
    rows = {row["KEY"]: row for row in main_table(full.read_bytes())}
    assert rows[record_id]["household_id"] == "HH-MZ1120-0042"
    with zipfile.ZipFile(full) as archive:
        header = archive.read(f"{FORM}.csv").decode("utf-8-sig").splitlines()[0].split(",")
    assert header.count("household_id") == 1  # the answer's column and ours are one
    shared = tmp_path / "shared.zip"
    export(office["db"], ExportOptions(FORM), shared, principal=who)
    hashed = [row["household_id"] for row in main_table(shared.read_bytes())]
    assert "HH-MZ1120-0042" not in hashed and len(set(hashed)) == len(hashed)
