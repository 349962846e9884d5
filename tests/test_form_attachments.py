"""Files published with a form (CSV/GeoJSON choices and lookups, media): `sync-server
publish-form FORM [ATTACHMENT ...]`, delivered to the tablets with the form, used by the
app's choices and lookups and by the server's validation. Real server process, real CLI,
real store and sync client."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
import requests

from fieldapp.catalog import FormCatalog, form_attachment_dir
from fieldapp.session import FormSession, Slot
from fieldapp.store import Store
from fieldapp.sync_client import SyncClient
from sync_server.db import Database
from tests.sync_helpers import DISTRICT, auth, cli, push, revision, running_server


def new_server_database(data: Path) -> Path:
    """An empty server database (what `serve --init` creates): publish-form needs one."""
    Database(data).close()
    return data


pytestmark = pytest.mark.system

VILLAGE_FORM = f"""
| survey |
| | type | name | label | choice_filter | calculation |
| | text | district | District | | |
| | select_one zone | zone | Zone | | |
| | select_one_from_file villages.csv | village | Village | zone=${{zone}} | |
| | calculate | village_name | | | instance('villages')/root/item[name=${{village}}]/label |
| choices |
| | list_name | name | label |
| | zone | north | North |
| | zone | south | South |
| settings |
| | form_id | version | form_title |
| | villages | 1 | Villages ({DISTRICT}) |
"""

VILLAGES_CSV = "name,label,zone\nv1,Namacurra Sede,north\nv2,Macuse,north\nv3,Mocuba,south\n"


def write_form(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    form = folder / "villages.md"
    form.write_text(VILLAGE_FORM.strip() + "\n", encoding="utf-8")
    csv = folder / "elsewhere" / "villages.csv"
    csv.parent.mkdir(exist_ok=True)
    csv.write_text(VILLAGES_CSV, encoding="utf-8")
    return form, csv


def test_attachments_are_published_delivered_and_used_on_tablet_and_server(tmp_path):
    form_path, csv = write_form(tmp_path / "authoring")
    with running_server(tmp_path / "data", tmp_path / "no-forms") as server:
        published = cli(server.data_dir, "publish-form", str(form_path), str(csv))
        assert "published: villages version 1" in published.stdout
        _, token = server.enroll()
        listed = requests.get(server.url + "/api/v1/forms", headers=auth(token), timeout=10)
        info = next(f for f in listed.json() if f["form_id"] == "villages")
        digest = hashlib.sha256(VILLAGES_CSV.encode()).hexdigest()
        assert info["attachments"] == [
            {"name": "villages.csv", "sha256": digest, "size": len(VILLAGES_CSV)}
        ]
        # Only the files a form lists can be downloaded.
        for name in ("nothing.csv", "..%2F..%2Fserver.db"):
            missing = requests.get(
                f"{server.url}/api/v1/forms/villages/1/attachments/{name}",
                headers=auth(token),
                timeout=10,
            )
            assert missing.status_code == 404

        store = Store(tmp_path / "tablet" / "fieldapp.db")
        client = SyncClient(store, server.url)
        client.enroll(server.enroll_code())
        report = client.sync()
        assert "villages@1" in report.forms_downloaded
        folder = form_attachment_dir(store, "villages", "1")
        assert (folder / "villages.csv").read_text(encoding="utf-8") == VILLAGES_CSV

        form = FormCatalog(store, tmp_path / "tablet" / "cache").form("villages", "1")
        record_id = store.create_draft("villages", "1")
        session = FormSession(form, store, record_id, clock=lambda: dt.datetime(2026, 11, 30))
        session.set_answer(Slot(form.question("district")), DISTRICT)
        session.set_answer(Slot(form.question("zone")), "north")
        village = Slot(form.question("village"))
        assert session.choices(village) == [("v1", "Namacurra Sede"), ("v2", "Macuse")]
        session.set_answer(village, "v2")
        assert session.computed(Slot(form.question("village_name"))) == "Macuse"
        assert session.finalize().finalized
        # The server validates the record against the same file: v2 is a village there too.
        pushed = client.sync()
        assert pushed.accepted == 1 and pushed.rejected == 0
        store.close()


def test_publishing_refuses_a_file_the_form_does_not_use_and_changed_files(tmp_path):
    form_path, csv = write_form(tmp_path / "authoring")
    stray = tmp_path / "authoring" / "stray.csv"
    stray.write_text("name\nx\n", encoding="utf-8")
    data = new_server_database(tmp_path / "data")
    refused = cli(data, "publish-form", str(form_path), str(csv), str(stray), check=False)
    assert refused.returncode == 1
    assert "the form does not use stray.csv (it uses: villages.csv)" in refused.stderr

    assert cli(data, "publish-form", str(form_path), str(csv)).returncode == 0
    again = cli(data, "publish-form", str(form_path), str(csv))
    assert "already published: villages version 1" in again.stdout
    csv.write_text(VILLAGES_CSV + "v4,Nicoadala,south\n", encoding="utf-8")
    changed = cli(data, "publish-form", str(form_path), str(csv), check=False)
    assert changed.returncode == 1 and "different content or attachments" in changed.stderr


def test_a_missing_attachment_is_a_warning_and_files_beside_the_form_are_taken(tmp_path):
    form_path, _ = write_form(tmp_path / "authoring")
    data = new_server_database(tmp_path / "data")
    warned = cli(data, "publish-form", str(form_path))
    assert "published: villages version 1" in warned.stdout
    assert "the attachment 'villages.csv' is missing" in warned.stderr

    beside = tmp_path / "beside"
    beside.mkdir()
    source = form_path.read_text(encoding="utf-8").replace("| villages | 1 |", "| villages | 2 |")
    (beside / "villages.md").write_text(source, encoding="utf-8")
    (beside / "villages.csv").write_text(VILLAGES_CSV, encoding="utf-8")
    taken = cli(data, "publish-form", str(beside / "villages.md"))
    assert "published: villages version 2" in taken.stdout and "warning" not in taken.stderr


METADATA_FORM = """
| survey |
| | type | name | label |
| | start | start | |
| | deviceid | deviceid | |
| | text | district | District |
| settings |
| | form_id | version |
| | metadata_check | 1 |
"""


def test_the_server_checks_a_new_records_metadata(tmp_path):
    forms_dir = tmp_path / "forms"
    forms_dir.mkdir()
    (forms_dir / "metadata_check.md").write_text(METADATA_FORM.strip() + "\n", encoding="utf-8")
    with running_server(tmp_path / "data", forms_dir) as server:
        device, token = server.enroll()

        def send(answers, **kwargs):
            item = revision(device, answers, form_id="metadata_check", form_version="1", **kwargs)
            response = push(server.url, token, device, [item])
            assert response.status_code in (200, 422), response.text  # 422: all rejected
            return item, response.json()["results"][0]

        good = {"start": "2026-11-30T09:15:00", "deviceid": device, "district": DISTRICT}
        first, result = send(good)
        assert result["status"] == "accepted"
        _, result = send({**good, "deviceid": "someone-else"})
        assert result["status"] == "rejected"
        assert [(r["field"], r["code"]) for r in result["reasons"]] == [("deviceid", "metadata")]
        _, result = send({**good, "start": "yesterday"})
        assert result["status"] == "rejected"
        assert [(r["field"], r["code"]) for r in result["reasons"]] == [("start", "datetime")]
        # An edit keeps the device id of the device that made the record.
        _, result = send(
            {**good, "deviceid": "the-first-tablet"},
            record_id=first["record_id"],
            parent=first["revision_id"],
        )
        assert result["status"] == "accepted"
