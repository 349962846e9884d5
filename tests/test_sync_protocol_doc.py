"""docs/sync-protocol.md is the contract: every HTTP example in it is replayed against a
REAL server process (bundled forms, 127.0.0.1) and must get the documented status, the
documented error code, and a body with the documented fields.

The examples tell one story (enroll, push, pull, a conflict, its resolution, errors), so
the checks run in the document's order, sharing one server. Examples shorten long
`answers` with `"…"`; the check fills in a real household of the same form. Ids, tokens
and times differ from run to run and are not compared.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from forms import FORMS_DIR, load_form
from forms.samples import sample_household
from sync_server.auth import NATIONAL
from tests.sync_helpers import DISTRICT, OTHER_DISTRICT, ServerProcess, auth, cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "sync-protocol.md"
HOUSEHOLD = "household_registration"
SITE = "MOZ-ZAM-0001"  # Namacurra, MZ1120
OTHER_SITE = "MOZ-ZAM-0002"  # Nicoadala, MZ1122


@dataclass
class Example:
    title: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None
    status: int
    response: Any  # parsed JSON, or None


def _json_after_blank_line(lines: list[str]) -> Any:
    text = "\n".join(lines)
    if "\n\n" not in text:
        return None
    payload = text.split("\n\n", 1)[1]
    if payload.startswith("<"):  # "<1047 bytes of gzip; decompressed:>"
        payload = payload.split("\n", 1)[1] if "\n" in payload else ""
    try:
        return json.loads(payload)
    except ValueError:
        return None


def examples() -> list[Example]:
    """Each '#### title' followed by an ```http request block and an ```http response."""
    found = []
    text = DOC.read_text()
    for section in re.split(r"^#### ", text, flags=re.M)[1:]:
        title = section.split("\n", 1)[0].strip()
        blocks = re.findall(r"```http\n(.*?)```", section, flags=re.S)
        if len(blocks) < 2:
            continue
        request, response = blocks[0].rstrip("\n").split("\n"), blocks[1].rstrip("\n").split("\n")
        method, path, _ = request[0].split(" ")
        headers = {}
        for line in request[1:]:
            if not line.strip():
                break
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        found.append(
            Example(
                title=title,
                method=method,
                path=path,
                headers=headers,
                body=_json_after_blank_line(request),
                status=int(response[0].split(" ")[1]),
                response=_json_after_blank_line(response),
            )
        )
    return found


class Story:
    """The server and the actors the examples talk about."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.version = load_form(FORMS_DIR / "household_registration.xlsx").version
        self.values: dict[str, Any] = {}
        self.coordinator = server.coordinator_token(DISTRICT)

    def url(self, path: str) -> str:
        return self.server.url + path

    def enroll(self, district: str = DISTRICT) -> tuple[str, str]:
        return self.server.enroll(district=district)

    def revision(self, device: str, answers: dict, **fields: Any) -> dict:
        import time

        wire = {
            "revision_id": str(uuid.uuid4()),
            "record_id": str(uuid.uuid4()),
            "parent_revision_id": None,
            "form_id": HOUSEHOLD,
            "form_version": self.version,
            "device_id": device,
            "hlc": f"{int(time.time() * 1000):015d}-00000-{device}",
            "created_at": "2026-11-21T10:15:00.000000Z",
            "answers": answers,
        }
        wire.update(fields)
        return wire

    def push(self, token: str, device: str, revisions: list[dict], **extra: Any):
        body = {"device_id": device, "batch_id": uuid.uuid4().hex[:16], "revisions": revisions}
        return self.push_body(token, body, **extra)

    def push_body(self, token: str, body: Any, content_type: str = "application/json"):
        return requests.post(
            self.url("/api/v1/push"),
            data=gzip.compress(json.dumps(body).encode()),
            headers={**auth(token), "Content-Type": content_type, "Content-Encoding": "gzip"},
            timeout=60,
        )


