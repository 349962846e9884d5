"""Issue #8: the holes an independent client found, each tried against a REAL server process
on 127.0.0.1 as an attacker or a careless tablet would try it.

Findings (numbers as in the issue's "Why"):

1. a device takes over another district's record (edit, or a parentless revision reusing its
   record id); an edit changes a record's form; a parent belongs to another record;
2. a revoked tablet redeems its old code again and gets a working token;
3. an unused code redeemed with a working tablet's device id takes over its account;
4. one tablet's far-future clock moves every other tablet's clock years ahead;
5. one bad revision (self-parent, cycle, lone surrogate) fails the whole batch with a 500;
6. a cycle over two batches; /enroll without a throttle; text/plain bodies; forward stopping
   at the first rejection; a restored tablet never getting its later work back; the forward
   credential readable by everyone.
"""

from __future__ import annotations

import gzip
import json
import shutil
import stat
import time
import uuid
from pathlib import Path

import pytest
import requests

from fieldapp.store import Store
from fieldapp.sync_client import SyncClient
from sync_core.hlc import parse_hlc
from tests.sync_helpers import (
    DISTRICT,
    FORM_ID,
    OTHER_DISTRICT,
    TEST_FORMS,
    ServerProcess,
    auth,
    cli,
    household,
    push,
    revision,
)

TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000
BOUND_MS = 5 * 60 * 1000  # the documented default drift bound

MINI_SITE = """\
| survey |
|        | type    | name     | label    | required |
|        | text    | district | District | yes      |
|        | text    | site_id  | Site     | yes      |
|        | integer | latrines | Latrines |          |

| settings |
|          | form_id   | version | form_title     |
|          | mini_site | 1       | Mini site test |
"""


def forms_dir(base: Path, *, with_site_form: bool = True) -> Path:
    """The mini household form, and a second form (a site check) an edit might switch to."""
    folder = base / "forms"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(TEST_FORMS / "mini_household.md", folder / "mini_household.md")
    if with_site_form:
        (folder / "mini_site.md").write_text(MINI_SITE)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("security")
    process = ServerProcess(base / "district", forms_dir=forms_dir(base)).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def coordinators(server: ServerProcess) -> dict[str, str]:
    return {d: server.coordinator_token(d) for d in (DISTRICT, OTHER_DISTRICT)}


def record_as_seen_by(server: ServerProcess, token: str, record_id: str) -> requests.Response:
    return requests.get(
        server.url + f"/api/v1/records/{record_id}", headers=auth(token), timeout=10
    )


def stored_revisions(server: ServerProcess, record_id: str) -> list[str]:
    rows = server.query("SELECT revision_id FROM revisions WHERE record_id = ?", (record_id,))
    return [row[0] for row in rows]


def statuses(response: requests.Response) -> list[str]:
    return [r["status"] for r in response.json()["results"]]


def other_districts_record(server: ServerProcess) -> tuple[dict, str]:
    """A record a Nicoadala (MZ1122) tablet registered: (its first revision, device id)."""
    owner, token = server.enroll(district=OTHER_DISTRICT)
    first = revision(
        owner, household("Rosa Nhaca", district=OTHER_DISTRICT, site_id="MOZ-ZAM-0002")
    )
    assert statuses(push(server.url, token, owner, [first])) == ["accepted"]
    return first, owner


# --- 1. record ownership ----------------------------------------------------------------


def test_a_device_cannot_move_another_districts_record_into_its_own_by_editing_it(
    server, coordinators
):
    first, _ = other_districts_record(server)
    thief, token = server.enroll(district=DISTRICT)
    takeover = revision(
        thief, household("Rosa Nhaca"), record_id=first["record_id"], parent=first["revision_id"]
    )
    response = push(server.url, token, thief, [takeover])
    assert response.status_code == 403 and response.json()["error"] == "out-of-scope"
    assert stored_revisions(server, first["record_id"]) == [first["revision_id"]]
    # Nicoadala's coordinator still sees the record, in Nicoadala.
    record = record_as_seen_by(server, coordinators[OTHER_DISTRICT], first["record_id"])
    assert record.status_code == 200 and record.json()["district"] == OTHER_DISTRICT


