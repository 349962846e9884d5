"""The workspace's Duplicates review in-process: two tablets register one family
differently, the pair is listed most likely first with its reasons, shown side by side
with the members aligned, confirmed (both records under one household id, which the
export carries), undone, dismissed for good; every decision in audit_log; other
districts see nothing; and the dedup's old `duplicate_audit` table moves into audit_log.
"""

from __future__ import annotations

import copy
import csv
import io
import random
import re
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forms.household_id import new_household_id
from sync_server import auth, db
from sync_server.app import create_app
from sync_server.workspace import accounts, pairs, testing

pytestmark = pytest.mark.integration

PASSWORD = "a long pass phrase"
FORM = "household_registration"


class Office:
    """One app; coordinators of Namacurra (MZ1120) and Nicoadala (MZ1122); two tablets."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.app = create_app(data_dir, validation_workers=0)
        self.client = TestClient(self.app)
        self.client.__enter__()
        self.db = self.app.state.db
        self.tokens: dict[str, str] = {}
        for username, district in (("graca", "MZ1120"), ("nico", "MZ1122"),
                                   ("nacional", auth.NATIONAL)):  # fmt: skip
            self.db.write(
                lambda c, u=username, d=district: accounts.create_login(
                    c, name=f"Coord {u}", username=u, password=PASSWORD, district=d
                )
            )
        for device in ("tablet-a", "tablet-b"):
            code, _ = self.db.write(lambda c: auth.create_code(c, name="E", district="MZ1120"))
            answer = self.client.post("/api/v1/enroll", json={"code": code, "device_id": device})
            self.tokens[device] = answer.json()["token"]

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    def push(self, device: str, answers: dict[str, Any], **kw: Any) -> str:
        revision = testing.revision(device, answers, **kw)
        response = self.client.post(
            "/api/v1/push",
            json={"device_id": device, "batch_id": revision["revision_id"][:16],
                  "revisions": [revision]},
            headers={"Authorization": f"Bearer {self.tokens[device]}"},
        )  # fmt: skip
        assert response.json()["results"][0]["status"] == "accepted", response.text
        return revision["record_id"]

    def sign_in(self, username: str) -> None:
        self.client.cookies.clear()
        assert testing.sign_in(self.client, username, PASSWORD).status_code == 303

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"file:{self.data_dir / 'sync.db'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def office(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The same family registered by two tablets (the head's name spelt differently, one
    member's age a year off), and 6 unrelated households at the same site."""
    found = Office(tmp_path_factory.mktemp("duplicates") / "district")
    try:
        for seed in range(40, 46):
            found.push("tablet-a", testing.household(seed))
        family = testing.household(7)
        again = copy.deepcopy(family)
        again["hh_head_given_name"] = family["hh_head_given_name"][:-1] + "e"
        # Registered again as a new household: the tablet gave it a new card id.
        again["household_id"] = new_household_id(random.Random("registered again"))
        first = found.push("tablet-a", family)
        second = found.push("tablet-b", again)
        yield {"office": found, "first": first, "second": second, "family": family,
               "again": again}  # fmt: skip
    finally:
        found.close()


def pair_of(office: Office, first: str, second: str) -> sqlite3.Row:
    rows = office.query(
        "SELECT * FROM duplicate_pairs WHERE record_id_1 = ? AND record_id_2 = ?",
        tuple(sorted((first, second))),
    )
    assert rows, "the engine found no pair"
    return rows[0]


def decide(office: Office, pair_id: str, action: str, *, csrf: str | None = None) -> Any:
    page = office.client.get(f"/duplicates/{pair_id}")
    token = testing.csrf_of(page.text) if csrf is None else csrf
    return office.client.post(
        f"/duplicates/{pair_id}", data={"csrf": token, "action": action}, follow_redirects=False
    )


