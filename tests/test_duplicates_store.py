"""sync_server.duplicates in-process on a real SQLite file: pairs found as households are
merged, and the household links that confirm and reopen make (the HTTP side is in
tests/test_duplicates_server.py)."""

from __future__ import annotations

import copy
import sqlite3

import pytest

from forms.samples import sample_household
from sync_server import db, duplicates

pytestmark = pytest.mark.integration

SITE = "MOZ-ZAM-0001"


@pytest.fixture
def conn(tmp_path):
    conn = sqlite3.connect(tmp_path / "sync.db", isolation_level=None)
    conn.row_factory = sqlite3.Row
    db.migrate(conn)  # the server's schema: decisions go to its audit_log
    yield conn
    conn.close()


def merged(conn, record_id: str, answers: dict) -> list[str]:
    return duplicates.on_record_merged(
        conn, record_id, answers, district="MZ1120", site_id=SITE, now="2026-11-24T09:00:00Z"
    )


def family_registered_three_times(conn) -> list[str]:
    first = sample_household(seed=1, members=5, site_id=SITE)
    for seed in range(20, 26):
        merged(conn, f"other-{seed}", sample_household(seed=seed, members=4, site_id=SITE))
    merged(conn, "r1", first)
    second = copy.deepcopy(first)
    second["hh_head_family_name"] = first["hh_head_family_name"].upper()
    merged(conn, "r2", second)
    third = copy.deepcopy(first)
    third["hh_head_given_name"] = first["hh_head_given_name"].lower()
    third["registration_date"] = "2026-11-27"
    merged(conn, "r3", third)
    return [row["pair_id"] for row in conn.execute("SELECT pair_id FROM duplicate_pairs")]


def decide(conn, pair_id: str, action: str) -> dict:
    return duplicates.decide(
        conn, pair_id, action, account_id="acc-1", district="MZ1120", sites=(),
        now="2026-11-24T10:00:00Z",
    )  # fmt: skip


def test_each_merged_household_is_paired_with_its_earlier_registrations(conn):
    pair_ids = family_registered_three_times(conn)
    pairs = {
        (row["record_id_1"], row["record_id_2"])
        for row in conn.execute("SELECT * FROM duplicate_pairs WHERE status = 'open'")
    }
    assert pairs == {("r1", "r2"), ("r1", "r3"), ("r2", "r3")}
    assert len(pair_ids) == 3


def test_confirming_two_pairs_puts_three_records_under_one_household_and_reopen_undoes(conn):
    family_registered_three_times(conn)
    by_records = {
        (row["record_id_1"], row["record_id_2"]): row["pair_id"]
        for row in conn.execute("SELECT * FROM duplicate_pairs")
    }
    assert decide(conn, by_records[("r2", "r3")], "confirm")["household_id"] == "r2"
    assert decide(conn, by_records[("r1", "r2")], "confirm")["household_id"] == "r1"
    assert {duplicates.household_id_of(conn, r) for r in ("r1", "r2", "r3")} == {"r1"}
    assert duplicates.household_id_of(conn, "other-20") == "other-20"

    decide(conn, by_records[("r1", "r2")], "reopen")
    assert duplicates.household_id_of(conn, "r1") == "r1"


def test_a_changed_record_that_no_longer_matches_withdraws_its_open_pairs(conn):
    family_registered_three_times(conn)
    stranger = sample_household(seed=40, members=3, site_id=SITE)
    merged(conn, "r3", stranger)  # r3 corrected: it was another family all along
    records = {
        (row["record_id_1"], row["record_id_2"]) for row in conn.execute(
            "SELECT * FROM duplicate_pairs")
    }  # fmt: skip
    assert records == {("r1", "r2")}


def test_a_form_without_a_head_of_household_is_not_indexed(conn):
    assert merged(conn, "site-check-1", {"site_id": SITE, "latrines": 4}) == []