def bad_household(seed: int) -> dict:
    answers = sample_household(seed, members=3, site_id=SITE)
    answers["members"][2].update(dob_known="no", age_reported=140, age_estimated="yes")
    answers["members"][2].pop("dob", None)
    return answers


# --- one check per example title --------------------------------------------------------


def health(s: Story, ex: Example):
    return requests.get(s.url("/health"), timeout=10)


def enroll(s: Story, ex: Example):
    s.values["a_code"] = code = s.server.quick_code()
    s.values["a_id"] = device = str(uuid.uuid4())
    response = requests.post(
        s.url("/api/v1/enroll"), json={"code": code, "device_id": device}, timeout=10
    )
    s.values["a"] = response.json()["token"]
    return response


def enroll_used(s: Story, ex: Example):
    return requests.post(
        s.url("/api/v1/enroll"),
        json={"code": s.values["a_code"], "device_id": str(uuid.uuid4())},
        timeout=10,
    )


def enroll_taken(s: Story, ex: Example):
    return requests.post(
        s.url("/api/v1/enroll"),
        json={"code": s.server.quick_code(), "device_id": s.values["a_id"]},
        timeout=10,
    )


def push(s: Story, ex: Example):
    a = s.values["a_id"]
    good = s.revision(a, sample_household(1, members=6, site_id=SITE))
    bad = s.revision(a, bad_household(2))
    s.values["batch"] = {"device_id": a, "batch_id": "3f9c2a7e51d04b8c", "revisions": [good, bad]}
    s.values["first"] = good
    return s.push_body(s.values["a"], s.values["batch"])


def push_again(s: Story, ex: Example):
    return s.push_body(s.values["a"], s.values["batch"])


def push_status(s: Story, ex: Example):
    ids = [s.values["first"]["revision_id"], str(uuid.uuid4())]
    return requests.post(
        s.url("/api/v1/push/status"),
        json={"revision_ids": ids},
        headers=auth(s.values["a"]),
        timeout=10,
    )


def pull(s: Story, ex: Example):
    s.values["b_id"], s.values["b"] = s.enroll()
    response = requests.get(
        s.url("/api/v1/pull"),
        params={"cursor": 0, "limit": 100},
        headers=auth(s.values["b"]),
        timeout=10,
    )
    s.values["b_cursor"] = response.json()["cursor"]
    return response


def state(s: Story, ex: Example):
    body = {"cursor": s.values["b_cursor"], "server_id": s.server.query(
        "SELECT value FROM meta WHERE key = 'server_id'")[0][0]}  # fmt: skip
    return requests.post(s.url("/api/v1/state"), json=body, headers=auth(s.values["b"]), timeout=10)


def state_replaced(s: Story, ex: Example):
    body = {"cursor": s.values["b_cursor"], "server_id": "srv-0123456789abcdef"}
    return requests.post(s.url("/api/v1/state"), json=body, headers=auth(s.values["b"]), timeout=10)


def forms(s: Story, ex: Example):
    return requests.get(s.url("/api/v1/forms"), headers=auth(s.values["b"]), timeout=10)


def form_download(s: Story, ex: Example):
    return requests.get(
        s.url(f"/api/v1/forms/{HOUSEHOLD}/{s.version}"), headers=auth(s.values["b"]), timeout=10
    )


def attachment_download(s: Story, ex: Example):
    """The attachment tests' village form, published with its CSV by the real CLI."""
    from tests.test_form_attachments import write_form

    form, csv = write_form(s.server.data_dir.parent / "villages-form")
    cli(s.server.data_dir, "publish-form", str(form), str(csv))
    response = requests.get(s.url(ex.path), headers=auth(s.values["b"]), timeout=10)
    content = csv.read_bytes()
    assert response.content == content
    assert response.headers["x-content-sha256"] == hashlib.sha256(content).hexdigest()
    assert response.headers["content-disposition"] == 'attachment; filename="villages.csv"'
    return response


