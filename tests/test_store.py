"""The tablet's local store, on real SQLite files."""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from fieldapp.store import (
    AUDIT_DETAIL_KEYS,
    SCHEMA_VERSION,
    Draft,
    FormNotFound,
    RecordLocked,
    RecordNotFound,
    Revision,
    Store,
    StoreError,
    migrate,
)
from sync_core.hlc import format_hlc, parse_hlc

pytestmark = pytest.mark.unit

FORM = "household_registration"


def household(members: int = 6) -> dict:
    """A household's answers: 24 about the household, 16 per member (120 for six)."""
    answers: dict = {f"hh_q{i:02d}": f"resposta {i}" for i in range(24)}
    answers["members"] = [
        {f"m_q{j:02d}": f"membro {k} resposta {j}" for j in range(16)} for k in range(members)
    ]
    return answers


def check_file(path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


@pytest.fixture
def path(tmp_path):
    return tmp_path / "device" / "store.db"


@pytest.fixture
def store(path):
    with Store(path) as opened:
        yield opened
    # Every test leaves a sound file behind
    check_file(path)


def finalized(store: Store, answers: dict | None = None, **kwargs) -> tuple[str, Revision]:
    record_id = store.create_draft(FORM, "2024061201")
    revision = store.finalize(record_id, answers or {"hh_head_name": "Ana"}, **kwargs)
    return record_id, revision


def sent(store: Store, answers: dict | None = None) -> tuple[str, Revision]:
    record_id, revision = finalized(store, answers)
    store.mark_attempted([revision.revision_id])
    store.acknowledge([revision.revision_id])
    return record_id, revision


def outbox_ids(store: Store) -> list[str]:
    return [revision.revision_id for revision in store.pending_outbox()]


# ── The file ─────────────────────────────────────────────────────────────────────────────


def test_opens_a_real_file_in_wal_mode_with_full_sync_and_foreign_keys(store, path):
    assert path.exists()
    assert store.path == path.resolve()
    conn = store._db().conn
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    tables = set(Database(conn).table_names())
    assert {"settings", "forms", "records", "drafts", "revisions", "outbox", "audit_log"} <= tables


def test_the_file_is_private_to_the_app(store, path):
    assert path.stat().st_mode & 0o077 == 0


def test_device_id_is_made_once_and_never_changes(path):
    with Store(path) as first:
        device_id = first.device_id
    assert uuid.UUID(device_id).version == 4
    with Store(path) as again:
        assert again.device_id == device_id
    with Store(path) as again, pytest.raises(StoreError, match="device_id"):
        again.set_setting("device_id", "something else")


def test_settings_hold_json_values(store):
    assert store.get_setting("server_url") is None
    assert store.get_setting("server_url", "http://default") == "http://default"
    store.set_setting("enumerator", {"code": "ENUM-07", "sites": ["S1", "S2"]})
    store.set_setting("enumerator", {"code": "ENUM-08", "sites": []})
    assert store.get_setting("enumerator") == {"code": "ENUM-08", "sites": []}


def test_revisions_are_immutable_in_the_database(store):
    _, revision = finalized(store)
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store._db().conn.execute(
            "UPDATE revisions SET answers = '{}' WHERE revision_id = ?", [revision.revision_id]
        )


def test_a_closed_store_says_so(path):
    store = Store(path)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.create_draft(FORM, "1")


# ── Forms ────────────────────────────────────────────────────────────────────────────────


def test_form_cache(store):
    store.cache_form(FORM, "9", "Registo", b"xlsx v9")
    store.cache_form(FORM, "10", "Registo", b"xlsx v10", source="server")
    store.cache_form(FORM, "10", "Registo", b"xlsx v10", source="server")  # idempotent
    store.cache_form("site_assessment", "1", "Avaliação", b"site v1")
    listed = [(form["form_id"], form["version"]) for form in store.cached_forms()]
    assert listed == [(FORM, "10"), (FORM, "9"), ("site_assessment", "1")]
    assert "content" not in store.cached_forms()[0]
    assert store.form_content(FORM, "10") == b"xlsx v10"
    with pytest.raises(FormNotFound, match=f"form {FORM} version 11 is not cached"):
        store.form_content(FORM, "11")
    store.cache_form(FORM, "9", "Registo", b"v9 changed without a new version")
    assert store.form_content(FORM, "9") == b"v9 changed without a new version"
    assert store.audit_entries(1)[0]["action"] == "form_replaced"
    # The server's copy wins over the one in the app bundle
    store.cache_form(FORM, "10", "Registo", b"an older bundle", source="bundled")
    assert store.form_content(FORM, "10") == b"xlsx v10"


# ── Drafts ───────────────────────────────────────────────────────────────────────────────


def test_answers_and_position_survive_close_and_reopen(path):
    with Store(path) as store:
        record_id = store.create_draft(FORM, "2024061201", {"consent": "yes"})
        store.save_answers(record_id, {"consent": "yes", "hh_head_name": "Ana"})
        store.save_answers(record_id, household(), position={"page": "members", "index": 2})
        store.set_position(record_id, {"page": "members", "index": 3})
    with Store(path) as store:
        draft = store.draft(record_id)
    assert draft == Draft(
        record_id=record_id,
        form_id=FORM,
        form_version="2024061201",
        state="draft",
        answers=household(),
        position={"page": "members", "index": 3},
        updated_at=draft.updated_at,
        head_revision_id=None,
    )


def test_save_answers_replaces_the_answers_and_keeps_the_position(store):
    record_id = store.create_draft(FORM, "1")
    store.save_answers(record_id, {"a": 1, "b": 2}, position=7)
    store.save_answers(record_id, {"a": 1})
    draft = store.draft(record_id)
    assert (draft.answers, draft.position) == ({"a": 1}, 7)


def test_answers_that_are_not_json_are_refused_clearly(store):
    record_id = store.create_draft(FORM, "1")
    with pytest.raises(StoreError, match=f"answers of record {record_id}"):
        store.save_answers(record_id, {"age": float("nan")})
    with pytest.raises(StoreError, match=f"answers of record {record_id}"):
        store.save_answers(record_id, {"when": object()})


@pytest.mark.parametrize(
    "call",
    [
        lambda store, rid: store.save_answers(rid, {}),
        lambda store, rid: store.set_position(rid, 1),
        lambda store, rid: store.draft(rid),
        lambda store, rid: store.open_for_edit(rid),
        lambda store, rid: store.finalize(rid, {}),
        lambda store, rid: store.discard_draft(rid),
        lambda store, rid: store.revisions_of(rid),
    ],
)
def test_unknown_records_raise_record_not_found_naming_the_record(store, call):
    missing = str(uuid.uuid4())
    with pytest.raises(RecordNotFound, match=missing):
        call(store, missing)


def test_discard_draft_only_for_records_never_finalized(store):
    record_id = store.create_draft(FORM, "1", {"a": 1})
    store.discard_draft(record_id)
    with pytest.raises(RecordNotFound):
        store.draft(record_id)
    finalized_id, _ = finalized(store)
    with pytest.raises(RecordLocked, match=finalized_id):
        store.discard_draft(finalized_id)
    assert store.draft(finalized_id).state == "finalized"


# ── Finalizing, editing, sending ─────────────────────────────────────────────────────────


def test_finalize_writes_a_revision_and_an_outbox_row(store):
    record_id = store.create_draft(FORM, "2024061201")
    store.save_answers(record_id, {"hh_head_name": "Ana"}, position=4)
    revision = store.finalize(
        record_id, {"hh_head_name": "Ana Sitoe"}, title="Ana Sitoe", site_id="S-12", phone="841"
    )
    assert revision.record_id == record_id
    assert revision.parent_revision_id is None
    assert (revision.form_id, revision.form_version) == (FORM, "2024061201")
    assert revision.device_id == store.device_id
    assert revision.answers == {"hh_head_name": "Ana Sitoe"}
    parse_hlc(revision.hlc)
    assert store.revisions_of(record_id) == [revision]
    assert store.pending_outbox() == [revision]
    draft = store.draft(record_id)
    assert (draft.state, draft.head_revision_id, draft.position) == (
        "finalized",
        revision.revision_id,
        4,
    )
    [row] = store.records()
    assert (row.title, row.site_id, row.state) == ("Ana Sitoe", "S-12", "finalized")


def test_edit_before_send_replaces_the_unsent_revision(store):
    record_id, _ = finalized(store, {"v": 1}, title="Ana")
    draft = store.open_for_edit(record_id)
    assert draft.state == "finalized"  # opening alone changes nothing
    store.save_answers(record_id, {"v": 2})
    assert store.draft(record_id).state == "draft"
    second = store.finalize(record_id, {"v": 2})
    assert second.parent_revision_id is None
    assert store.revisions_of(record_id) == [second]
    assert outbox_ids(store) == [second.revision_id]
    assert store.records()[0].title == "Ana"  # an empty title keeps the old one


def test_edit_after_an_attempt_keeps_the_revision_the_server_may_have(store):
    record_id, first = finalized(store, {"v": 1})
    store.mark_attempted([first.revision_id])
    second = store.finalize(record_id, {"v": 2})
    assert second.parent_revision_id == first.revision_id
    assert outbox_ids(store) == [first.revision_id, second.revision_id]
    store.acknowledge([first.revision_id])
    assert store.draft(record_id).state == "finalized"  # its head is still unsent
    store.acknowledge([second.revision_id])
    assert store.draft(record_id).state == "sent"


def test_edit_after_sending_makes_a_child_revision(store):
    record_id, first = sent(store, {"v": 1})
    draft = store.draft(record_id)
    assert (draft.state, draft.answers) == ("sent", {"v": 1})
    assert outbox_ids(store) == []
    with pytest.raises(RecordLocked, match=record_id):
        store.save_answers(record_id, {"v": 2})
    with pytest.raises(RecordLocked, match=record_id):
        store.finalize(record_id, {"v": 2})

    draft = store.open_for_edit(record_id)
    assert (draft.state, draft.head_revision_id, draft.answers) == (
        "draft",
        first.revision_id,
        {"v": 1},
    )
    assert store.open_for_edit(record_id) == draft
    store.save_answers(record_id, {"v": 2})
    second = store.finalize(record_id, {"v": 2})
    assert second.parent_revision_id == first.revision_id
    assert store.revisions_of(record_id) == [first, second]
    assert outbox_ids(store) == [second.revision_id]


def test_acknowledge_while_a_newer_draft_is_open_keeps_the_draft(store):
    record_id, first = finalized(store, {"v": 1})
    store.mark_attempted([first.revision_id])
    store.save_answers(record_id, {"v": 2})
    store.acknowledge([first.revision_id])
    store.acknowledge([first.revision_id])  # a repeated acknowledgement is harmless
    draft = store.draft(record_id)
    assert (draft.state, draft.answers) == ("draft", {"v": 2})
    assert store.finalize(record_id, {"v": 2}).parent_revision_id == first.revision_id


def test_hlc_survives_restarts_and_orders_the_outbox(path):
    ahead = format_hlc(int(time.time() * 1000) + 60_000, 3, "server")  # a minute ahead
    far_ahead = format_hlc(int(time.time() * 1000) + 10**10, 3, "server")  # 4 months ahead
    with Store(path) as store:
        store.observe_hlc(ahead)
        store.observe_hlc(far_ahead)  # beyond the drift bound: not adopted
    with Store(path) as store:
        assert ahead < store.hlc_now() < far_ahead
        revisions = [finalized(store, {"n": n})[1] for n in range(5)]
        assert store.pending_outbox() == sorted(revisions, key=lambda r: r.hlc)
        assert store.pending_outbox(limit=2) == revisions[:2]
        with pytest.raises(ValueError, match="malformed HLC"):
            store.observe_hlc("yesterday")


# ── Rejections ───────────────────────────────────────────────────────────────────────────


def test_mark_rejected_puts_the_record_back_to_draft_with_reasons(store):
    record_id, revision = finalized(store, {"age": 240})
    store.mark_attempted([revision.revision_id])
    reasons = [{"path": "members[0].age", "code": "constraint", "message": "Idade inválida"}]
    store.mark_rejected(revision.revision_id, reasons)
    assert store.draft(record_id).state == "draft"
    assert store.draft(record_id).answers == {"age": 240}
    assert store.rejected() == [(revision, reasons)]
    assert store.pending_outbox() == []
    assert store.audit_entries(1)[0]["details"]["codes"] == ["constraint"]

    fixed = store.finalize(record_id, {"age": 24})
    assert fixed.parent_revision_id is None  # the server never had the rejected one
    assert store.rejected() == []
    assert store.revisions_of(record_id) == [fixed]
    assert store.pending_outbox() == [fixed]


def test_mark_rejected_of_a_revision_not_in_the_outbox(store):
    _, revision = sent(store)
    with pytest.raises(StoreError, match=revision.revision_id):
        store.mark_rejected(revision.revision_id, [])


# ── Pulled revisions ─────────────────────────────────────────────────────────────────────


def remote_revision(record_id=None, parent=None, answers=None, hlc=None) -> Revision:
    return Revision(
        revision_id=str(uuid.uuid4()),
        record_id=record_id or str(uuid.uuid4()),
        parent_revision_id=parent,
        form_id=FORM,
        form_version="2024061201",
        device_id=str(uuid.uuid4()),
        hlc=hlc or format_hlc(int(time.time() * 1000), 0, "other-tablet"),
        created_at="2024-06-01T10:00:00.000000Z",
        answers={"hh_head_name": "Bento"} if answers is None else answers,
    )


def test_apply_remote_creates_a_sent_record_and_is_idempotent(store):
    pulled = remote_revision()
    assert store.apply_remote(pulled) is True
    assert store.apply_remote(pulled) is False
    assert store.revisions_of(pulled.record_id) == [pulled]
    draft = store.draft(pulled.record_id)
    assert (draft.state, draft.answers, draft.head_revision_id) == (
        "sent",
        pulled.answers,
        pulled.revision_id,
    )
    assert store.pending_outbox() == []
    assert store.hlc_now() > pulled.hlc


def test_apply_remote_advances_a_sent_record_and_keeps_its_title(store):
    record_id, mine = sent(store, {"v": 1})
    store._db().conn.execute("UPDATE records SET title = 'Ana' WHERE record_id = ?", [record_id])
    theirs = remote_revision(record_id, parent=mine.revision_id, answers={"v": 2})
    assert store.apply_remote(theirs) is True
    assert store.draft(record_id).answers == {"v": 2}
    assert store.records()[0].title == "Ana"
    older = remote_revision(record_id, answers={"v": 0}, hlc=format_hlc(1, 0, "old"))
    assert store.apply_remote(older) is False
    assert store.draft(record_id).answers == {"v": 2}
    assert len(store.revisions_of(record_id)) == 3


@pytest.mark.parametrize("local_work", ["draft", "finalized", "attempted", "reopened"])
def test_apply_remote_never_overwrites_local_work(store, local_work):
    record_id, mine = sent(store, {"v": 1})
    store.open_for_edit(record_id)
    expected = {"v": 1} if local_work == "reopened" else {"v": "mine"}
    store.save_answers(record_id, expected)
    if local_work in ("finalized", "attempted"):
        revision = store.finalize(record_id, {"v": "mine"})
        if local_work == "attempted":
            store.mark_attempted([revision.revision_id])
    theirs = remote_revision(record_id, parent=mine.revision_id, answers={"v": "theirs"})
    assert store.apply_remote(theirs) is False
    assert store.apply_remote(theirs) is False
    assert store.draft(record_id).answers == expected
    assert theirs in store.revisions_of(record_id)
    assert store.audit_entries(1)[0]["action"] == "remote_revision_kept_beside_local"


def test_revision_wire_format_is_exactly_the_fields(store):
    _, revision = finalized(store, household())
    wire = revision.to_wire()
    assert set(wire) == {
        "revision_id",
        "record_id",
        "parent_revision_id",
        "form_id",
        "form_version",
        "device_id",
        "hlc",
        "created_at",
        "answers",
    }
    assert Revision.from_wire(json.loads(json.dumps(wire))) == revision
    assert Revision.from_wire({**wire, "received_at": "later"}) == revision


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hlc": "soon"}, "malformed HLC"),
        ({"answers": []}, "malformed answers"),
        ({"record_id": None}, "malformed record_id"),
        ({"parent_revision_id": ""}, "malformed parent_revision_id"),
    ],
)
def test_from_wire_refuses_malformed_revisions(change, message):
    wire = remote_revision().to_wire()
    with pytest.raises(ValueError, match=message):
        Revision.from_wire({**wire, **change})
    del wire["device_id"]
    with pytest.raises(ValueError, match="missing device_id"):
        Revision.from_wire(wire)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=st.dictionaries(st.text(), json_values, max_size=10))
