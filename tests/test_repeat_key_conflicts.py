"""A member deleted on one tablet and edited on another (issue #8): one conflict on the
whole member, listed for the coordinator and resolved whole, against the server in-process."""

from __future__ import annotations

import copy
import time

import pytest

from tests.sync_helpers import InProcessServer, auth, household, push, revision

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with InProcessServer(tmp_path_factory.mktemp("keys") / "district") as in_process:
        yield in_process


def keyed_household() -> dict:
    answers = household(members=3)
    for number, member in enumerate(answers["members"]):
        member["_key"] = f"member-{number}"
    return answers


def conflict_over_member_two(server: InProcessServer) -> tuple[str, dict, dict, dict]:
    """Tablet a deletes member 2 while tablet b corrects that member's age (later HLC)."""
    a, a_token = server.enroll()
    b, b_token = server.enroll()
    now = int(time.time() * 1000)
    base = revision(a, keyed_household(), hlc_ms=now)
    assert push(server, a_token, a, [base]).status_code == 200
    deleted, edited = copy.deepcopy(base["answers"]), copy.deepcopy(base["answers"])
    del deleted["members"][1]
    edited["members"][1]["age"] = 41
    common = {"record_id": base["record_id"], "parent": base["revision_id"]}
    from_a = revision(a, deleted, hlc_ms=now + 10, **common)
    from_b = revision(b, edited, hlc_ms=now + 20, **common)
    push(server, a_token, a, [from_a])
    push(server, b_token, b, [from_b])
    coordinator = server.coordinator_token()
    body = server.http.get(
        server.url + "/api/v1/conflicts", headers=auth(coordinator), timeout=10
    ).json()
    (conflict,) = [c for c in body["conflicts"] if c["record_id"] == base["record_id"]]
    return coordinator, conflict, from_a, from_b


def record(server: InProcessServer, coordinator: str, record_id: str) -> dict:
    return server.http.get(
        server.url + f"/api/v1/records/{record_id}", headers=auth(coordinator), timeout=10
    ).json()


@pytest.mark.parametrize("choose", ["deletion", "edit"])
def test_a_member_deleted_and_edited_is_one_conflict_resolved_whole(server, choose):
    coordinator, conflict, from_a, from_b = conflict_over_member_two(server)
    assert conflict["kind"] == "hard"
    (field,) = conflict["fields"]
    assert field["path"] == "members[@member-1]"
    edited_member = from_b["answers"]["members"][1]
    assert field["values"] == {from_a["revision_id"]: None, from_b["revision_id"]: edited_member}
    # Provisionally the later edit wins: the member is kept whole, with the new age.
    shown = record(server, coordinator, from_a["record_id"])
    assert shown["answers"]["members"] == from_b["answers"]["members"]

    chosen = from_a if choose == "deletion" else from_b
    decided = server.http.post(
        server.url + f"/api/v1/conflicts/{conflict['conflict_id']}/resolve",
        json={"chosen_revision_id": chosen["revision_id"], "note": "asked the family"},
        headers=auth(coordinator),
        timeout=10,
    )
    assert decided.status_code == 200, decided.text
    after = record(server, coordinator, from_a["record_id"])
    assert after["answers"]["members"] == chosen["answers"]["members"]