def concurrent_edit(s: Story, ex: Example):
    first = s.values["first"]
    # Both tablets change the same answer, each to another value: a hard conflict.
    base = first["answers"]["shelter_situation"]
    mine, other = [v for v in ("collective_building", "tent", "tarpaulin") if v != base][:2]
    ours = copy.deepcopy(first["answers"])
    ours["shelter_situation"] = mine
    theirs = copy.deepcopy(first["answers"])
    theirs["shelter_situation"] = other
    common = {"record_id": first["record_id"], "parent_revision_id": first["revision_id"]}
    a_edit = s.revision(s.values["a_id"], ours, **common)
    assert s.push(s.values["a"], s.values["a_id"], [a_edit]).status_code == 200
    b_edit = s.revision(s.values["b_id"], theirs, **common)
    s.values["sides"] = (a_edit, b_edit)
    return s.push(s.values["b"], s.values["b_id"], [b_edit])


def conflicts(s: Story, ex: Example):
    response = requests.get(
        s.url("/api/v1/conflicts"), params={"status": "open"}, headers=auth(s.coordinator),
        timeout=10,
    )  # fmt: skip
    s.values["conflict"] = response.json()["conflicts"][0]["conflict_id"]
    return response


def record_state(s: Story, ex: Example):
    record_id = s.values["first"]["record_id"]
    return requests.get(
        s.url(f"/api/v1/records/{record_id}"), headers=auth(s.coordinator), timeout=10
    )


def resolve(s: Story, ex: Example):
    return requests.post(
        s.url(f"/api/v1/conflicts/{s.values['conflict']}/resolve"),
        json={"chosen_revision_id": s.values["sides"][0]["revision_id"], "note": ex.body["note"]},
        headers=auth(s.coordinator),
        timeout=10,
    )


def pull_after_decision(s: Story, ex: Example):
    return requests.get(
        s.url("/api/v1/pull"),
        params={"cursor": s.values["b_cursor"], "limit": 100},
        headers=auth(s.values["b"]),
        timeout=10,
    )


def pull_own(s: Story, ex: Example):
    return requests.get(
        s.url("/api/v1/pull"),
        params={"cursor": 0, "limit": 100, "own": "true"},
        headers=auth(s.values["a"]),
        timeout=10,
    )


def self_parent(s: Story, ex: Example):
    a = s.values["a_id"]
    good = s.revision(a, sample_household(7, members=2, site_id=SITE))
    selfish = s.revision(a, sample_household(8, members=2, site_id=SITE))
    selfish["parent_revision_id"] = selfish["revision_id"]
    return s.push(s.values["a"], a, [good, selfish])


def other_districts_record(s: Story, ex: Example):
    owner, token = s.enroll(OTHER_DISTRICT)
    theirs = s.revision(owner, sample_household(9, members=2, site_id=OTHER_SITE))
    assert s.push(token, owner, [theirs]).status_code == 200
    takeover = s.revision(
        s.values["a_id"],
        sample_household(9, members=2, site_id=SITE),
        record_id=theirs["record_id"],
        parent_revision_id=theirs["revision_id"],
    )
    return s.push(s.values["a"], s.values["a_id"], [takeover])


def a_record_to_move(s: Story) -> str:
    if "to_move" not in s.values:
        a = s.values["a_id"]
        wire = s.revision(a, sample_household(11, members=2, site_id=SITE))
        assert s.push(s.values["a"], a, [wire]).status_code == 200
        s.values["to_move"] = wire["record_id"]
    return s.values["to_move"]


def transfer_by(s: Story, ex: Example, token: str):
    return requests.post(
        s.url(f"/api/v1/records/{a_record_to_move(s)}/transfer"),
        json=ex.body, headers=auth(token), timeout=10,
    )  # fmt: skip


def transfer_refused(s: Story, ex: Example):
    return transfer_by(s, ex, s.coordinator)


def transfer(s: Story, ex: Example):
    return transfer_by(s, ex, s.server.coordinator_token(NATIONAL))


def no_token(s: Story, ex: Example):
    return requests.get(s.url("/api/v1/pull"), timeout=10)