def test_a_device_cannot_take_a_record_with_a_parentless_revision_reusing_its_id(
    server, coordinators
):
    first, _ = other_districts_record(server)
    thief, token = server.enroll(district=DISTRICT)
    takeover = revision(thief, household("Someone Else"), record_id=first["record_id"])
    response = push(server.url, token, thief, [takeover])
    assert response.status_code == 403 and response.json()["error"] == "out-of-scope"
    assert stored_revisions(server, first["record_id"]) == [first["revision_id"]]
    record = record_as_seen_by(server, coordinators[OTHER_DISTRICT], first["record_id"])
    assert record.json()["answers"]["head_name"] == "Rosa Nhaca"


def test_an_edit_cannot_change_the_records_form(server):
    device, token = server.enroll()
    first = revision(device)
    assert statuses(push(server.url, token, device, [first])) == ["accepted"]
    as_site = revision(
        device,
        {"district": DISTRICT, "site_id": "MOZ-ZAM-0001", "latrines": 3},
        record_id=first["record_id"],
        parent=first["revision_id"],
        form_id="mini_site",
    )
    response = push(server.url, token, device, [as_site])
    (result,) = response.json()["results"]
    assert result["status"] == "conflicting-id"
    assert "form" in result["reasons"][0]["message"]
    assert stored_revisions(server, first["record_id"]) == [first["revision_id"]]


def test_a_parent_must_be_a_revision_of_the_same_record(server):
    device, token = server.enroll()
    one, two = revision(device), revision(device)
    assert statuses(push(server.url, token, device, [one, two])) == ["accepted", "accepted"]
    crossed = revision(device, record_id=two["record_id"], parent=one["revision_id"])
    fine = revision(device)
    response = push(server.url, token, device, [crossed, fine])
    assert statuses(response) == ["rejected", "accepted"]
    assert response.json()["results"][0]["reasons"][0]["code"] == "parent"
    assert stored_revisions(server, two["record_id"]) == [two["revision_id"]]


def test_a_parent_unknown_to_the_server_is_rejected(server):
    device, token = server.enroll()
    orphan = revision(device, parent=str(uuid.uuid4()))
    response = push(server.url, token, device, [orphan])
    assert statuses(response) == ["rejected"]
    assert response.json()["results"][0]["reasons"][0]["code"] == "parent"


def test_a_device_still_edits_its_own_districts_records_and_chains_edits_in_one_batch(server):
    """The honest path keeps working: a new record and two edits of it in one batch."""
    device, token = server.enroll()
    first = revision(device)
    second = revision(device, household(shelter="tent"), record_id=first["record_id"],
                      parent=first["revision_id"])  # fmt: skip
    third = revision(device, household(shelter="none"), record_id=first["record_id"],
                     parent=second["revision_id"])  # fmt: skip
    response = push(server.url, token, device, [first, second, third])
    assert statuses(response) == ["accepted"] * 3


# --- 2. revocation sticks --------------------------------------------------------------


@pytest.mark.parametrize("how", ["device", "enumerator"])
def test_a_revoked_tablet_cannot_redeem_its_code_again(server, how):
    name = f"Lost Tablet {uuid.uuid4().hex[:6]}"
    code = server.quick_code(enumerator=name)
    device = str(uuid.uuid4())
    enroll = {"code": code, "device_id": device}
    first = requests.post(server.url + "/api/v1/enroll", json=enroll, timeout=10)
    assert first.status_code == 200
    token = first.json()["token"]
    if how == "device":
        cli(server.data_dir, "revoke", "--device", device)
    else:
        cli(server.data_dir, "revoke", "--enumerator", name)
    again = requests.post(server.url + "/api/v1/enroll", json=enroll, timeout=10)
    assert again.status_code in (403, 409), again.text
    assert "token" not in again.json()
    pulled = requests.get(server.url + "/api/v1/pull", headers=auth(token), timeout=10)
    assert pulled.status_code == 401 and pulled.json()["error"] == "revoked"
    refused = push(server.url, token, device, [revision(device)])
    assert refused.status_code == 401


def test_a_code_redeems_once(server):
    code = server.quick_code()
    device = str(uuid.uuid4())
    enroll = {"code": code, "device_id": device}
    assert requests.post(server.url + "/api/v1/enroll", json=enroll, timeout=10).status_code == 200
    # Much later (the supervisor's QR was photographed): the code gives nothing any more.
    server_db = server.data_dir / "sync.db"
    import sqlite3

    conn = sqlite3.connect(server_db, isolation_level=None, timeout=30)
    try:
        conn.execute(
            "UPDATE enrollment_codes SET used_at = '2020-01-01T00:00:00.000Z' WHERE used_by = ?",
            (device,),
        )
    finally:
        conn.close()
    again = requests.post(server.url + "/api/v1/enroll", json=enroll, timeout=10)
    assert again.status_code == 409 and again.json()["error"] == "used"