def test_answers_survive_storage_and_the_wire_unchanged(store, answers):
    record_id = store.create_draft(FORM, "1")
    store.save_answers(record_id, answers)
    assert store.draft(record_id).answers == answers
    revision = store.finalize(record_id, answers)
    assert store.revisions_of(record_id)[-1].answers == answers
    assert Revision.from_wire(json.loads(json.dumps(revision.to_wire()))) == revision
    pulled = remote_revision(answers=answers)
    store.apply_remote(pulled)
    assert store.draft(pulled.record_id).answers == answers


# ── The record list ──────────────────────────────────────────────────────────────────────


@pytest.fixture
def listed(store):
    """Five records, saved in this order (so the last is the most recently changed)."""
    ids = {}
    for title in ["Ana Sitoe", "João Macuácua", "Bento Joaquim", "Maria João", "Zacarias"]:
        record_id, _ = finalized(store, {"hh_head_name": title}, title=title, site_id="S-1")
        ids[title] = record_id
    return ids


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("joao", ["Maria João", "João Macuácua"]),
        ("JOÃO", ["Maria João", "João Macuácua"]),
        ("  macuacua ", ["João Macuácua"]),
        ("oaqu", ["Bento Joaquim"]),
        ("100%", []),
        ("", ["Zacarias", "Maria João", "Bento Joaquim", "João Macuácua", "Ana Sitoe"]),
    ],
)
def test_records_search_titles_ignoring_case_and_accents(store, listed, search, expected):
    assert [row.title for row in store.records(FORM, search=search)] == expected


