"""The records search through the FTS5 trigram index (migration 7): it finds what LIKE
found, follows edits, takes quotes and operators as text, and is built for the records a
server already had when it was upgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sync_server import auth, db
from sync_server.workspace import index
from sync_server.workspace.testing import household, revision

pytestmark = pytest.mark.integration

WHO = auth.Principal("coordinator", "coordinator", auth.NATIONAL)


def stored(conn: sqlite3.Connection, answers: dict, *, record_id=None, parent=None) -> str:
    from sync_server import records

    raw = revision("tablet-a", answers, record_id=record_id, parent=parent)
    item = records.incoming(raw)
    item.district, item.site_id = answers.get("district"), answers.get("site_id")
    conn.execute("BEGIN IMMEDIATE")
    [result] = records.store_batch(conn, auth.Principal("tablet-a", "device", "MZ1120"),
                                   raw["revision_id"][:16], [item])  # fmt: skip
    index.refresh(conn)
    conn.execute("COMMIT")
    assert result.status == "accepted"
    return raw["revision_id"]


def found(conn: sqlite3.Connection, q: str) -> set[str]:
    filters = index.parse_filters({"q": q}, ["household_registration"])
    return {row["record_id"] for row in index.list_records(conn, WHO, filters).rows}


@pytest.fixture
def conn(tmp_path: Path):
    conn = db.connect(tmp_path / "sync.db")
    db.migrate(conn)
    yield conn
    conn.close()


def test_names_and_phones_are_found_as_substrings_and_follow_edits(conn):
    first = household(1, hh_head_given_name="Zulmíra", hh_head_family_name="Chiúre",
                      contact_phone="847654321")  # fmt: skip
    head = stored(conn, first)
    stored(conn, household(2, hh_head_given_name="Ana", hh_head_family_name="Mussa"))
    record_id = conn.execute(
        "SELECT record_id FROM record_index WHERE title LIKE 'Zulm%'"
    ).fetchone()[0]
    assert found(conn, "ZULMIRA") == {record_id}
    assert found(conn, "lmir chiu") == {record_id}  # parts of words, any case, no accents
    assert found(conn, "765 4321") == {record_id}
    assert found(conn, "zu") >= {record_id}  # two letters: LIKE, no trigram to look up
    stored(conn, {**first, "hh_head_given_name": "Zefanias"}, record_id=record_id, parent=head)
    assert found(conn, "zulmira") == set()
    assert found(conn, "zefanias") == {record_id}
    # The index holds exactly the table's rows: nothing stale after the edit.
    assert conn.execute(
        "SELECT count(*) FROM record_search WHERE record_search MATCH '\"zulmira\"'"
    ).fetchone()[0] == 0  # fmt: skip
    conn.execute("INSERT INTO record_search (record_search) VALUES ('integrity-check')")


@pytest.mark.parametrize("q", ['"', 'zul"mira', "NEAR(a b)", "a OR b", "*", "ana' --", "^mus"])
def test_quotes_and_fts_operators_are_searched_as_text(conn, q):
    stored(conn, household(3, hh_head_given_name="Ana", hh_head_family_name="Mussa"))
    # Never an error, never an operator: "^mus" is not "a word starting with mus" here.
    assert found(conn, q) == set()


def test_an_upgraded_server_indexes_the_records_it_already_had(tmp_path: Path):
    conn = db.connect(tmp_path / "sync.db")
    # A server from before the search index, its records already in the record list.
    db.migrate(conn, upto=db.MIGRATIONS.index(db.RECORD_SEARCH))
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'record_search'").fetchone()
    stored(conn, household(4, hh_head_given_name="Cristóvão", hh_head_family_name="Raposo"))
    db.migrate(conn)
    assert len(found(conn, "cristovao")) == 1
    conn.close()
