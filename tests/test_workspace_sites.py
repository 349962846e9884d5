"""The workspace's site list (issue #11 item 2): a coordinator opens and closes sites in
their district (CSRF-checked, audited, pt and en), and the tablets' sites.csv and the pull
follow at once. In-process app; the tablet side is tests/test_sites.py."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sync_server.app import create_app
from sync_server.workspace import accounts, testing

pytestmark = pytest.mark.integration

PASSWORD = "a long pass phrase"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple]:
    application = create_app(tmp_path / "district", validation_workers=0)
    with TestClient(application) as client:
        yield application, client


def sign_in(app, client: TestClient, username: str, district: str) -> str:
    app.state.db.write(
        lambda c: accounts.create_login(
            c, name="Graça", username=username, password=PASSWORD, district=district
        )
    )
    assert testing.sign_in(client, username, PASSWORD).status_code == 303
    return testing.csrf_of(client.get("/sites/list").text)


def tablet_sites(client: TestClient, app) -> dict[str, dict[str, str]]:
    """sites.csv as a tablet downloads it, by site id."""
    from sync_server import auth

    code, _ = app.state.db.write(lambda c: auth.create_code(c, name="T", district="MZ1120"))
    token = client.post("/api/v1/enroll", json={"code": code, "device_id": f"t-{code[:4]}"})
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    listed = client.get("/api/v1/forms", headers=headers).json()
    info = next(f for f in listed if f["form_id"] == "household_registration")
    attachment = next(a for a in info["attachments"] if a["name"] == "sites.csv")
    body = client.get(
        f"/api/v1/forms/household_registration/{info['version']}/attachments/sites.csv",
        headers=headers,
    ).content
    assert hashlib.sha256(body).hexdigest() == attachment["sha256"]
    return {row["name"]: row for row in csv.DictReader(io.StringIO(body.decode()))}


def test_a_coordinator_opens_and_closes_a_site_and_the_tablets_list_follows(app):
    application, client = app
    token = sign_in(application, client, "graca", "MZ1120")
    page = client.get("/sites/list")
    assert page.status_code == 200 and "Abrir um novo local" in page.text
    assert 'id="site-MOZ-ZAM-0001" data-status="open"' in page.text
    assert "MOZ-ZAM-0002" not in page.text  # another district's site

    added = client.post(
        "/sites/add",
        data={
            "csrf": token,
            "name": "Escola Primária de Mugogoda",
            "site_type": "accommodation_centre",
            "lat": "-17,455",
            "lon": "37.035",
            "opened": "2026-11-29",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    page = client.get(added.headers["location"])
    assert "Local aberto." in page.text
    assert 'id="site-MOZ-ZAM-0009" data-status="open"' in page.text
    closed = client.post("/sites/MOZ-ZAM-0001/close", data={"csrf": token, "closed": "2026-11-30"})
    assert "Local fechado." in closed.text  # after the redirect back to the list

    sites = tablet_sites(client, application)
    assert sites["MOZ-ZAM-0009"]["district"] == "MZ1120"
    assert sites["MOZ-ZAM-0009"]["status"] == "open"
    assert sites["MOZ-ZAM-0001"]["status"] == "closed"
    audit = application.state.db.write(
        lambda c: [tuple(r) for r in c.execute(
            "SELECT action, target FROM audit_log WHERE action LIKE 'site-%' ORDER BY id")]
    )  # fmt: skip
    assert audit == [("site-added", "MOZ-ZAM-0009"), ("site-closed", "MOZ-ZAM-0001")]


def test_refused_changes_say_why_in_the_page_language_and_change_nothing(app):
    application, client = app
    token = sign_in(application, client, "graca", "MZ1120")
    before = tablet_sites(client, application)
    outside = client.post(
        "/sites/add",
        data={
            "csrf": token,
            "name": "X",
            "site_type": "host_community",
            "lat": "37.0",
            "lon": "-17.4",
            "opened": "2026-11-29",
        },
    )
    assert outside.status_code == 400
    assert "fora de Moçambique" in outside.text
    other_district = client.post(
        "/sites/MOZ-ZAM-0002/close", data={"csrf": token, "closed": "2026-11-30"}
    )
    assert other_district.status_code == 400 and "outro distrito" in other_district.text
    client.get("/language/en?next=/sites/list")
    early = client.post("/sites/MOZ-ZAM-0001/close", data={"csrf": token, "closed": "2001-01-01"})
    assert early.status_code == 400 and "close before the day it opened" in early.text
    no_csrf = client.post("/sites/MOZ-ZAM-0001/close", data={"closed": "2026-11-30"})
    assert no_csrf.status_code == 403
    assert tablet_sites(client, application) == before