def test_records_are_found_by_their_search_text_not_only_the_title(store):
    """Titles carry no names (the site and date); the search text adds the head's name."""
    record_id = store.create_draft(FORM, "2024061201")
    store.save_answers(record_id, {"hh_head_name": "Ana"}, title="MOZ-ZAM-0001 2026-11-20",
                       search="MOZ-ZAM-0001 2026-11-20 Ana Sitoe")  # fmt: skip
    assert [r.title for r in store.records(FORM, search="sitoe")] == ["MOZ-ZAM-0001 2026-11-20"]
    other, _ = finalized(store, title="MOZ-ZAM-0002 2026-11-21", search="Bento Joaquim")
    assert [r.record_id for r in store.records(FORM, search="joaquim")] == [other]
    assert store.records(FORM, search="MOZ-ZAM-0002") == []  # search replaces the title's


def test_records_search_by_record_id_prefix(store, listed):
    record_id = listed["Bento Joaquim"]
    found = store.records(search=record_id[:8].upper())
    assert record_id in [row.record_id for row in found]
    assert [row.record_id for row in store.records(search=record_id)] == [record_id]


def test_records_filter_sort_and_page(store, listed):
    store.open_for_edit(listed["Ana Sitoe"])
    store.save_answers(listed["Ana Sitoe"], {"hh_head_name": "Ana Sitoe", "edited": True})
    sent(store)
    assert [row.title for row in store.records(FORM, state="draft")] == ["Ana Sitoe"]
    assert [row.title for row in store.records(state=["draft", "sent"])] == ["", "Ana Sitoe"]
    assert store.records(state=[]) == []
    newest = [row.title for row in store.records(FORM, state="finalized")]
    assert newest == ["Zacarias", "Maria João", "Bento Joaquim", "João Macuácua"]
    oldest = store.records(FORM, state="finalized", newest_first=False)
    assert [row.title for row in oldest] == newest[::-1]
    pages = [store.records(FORM, limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [len(page) for page in pages] == [2, 2, 2, 0]
    assert [row.record_id for page in pages for row in page] == [
        row.record_id for row in store.records(FORM)
    ]
    assert store.records("another_form") == []
    with pytest.raises(ValueError, match="unknown record state"):
        store.records(state="deleted")


def test_record_counts(store, listed):
    store.create_draft(FORM, "1")
    sent(store)
    store.create_draft("site_assessment", "1")
    assert store.record_counts(FORM) == {"draft": 1, "finalized": 5, "sent": 1}
    assert store.record_counts("unknown") == {"draft": 0, "finalized": 0, "sent": 0}


def test_search_stays_fast_with_ten_thousand_records(store, capsys):
    rows = [
        (str(uuid.uuid4()), f"Chefe {n} Muianga", f"chefe {n} muianga", f"2024-06-{n % 28 + 1:02d}")
        for n in range(10_000)
    ]
    conn = store._db().conn
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO records (record_id, form_id, form_version, state, title, search_key, "
        "created_at, updated_at) VALUES (?, 'hh', '1', 'finalized', ?, ?, ?, ?)",
        [(rid, title, key, day, day) for rid, title, key, day in rows],
    )
    conn.execute("COMMIT")
    started = time.perf_counter()
    found = store.records("hh", search="4321 muia")
    by_id = store.records(search=rows[777][0][:6])
    title_ms = (time.perf_counter() - started) * 1000
    assert [row.title for row in found] == ["Chefe 4321 Muianga"]
    assert rows[777][0] in [row.record_id for row in by_id]
    started = time.perf_counter()
    store.records("hh", state="finalized", limit=200)
    list_ms = (time.perf_counter() - started) * 1000
    with capsys.disabled():
        print(f"\n10,000 records: two searches {title_ms:.1f} ms, first page {list_ms:.1f} ms")


# ── The audit log ────────────────────────────────────────────────────────────────────────


def test_audit_logs_whitelisted_details(store):
    record_id = store.create_draft(FORM, "1")
    store.audit(
        "export_made",
        record_id=record_id,
        form_id=FORM,
        record_count=12,
        fields=["hh_size", "members[0].age"],
        state="draft",
        code="E_VALIDATION",
        kept_local=True,
    )
    [entry] = store.audit_entries(1)
    assert entry["action"] == "export_made"
    assert (entry["record_id"], entry["form_id"]) == (record_id, FORM)
    assert entry["details"] == {
        "record_count": 12,
        "fields": ["hh_size", "members[0].age"],
        "state": "draft",
        "code": "E_VALIDATION",
        "kept_local": True,
    }
    assert "count" in AUDIT_DETAIL_KEYS


@pytest.mark.parametrize(
    "details",
    [
        {"head_name": "Maria Sitoe"},  # not a whitelisted key
        {"phone": "+258841234567"},
        {"field": "Maria Sitoe"},  # a whitelisted key, but free text
        {"code": "+258841234567"},
        {"code": "841234567"},
        {"count": "841234567"},  # a count must be a number...
        {"count": 841234567},  # ...and not one the size of a phone number
        {"fields": ["hh_size", "Maria Sitoe"]},
        {"state": "Maria"},
        {"revision_id": "Maria"},
        {"code": "ana@example.org"},
    ],
)
def test_audit_refuses_personal_data(store, details):
    with pytest.raises(ValueError, match="audit") as caught:
        store.audit("record_viewed", **details)
    assert "Maria" not in str(caught.value)  # the refusal doesn't leak the value either
    assert store.audit_entries() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"action": "viewed by Maria"},
        {"action": "record_viewed", "record_id": "Maria Sitoe"},
        {"action": "record_viewed", "form_id": "Maria Sitoe"},
    ],
)
def test_audit_refuses_personal_data_in_action_and_ids(store, kwargs):
    with pytest.raises(ValueError):
        store.audit(**kwargs)