# --- 3. device account takeover ---------------------------------------------------------


def test_an_unused_code_cannot_take_over_a_working_tablets_device_id(server):
    victim, victim_token = server.enroll(district=OTHER_DISTRICT)
    code = server.quick_code(district=DISTRICT, enumerator="Intruder")
    response = requests.post(
        server.url + "/api/v1/enroll", json={"code": code, "device_id": victim}, timeout=10
    )
    assert response.status_code == 409 and response.json()["error"] == "device-id-taken"
    assert "token" not in response.json()
    # The victim is untouched: same token, same district.
    still = push(server.url, victim_token, victim,
                 [revision(victim, household(district=OTHER_DISTRICT, site_id="MOZ-ZAM-0002"))])  # fmt: skip
    assert statuses(still) == ["accepted"]
    (row,) = server.query("SELECT district FROM accounts WHERE account_id = ?", (victim,))
    assert row[0] == OTHER_DISTRICT
    # ...and the code is still unused: its rightful tablet can enroll with it.
    ok = requests.post(server.url + "/api/v1/enroll",
                       json={"code": code, "device_id": str(uuid.uuid4())}, timeout=10)  # fmt: skip
    assert ok.status_code == 200


def test_the_tablet_itself_can_be_re_enrolled_with_a_new_code(server, tmp_path):
    """A supervisor moves a tablet to another district: the tablet proves the device id is
    its own with its current token, and the new code re-enrolls it."""
    store = Store(tmp_path / "tablet.db")
    try:
        client = SyncClient(store, server.url)
        client.enroll(server.quick_code(district=DISTRICT))
        old_token = store.get_setting("token")
        SyncClient(store, server.url).enroll(server.quick_code(district=OTHER_DISTRICT))
        assert store.get_setting("district") == OTHER_DISTRICT
        old = requests.get(server.url + "/api/v1/pull", headers=auth(old_token), timeout=10)
        assert old.status_code == 401
        new = requests.get(
            server.url + "/api/v1/pull", headers=auth(store.get_setting("token")), timeout=10
        )
        assert new.status_code == 200
    finally:
        store.close()


# --- 4. clocks ---------------------------------------------------------------------------


def test_a_merge_revision_takes_the_servers_time_not_a_copied_future_one(server, coordinators):
    early, early_token = server.enroll()
    fast, fast_token = server.enroll()
    first = revision(early)
    assert statuses(push(server.url, early_token, early, [first])) == ["accepted"]
    future_ms = int(time.time() * 1000) + TEN_YEARS_MS
    a = revision(early, household(shelter="tent"), record_id=first["record_id"],
                 parent=first["revision_id"])  # fmt: skip
    b = revision(fast, household(shelter="none"), record_id=first["record_id"],
                 parent=first["revision_id"], hlc_ms=future_ms)  # fmt: skip
    assert statuses(push(server.url, early_token, early, [a])) == ["accepted"]
    result = push(server.url, fast_token, fast, [b]).json()["results"][0]
    assert result["status"] == "accepted" and result["hlc_clamped"] is True
    merges = server.query(
        "SELECT body FROM revisions WHERE record_id = ? AND origin = 'merge'", (first["record_id"],)
    )
    assert merges, "two concurrent edits make a merge revision"
    now_ms = int(time.time() * 1000)
    for row in merges:
        merge_ms = parse_hlc(json.loads(row[0])["hlc"])[0]
        assert merge_ms <= now_ms + BOUND_MS


def test_a_tablet_pulling_a_far_future_revision_keeps_its_own_clock(server, tmp_path):
    fast, fast_token = server.enroll()
    future_ms = int(time.time() * 1000) + TEN_YEARS_MS
    wire = revision(fast, hlc_ms=future_ms)
    assert statuses(push(server.url, fast_token, fast, [wire])) == ["accepted"]
    store = Store(tmp_path / "honest.db")
    try:
        SyncClient(store, server.url).enroll(server.quick_code())
        SyncClient(store).sync()
        assert wire["record_id"] in {row.record_id for row in store.records(limit=100_000)}
        issued_ms = parse_hlc(store.hlc_now())[0]
        assert issued_ms <= int(time.time() * 1000) + BOUND_MS
    finally:
        store.close()


