"""The sync server's behaviour over HTTP: push, pull, merge, conflicts, scope, forms,
enrollment. One server serves the module, in this process through its ASGI app (the
integration tier: a real SQLite file, no port); every test uses fresh devices and records so
the tests don't see each other's data (except where a coordinator reads all). Tests marked
`system` also run the `sync-server` command or a real server process.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from sync_core.protocol import canonical_json
from sync_server.testing import run_load
from tests.sync_helpers import (
    DISTRICT,
    FORM_ID,
    OTHER_DISTRICT,
    SITE,
    InProcessServer,
    ServerProcess,
    auth,
    cli,
    household,
    push,
    revision,
    running_server,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with InProcessServer(tmp_path_factory.mktemp("sync") / "district") as in_process:
        yield in_process


@pytest.fixture(scope="module")
def coordinator(server: ServerProcess) -> str:
    return server.coordinator_token()


def pull_all(server: ServerProcess, token: str, cursor: int = 0, limit: int = 200) -> list[dict]:
    revisions = []
    while True:
        page = server.http.get(
            server.url + "/api/v1/pull",
            params={"cursor": cursor, "limit": limit},
            headers=auth(token),
            timeout=10,
        ).json()
        revisions += page["revisions"]
        cursor = page["cursor"]
        if not page["more"]:
            return revisions


def end_cursor(server: ServerProcess, token: str) -> int:
    cursor = 0
    while True:
        page = server.http.get(
            server.url + "/api/v1/pull",
            params={"cursor": cursor, "limit": 1000},
            headers=auth(token),
            timeout=10,
        ).json()
        cursor = page["cursor"]
        if not page["more"]:
            return cursor


def statuses(response: Any) -> list[str]:
    return [r["status"] for r in response.json()["results"]]


# --- push ----------------------------------------------------------------------------


def test_a_batch_is_accepted_once_and_every_retry_is_already_had(server):
    device, token = server.enroll()
    batch = [revision(device, household(f"Person {i}")) for i in range(5)]
    first = push(server, token, device, batch, batch_id="b1")
    assert first.status_code == 200
    assert statuses(first) == ["accepted"] * 5
    for _ in range(3):
        again = push(server, token, device, batch, batch_id="b1")
        assert statuses(again) == ["already-had"] * 5
    ids = [r["revision_id"] for r in batch]
    rows = server.query(
        f"SELECT revision_id FROM revisions WHERE revision_id IN ({','.join('?' * 5)})", ids
    )
    assert len(rows) == 5


def test_the_server_keeps_the_revision_exactly_as_received(server):
    device, token = server.enroll()
    sent = revision(device, household("Zé Lopes", notes="água potável, 2ª vez"))
    assert statuses(push(server, token, device, [sent])) == ["accepted"]
    (row,) = server.query(
        "SELECT body, sha256 FROM revisions WHERE revision_id = ?", (sent["revision_id"],)
    )
    assert json.loads(row["body"]) == sent
    assert row["body"] == canonical_json(sent)
    assert row["sha256"] == hashlib.sha256(row["body"].encode()).hexdigest()


def test_the_same_id_with_other_content_is_refused_and_not_overwritten(server):
    device, token = server.enroll()
    original = revision(device, household("First"))
    push(server, token, device, [original])
    forged = {**original, "answers": household("Second")}
    response = push(server, token, device, [forged])
    assert statuses(response) == ["conflicting-id"]
    assert response.status_code == 422  # nothing in the batch was stored
    (row,) = server.query(
        "SELECT body FROM revisions WHERE revision_id = ?", (original["revision_id"],)
    )
    assert json.loads(row["body"])["answers"]["head_name"] == "First"


def test_invalid_answers_are_rejected_with_field_level_reasons(server):
    device, token = server.enroll()
    good = revision(device)
    bad = revision(device, household(members=2))
    bad["answers"]["members"][1]["age"] = 300
    response = push(server, token, device, [good, bad])
    assert response.status_code == 200
    assert statuses(response) == ["accepted", "rejected"]
    reasons = response.json()["results"][1]["reasons"]
    assert [(r["path"], r["field"], r["code"]) for r in reasons] == [
        ("members[2].age", "age", "constraint")
    ]
    assert not server.query("SELECT 1 FROM revisions WHERE revision_id = ?", (bad["revision_id"],))


def test_a_far_future_timestamp_is_clamped_for_ordering_and_flagged(server):
    device, token = server.enroll()
    year_3000_ms = 32503680000000
    sent = revision(device, hlc_ms=year_3000_ms)
    result = push(server, token, device, [sent]).json()["results"][0]
    assert result["hlc_clamped"] is True
    (row,) = server.query(
        "SELECT hlc, hlc_order, hlc_flag FROM revisions WHERE revision_id = ?",
        (sent["revision_id"],),
    )
    assert row["hlc"] == sent["hlc"]  # the original is kept
    assert row["hlc_flag"] == "far-future"
    assert int(row["hlc_order"][:15]) <= time.time() * 1000 + 1000


def test_push_status_says_which_revisions_the_server_holds(server):
    device, token = server.enroll()
    held, lost = revision(device), revision(device)
    push(server, token, device, [held])
    response = server.http.post(
        server.url + "/api/v1/push/status",
        json={"revision_ids": [held["revision_id"], lost["revision_id"]]},
        headers=auth(token),
        timeout=10,
    )
    assert response.json() == {"have": [held["revision_id"]], "missing": [lost["revision_id"]]}


def test_a_device_cannot_push_revisions_in_another_devices_name(server):
    device, token = server.enroll()
    other, _ = server.enroll()
    response = push(server, token, device, [revision(other)])
    assert response.status_code == 403
    assert response.json()["error"] == "out-of-scope"


@pytest.mark.system
def test_twenty_tablets_pushing_at_once_lose_and_duplicate_nothing(tmp_path):
    """The small load test (benchmarks/bench_sync.py runs 100 tablets x 100 households):
    one writer thread, no 'database is locked', every household exactly once."""
    with running_server(tmp_path / "district") as server:
        result = run_load(server, devices=20, households=20)
    print(
        f"load 20x20: p50 {result['p50'] * 1000:.0f} ms, p99 {result['p99'] * 1000:.0f} ms, "
        f"{result['sent'] / result['elapsed']:.0f} households/s"
    )
    assert result["failures"] == []
    assert (result["sent"], result["lost"], result["duplicated"]) == (400, 0, 0)
    assert not result["locked"]


# --- pull ----------------------------------------------------------------------------


def test_a_device_pulls_what_others_made_in_its_district_and_not_its_own(server):
    maker, maker_token = server.enroll()
    _, reader_token = server.enroll()
    _, outsider_token = server.enroll(district=OTHER_DISTRICT)
    sent = [revision(maker) for _ in range(3)]
    push(server, maker_token, maker, sent)
    ids = {r["revision_id"] for r in sent}
    assert ids <= {r["revision_id"] for r in pull_all(server, reader_token)}
    assert not ids & {r["revision_id"] for r in pull_all(server, maker_token)}
    assert not ids & {r["revision_id"] for r in pull_all(server, outsider_token)}


def test_pull_pages_with_a_cursor_until_more_is_false(server):
    maker, maker_token = server.enroll()
    _, reader_token = server.enroll()
    start = end_cursor(server, reader_token)
    sent = [revision(maker) for _ in range(7)]
    push(server, maker_token, maker, sent)
    pages = []
    cursor = start
    while True:
        page = server.http.get(
            server.url + "/api/v1/pull",
            params={"cursor": cursor, "limit": 3},
            headers=auth(reader_token),
            timeout=10,
        ).json()
        pages.append(page)
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert [len(p["revisions"]) for p in pages] == [3, 3, 1]
    assert [r["revision_id"] for p in pages for r in p["revisions"]] == [
        r["revision_id"] for r in sent
    ]
    # Forms and sites come with the last page only.
    assert pages[0].get("forms") is None
    assert [f["form_id"] for f in pages[-1]["forms"]] == [FORM_ID]
    assert {s["district_pcode"] for s in pages[-1]["sites"]} == {DISTRICT}


def test_a_device_enrolled_for_sites_sees_only_those_sites(server):
    maker, maker_token = server.enroll()
    _, site_token = server.enroll(sites=("MOZ-ZAM-0009",))
    here = revision(maker, household(site_id="MOZ-ZAM-0009"))
    elsewhere = revision(maker, household(site_id=SITE))
    push(server, maker_token, maker, [here, elsewhere])
    seen = {r["revision_id"] for r in pull_all(server, site_token)}
    assert here["revision_id"] in seen and elsewhere["revision_id"] not in seen


def test_a_coordinator_reads_everything_in_the_district(server, coordinator):
    maker, maker_token = server.enroll(sites=(SITE,))
    sent = revision(maker)
    push(server, maker_token, maker, [sent])
    assert sent["revision_id"] in {r["revision_id"] for r in pull_all(server, coordinator)}
    record = server.http.get(
        server.url + f"/api/v1/records/{sent['record_id']}", headers=auth(coordinator), timeout=10
    ).json()
    assert record["answers"] == sent["answers"] and record["conflict"] == "none"


# --- merge and conflicts ---------------------------------------------------------------


def edit(base: dict, device: str, ms: int, **changes) -> dict:
    answers = json.loads(json.dumps(base["answers"]))
    for key, value in changes.items():
        if key.startswith("member"):
            index, field = key[len("member") :].split("_", 1)
            answers["members"][int(index)][field] = value
        else:
            answers[key] = value
    return revision(
        device, answers, record_id=base["record_id"], parent=base["revision_id"], hlc_ms=ms
    )


def conflicts_of(server: ServerProcess, token: str, record_id: str) -> list[dict]:
    body = server.http.get(server.url + "/api/v1/conflicts", headers=auth(token), timeout=10).json()
    return [c for c in body["conflicts"] if c["record_id"] == record_id]


def test_edits_to_different_members_merge_cleanly_as_a_soft_conflict(server, coordinator):
    a, a_token = server.enroll()
    b, b_token = server.enroll()
    now = int(time.time() * 1000)
    base = revision(a, household(members=3), hlc_ms=now)
    push(server, a_token, a, [base])
    from_a = edit(base, a, now + 10, member0_age=41)
    from_b = edit(base, b, now + 20, member2_age=7, shelter="tent")
    assert push(server, a_token, a, [from_a]).json()["results"][0]["conflict"] is None
    assert push(server, b_token, b, [from_b]).json()["results"][0]["conflict"] == "soft"
    record = server.http.get(
        server.url + f"/api/v1/records/{base['record_id']}", headers=auth(coordinator), timeout=10
    ).json()
    assert record["answers"]["members"][0]["age"] == 41
    assert record["answers"]["members"][2]["age"] == 7
    assert record["answers"]["shelter"] == "tent"
    assert record["conflict"] == "soft"
    (conflict,) = conflicts_of(server, coordinator, base["record_id"])
    assert conflict["kind"] == "soft"


def test_the_same_field_changed_twice_is_a_hard_conflict_and_nothing_is_lost(server, coordinator):
    a, a_token = server.enroll()
    b, b_token = server.enroll()
    now = int(time.time() * 1000)
    base = revision(a, household(), hlc_ms=now)
    push(server, a_token, a, [base])
    from_a = edit(base, a, now + 10, shelter="tent")
    from_b = edit(base, b, now + 20, shelter="none")  # later HLC: the provisional winner
    push(server, a_token, a, [from_a])
    result = push(server, b_token, b, [from_b]).json()["results"][0]
    assert result["conflict"] == "hard"
    (conflict,) = conflicts_of(server, coordinator, base["record_id"])
    assert conflict["kind"] == "hard" and conflict["status"] == "open"
    assert conflict["winner_revision_id"] == from_b["revision_id"]
    (field,) = conflict["fields"]
    assert field["path"] == "shelter" and field["base"] == "school"
    assert field["values"] == {from_a["revision_id"]: "tent", from_b["revision_id"]: "none"}
    record = server.http.get(
        server.url + f"/api/v1/records/{base['record_id']}", headers=auth(coordinator), timeout=10
    ).json()
    assert record["answers"]["shelter"] == "none" and record["conflict"] == "hard"
    # Both edits are kept, plus the server's merge revision that devices converge on.
    kept = set(record["revision_ids"])
    assert {base["revision_id"], from_a["revision_id"], from_b["revision_id"]} < kept
    merged = [r for r in pull_all(server, a_token) if r["record_id"] == base["record_id"]]
    assert [r["device_id"] for r in merged][-1] == "server"
    assert merged[-1]["revision_id"] == record["head_revision_id"]
    assert sorted(merged[-1]["merged_from"]) == sorted(
        [from_a["revision_id"], from_b["revision_id"]]
    )


def test_devices_cannot_read_conflicts(server):
    _, token = server.enroll()
    response = server.http.get(server.url + "/api/v1/conflicts", headers=auth(token), timeout=10)
    assert response.status_code == 403


def test_a_coordinator_decision_becomes_a_revision_devices_pull(server, coordinator):
    a, a_token = server.enroll()
    b, b_token = server.enroll()
    now = int(time.time() * 1000)
    base = revision(a, household(), hlc_ms=now)
    push(server, a_token, a, [base])
    from_a = edit(base, a, now + 10, shelter="tent")
    from_b = edit(base, b, now + 20, shelter="none")
    push(server, a_token, a, [from_a])
    push(server, b_token, b, [from_b])
    (conflict,) = conflicts_of(server, coordinator, base["record_id"])
    decided = server.http.post(
        server.url + f"/api/v1/conflicts/{conflict['conflict_id']}/resolve",
        json={"chosen_revision_id": from_a["revision_id"], "note": "checked at the site"},
        headers=auth(coordinator),
        timeout=10,
    )
    assert decided.status_code == 200, decided.text
    record = server.http.get(
        server.url + f"/api/v1/records/{base['record_id']}", headers=auth(coordinator), timeout=10
    ).json()
    assert record["answers"]["shelter"] == "tent"
    assert record["head_revision_id"] == decided.json()["revision_id"]
    pulled = pull_all(server, b_token)
    assert decided.json()["revision_id"] in {r["revision_id"] for r in pulled}
    (resolved,) = conflicts_of(server, coordinator, base["record_id"])
    assert resolved["status"] == "resolved"


# --- state check ---------------------------------------------------------------------


def state(server: ServerProcess, token: str, **body) -> dict:
    return server.http.post(
        server.url + "/api/v1/state", json=body, headers=auth(token), timeout=10
    ).json()


def test_state_check_says_resync_when_the_device_and_server_disagree(server):
    _, token = server.enroll()
    cursor = end_cursor(server, token)
    server_id = server.http.get(server.url + "/health", timeout=10).json()["server_id"]
    assert state(server, token, cursor=cursor, server_id=server_id)["status"] == "in-sync"
    assert state(server, token, cursor=cursor, server_id="srv-other")["status"] == "resync"
    assert state(server, token, cursor=cursor + 10**6, server_id=server_id)["status"] == "resync"
    wrong = hashlib.sha256(b"nothing").hexdigest()
    assert state(server, token, cursor=cursor, digest=wrong)["status"] == "resync"


# --- forms ---------------------------------------------------------------------------


def test_forms_are_listed_and_downloaded_with_their_checksum(server):
    _, token = server.enroll()
    forms = server.http.get(server.url + "/api/v1/forms", headers=auth(token), timeout=10).json()
    (form,) = [f for f in forms if f["form_id"] == FORM_ID]
    assert form["version"] == "1" and form["current"] is True
    content = server.http.get(
        server.url + f"/api/v1/forms/{FORM_ID}/1", headers=auth(token), timeout=10
    ).content
    assert hashlib.sha256(content).hexdigest() == form["sha256"]
    assert content == (Path(__file__).parent / "data" / "mini_household.md").read_bytes()


@pytest.mark.system
def test_a_new_form_version_is_published_and_offered_as_current(tmp_path):
    forms_dir = tmp_path / "forms"
    forms_dir.mkdir()
    source = (Path(__file__).parent / "data" / "mini_household.md").read_text()
    (forms_dir / "mini_household.md").write_text(source)
    with running_server(tmp_path / "data", forms_dir) as server:
        _, token = server.enroll()
        v2 = tmp_path / "mini_household_v2.md"
        v2.write_text(source.replace("| mini_household | 1 ", "| mini_household | 2 "))
        output = cli(server.data_dir, "publish-form", str(v2)).stdout
        assert "published: mini_household version 2" in output
        page = server.http.get(server.url + "/api/v1/pull", headers=auth(token), timeout=10).json()
        assert [(f["form_id"], f["version"]) for f in page["forms"]] == [(FORM_ID, "2")]
        listed = server.http.get(server.url + "/api/v1/forms", headers=auth(token), timeout=10)
        assert sorted(f["version"] for f in listed.json()) == ["1", "2"]
        # The same version with different content is refused.
        v2.write_text(source.replace("| mini_household | 1 ", "| mini_household | 2 ") + "\n\n")
        refused = cli(server.data_dir, "publish-form", str(v2), check=False)
        assert refused.returncode == 1 and "Change the version" in refused.stderr


# --- enrollment and tokens -------------------------------------------------------------


@pytest.mark.system
def test_an_enrollment_code_enrolls_one_device_only(server):
    code = server.enroll_code()
    assert len(code) == 12 and code[4] == "-" and code[9] == "-"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    enroll = server.url + "/api/v1/enroll"
    typed = code.lower().replace("-", " ")  # as a person might type it
    assert server.http.post(enroll, json={"code": typed, "device_id": first}).status_code == 200
    # The same tablet may try again (its first answer may have been lost on the way)...
    again = server.http.post(enroll, json={"code": code, "device_id": first})
    assert again.status_code == 200
    # ...another may not.
    refused = server.http.post(enroll, json={"code": code, "device_id": second})
    assert refused.status_code == 409 and refused.json()["error"] == "used"


@pytest.mark.system
def test_an_expired_or_unknown_code_is_refused_with_a_reason(server):
    output = cli(
        server.data_dir, "enroll", "--enumerator", "X", "--district", DISTRICT, "--days", "0"
    ).stdout
    code = output.split("Enrollment code: ")[1].split()[0]
    response = server.http.post(
        server.url + "/api/v1/enroll", json={"code": code, "device_id": str(uuid.uuid4())}
    )
    assert response.status_code == 403 and response.json()["error"] == "expired"
    response = server.http.post(
        server.url + "/api/v1/enroll",
        json={"code": "2345-6789-AB", "device_id": str(uuid.uuid4())},
    )
    assert response.status_code == 403 and "typing mistakes" in response.json()["message"]


@pytest.mark.system
def test_enroll_prints_a_code_and_writes_its_qr_image(server):
    output = cli(server.data_dir, "enroll", "--enumerator", "Lídia", "--district", DISTRICT)
    qr_path = Path(output.stdout.split("QR image:")[1].split()[0])
    assert qr_path.is_file() and qr_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Lídia" not in qr_path.name
    # Codes and tokens are stored hashed only.
    code = output.stdout.split("Enrollment code: ")[1].split()[0]
    assert not server.query(
        "SELECT 1 FROM enrollment_codes WHERE code_sha256 LIKE ?", (f"%{code}%",)
    )


@pytest.mark.system
def test_tokens_are_stored_hashed_and_revocation_works_at_once(server):
    device, token = server.enroll(enumerator="Revoked Person")
    assert not server.query("SELECT 1 FROM accounts WHERE token_sha256 = ?", (token,))
    assert push(server, token, device, [revision(device)]).status_code == 200
    cli(server.data_dir, "revoke", "--device", device)
    response = push(server, token, device, [revision(device)])
    assert response.status_code == 401 and response.json()["error"] == "revoked"
    _, other_token = server.enroll(enumerator="Whole Team")
    cli(server.data_dir, "revoke", "--enumerator", "Whole Team")
    pulled = server.http.get(server.url + "/api/v1/pull", headers=auth(other_token), timeout=10)
    assert pulled.status_code == 401


# --- data protection -----------------------------------------------------------------


@pytest.mark.system
def test_the_server_log_never_contains_answers(tmp_path):
    distinctive = "Quitéria Zefanias Mbeve"
    phone = "+258 84 765 4321"
    server = ServerProcess(tmp_path / "data", extra_args=("--verbose",)).start()
    try:
        device, token = server.enroll()
        good = revision(device, household(distinctive, phone=phone))
        bad = revision(device, household(distinctive, phone=phone, shelter=distinctive))
        response = push(server, token, device, [good, bad])
        assert statuses(response) == ["accepted", "rejected"]
        _, other_token = server.enroll()
        server.http.get(server.url + "/api/v1/pull", headers=auth(other_token), timeout=10)
        log = server.log()
    finally:
        server.stop()
    # (the log is at DEBUG level: revision ids are listed)
    assert good["revision_id"] in log and "1 accepted" in log
    assert distinctive not in log and "Quit" not in log
    assert phone not in log


# --- the command line ------------------------------------------------------------------


def test_every_cli_command_has_help_and_is_documented():
    from sync_server.cli import _parser

    docs = (Path(__file__).parent.parent / "docs" / "sync-protocol.md").read_text()
    commands = _parser()._subparsers._group_actions[0].choices
    assert set(commands) == {
        "serve", "enroll", "revoke", "coordinator", "publish-form", "forward", "duplicates",
        "export", "sites"
    }  # fmt: skip
    for name, sub in commands.items():
        assert sub.description, name
        assert f"sync-server {name}" in docs, name
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}"