# ── Migrations ───────────────────────────────────────────────────────────────────────────


def test_opening_a_version_1_database_migrates_it_and_keeps_the_data(path):
    path.parent.mkdir(parents=True)
    db = Database(path)
    assert migrate(db, upto=1) == 1
    device_id = str(uuid.uuid4())
    record_id, revision_id = str(uuid.uuid4()), str(uuid.uuid4())
    hlc = format_hlc(1_717_200_000_000, 0, device_id)
    db["settings"].insert({"key": "device_id", "value": json.dumps(device_id)})
    db["records"].insert(
        {
            "record_id": record_id,
            "form_id": FORM,
            "form_version": "1",
            "state": "finalized",
            "title": "Fátima Nhantumbo",
            "created_at": "2024-06-01T10:00:00.000000Z",
            "updated_at": "2024-06-01T10:00:00.000000Z",
            "head_revision_id": revision_id,
        }
    )
    db["revisions"].insert(
        {
            "revision_id": revision_id,
            "record_id": record_id,
            "form_id": FORM,
            "form_version": "1",
            "device_id": device_id,
            "hlc": hlc,
            "created_at": "2024-06-01T10:00:00.000000Z",
            "answers": json.dumps({"hh_head_name": "Fátima"}),
            "origin": "local",
        }
    )
    db["outbox"].insert({"revision_id": revision_id, "queued_at": "2024-06-01T10:00:00Z"})
    db["drafts"].insert(
        {
            "record_id": record_id,
            "answers": json.dumps({"hh_head_name": "Fátima"}),
            "position": "3",
            "updated_at": "2024-06-01T10:00:00.000000Z",
        }
    )
    db.close()

    with Store(path) as store:
        assert store._db().conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert store.device_id == device_id
        draft = store.draft(record_id)
        assert (draft.answers, draft.position, draft.state) == (
            {"hh_head_name": "Fátima"},
            3,
            "finalized",
        )
        assert [r.revision_id for r in store.pending_outbox()] == [revision_id]
        assert [row.record_id for row in store.records(search="fatima")] == [record_id]
        assert store.hlc_now() > hlc
    check_file(path)


