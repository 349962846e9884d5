"""Probable duplicate households on the server: two tablets register the same family
differently, sync to a real server process, and a coordinator reviews the pair through the
JSON endpoints (confirm links both records under one household id, reversibly; dismiss
hides the pair for good); every decision is in the audit log, without personal data."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import requests

from fieldapp.store import Store
from fieldapp.sync_client import SyncClient
from forms import FORMS_DIR, load_form
from forms.household_id import new_household_id
from forms.samples import sample_household
from tests.sync_helpers import ServerProcess, auth

pytestmark = pytest.mark.system

HOUSEHOLD = "household_registration"
SITE = "MOZ-ZAM-0001"


def register(store: Store, version: str, answers: dict) -> str:
    record_id = store.create_draft(HOUSEHOLD, version, answers)
    store.finalize(
        record_id,
        answers,
        title=f"{answers['hh_head_given_name']} {answers['hh_head_family_name']}",
        site_id=answers["site_id"],
        phone=answers.get("contact_phone"),
    )
    return record_id


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    folder: Path = tmp_path_factory.mktemp("duplicates")
    server = ServerProcess(folder / "district", forms_dir=None).start()
    version = load_form(FORMS_DIR / "household_registration.xlsx").version
    tablets = []
    for name in ("Amélia Cossa", "Jacinto Mabunda"):
        store = Store(folder / f"{name.split()[0]}.db")
        SyncClient(store, server.url).enroll(server.enroll_code(enumerator=name))
        tablets.append(store)
    a, b = tablets
    family = sample_household(seed=1, members=5, site_id=SITE)
    family["hh_head_given_name"], family["hh_head_family_name"] = "Castigo", "Mutemba"
    family["contact_phone"] = "841234567"
    again = copy.deepcopy(family)  # the next day, another enumerator, typed differently
    again.update(
        hh_head_given_name="CASTIGO",
        hh_head_family_name="Muthemba",
        registration_date="2026-11-21",
        household_id=new_household_id(random.Random("registered again")),  # a new card
    )
    first_id = register(a, version, family)
    for seed in range(2, 6):  # other families at the same site
        register(a, version, sample_household(seed=seed, members=4, site_id=SITE))
    again_id = register(b, version, again)
    for store in (a, b):
        report = SyncClient(store).sync()
        assert report.rejected == 0, store.rejected()
    cards = {first_id: family["household_id"], again_id: again["household_id"]}
    yield server, sorted((first_id, again_id)), (a, b, version), cards
    for store in tablets:
        store.close()
    server.stop()


def pairs(server: ServerProcess, token: str, status: str = "open") -> list[dict]:
    response = requests.get(
        f"{server.url}/api/v1/duplicates", params={"status": status}, headers=auth(token),
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["pairs"]


def post(server: ServerProcess, token: str, pair_id: str, action: str) -> requests.Response:
    return requests.post(
        f"{server.url}/api/v1/duplicates/{pair_id}/{action}", headers=auth(token), timeout=10
    )


def test_the_same_family_from_two_tablets_appears_once_for_review_with_reasons(district):
    server, expected, *_ = district
    found = pairs(server, server.coordinator_token())
    assert [sorted(r["record_id"] for r in p["records"]) for p in found] == [expected]
    pair = found[0]
    assert pair["score"] >= 0.8
    assert {"same phone", "same members' ages and sexes"} <= set(pair["reasons"])
    assert pair["levels"]["family"] == "same"
    # Both records' answers, for the side-by-side review.
    names = {r["answers"]["hh_head_family_name"] for r in pair["records"]}
    assert names == {"Mutemba", "Muthemba"}


def test_only_coordinators_see_duplicates(district):
    server, *_ = district
    _, device_token = server.enroll()
    response = requests.get(f"{server.url}/api/v1/duplicates", headers=auth(device_token),
                            timeout=10)  # fmt: skip
    assert response.status_code == 403
    assert requests.get(f"{server.url}/api/v1/duplicates", timeout=10).status_code == 401
    assert pairs(server, server.coordinator_token(district="MZ1122")) == []


def test_confirm_links_both_records_under_one_household_id_and_reopen_undoes_it(district):
    server, expected, _, cards = district
    first_card = next(iter(cards.values()))  # the family registered first, by tablet A
    token = server.coordinator_token()
    pair_id = pairs(server, token)[0]["pair_id"]
    decided = post(server, token, pair_id, "confirm")
    assert decided.status_code == 200, decided.text
    # Both linked under the id on the card of the household registered first.
    assert decided.json()["household_id"] == first_card
    confirmed = pairs(server, token, "confirmed")
    assert {r["household_id"] for r in confirmed[0]["records"]} == {first_card}
    assert pairs(server, token) == []
    assert post(server, token, pair_id, "confirm").status_code == 409

    assert post(server, token, pair_id, "reopen").status_code == 200
    reopened = pairs(server, token)
    # Each its own household again, under its own card's id.
    assert [r["household_id"] for r in reopened[0]["records"]] == [cards[r] for r in expected]
    links = server.query("SELECT count(*) AS n FROM household_links")[0]["n"]
    assert links == 0


def test_a_dismissed_pair_is_never_shown_again_even_after_an_edit(district):
    server, expected, (_, b, _), _ = district
    token = server.coordinator_token()
    pair_id = pairs(server, token)[0]["pair_id"]
    assert post(server, token, pair_id, "dismiss").status_code == 200
    # The second enumerator corrects the age: the record is merged and scored again.
    store = b
    record_id = next(r.record_id for r in store.records() if r.record_id in expected)
    answers = copy.deepcopy(store.open_for_edit(record_id).answers)
    answers["hh_head_given_name"] = "Castigo"
    store.finalize(record_id, answers)
    assert SyncClient(store).sync().accepted == 1
    assert pairs(server, token) == []
    assert [p["pair_id"] for p in pairs(server, token, "dismissed")] == [pair_id]


def test_decisions_are_audited_with_ids_only(district):
    server, *_ = district
    token = server.coordinator_token()
    pair_id = pairs(server, token, "dismissed")[0]["pair_id"]
    response = requests.get(f"{server.url}/api/v1/duplicates/{pair_id}/audit",
                            headers=auth(token), timeout=10)  # fmt: skip
    actions = [entry["action"] for entry in response.json()["audit"]]
    assert actions == ["confirm", "reopen", "dismiss"]
    text = response.text.lower()
    assert "castigo" not in text and "mutemba" not in text and "841234567" not in text


def test_an_unknown_pair_is_a_clear_404(district):
    server, *_ = district
    response = post(server, server.coordinator_token(), "no-such-pair", "confirm")
    assert response.status_code == 404
    assert "No duplicate pair no-such-pair" in response.json()["message"]