# --- 5. one bad revision never fails the batch -----------------------------------------


def _five_good(device: str) -> list[dict]:
    return [revision(device) for _ in range(5)]


def test_a_revision_that_is_its_own_parent_is_rejected_and_the_rest_stored(server):
    device, token = server.enroll()
    good = _five_good(device)
    selfish = revision(device)
    selfish["parent_revision_id"] = selfish["revision_id"]
    response = push(server.url, token, device, [good[0], selfish, *good[1:]])
    assert response.status_code == 200
    assert statuses(response) == ["accepted", "rejected", *["accepted"] * 4]
    assert response.json()["results"][1]["reasons"][0]["code"] == "parent"
    assert stored_revisions(server, selfish["record_id"]) == []


def test_a_parent_cycle_in_one_batch_is_rejected_and_the_rest_stored(server):
    device, token = server.enroll()
    good = _five_good(device)
    record_id = str(uuid.uuid4())
    x = revision(device, record_id=record_id)
    y = revision(device, record_id=record_id, parent=x["revision_id"])
    x["parent_revision_id"] = y["revision_id"]
    response = push(server.url, token, device, [*good[:2], x, y, *good[2:]])
    assert response.status_code == 200
    assert statuses(response) == ["accepted"] * 2 + ["rejected"] * 2 + ["accepted"] * 3
    assert stored_revisions(server, record_id) == []