def test_a_database_from_a_newer_app_is_left_alone(path):
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this app supports"):
        Store(path)


# ── Threads ──────────────────────────────────────────────────────────────────────────────


def test_two_threads_hammering_writes_lose_nothing(store, path):
    errors: list[BaseException] = []
    record_ids = [store.create_draft(FORM, "1") for _ in range(2)]
    start = threading.Barrier(2)

    def autosave(record_id: str) -> None:
        try:
            start.wait()
            answers: dict = {}
            for n in range(500):
                answers[f"q{n}"] = n
                store.save_answers(record_id, answers, position=n)
                if n % 100 == 99:  # the sync thread's kind of writes, in between
                    store.hlc_now()
                    store.audit("autosave_checkpoint", record_id=record_id, count=n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=autosave, args=[rid]) for rid in record_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for record_id in record_ids:
        draft = store.draft(record_id)
        assert draft.answers == {f"q{n}": n for n in range(500)}
        assert draft.position == 499
    assert len(store.audit_entries(limit=100)) == 10
    check_file(path)


# ── Autosave speed ───────────────────────────────────────────────────────────────────────


def test_autosave_time_for_a_six_member_household(store, capsys):
    record_id = store.create_draft(FORM, "2024061201")
    answers = household()
    timings = []
    for n in range(200):
        answers["members"][n % 6]["m_q00"] = f"typed {n}"  # one answer changes per save
        started = time.perf_counter()
        store.save_answers(record_id, answers, position={"page": n % 6})
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    with capsys.disabled():
        print(
            f"\nsave_answers, 6-member household (120 answers, "
            f"{len(json.dumps(answers))} bytes): median {statistics.median(timings):.2f} ms, "
            f"p95 {timings[189]:.2f} ms over 200 saves"
        )