def gzip_bomb(s: Story, ex: Example):
    bomb = gzip.compress(b" " * (9 * 1024 * 1024))
    return requests.post(
        s.url("/api/v1/push"),
        data=bomb,
        headers={**auth(s.values["a"]), "Content-Type": "application/json",
                 "Content-Encoding": "gzip"},
        timeout=60,
    )  # fmt: skip


def outside_district(s: Story, ex: Example):
    a = s.values["a_id"]
    elsewhere = s.revision(a, sample_household(3, members=2, site_id=OTHER_SITE))
    return s.push(s.values["a"], a, [elsewhere])


def wrong_type(s: Story, ex: Example):
    a = s.values["a_id"]
    wire = s.revision(a, sample_household(4, members=2, site_id=SITE))
    wire["hlc"] = 1795563976004
    return s.push(s.values["a"], a, [wire])


def not_json(s: Story, ex: Example):
    return requests.post(
        s.url("/api/v1/push/status"),
        data="revision_ids=1d1b206d-d097-4a30-ae6a-319c3cbea7b7",
        headers={**auth(s.values["a"]), "Content-Type": "text/plain"},
        timeout=10,
    )


def revoked(s: Story, ex: Example):
    device, token = s.enroll()
    cli(s.server.data_dir, "revoke", "--device", device)
    return requests.get(s.url("/api/v1/pull"), headers=auth(token), timeout=10)


def throttled(s: Story, ex: Example):
    for attempt in range(200):
        response = requests.post(
            s.url("/api/v1/enroll"),
            json={"code": f"ZZZZ-ZZZZ-{attempt:02d}", "device_id": str(uuid.uuid4())},
            timeout=10,
        )
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            return response
    raise AssertionError("never throttled")


# --- record media: a media_visit record with a 200,000-byte photo ----------------------

MEDIA_FORM = Path(__file__).resolve().parent / "data" / "media_forms" / "media_visit.md"


