"""Moving a record between districts in real headless chromium (issue #8): the national
coordinator picks the new site on the record's page, reads the confirmation, confirms."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldapp.sync_client import SyncClient
from sync_server.auth import NATIONAL
from tests.test_workspace_browser import Office

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def office() -> Iterator[Office]:
    root = Path(tempfile.mkdtemp(prefix="workspace-transfer-"))
    found = Office(root)
    try:
        found.add_login("admin", NATIONAL, "Administração Nacional")
        yield found
    finally:
        found.close()
        shutil.rmtree(root, ignore_errors=True)


def test_a_national_coordinator_moves_a_household_to_another_district(office: Office):
    from selenium.webdriver.support.ui import Select

    amelia = office.tablet("Amélia Cossa")
    record_id = office.register(amelia, 50, hh_head_given_name="Zulmíra")
    SyncClient(amelia).sync()
    office.sign_in("admin")
    office.open(f"/records/{record_id}")
    Select(office.find("#transfer-site")).select_by_value("MOZ-ZAM-0002")
    office.shot("record-transfer-choice")
    office.click("#transfer-button")
    text = office.find("main").text
    assert "Mover este registo de Namacurra" in text and "Nicoadala" in text
    office.shot("record-transfer-confirm")
    office.click("#confirm-transfer")
    assert "Registo movido" in office.find(".notice").text
    assert "moveu o registo" in office.find("#history").text
    office.shot("record-transfer-done")
    (row,) = office.query("SELECT district, site_id FROM records WHERE record_id = ?", (record_id,))
    assert tuple(row) == ("MZ1122", "MOZ-ZAM-0002")
    # The tablet of Namacurra no longer receives it: its next sync brings nothing new.
    assert SyncClient(amelia).sync().received == 0
    # A tablet of Nicoadala gets the whole household, and its corrections are accepted.
    code = office.server.quick_code(district="MZ1122", enumerator="Jacinto Mabunda")
    jacinto = office.tablet("Jacinto Mabunda", code=code)
    SyncClient(jacinto).sync()
    moved = jacinto.draft(record_id).answers
    assert (moved["district"], moved["site_id"]) == ("MZ1122", "MOZ-ZAM-0002")
    assert moved["hh_head_given_name"] == "Zulmíra"
    office.edit(jacinto, record_id, shelter_situation="tent")
    report = SyncClient(jacinto).sync()
    assert (report.accepted, report.rejected) == (1, 0)
