"""End to end: tablets -> district server process -> national server process, with the real
household form, the real CLI, the real device store and sync client. Plus pushes cut at
chosen bytes (through the throttling proxy) and a server killed in the middle of a batch.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from pathlib import Path

import pytest
import requests

from fieldapp.store import Store
from fieldapp.sync_client import SyncClient
from forms import load_form
from forms.samples import sample_household
from sync_core.throttle import ThrottleProxy
from tests.sync_helpers import DISTRICT, ServerProcess, auth, cli

pytestmark = pytest.mark.system

HOUSEHOLD = "household_registration"
SITE = "MOZ-ZAM-0001"  # in Namacurra, MZ1120


@pytest.fixture(scope="module")
def household_version() -> str:
    from forms import FORMS_DIR

    return load_form(FORMS_DIR / "household_registration.xlsx").version


def register(store: Store, version: str, seed: int) -> str:
    """What the app does when an enumerator saves a household."""
    answers = sample_household(seed, members=6, site_id=SITE)
    record_id = store.create_draft(HOUSEHOLD, version, answers)
    head = answers["members"][0]
    store.finalize(
        record_id,
        answers,
        title=f"{head['given_name']} {head['family_name']}",
        site_id=SITE,
        phone=answers.get("phone"),
    )
    return record_id


def edit(store: Store, record_id: str, change) -> None:
    answers = copy.deepcopy(store.open_for_edit(record_id).answers)
    change(answers)
    store.finalize(record_id, answers)


def quick(seconds: float) -> None:
    time.sleep(min(seconds, 0.05))


def test_tablets_to_district_to_national(tmp_path: Path, household_version: str):
    district = ServerProcess(tmp_path / "district", forms_dir=None).start()
    national = ServerProcess(tmp_path / "national", forms_dir=None).start()
    try:
        tablets = []
        for name in ("Amélia Cossa", "Jacinto Mabunda"):
            store = Store(tmp_path / f"{name.split()[0]}.db")
            code = district.enroll_code(enumerator=name, district=DISTRICT)  # the CLI
            SyncClient(store, district.url).enroll(code)
            tablets.append(store)
        a, b = tablets

        for seed in range(6):
            register(a, household_version, seed)
        for seed in range(100, 104):
            register(b, household_version, seed)
        shared = register(a, household_version, 999)
        seen: list = []
        first = SyncClient(a).sync(progress=seen.append)
        for store in (b, a):
            latest = SyncClient(store).sync()  # ends with `a`
        assert {row.record_id for row in b.records()} >= {shared}
        # The tablet was told how far it got, and fetched the published forms.
        assert first.accepted == 7 and seen[-1].phase == "done"
        assert seen[-1].records_total == seen[-1].records_sent == 7
        assert [p.records_sent for p in seen] == sorted(p.records_sent for p in seen)
        assert seen[-1].bytes_sent > 0 and seen[-1].bytes_received > 0
        assert f"{HOUSEHOLD}@{household_version}" in first.forms_downloaded
        assert (HOUSEHOLD, household_version, "server") in {
            (f["form_id"], f["version"], f["source"]) for f in a.cached_forms()
        }
        # The time of the tablet's latest sync (not the first: a second may have passed).
        assert a.get_setting("last_sync_at") == latest.last_sync_at

        # Both enumerators correct the same household from the same revision: a different
        # member each (merges cleanly) and the shelter twice (a hard conflict).
        def document(index: int, number: str):
            return lambda answers: answers["members"][index].update(id_doc_number=number)

        edit(a, shared, document(3, "110100000001A"))
        edit(b, shared, document(4, "110100000002B"))
        edit(a, shared, lambda answers: answers.update(shelter_situation="collective_building"))
        edit(b, shared, lambda answers: answers.update(shelter_situation="host_family"))
        reports = [SyncClient(store).sync() for store in (a, b, a, b)]
        assert sum(r.rejected for r in reports) == 0, [s.rejected() for s in (a, b)]

        coordinator = district.coordinator_token()
        record = requests.get(
            district.url + f"/api/v1/records/{shared}", headers=auth(coordinator), timeout=10
        ).json()
        assert record["conflict"] == "hard"
        assert record["answers"]["members"][3]["id_doc_number"] == "110100000001A"
        assert record["answers"]["members"][4]["id_doc_number"] == "110100000002B"
        for store in (a, b):
            assert store.draft(shared).head_revision_id == record["head_revision_id"]
            assert store.draft(shared).answers == record["answers"]

        # The district server forwards to the national server, enrolled there as a server.
        code = national.enroll_code(
            enumerator="Namacurra district server", district=DISTRICT, server_role=True
        )
        output = cli(district.data_dir, "forward", "--to", national.url, "--code", code).stdout
        sent = int(re.search(r"forwarded (\d+) revision", output).group(1))
        device_revisions = district.query(
            "SELECT revision_id, sha256 FROM revisions WHERE origin != 'merge' ORDER BY seq"
        )
        assert sent == len(device_revisions) > 0
        held = national.query(
            "SELECT revision_id, sha256, count(*) AS n FROM revisions GROUP BY revision_id"
        )
        national_revisions = {row["revision_id"]: row for row in held}
        for row in device_revisions:  # every revision exactly once, byte for byte
            assert national_revisions[row["revision_id"]]["n"] == 1
            assert national_revisions[row["revision_id"]]["sha256"] == row["sha256"]
        # ...and the national server merged them into the same records.
        district_records = district.query(
            "SELECT record_id, head_revision_id, answers, conflict FROM records ORDER BY 1"
        )
        national_records = national.query(
            "SELECT record_id, head_revision_id, answers, conflict FROM records ORDER BY 1"
        )
        assert [tuple(r) for r in national_records] == [tuple(r) for r in district_records]

        # Forwarding again sends nothing new; new work goes incrementally.
        again = cli(district.data_dir, "forward", "--to", national.url).stdout
        assert "forwarded 0 revision(s)" in again
        register(b, household_version, 555)
        SyncClient(b).sync()
        later = cli(district.data_dir, "forward", "--to", national.url).stdout
        assert "forwarded 1 revision(s)" in later and "1 accepted" in later
    finally:
        district.stop()
        national.stop()


def test_a_rejected_household_goes_back_to_the_enumerator_with_reasons(tmp_path, household_version):
    server = ServerProcess(tmp_path / "district", forms_dir=None).start()
    try:
        store = Store(tmp_path / "tablet.db")
        SyncClient(store, server.url).enroll(server.quick_code())
        good = register(store, household_version, 1)
        answers = sample_household(2, members=3, site_id=SITE)
        answers["members"][2].update(dob_known="no", age_reported=140, age_estimated="yes")
        answers["members"][2].pop("dob", None)
        bad = store.create_draft(HOUSEHOLD, household_version, answers)
        store.finalize(bad, answers)
        report = SyncClient(store).sync()
        assert (report.accepted, report.rejected) == (1, 1)
        ((revision, reasons),) = store.rejected()
        assert revision.record_id == bad
        assert ("members[3].age_reported", "constraint") in {
            (r["path"], r["code"]) for r in reasons
        }
        states = {row.record_id: row.state for row in store.records()}
        assert states == {good: "sent", bad: "draft"}
    finally:
        server.stop()


@pytest.mark.parametrize(
    "cut",
    [("up", 200), ("up", 6_000), ("up", 15_000), ("down", 40), ("down", 400)],
    ids=lambda cut: f"{cut[0]}-{cut[1]}",
)
def test_a_push_cut_at_any_byte_resumes_without_resending(tmp_path, household_version, cut):
    """The link drops once, at a chosen byte of the upload or of the server's answer."""
    with_server = ServerProcess(tmp_path / "district", forms_dir=None).start()
    try:
        store = Store(tmp_path / "tablet.db")
        SyncClient(store, with_server.url).enroll(with_server.quick_code())
        records = [register(store, household_version, seed) for seed in range(60)]
        target = ("127.0.0.1", with_server.port)
        with ThrottleProxy(target, cuts={0: cut}) as proxy:
            report = SyncClient(store, proxy.url, sleep=quick, give_up_after=30).sync()
            assert proxy.stats.drops == 1
        assert report.retries >= 1
        assert store.pending_outbox() == []
        ids = [r.revision_id for rid in records for r in store.revisions_of(rid)]
        rows = with_server.query(
            f"SELECT count(*) FROM revisions WHERE revision_id IN ({','.join('?' * len(ids))})",
            tuple(ids),
        )
        assert rows[0][0] == len(ids) == 60
        # Nothing the server had acknowledged was sent again: no push was answered with
        # "already-had" (the client asked /push/status before re-sending).
        counts = re.findall(r"(\d+) accepted, (\d+) already-had", with_server.log())
        assert sum(int(accepted) for accepted, _ in counts) == 60
        assert all(already == "0" for _, already in counts)
    finally:
        with_server.stop()


def test_a_server_killed_in_the_middle_of_a_batch_loses_and_duplicates_nothing(
    tmp_path, household_version
):
    server = ServerProcess(tmp_path / "district", forms_dir=None).start()
    try:
        store = Store(tmp_path / "tablet.db")
        SyncClient(store, server.url).enroll(server.quick_code())
        for round_number, delay in enumerate((0.05, 0.2)):
            seeds = range(round_number * 1000, round_number * 1000 + 150)
            for seed in seeds:
                register(store, household_version, seed)

            def power_cut(delay: float = delay) -> None:
                time.sleep(delay)
                server.kill()
                server.start()

            killer = threading.Thread(target=power_cut)
            killer.start()
            report = SyncClient(store, sleep=quick, give_up_after=60).sync()
            killer.join()
            assert report.rejected == 0
            assert report.retries >= 1  # the client did see the server go
        assert store.pending_outbox() == []
        own = server.query("SELECT revision_id, count(*) FROM revisions GROUP BY revision_id")
        assert len(own) == 300 and {row[1] for row in own} == {1}
    finally:
        server.stop()