def _media(s: Story) -> dict[str, Any]:
    """The photo's record, pushed once by tablet a (its form published first)."""
    if "media" not in s.values:
        import hashlib
        import os

        cli(s.server.data_dir, "publish-form", str(MEDIA_FORM))
        name = uuid.uuid4().hex + ".jpg"
        answers = {"district": DISTRICT, "site_id": SITE, "head_name": "Ana Mussa",
                   "shelter_photo": name}  # fmt: skip
        wire = s.revision(s.values["a_id"], answers, form_id="media_visit", form_version="1")
        assert s.push(s.values["a"], s.values["a_id"], [wire]).json()["counts"]["accepted"] == 1
        data = os.urandom(200_000)
        s.values["media"] = {
            "url": s.url(f"/api/v1/media/{wire['record_id']}/{name}"),
            "data": data,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    return s.values["media"]


def _chunk(s: Story, offset: int, length: int, damage: bool = False) -> requests.Response:
    import hashlib

    media = _media(s)
    chunk = media["data"][offset : offset + length]
    sent = bytes([chunk[0] ^ 1]) + chunk[1:] if damage else chunk
    return requests.put(
        media["url"],
        params={"offset": offset, "size": len(media["data"]), "sha256": media["sha256"],
                "chunk_sha256": hashlib.sha256(chunk).hexdigest()},
        data=sent,
        headers={**auth(s.values["a"]), "Content-Type": "application/octet-stream"},
        timeout=10,
    )  # fmt: skip


def media_status(s: Story, ex: Example):
    return requests.get(_media(s)["url"] + "/status", headers=auth(s.values["a"]), timeout=10)


def media_chunk(s: Story, ex: Example):
    return _chunk(s, 0, 65536)


def media_chunk_again(s: Story, ex: Example):
    return _chunk(s, 0, 65536)


def media_damaged(s: Story, ex: Example):
    return _chunk(s, 65536, 65536, damage=True)


def media_last(s: Story, ex: Example):
    for offset in (65536, 131072):
        assert _chunk(s, offset, 65536).status_code == 200
    return _chunk(s, 196608, 3392)


def media_download(s: Story, ex: Example):
    response = requests.get(_media(s)["url"], headers=auth(s.coordinator), timeout=10)
    assert response.content == _media(s)["data"]
    return response


def media_other_district(s: Story, ex: Example):
    _, outsider = s.enroll(OTHER_DISTRICT)
    return requests.get(_media(s)["url"] + "/status", headers=auth(outsider), timeout=10)


CHECKS = {
    "Health": health,
    "Enroll": enroll,
    "Enroll with a code another tablet used": enroll_used,
    "Enroll with a device id that belongs to another tablet": enroll_taken,
    "Push": push,
    "The same push again (a retry)": push_again,
    "Push status": push_status,
    "Pull": pull,
    "State check": state,
    "State check after the server's database was replaced": state_replaced,
    "Forms": forms,
    "Form download": form_download,
    "Attachment download": attachment_download,
    "Push of a concurrent edit (hard conflict)": concurrent_edit,
    "Conflicts (coordinators)": conflicts,
    "A record's merged state": record_state,
    "Resolve a conflict (coordinators)": resolve,
    "Pull after the decision": pull_after_decision,
    "Pull with your own revisions (after a restore)": pull_own,
    "A revision that is its own parent, beside a good one": self_parent,
    "Editing another district's record": other_districts_record,
    "Move a record to another district (coordinators)": transfer,
    "Move a record with a district coordinator's token": transfer_refused,
    "No token": no_token,
    "A gzip bomb": gzip_bomb,
    "Push outside the tablet's district": outside_district,
    "Push with a wrong type": wrong_type,
    "A body that is not JSON": not_json,
    "A revoked tablet": revoked,
    "Too many failed enrollments": throttled,
    "Record media: what the server holds": media_status,
    "Record media: send a chunk": media_chunk,
    "Record media: a chunk sent again (the answer was lost)": media_chunk_again,
    "Record media: a damaged chunk": media_damaged,
    "Record media: the last chunk": media_last,
    "Record media: download": media_download,
    "Record media: a device of another district": media_other_district,
}


def same_shape(documented: Any, real: Any, where: str = "body") -> None:
    """The documented fields are there (and no others); error codes and statuses match."""
    if isinstance(documented, dict):
        assert isinstance(real, dict), where
        keys = {k for k in documented if k != "…"}
        if "…" in documented:  # shortened: the documented keys are a subset
            assert keys <= set(real), (where, keys - set(real))
            return
        assert keys == set(real), (where, keys ^ set(real))
        for key in ("error", "status", "kind", "role"):
            if key in documented:
                assert real[key] == documented[key], (where, key, real[key])
        for key in keys:
            if isinstance(documented[key], dict | list) and key not in ("answers", "values"):
                same_shape(documented[key], real[key], f"{where}.{key}")
    elif isinstance(documented, list) and documented and isinstance(documented[0], dict):
        assert isinstance(real, list) and real, where
        if "status" in documented[0]:  # per-revision results: the same statuses, in order
            assert [r["status"] for r in real] == [d["status"] for d in documented], where
        same_shape(documented[0], real[0], f"{where}[0]")


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory):
    server = ServerProcess(tmp_path_factory.mktemp("doc") / "district", forms_dir=None).start()
    yield Story(server)
    server.stop()


# Examples another test replays: they need a setup this story doesn't have.
ELSEWHERE: dict[str, str] = {}


def test_every_http_example_in_the_protocol_is_checked():
    assert {e.title for e in examples()} == set(CHECKS) | set(ELSEWHERE)


def test_every_example_gets_the_documented_answer_from_a_real_server(story):
    for example in examples():
        if example.title in ELSEWHERE:
            continue
        response = CHECKS[example.title](story, example)
        assert response.status_code == example.status, (example.title, response.text[:500])
        if example.response is not None:
            same_shape(example.response, response.json(), example.title)
