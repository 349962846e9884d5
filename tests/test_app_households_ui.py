"""A household's id and its update cycle in the real (offscreen) Kivy app, against a real
sync server process (issue #11 item 1): a new registration gets an id, the household card
finds it by that id (typed as people type it), shows it as a QR, and an update pre-filled
from it reaches the server carrying the same household id."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fieldapp.testing import boot, pump, screenshot, shutdown
from forms import FORMS_DIR
from forms.household_id import is_valid
from forms.samples import sample_household
from tests.sync_helpers import running_server
from tests.ui_driver import fill_form, press

pytestmark = [pytest.mark.system, pytest.mark.ui]

FORM = "household_registration"


def sync(app) -> None:
    report = app.sync_client().sync()
    assert report.rejected == 0, report


def server_households(server) -> dict[str, list[dict]]:
    """The server's stored revisions of the household form, by household id."""
    by_id: dict[str, list[dict]] = {}
    for row in server.query("SELECT body FROM revisions WHERE form_id = 'household_registration'"):
        answers = json.loads(row["body"])["answers"]
        by_id.setdefault(answers.get("household_id"), []).append(answers)
    return by_id


def test_a_household_update_finds_the_registration_by_its_card_id_and_keeps_the_id(tmp_path):
    with running_server(tmp_path / "district", forms_dir=FORMS_DIR) as server:
        app = boot(
            tmp_path / "tablet",
            enumerator="ENUM-014",
            language="pt",
            server_url=server.url,
            enroll_code=server.enroll_code(enumerator="Maria Cossa", district="MZ1120"),
        )
        try:
            sync(app)  # the forms and the site list, as at the start of a day
            # 1. A new registration: the app gives it an id, the enumerator never types one.
            answers = sample_household(
                seed=7, members=3, registration_date=dt.date.today(), site_id="MOZ-ZAM-0001"
            )
            del answers["household_id"], answers["registration_type"]
            app.new_record(FORM)
            household_id = app.session.answers["household_id"]
            assert is_valid(household_id)
            assert app.session.answers["registration_type"] == "new"
            fill_form(app, answers)
            first = app.store.records(FORM)[0]
            assert first.state == "finalized"
            sync(app)

            # 2. Months later: a baby was born. The card's id, typed carelessly.
            app.show_household()
            pump(3)
            screen = app.household_screen
            typed = household_id.replace("-", " ").lower().replace("0", "o")
            screen.ids.household_id.text = "X" + typed[1:]  # first a typo...
            press(screen.ids.find_button)
            assert "não é um código de agregado" in screen.message
            assert screen.household_id == ""
            screen.ids.household_id.text = typed  # ...then as on the card
            press(screen.ids.find_button)
            pump(3)
            assert screen.household_id == household_id, screen.message
            assert screen.ids.qr.texture is not None
            assert "MOZ-ZAM-0001 – Centro de Acomodação" in screen.details
            assert "Membros: 3" in screen.details
            screenshot(tmp_path / "household-card-pt.png")

            press(screen.ids.update_button)
            pump(3)
            session = app.session
            assert session.record_id != first.record_id
            assert session.answers["household_id"] == household_id
            assert session.answers["registration_type"] == "update"
            # Pre-filled from the earlier registration; consent is asked again.
            assert session.answers["hh_head_family_name"] == answers["hh_head_family_name"]
            assert len(session.answers["members"]) == 3
            assert "consent_given" not in session.answers
            screenshot(tmp_path / "household-update-pt.png")
            baby = {
                "given_name": "Esperança",
                "family_name": answers["hh_head_family_name"],
                "sex": "F",
                "relationship": "son_daughter",
                "present": "yes",
                "id_doc_type": "none",
                "vulnerabilities": ["none"],
                "dob_known": "no",
                "age_reported": 0,
                "age_estimated": "yes",
            }
            update = {**answers, "members": [*answers["members"], baby], "hh_size_declared": 4}
            update.pop("household_id", None)
            fill_form(app, update)
            records = app.store.records(FORM)
            assert [r.state for r in records] == ["finalized", "sent"]

            # 3. The update reaches the server with the same household id.
            sync(app)
            stored = server_households(server)
            assert list(stored) == [household_id]
            kinds = sorted(a["registration_type"] for a in stored[household_id])
            assert kinds == ["new", "update"]
            latest = next(a for a in stored[household_id] if a["registration_type"] == "update")
            assert len(latest["members"]) == 4
        finally:
            shutdown(app)


def test_the_server_refuses_a_household_id_with_a_wrong_check_character(tmp_path):
    """A card number typed wrong into another system must not file a household under it."""
    from fieldapp.catalog import FormCatalog
    from fieldapp.session import FormSession
    from fieldapp.store import Store
    from fieldapp.sync_client import SyncClient

    with running_server(tmp_path / "district", forms_dir=FORMS_DIR) as server:
        store = Store(tmp_path / "tablet" / "fieldapp.db")
        catalog = FormCatalog(store, tmp_path / "tablet" / "forms")
        catalog.install_bundled()
        client = SyncClient(store, server.url)
        client.enroll(server.enroll_code(district="MZ1120"))
        client.sync()
        form = catalog.newest(FORM)
        answers = sample_household(seed=8, site_id="MOZ-ZAM-0001")
        good = answers["household_id"]
        last = good[-1]
        answers["household_id"] = good[:-1] + ("0" if last != "0" else "1")
        record_id = store.create_draft(form.form_id, form.version, answers)
        session = FormSession(form, store, record_id, clock=lambda: dt.datetime(2026, 11, 30, 9))
        # The tablet catches it first...
        outcome = session.finalize(confirm_duplicates=True)
        assert [issue.code for issue in outcome.errors] == ["household-id"]
        # ...and the server too, when a revision carries one anyway.
        from sync_server.testing import push, revision

        device = store.device_id
        token = store.get_setting("token")
        item = revision(device, answers, form_id=FORM, form_version=form.version)
        item["created_at"] = "2026-11-30T09:00:00Z"  # saved after its registration date
        response = push(server.url, token, device, [item])
        result = response.json()["results"][0]
        assert result["status"] == "rejected"
        assert [(r["field"], r["code"]) for r in result["reasons"]] == [
            ("household_id", "household-id")
        ]
        store.close()
