"""A coordinator moves a record to another district (issue #8): the move is a revision in
its history, audited; the new district's tablets pull it, the old district's can no longer
receive or edit it. Against the server in-process."""

from __future__ import annotations

import copy
import time

import pytest

from tests.sync_helpers import DISTRICT, OTHER_DISTRICT, InProcessServer, auth, household, push
from tests.sync_helpers import revision as make_revision

pytestmark = pytest.mark.integration

OTHER_SITE = "MOZ-ZAM-0002"  # Nicoadala, MZ1122 (OTHER_DISTRICT)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with InProcessServer(tmp_path_factory.mktemp("transfer") / "district") as in_process:
        yield in_process


def pull_all(server: InProcessServer, token: str) -> list[dict]:
    page = server.http.get(
        server.url + "/api/v1/pull", params={"cursor": 0, "limit": 1000},
        headers=auth(token), timeout=10,
    ).json()  # fmt: skip
    return page["revisions"]


def transfer(server: InProcessServer, token: str, record_id: str, **body):
    return server.http.post(
        server.url + f"/api/v1/records/{record_id}/transfer", json=body,
        headers=auth(token), timeout=10,
    )  # fmt: skip


def a_record(server: InProcessServer) -> tuple[str, str, dict]:
    device, token = server.enroll(district=DISTRICT)
    first = make_revision(device, household(members=2))
    assert push(server, token, device, [first]).status_code == 200
    return device, token, first


def test_a_national_coordinator_moves_a_record_to_another_district(server):
    old_device, old_token, first = a_record(server)
    new_device, new_token = server.enroll(district=OTHER_DISTRICT)
    national = server.coordinator_token(district="*")
    assert first["record_id"] not in {r["record_id"] for r in pull_all(server, new_token)}

    moved = transfer(server, national, first["record_id"], district=OTHER_DISTRICT,
                     site_id=OTHER_SITE)  # fmt: skip
    assert moved.status_code == 200, moved.text
    move_id = moved.json()["revision_id"]

    # A revision in the record's history, on top of the head, with the new place.
    record = server.http.get(
        server.url + f"/api/v1/records/{first['record_id']}", headers=auth(national), timeout=10
    ).json()
    assert record["head_revision_id"] == move_id
    assert first["revision_id"] in record["revision_ids"]
    assert (record["answers"]["district"], record["answers"]["site_id"]) == (
        OTHER_DISTRICT, OTHER_SITE,
    )  # fmt: skip
    assert record["answers"]["members"] == first["answers"]["members"]

    # The new district's tablets pull it (whole), the old district's don't any more.
    pulled = {r["revision_id"]: r for r in pull_all(server, new_token)}
    assert pulled[move_id]["parent_revision_id"] == first["revision_id"]
    assert pulled[move_id]["answers"] == record["answers"]
    assert move_id not in {r["revision_id"] for r in pull_all(server, old_token)}
    other_coordinator = server.coordinator_token(district=DISTRICT)
    gone = server.http.get(
        server.url + f"/api/v1/records/{first['record_id']}",
        headers=auth(other_coordinator), timeout=10,
    )  # fmt: skip
    assert gone.status_code == 404

    # A tablet of the old district can't edit it any more, even from the old head.
    stale = copy.deepcopy(first["answers"])
    stale["shelter"] = "tent"
    edit = make_revision(old_device, stale, record_id=first["record_id"],
                         parent=first["revision_id"], hlc_ms=int(time.time() * 1000) + 5)  # fmt: skip
    refused = push(server, old_token, old_device, [edit])
    assert refused.status_code == 403 and refused.json()["error"] == "out-of-scope"
    # ...while one of the new district edits it from the transfer.
    fresh = copy.deepcopy(record["answers"])
    fresh["shelter"] = "none"
    edit = make_revision(new_device, fresh, record_id=first["record_id"], parent=move_id)
    assert push(server, new_token, new_device, [edit]).json()["results"][0]["status"] == "accepted"

    audited = server.query(
        "SELECT account_id, target, outcome FROM audit_log WHERE action = 'record.transfer'"
    )
    assert (first["record_id"], f"{DISTRICT}->{OTHER_DISTRICT}") in {
        (row["target"], row["outcome"]) for row in audited
    }


def test_a_district_coordinator_cannot_move_a_record_out_of_its_district(server):
    _, _, first = a_record(server)
    coordinator = server.coordinator_token(district=DISTRICT)
    refused = transfer(server, coordinator, first["record_id"], district=OTHER_DISTRICT,
                       site_id=OTHER_SITE)  # fmt: skip
    assert refused.status_code == 403 and refused.json()["error"] == "out-of-scope"
    record = server.http.get(
        server.url + f"/api/v1/records/{first['record_id']}", headers=auth(coordinator), timeout=10
    ).json()
    assert record["head_revision_id"] == first["revision_id"]  # nothing written
    assert (first["record_id"], "out-of-scope") in {
        (row["target"], row["outcome"])
        for row in server.query("SELECT target, outcome FROM audit_log")
    }
    # Nor can the other district's coordinator, who can't even see it; nor a tablet.
    theirs = server.coordinator_token(district=OTHER_DISTRICT)
    assert transfer(server, theirs, first["record_id"], district=OTHER_DISTRICT).status_code == 404
    _, device_token = server.enroll(district=DISTRICT)
    by_device = transfer(server, device_token, first["record_id"], district=OTHER_DISTRICT)
    assert by_device.status_code == 403 and by_device.json()["error"] == "forbidden"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"district": "MZ9999"}, "district"),  # no such district
        ({"district": OTHER_DISTRICT, "site_id": "MOZ-ZAM-0001"}, "site_id"),  # in MZ1120
        ({"district": OTHER_DISTRICT, "site_id": "NOWHERE-1"}, "site_id"),
        ({"district": DISTRICT, "site_id": "MOZ-ZAM-0001"}, "district"),  # already there
    ],
)
def test_a_transfer_to_a_place_that_does_not_fit_is_refused_with_where(server, body, where):
    _, _, first = a_record(server)
    national = server.coordinator_token(district="*")
    refused = transfer(server, national, first["record_id"], **body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid"
    assert [p["where"] for p in refused.json()["problems"]] == [where]
