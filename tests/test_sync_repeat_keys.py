"""Household members keep their identity across tablets (issue #8): two real tablets (the
device store and sync client) and a real server process with the real household form."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from fieldapp.store import Store
from fieldapp.sync_client import SyncClient
from forms import FORMS_DIR, load_form
from forms.paths import new_instance_key
from forms.samples import sample_household
from tests.sync_helpers import DISTRICT, ServerProcess, auth

pytestmark = pytest.mark.system

HOUSEHOLD = "household_registration"
SITE = "MOZ-ZAM-0001"  # in Namacurra, MZ1120


@pytest.fixture
def tablets(tmp_path: Path) -> Iterator[tuple[ServerProcess, Store, Store]]:
    server = ServerProcess(tmp_path / "district", forms_dir=None).start()
    stores = []
    try:
        for name in ("Amélia Cossa", "Jacinto Mabunda"):
            store = Store(tmp_path / f"{name.split()[0]}.db")
            SyncClient(store, server.url).enroll(server.enroll_code(enumerator=name))
            stores.append(store)
        yield server, stores[0], stores[1]
    finally:
        for store in stores:
            store.close()
        server.stop()


def registered(a: Store, b: Store) -> tuple[str, list[dict]]:
    """A household of four registered on tablet `a` (its members keyed, as the app makes
    them) and pulled by tablet `b`."""
    version = load_form(FORMS_DIR / f"{HOUSEHOLD}.xlsx").version
    answers = sample_household(7, members=4, site_id=SITE)
    answers["members"] = [{"_key": new_instance_key(), **m} for m in answers["members"]]
    record_id = a.create_draft(HOUSEHOLD, version, answers)
    a.finalize(record_id, answers, title="household", site_id=SITE)
    SyncClient(a).sync()
    SyncClient(b).sync()
    assert b.draft(record_id).answers == answers
    return record_id, answers["members"]


def edit(store: Store, record_id: str, change: Callable[[dict], None]) -> None:
    """What the app does when an enumerator corrects a sent household."""
    answers = copy.deepcopy(store.open_for_edit(record_id).answers)
    change(answers)
    store.finalize(record_id, answers)


def settle(server: ServerProcess, record_id: str, *stores: Store) -> dict:
    reports = [SyncClient(store).sync() for store in (*stores, *stores)]
    assert sum(r.rejected for r in reports) == 0, [s.rejected() for s in stores]
    record = requests.get(
        server.url + f"/api/v1/records/{record_id}",
        headers=auth(server.coordinator_token(DISTRICT)),
        timeout=10,
    ).json()
    for store in stores:  # every tablet shows what the server holds
        assert store.draft(record_id).answers == record["answers"]
    return record


def test_members_added_on_two_tablets_at_once_are_both_kept(tablets):
    server, a, b = tablets
    record_id, members = registered(a, b)

    def add(given_name: str) -> Callable[[dict], None]:
        def change(answers: dict) -> None:
            newborn = {**copy.deepcopy(members[3]), "_key": new_instance_key()}
            newborn.update(given_name=given_name, id_doc_number=f"{given_name.upper()}1")
            answers["members"].append(newborn)
            answers["hh_size_declared"] = 5

        return change

    edit(a, record_id, add("Rui"))
    edit(b, record_id, add("Eva"))
    record = settle(server, record_id, a, b)

    names = [m["given_name"] for m in record["answers"]["members"]]
    assert names == [m["given_name"] for m in members] + ["Rui", "Eva"]
    assert record["conflict"] != "hard"


def test_an_edit_of_member_two_lands_on_that_person_while_member_one_is_deleted(tablets):
    server, a, b = tablets
    record_id, members = registered(a, b)
    head, spouse = members[0], members[1]

    def head_left(answers: dict) -> None:
        # The head moved away: the spouse heads the household now.
        answers["members"] = answers["members"][1:]
        answers["members"][0]["relationship"] = "head"
        answers["hh_size_declared"] = 3
        answers["hh_head_given_name"] = spouse["given_name"]

    def spouse_document(answers: dict) -> None:
        answers["members"][1]["id_doc_number"] = "110100000002B"  # member 2 on this tablet

    edit(a, record_id, head_left)
    edit(b, record_id, spouse_document)
    record = settle(server, record_id, a, b)

    kept = record["answers"]["members"]
    assert [m["_key"] for m in kept] == [m["_key"] for m in members[1:]]
    assert head["_key"] not in {m["_key"] for m in kept}
    assert kept[0]["given_name"] == spouse["given_name"]
    assert (kept[0]["relationship"], kept[0]["id_doc_number"]) == ("head", "110100000002B")
    # Nobody else got the spouse's document number.
    assert [m["id_doc_number"] for m in kept[1:]] == [m["id_doc_number"] for m in members[2:]]
    assert record["conflict"] != "hard"
