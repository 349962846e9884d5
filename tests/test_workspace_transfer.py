"""Moving a record between districts from the workspace (issue #8): a national coordinator
chooses the place on the record's page, confirms, and the move is in the history."""

from __future__ import annotations

import re

import pytest

from sync_server import auth
from sync_server.workspace import testing
from tests.test_workspace import Server, server, signed_in  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

NEW_SITE = "MOZ-ZAM-0002"  # Nicoadala, MZ1122


def a_household(server: Server) -> str:  # noqa: F811
    server.tablet("tab-1", district="MZ1120")
    server.tablet("tab-2", district="MZ1122")
    wire = testing.revision("tab-1", testing.household(1))
    assert server.push("tab-1", [wire])["counts"]["accepted"] == 1
    return wire["record_id"]


def test_a_national_coordinator_moves_a_record_after_confirming(server: Server):  # noqa: F811
    record_id = a_household(server)
    client = signed_in(server, "admin", auth.NATIONAL)
    page = client.get(f"/records/{record_id}").text
    assert 'id="transfer-button"' in page and f'value="{NEW_SITE}"' in page

    confirm = client.get(f"/records/{record_id}/transfer", params={"site_id": NEW_SITE})
    assert confirm.status_code == 200
    assert "Mover este registo de Namacurra" in confirm.text and "Nicoadala" in confirm.text
    assert server.query("SELECT district FROM records")[0][0] == "MZ1120"  # nothing yet

    # Without the session's CSRF token: refused, nothing moved.
    forged = client.post(f"/records/{record_id}/transfer", data={"site_id": NEW_SITE})
    assert forged.status_code == 403
    assert server.query("SELECT district FROM records")[0][0] == "MZ1120"

    done = client.post(
        f"/records/{record_id}/transfer",
        data={"csrf": testing.csrf_of(confirm.text), "site_id": NEW_SITE},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?moved=1")
    assert [tuple(r) for r in server.query("SELECT district, site_id FROM records")] == [
        ("MZ1122", NEW_SITE)
    ]
    after = client.get(done.headers["location"]).text
    assert "Registo movido" in after and "moveu o registo" in after
    assert re.search(r"Distrito.*?Nicoadala", after, flags=re.S)
    pulled = server.client.get(
        "/api/v1/pull", headers={"Authorization": f"Bearer {server.tokens['tab-2']}"}
    ).json()
    assert record_id in {r["record_id"] for r in pulled["revisions"]}
    assert (
        server.query(
            "SELECT count(*) FROM audit_log WHERE action = 'record.transfer' AND outcome = ?",
            ("MZ1120->MZ1122",),
        )[0][0]
        == 1
    )


def test_a_district_coordinator_gets_no_button_and_cannot_move_it(server: Server):  # noqa: F811
    record_id = a_household(server)
    client = signed_in(server)  # a coordinator of MZ1120 only
    page = client.get(f"/records/{record_id}").text
    assert f'value="{NEW_SITE}"' not in page  # only the other sites of MZ1120 are offered
    refused = client.post(
        f"/records/{record_id}/transfer",
        data={"csrf": testing.csrf_of(page), "site_id": NEW_SITE},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert "nacional" in refused.text
    assert server.query("SELECT district FROM records")[0][0] == "MZ1120"


def test_a_member_deleted_on_one_tablet_and_edited_on_another_is_shown_as_that_member(
    server: Server,  # noqa: F811
):
    """The conflict page names the member by position and shows the member's answers."""
    import copy
    import time

    server.tablet("tab-a")
    server.tablet("tab-b")
    from forms.samples import sample_household

    answers = sample_household(3, members=4, site_id="MOZ-ZAM-0001")
    answers["members"] = [{"_key": f"k-{i}", **m} for i, m in enumerate(answers["members"])]
    now = int(time.time() * 1000)
    base = testing.revision("tab-a", answers, hlc_ms=now)
    assert server.push("tab-a", [base])["counts"]["accepted"] == 1
    deleted, edited = copy.deepcopy(answers), copy.deepcopy(answers)
    del deleted["members"][2]
    deleted["hh_size_declared"] = 3
    edited["members"][2]["id_doc_number"] = "110100000009Z"
    common = {"record_id": base["record_id"], "parent": base["revision_id"]}
    for device, changed, ms in (("tab-a", deleted, now + 10), ("tab-b", edited, now + 20)):
        result = server.push(device, [testing.revision(device, changed, hlc_ms=ms, **common)])
        assert result["counts"]["accepted"] == 1, result
    (conflict_id,) = [r[0] for r in server.query("SELECT conflict_id FROM conflicts")]
    client = signed_in(server)
    page = client.get(f"/conflicts/{conflict_id}")
    assert page.status_code == 200
    assert "members[3]" in page.text and "k-2" not in page.text.split("<main")[-1]
    assert "110100000009Z" in page.text  # the member as tablet b edited it
