"""An export streams from a real `sync-server serve` process: its first bytes arrive
while the export is still reading rows, and a tablet that syncs meanwhile (the real
fieldapp sync client, over HTTP) is not half in it.

The export is big enough (10,000 households as GeoJSON: about 18 MB) that it cannot be
finished while the client has read only its first chunk: the server holds at most 1 MiB
waiting (exports.stream.DEPTH) plus what the sockets buffer (the client's receive
buffer is kept small here), so back-pressure stops the export until the client reads.
"Finished" is observable as a user would see it: the export's entry in the audit log is
written after its last row.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator

import pytest
import urllib3

from fieldapp.store import Store
from fieldapp.sync_client import SyncClient
from forms import FORMS_DIR, load_form, validate_record
from forms.samples import sample_household
from sync_server.auth import NATIONAL
from sync_server.db import Database
from sync_server.exports.testing import seed_records
from sync_server.testing import ServerProcess, auth, push
from sync_server.workspace import testing

pytestmark = [pytest.mark.system, pytest.mark.slow]

HOUSEHOLD = FORMS_DIR / "household_registration.xlsx"
FORM = "household_registration"
SEEDED = 10_000
SITE = "MOZ-ZAM-0001"  # Namacurra, MZ1120: the seeded households
TABLET_SITE = "MOZ-ZAM-0002"  # Nicoadala, MZ1122: the tablet registering during the export


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("streaming")
    data_dir = root / "district"
    form = load_form(HOUSEHOLD)
    templates = [validate_record(form, sample_household(n, site_id=SITE)).record for n in range(32)]
    db = Database(data_dir)
    try:
        ids = seed_records(db, HOUSEHOLD, (templates[n % 32] for n in range(SEEDED)),
                           batch_size=2000)  # fmt: skip
    finally:
        db.close()
    process = ServerProcess(data_dir, forms_dir=None).start()
    try:
        yield {"process": process, "root": root, "ids": ids, "version": form.version,
               "token": process.coordinator_token(NATIONAL)}  # fmt: skip
    finally:
        process.stop()


def open_download(server: dict, **params: str) -> urllib3.BaseHTTPResponse:
    """A GET of the export with a small receive buffer, not read yet (preload off)."""
    options = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)]
    pool = urllib3.PoolManager(socket_options=options, retries=False)
    return pool.request(
        "GET",
        f"{server['process'].url}/api/v1/exports/{FORM}",
        fields={"full": "true", "purpose": "streaming test", **params},
        headers=auth(server["token"]),
        preload_content=False,
        timeout=urllib3.Timeout(connect=10, read=120),
    )


def export_entries(server: dict) -> list[sqlite3.Row]:
    return server["process"].query(
        "SELECT outcome, target FROM audit_log WHERE action LIKE 'export.%' ORDER BY id"
    )


def test_the_first_bytes_arrive_before_the_export_is_finished(server):
    before = len(export_entries(server))
    response = open_download(server, format="geojson")
    assert response.status == 200
    assert "content-length" not in response.headers
    assert response.headers["x-export-records"] == str(SEEDED)
    first = response.read(64 * 1024)
    assert first.startswith(b'{"type":"FeatureCollection","features":[')
    # Not finished: no audit entry yet, and it can't come while we read nothing more.
    assert len(export_entries(server)) == before
    rest = response.read()
    response.release_conn()
    collection = json.loads(first + rest)
    households = [f for f in collection["features"] if f["properties"]["feature_type"] == FORM]
    assert len(households) == SEEDED
    entries = export_entries(server)
    assert len(entries) == before + 1 and entries[-1]["outcome"] == "ok"
    assert json.loads(entries[-1]["target"])["records"] == SEEDED


def test_a_tablet_syncing_during_a_streamed_export_is_not_half_in_it(server):
    process = server["process"]
    last_id = server["ids"][-1]  # written at the very end of the export
    head, answers = process.query(
        "SELECT head_revision_id, answers FROM records WHERE record_id = ?", (last_id,)
    )[0]
    old_name = json.loads(answers)["hh_head_given_name"]
    before = len(export_entries(server))

    response = open_download(server, format="geojson")
    first = response.read(64 * 1024)
    assert first

    # A real tablet registers a household and syncs over HTTP while the export streams.
    tablet = Store(server["root"] / "tablet.db")
    SyncClient(tablet, process.url).enroll(
        process.quick_code(district="MZ1122", sites=(TABLET_SITE,), enumerator="Ana")
    )
    new = testing.household(900, site_id=TABLET_SITE, district="MZ1122", origin_district="MZ1122")
    new_id = tablet.create_draft(FORM, server["version"], new)
    tablet.finalize(new_id, new, title=new["hh_head_given_name"], site_id=TABLET_SITE)
    report = SyncClient(tablet).sync()
    assert report.accepted == 1 and not tablet.pending_outbox()
    # Another tablet edits the household the export will write last.
    device, token = process.enroll()
    edited = {**json.loads(answers), "hh_head_given_name": "Zefanias"}
    pushed = push(process, token, device, [testing.revision(
        device, edited, record_id=last_id, parent=head, form_version=server["version"])])  # fmt: skip
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["results"][0]["status"] == "accepted"
    assert process.query("SELECT 1 FROM records WHERE record_id = ?", (new_id,))
    # Both are stored, and the export is still running (its audit entry comes at its end).
    assert len(export_entries(server)) == before

    collection = json.loads(first + response.read())
    response.release_conn()
    households = {
        f["properties"]["KEY"]: f["properties"]
        for f in collection["features"]
        if f["properties"]["feature_type"] == FORM
    }
    assert set(households) == set(server["ids"])  # not the new household
    assert households[last_id]["hh_head_given_name"] == old_name  # not the edit

    # The next export has both.
    again = open_download(server, format="geojson")
    later = {
        f["properties"]["KEY"]: f["properties"]
        for f in json.loads(again.read())["features"]
        if f["properties"]["feature_type"] == FORM
    }
    again.release_conn()
    assert new_id in later and later[last_id]["hh_head_given_name"] == "Zefanias"


def test_a_download_cut_off_midway_is_audited_as_cut(server):
    before = len(export_entries(server))
    response = open_download(server, format="geojson")
    assert response.read(64 * 1024)
    response.close()  # the browser went away
    process = server["process"]
    # The server notices at its next write; wait for its entry (bounded, no timing claim).
    entries = _wait_for(lambda: export_entries(server)[before:], 60)
    assert [e["outcome"] for e in entries] == ["cut"]
    assert process.process is not None and process.process.poll() is None


def _wait_for(check, seconds: float):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError("timed out waiting")
