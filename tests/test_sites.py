"""The living site list (issue #11 item 2): a coordinator adds and closes sites on the server
(`sync-server sites`), a real tablet sees the change after its next sync, uploads are
checked against the list as it is now, and a site found in the field arrives as a proposed
site for the coordinator. Real server process, real CLI, real store, catalog and sync
client, the shipped forms."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from fieldapp.catalog import FormCatalog, form_attachment_dir
from fieldapp.session import FormSession, Slot
from fieldapp.store import Store
from fieldapp.sync_client import SyncClient
from forms import FORMS_DIR
from forms.samples import sample_household
from sync_server.db import Database
from tests.sync_helpers import DISTRICT, cli, running_server

pytestmark = pytest.mark.system

FORM = "household_registration"


def site_choices(catalog: FormCatalog, store: Store, district: str) -> dict[str, str]:
    """The sites the household form offers in `district`, as the enumerator sees them."""
    form = catalog.newest(FORM)
    record_id = store.create_draft(form.form_id, form.version)
    session = FormSession(form, store, record_id, clock=lambda: dt.datetime(2026, 11, 30))
    session.set_answer(Slot(form.question("district")), district)
    shown = dict(session.choices(Slot(form.question("site_id"))))
    store.discard_draft(record_id)
    return shown


@pytest.fixture
def district_server(tmp_path):
    with running_server(tmp_path / "data", FORMS_DIR) as server:
        yield server


@pytest.fixture
def tablet(tmp_path, district_server):
    store = Store(tmp_path / "tablet" / "fieldapp.db")
    catalog = FormCatalog(store, tmp_path / "tablet" / "forms")
    catalog.install_bundled()
    client = SyncClient(store, district_server.url)
    client.enroll(district_server.enroll_code(district=DISTRICT))
    yield store, catalog, client
    store.close()


def test_a_site_added_and_closed_by_the_coordinator_reaches_the_tablet_at_its_next_sync(
    district_server, tablet
):
    store, catalog, client = tablet
    client.sync()
    before = site_choices(catalog, store, DISTRICT)
    assert "MOZ-ZAM-0001" in before and "new_site" in before
    assert not any("Mugogoda" in label for label in before.values())
    sites_file = form_attachment_dir(store, FORM, catalog.newest(FORM).version) / "sites.csv"
    digest_before = hashlib.sha256(sites_file.read_bytes()).hexdigest()

    added = cli(district_server.data_dir, "sites", "add", "--name", "Escola Primária de Mugogoda",
                "--district", DISTRICT, "--lat", "-17.455", "--lon", "37.035")  # fmt: skip
    new_id = added.stdout.split()[2].rstrip(".")
    assert new_id == "MOZ-ZAM-0009"
    cli(district_server.data_dir, "sites", "close", "MOZ-ZAM-0001", "--date", "2026-11-29")
    # Nothing changes on the tablet until it syncs.
    assert site_choices(catalog, store, DISTRICT) == before

    client.sync()
    after = site_choices(catalog, store, DISTRICT)
    assert after[new_id] == f"{new_id} – Escola Primária de Mugogoda"
    assert "MOZ-ZAM-0001" not in after  # closed: no longer offered
    assert "new_site" in after
    assert hashlib.sha256(sites_file.read_bytes()).hexdigest() != digest_before
    # Another district's sites are not offered here.
    assert "MOZ-ZAM-0002" not in after

    # A household registered at the new site passes the server's validation, which reads
    # the living list (the published sites.csv never had it).
    form = catalog.newest(FORM)
    answers = sample_household(seed=3, site_id="MOZ-ZAM-0001")
    answers.update(site_id=new_id, hh_gps="-17.455100 37.035100 12 5")
    record_id = store.create_draft(form.form_id, form.version, answers)
    session = FormSession(form, store, record_id, clock=lambda: dt.datetime(2026, 11, 30, 9))
    outcome = session.finalize(confirm_duplicates=True)
    assert outcome.finalized, outcome.errors
    # Within the new site's position: no "far from the site" warning on the tablet either.
    assert not [w for w in outcome.warnings if w.code == "geopoint-far-from-site"]
    report = client.sync()
    assert report.accepted == 1 and report.rejected == 0


def test_a_household_at_a_closed_site_is_refused_by_the_server(district_server, tablet):
    store, catalog, client = tablet
    client.sync()
    form = catalog.newest(FORM)
    answers = sample_household(seed=4, site_id="MOZ-ZAM-0001")
    record_id = store.create_draft(form.form_id, form.version, answers)
    session = FormSession(form, store, record_id, clock=lambda: dt.datetime(2026, 11, 30, 9))
    assert session.finalize(confirm_duplicates=True).finalized
    # The coordinator closes the site before the tablet sends the record.
    cli(district_server.data_dir, "sites", "close", "MOZ-ZAM-0001", "--date", "2026-11-29")
    report = client.sync()
    assert report.accepted == 0 and report.rejected == 1


def test_a_site_found_in_the_field_waits_for_the_coordinator(district_server, tablet):
    store, catalog, client = tablet
    client.sync()
    form = catalog.newest(FORM)
    answers = sample_household(seed=5, site_id="MOZ-ZAM-0001")
    answers.update(
        site_id="new_site",
        new_site_name="Igreja Católica de Furquia",
        new_site_type="host_community",
        new_site_gps="-17.470000 37.010000 15 8",
    )
    record_id = store.create_draft(form.form_id, form.version, answers)
    session = FormSession(form, store, record_id, clock=lambda: dt.datetime(2026, 11, 30, 9))
    assert session.finalize(confirm_duplicates=True).finalized
    assert client.sync().accepted == 1
    proposed = cli(district_server.data_dir, "sites", "list", "--all").stdout.splitlines()
    line = next(row for row in proposed if "Furquia" in row)
    site_id, status, district = line.split("\t")[:3]
    assert (status, district) == ("proposed", DISTRICT)
    # Not offered to tablets until confirmed.
    client.sync()
    assert site_id not in site_choices(catalog, store, DISTRICT)
    cli(district_server.data_dir, "sites", "confirm", site_id)
    client.sync()
    assert site_id in site_choices(catalog, store, DISTRICT)
    db = Database(district_server.data_dir)
    with db.read() as conn:
        actions = [
            (row["action"], row["target"])
            for row in conn.execute(
                "SELECT action, target FROM audit_log WHERE action LIKE 'site-%'"
            )
        ]
    db.close()
    assert actions == [("site-proposed", site_id), ("site-confirmed", site_id)]


def test_the_sites_command_refuses_bad_input_and_changes_nothing(district_server):
    data = district_server.data_dir

    def refused(*args: str) -> str:
        result = cli(data, "sites", *args, check=False)
        assert result.returncode == 2
        return result.stderr

    before = cli(data, "sites", "list", "--all").stdout
    assert "district 'MZ9999' is not a P-code" in refused(
        "add", "--name", "X", "--district", "MZ9999", "--lat", "-17.4", "--lon", "37.0"
    )
    assert "outside Mozambique (latitude first" in refused(
        "add", "--name", "X", "--district", DISTRICT, "--lat", "37.0", "--lon", "-17.4"
    )
    assert "not a date" in refused("close", "MOZ-ZAM-0001", "--date", "29/11/2026")
    assert "opened on 2023-03-12; it can't close before" in refused(
        "close", "MOZ-ZAM-0001", "--date", "2020-01-01"
    )
    assert "there is no site 'MOZ-ZAM-0999'" in refused("close", "MOZ-ZAM-0999")
    assert "no proposed site" in refused("confirm", "MOZ-ZAM-0001")
    assert cli(data, "sites", "list", "--all").stdout == before