def test_a_lone_surrogate_in_an_answer_is_rejected_and_the_rest_stored(server):
    device, token = server.enroll()
    good = _five_good(device)
    broken = revision(device, household("Ana \ud800 Mussa"))
    body = {"device_id": device, "batch_id": "surrogate", "revisions": [*good[:3], broken,
                                                                          *good[3:]]}  # fmt: skip
    raw = json.dumps(body).encode()  # ensure_ascii: the lone surrogate travels as \\ud800
    assert b"\\ud800" in raw
    response = requests.post(
        server.url + "/api/v1/push",
        data=gzip.compress(raw),
        headers={**auth(token), "Content-Type": "application/json", "Content-Encoding": "gzip"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert statuses(response) == ["accepted"] * 3 + ["rejected"] + ["accepted"] * 2
    assert response.json()["results"][3]["reasons"][0]["code"] == "text"


# --- 6. the smaller ones -----------------------------------------------------------------


def test_a_parent_cycle_over_two_batches_is_not_stored(server):
    device, token = server.enroll()
    record_id = str(uuid.uuid4())
    x = revision(device, record_id=record_id)
    y = revision(device, record_id=record_id, parent=x["revision_id"])
    x["parent_revision_id"] = y["revision_id"]
    assert statuses(push(server.url, token, device, [x])) == ["rejected"]
    assert statuses(push(server.url, token, device, [y])) == ["rejected"]
    assert stored_revisions(server, record_id) == []


@pytest.mark.parametrize("path", ["/api/v1/push", "/api/v1/push/status", "/api/v1/state",
                                  "/api/v1/enroll"])  # fmt: skip
def test_bodies_that_are_not_json_are_refused_with_415(server, path):
    device, token = server.enroll()
    body = json.dumps({"revision_ids": [], "cursor": 0, "code": "AAAA-BBBB-CC",
                       "device_id": device, "batch_id": "b", "revisions": []})  # fmt: skip
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = auth(token)
        if content_type:
            headers["Content-Type"] = content_type
        response = requests.post(server.url + path, data=body, headers=headers, timeout=10)
        assert response.status_code == 415, (content_type, response.text)
        assert response.json()["error"] == "content-type"
    # JSON with a charset is fine.
    headers = {**auth(token), "Content-Type": "application/json; charset=utf-8"}
    response = requests.post(server.url + path, data=body, headers=headers, timeout=10)
    assert response.status_code != 415


def test_enroll_is_rate_limited_per_address_with_retry_after(tmp_path):
    server = ServerProcess(tmp_path / "district").start()
    try:
        answers = []
        for attempt in range(60):
            response = requests.post(
                server.url + "/api/v1/enroll",
                json={"code": f"ZZZZ-ZZZZ-{attempt:02d}", "device_id": "guesser"},
                timeout=10,
            )
            answers.append(response)
        codes = [r.status_code for r in answers]
        assert 429 in codes and set(codes) <= {403, 429}
        throttled = answers[codes.index(429)]
        assert int(throttled.headers["Retry-After"]) >= 1
        assert throttled.json()["error"] == "rate-limited"
        # Failed attempts are audited without personal data (no code, no address).
        rows = server.query("SELECT * FROM audit_log WHERE action = 'enroll.failed'")
        assert len(rows) >= 10
        text = json.dumps([dict(row) for row in rows])
        assert "ZZZZ" not in text and "127.0.0.1" not in text
    finally:
        server.stop()


def test_forward_continues_past_a_rejected_revision_and_retries_it_later(tmp_path):
    district = ServerProcess(tmp_path / "district", forms_dir=forms_dir(tmp_path / "d")).start()
    national = ServerProcess(
        tmp_path / "national", forms_dir=forms_dir(tmp_path / "n", with_site_form=False)
    ).start()
    try:
        device, token = district.enroll()
        site = revision(
            device,
            {"district": DISTRICT, "site_id": "MOZ-ZAM-0001", "latrines": 4},
            form_id="mini_site",
        )
        # Enough after it for several forward batches (about 32 KB each).
        after = [revision(device) for _ in range(120)]
        assert statuses(push(district.url, token, device, [site, *after])) == ["accepted"] * 121
        code = national.quick_code(server_role=True, enumerator="Namacurra server")
        result = cli(
            district.data_dir, "forward", "--to", national.url, "--code", code, check=False
        )
        output = result.stdout + result.stderr
        held = {row[0] for row in national.query("SELECT revision_id FROM revisions")}
        assert {w["revision_id"] for w in after} <= held
        assert site["revision_id"] not in held
        assert f"refused {site['revision_id']}: unknown-form" in output
        assert result.returncode == 2  # something was refused: a cron job notices
        # The credential for the national server is readable by its owner only.
        mode = stat.S_IMODE((district.data_dir / "sync.db").stat().st_mode)
        assert mode & 0o077 == 0, oct(mode)
        # Forwarding again re-sends only the refused revision, not everything after it.
        again = cli(district.data_dir, "forward", "--to", national.url, check=False).stdout
        assert "forwarded 0 revision(s)" in again and "1 refused" in again
        # Once the national server publishes the form, the next forward sends it.
        cli(national.data_dir, "publish-form", str(tmp_path / "d" / "forms" / "mini_site.md"))
        last = cli(district.data_dir, "forward", "--to", national.url).stdout
        assert "forwarded 1 revision(s)" in last and "1 accepted" in last and "0 refused" in last
        held = {row[0] for row in national.query("SELECT revision_id FROM revisions")}
        assert site["revision_id"] in held
    finally:
        district.stop()
        national.stop()


def test_a_tablet_restored_from_an_old_backup_gets_its_later_work_back(server, tmp_path):
    path = tmp_path / "tablet.db"
    store = Store(path)
    SyncClient(store, server.url).enroll(server.quick_code())
    early = [store.create_draft(FORM_ID, "1", household(f"Early {i}")) for i in range(2)]
    for record_id in early:
        store.finalize(record_id, store.draft(record_id).answers)
    SyncClient(store).sync()
    store.close()
    shutil.copy(path, tmp_path / "backup.db")  # the enumerator's backup

    store = Store(path)
    later = [store.create_draft(FORM_ID, "1", household(f"Later {i}")) for i in range(3)]
    for record_id in later:
        store.finalize(record_id, store.draft(record_id).answers)
    answers = store.open_for_edit(early[0]).answers
    answers["shelter"] = "tent"
    store.finalize(early[0], answers)
    SyncClient(store).sync()
    heads = {rid: store.draft(rid).head_revision_id for rid in early + later}
    store.close()

    path.unlink()
    shutil.copy(tmp_path / "backup.db", path)  # the tablet was restored from the backup
    restored = Store(path)
    try:
        SyncClient(restored).sync()
        assert {row.record_id for row in restored.records(limit=1000)} >= set(early + later)
        assert {rid: restored.draft(rid).head_revision_id for rid in heads} == heads
        assert restored.draft(early[0]).answers["shelter"] == "tent"
        assert SyncClient(restored).sync().resynced is False  # converged: in sync now
    finally:
        restored.close()


def test_the_enroll_rate_limit_does_not_hold_back_honest_tablets(server):
    """Twenty tablets of one office enrolling in a row (one address) all get in."""
    for _ in range(20):
        server.enroll()