def export_rows(office: Office) -> dict[str, dict[str, str]]:
    """The full CSV zip downloaded from the Exports page: main-table rows by KEY."""
    page = office.client.get("/exports")
    answer = office.client.post("/exports", data={
        "csrf": testing.csrf_of(page.text), "form": FORM, "format": "csvzip", "kind": "full",
        "purpose": "checking duplicates"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        text = archive.read(f"{FORM}.csv").decode("utf-8-sig")
    return {row["KEY"]: row for row in csv.DictReader(io.StringIO(text))}


def test_the_pair_is_listed_with_its_probability_and_reasons(office):
    o = office["office"]
    o.sign_in("graca")
    pair = pair_of(o, office["first"], office["second"])
    page = o.client.get("/duplicates")
    assert page.status_code == 200
    assert f'data-pair="{pair["pair_id"]}"' in page.text
    assert f"{min(round(pair['score'] * 100), 99)}%" in page.text  # never "100%": not proof
    assert "mesmo telefone" in page.text  # the reasons, in Portuguese by default
    shown = re.findall(r'data-pair="([0-9a-f-]{36})"', page.text)
    scores = {r["pair_id"]: r["score"] for r in o.query("SELECT * FROM duplicate_pairs")}
    assert [scores[p] for p in shown] == sorted((scores[p] for p in shown), reverse=True)


def test_the_pair_page_shows_both_households_side_by_side_with_members_aligned(office):
    o = office["office"]
    o.sign_in("graca")
    pair = pair_of(o, office["first"], office["second"])
    page = o.client.get(f"/duplicates/{pair['pair_id']}").text
    assert office["family"]["hh_head_given_name"] in page
    assert office["again"]["hh_head_given_name"] in page
    # The head's name differs a little, the phone is the same.
    assert re.search(r'class="how-near" data-field="dup-head-name"', page)
    assert re.search(r'class="how-agree" data-field="dup-phone"', page)
    members = re.search(r'<table class="compare" id="members">(.*?)</table>', page, re.S)[1]
    assert members.count('class="how-agree"') == len(office["family"]["members"])


def test_confirm_links_both_records_the_export_carries_one_household_id_and_undo_unlinks(
    office,
):
    o = office["office"]
    o.sign_in("graca")
    first, second = office["first"], office["second"]
    pair_id = pair_of(o, first, second)["pair_id"]
    cards = {r["record_id"]: r["card"] for r in o.query(
        "SELECT record_id, json_extract(answers, '$.household_id') AS card FROM records")}  # fmt: skip
    assert cards[first] != cards[second]
    before = export_rows(o)
    # Before the decision, each record is its own household, under its card's id.
    assert all(row["household_id"] == cards[key] for key, row in before.items())

    answer = decide(o, pair_id, "confirm")
    assert answer.status_code == 303
    links = {r["record_id"]: r["household_id"] for r in o.query("SELECT * FROM household_links")}
    # Both under the id on the card of the household registered first.
    assert links == {first: cards[first], second: cards[first]}
    assert "Par confirmado" in o.client.get(answer.headers["location"]).text
    rows = export_rows(o)
    assert rows[first]["household_id"] == rows[second]["household_id"] == cards[first]
    assert all(row["household_id"] == cards[key] for key, row in rows.items()
               if key not in (first, second))  # fmt: skip
    assert pair_id not in o.client.get("/duplicates").text
    assert pair_id in o.client.get("/duplicates?status=confirmed").text

    assert decide(o, pair_id, "reopen").status_code == 303
    assert o.query("SELECT * FROM household_links") == []
    assert export_rows(o)[second]["household_id"] == cards[second]
    audit = o.query("SELECT account_id, action, target FROM audit_log "
                    "WHERE action LIKE 'duplicate.%' ORDER BY id")  # fmt: skip
    assert [(r["action"], r["target"]) for r in audit] == [
        ("duplicate.confirm", pair_id), ("duplicate.reopen", pair_id)]  # fmt: skip
    names = {office["family"]["hh_head_given_name"], office["family"]["contact_phone"]}
    assert not any(name in str(tuple(r)) for r in audit for name in names)


def test_a_decision_twice_or_without_the_form_token_changes_nothing(office):
    o = office["office"]
    o.sign_in("graca")
    pair_id = pair_of(o, office["first"], office["second"])["pair_id"]
    count = len(o.query("SELECT * FROM audit_log WHERE action LIKE 'duplicate.%'"))
    refused = decide(o, pair_id, "confirm", csrf="forged")
    assert refused.status_code == 403
    assert decide(o, pair_id, "reopen").status_code == 409  # it is open: nothing to undo
    assert o.query("SELECT status FROM duplicate_pairs WHERE pair_id = ?", (pair_id,))[0][0] == (
        "open"
    )
    assert len(o.query("SELECT * FROM audit_log WHERE action LIKE 'duplicate.%'")) == count


def test_another_district_sees_nothing_and_national_sees_all(office):
    o = office["office"]
    pair_id = pair_of(o, office["first"], office["second"])["pair_id"]
    o.sign_in("nico")
    assert pair_id not in o.client.get("/duplicates").text
    hidden = o.client.get(f"/duplicates/{pair_id}")
    assert hidden.status_code == 404
    assert office["family"]["hh_head_given_name"] not in hidden.text
    o.sign_in("nacional")
    assert pair_id in o.client.get("/duplicates?district=MZ1120").text
    assert pair_id not in o.client.get("/duplicates?district=MZ1122").text


def test_a_dismissed_pair_is_never_shown_again_even_after_an_edit(office):
    o = office["office"]
    o.sign_in("graca")
    first, second = office["first"], office["second"]
    pair_id = pair_of(o, first, second)["pair_id"]
    assert decide(o, pair_id, "dismiss").status_code == 303
    head = o.query("SELECT head_revision_id FROM records WHERE record_id = ?", (second,))[0][0]
    o.push("tablet-b", {**office["again"], "shelter_situation": "host_family"},
           record_id=second, parent=head)  # fmt: skip
    assert pair_id not in o.client.get("/duplicates").text
    assert pair_id in o.client.get("/duplicates?status=dismissed").text


def test_the_english_page_says_the_same(office):
    o = office["office"]
    o.sign_in("graca")
    o.client.get("/language/en?next=/duplicates")
    page = o.client.get("/duplicates?status=dismissed").text
    assert "same phone" in page and "Dismissed" in page
    o.client.get("/language/pt?next=/duplicates")


def test_migration_moves_the_old_duplicate_audit_rows_into_audit_log(tmp_path):
    conn = sqlite3.connect(tmp_path / "sync.db", isolation_level=None)
    conn.row_factory = sqlite3.Row
    before = db.MIGRATIONS.index(db.MOVE_DUPLICATE_AUDIT)
    db.migrate(conn, upto=before)
    # A server from before this migration: the dedup's own audit table, with decisions.
    conn.execute("CREATE TABLE duplicate_audit (seq INTEGER PRIMARY KEY, pair_id TEXT NOT NULL,"
                 " action TEXT NOT NULL, account_id TEXT NOT NULL, at TEXT NOT NULL)")  # fmt: skip
    conn.executemany(
        "INSERT INTO duplicate_audit (pair_id, action, account_id, at) VALUES (?, ?, ?, ?)",
        [("p1", "confirm", "acc-1", "2026-11-24T10:00:00Z"),
         ("p1", "reopen", "acc-2", "2026-11-24T11:00:00Z")],
    )  # fmt: skip
    db.migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(db.MIGRATIONS)
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'duplicate_audit'").fetchone()
    rows = conn.execute("SELECT at, account_id, action, target, outcome FROM audit_log").fetchall()
    assert [tuple(r) for r in rows] == [
        ("2026-11-24T10:00:00Z", "acc-1", "duplicate.confirm", "p1", "ok"),
        ("2026-11-24T11:00:00Z", "acc-2", "duplicate.reopen", "p1", "ok"),
    ]
    from sync_server import duplicates

    assert [e["action"] for e in duplicates.audit_log(conn, "p1")] == ["confirm", "reopen"]
    conn.close()


def test_members_are_paired_by_sex_and_closest_age_each_at_most_once():
    def household(*people):
        return {"members": [{"given_name": n, "sex": s, "age_reported": a, "dob_known": "no"}
                            for n, s, a in people]}  # fmt: skip

    one = household(("Ana", "F", 40), ("Rui", "M", 12), ("Eva", "F", 8), ("Avó", "F", 70))
    two = household(("Zito", "M", 42), ("Eva", "F", 9), ("Rui", "M", 12), ("Ana", "F", 41))
    rows = pairs.align_members(one, two)
    paired = [(r.first and r.first["name"], r.second and r.second["name"], r.how) for r in rows]
    assert paired == [
        ("Ana", "Ana", "near"),
        ("Rui", "Rui", "agree"),
        ("Eva", "Eva", "near"),
        ("Avó", None, "differ"),
        (None, "Zito", "differ"),
    ]


def test_an_update_under_the_same_card_is_not_a_probable_duplicate(tmp_path):
    """An update (births, deaths, departures) carries the card's household id: the same
    household by the enumerator's scan, never offered for review; a new registration of the
    same family under a new card still is."""
    o = Office(tmp_path / "district")
    try:
        family = testing.household(7)
        first = o.push("tablet-a", family)
        update = copy.deepcopy(family)
        update["registration_type"] = "update"  # the same family, found by its card
        updated = o.push("tablet-b", update)
        assert o.query("SELECT * FROM duplicate_pairs") == []
        again = copy.deepcopy(family)
        again["household_id"] = new_household_id(random.Random("a new card"))
        second = o.push("tablet-b", again)
        pairs = o.query("SELECT record_id_1, record_id_2 FROM duplicate_pairs")
        # The new card is offered against both records of the family, never the two others.
        assert {tuple(p) for p in pairs} == {
            tuple(sorted((first, second))), tuple(sorted((updated, second)))}  # fmt: skip
    finally:
        o.close()