def test_two_store_objects_on_one_file_share_one_clock(path):
    with Store(path) as ui, Store(path) as sync:
        stamps = [store.hlc_now() for _ in range(20) for store in (ui, sync)]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_connections_of_finished_threads_are_closed(store):
    def read() -> None:
        store.records()

    for _ in range(5):
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    store.records()
    assert len(store._connections) <= 2


def test_a_file_that_is_not_a_database_is_refused_clearly(path):
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(StoreError, match="could not open the store"):
        Store(path)


def test_household_candidates_share_a_site_or_a_phone(store):
    def household_at(title, site_id, phone):
        return finalized(store, {}, title=title, site_id=site_id, phone=phone)[0]

    same_site = household_at("Ana Sitoe", "S-1", None)
    same_phone = household_at("Ana Sitoe", "S-2", "+258 84 123 4567")
    household_at("Ana Sitoe", "S-3", "821111111")
    store.create_draft(FORM, "1")  # no title yet: nothing to compare
    found = store.household_candidates(FORM, site_id="S-1", phone="841234567")
    assert {c.record_id for c in found} == {same_site, same_phone}
    assert {(c.title, c.site_id) for c in found} == {("Ana Sitoe", "S-1"), ("Ana Sitoe", "S-2")}
    assert store.household_candidates(FORM) == []
    assert store.household_candidates("another_form", site_id="S-1") == []


def test_a_draft_can_be_found_by_its_title_before_finalizing(tmp_path):
    store = Store(tmp_path / "store.db")
    record_id = store.create_draft("household_registration", "1")
    store.save_answers(record_id, {"hh_head_given_name": "João"}, title="João Mussa")
    rows = store.records("household_registration", search="joao")
    assert [(row.record_id, row.title, row.state) for row in rows] == [
        (record_id, "João Mussa", "draft")
    ]
    store.close()


def test_count_records_matches_every_page_of_records(store, listed):
    pages = [store.records(FORM, search="joao", limit=1, offset=n) for n in range(3)]
    assert [[row.title for row in page] for page in pages] == [
        ["Maria João"],
        ["João Macuácua"],
        [],
    ]
    assert store.count_records(FORM, search="joao") == 2
    assert store.count_records(FORM) == 5
    assert store.count_records(FORM, state=[]) == 0
    assert store.count_records("another_form") == 0
