"""The Sync screen against a real sync server process: enroll, register, sync, see it land."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from fieldapp.testing import boot, pump, shutdown
from forms import FORMS_DIR
from forms.samples import sample_household
from tests.sync_helpers import running_server
from tests.ui_driver import fill_form, press

pytestmark = [pytest.mark.system, pytest.mark.ui]


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        pump(1)
        time.sleep(0.05)


def test_register_then_sync_from_the_sync_screen(tmp_path):
    with running_server(tmp_path / "district", forms_dir=FORMS_DIR) as server:
        code = server.enroll_code(enumerator="Maria Cossa", district="MZ1120")
        app = boot(
            tmp_path / "tablet",
            enumerator="ENUM-014",
            language="en",
            server_url=server.url,
            enroll_code=code,
        )
        try:
            assert app.store.get_setting("token")  # the code was exchanged for a token
            answers = sample_household(
                seed=4, members=3, registration_date=dt.date.today(), site_id="MOZ-ZAM-0001"
            )
            app.new_record("household_registration")
            fill_form(app, answers)
            record_id = app.store.records("household_registration")[0].record_id

            app.show_sync()
            pump(2)
            screen = app.sync_screen
            assert "1 record waiting to be sent" in screen.outbox_text
            press(next(w for w in screen.walk() if getattr(w, "text", "") == "Sync now"))
            wait_until(lambda: not screen.running)
            assert screen.status_text == "Sync complete.", screen.status_text
            assert "0 records waiting to be sent" in screen.outbox_text

            stored = server.query("SELECT record_id FROM revisions")
            assert [row["record_id"] for row in stored] == [record_id]
            assert app.store.records("household_registration")[0].state == "sent"
            assert app.store.get_setting("last_sync_at")
            # The server's log never holds the household's names.
            assert answers["hh_head_family_name"] not in server.log()
        finally:
            shutdown(app)
