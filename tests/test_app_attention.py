"""The Sync screen's "needs attention" list and clock warning (issue #8), in a real Kivy
window: a refused revision leaves the outbox, is listed with the record, the reason and
what the enumerator can do, and the rest of the outbox keeps flowing."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldapp.attention import CLOCK_SKEW, attention_items, clock_warning
from fieldapp.store import Store
from fieldapp.testing import boot, pump, screenshot, shutdown

pytestmark = pytest.mark.ui

FORM = ("mini_household", "1")


def refuse_one_of_two(store: Store, code: str) -> tuple[str, str]:
    """Two records finalized; the server refused the first (reason `code`)."""
    refused = store.create_draft(*FORM, {"head_name": "Ana"})
    store.finalize(refused, {"head_name": "Ana"}, title="Ana Mussa")
    kept = store.create_draft(*FORM, {"head_name": "Rui"})
    store.finalize(kept, {"head_name": "Rui"}, title="Rui Nhaca")
    revision = store.revisions_of(refused)[-1]
    store.mark_attempted([revision.revision_id])
    reason = {"path": "", "field": "parent_revision_id", "code": code,
              "message": "The parent revision is not on this server."}  # fmt: skip
    store.mark_rejected(revision.revision_id, [reason])
    return refused, kept


def test_a_refused_revision_leaves_the_outbox_and_says_what_to_do(tmp_path: Path):
    with Store(tmp_path / "tablet.db") as store:
        refused, kept = refuse_one_of_two(store, "parent")
        assert [r.record_id for r in store.pending_outbox()] == [kept]  # the rest flows
        (item,) = attention_items(store)
        assert (item.record_id, item.title) == (refused, "Ana Mussa")
        assert "parent revision" in item.reason
        assert "supervisor" in item.what_to_do
        store.set_setting(CLOCK_SKEW, 120)
        assert clock_warning(store) == ""  # within the 5-minute bound
        store.set_setting(CLOCK_SKEW, -3600)
        assert "60 min behind" in clock_warning(store)


def test_the_sync_screen_lists_what_needs_attention_and_a_wrong_clock(tmp_path: Path):
    app = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt")
    try:
        refuse_one_of_two(app.store, "constraint")
        app.store.set_setting(CLOCK_SKEW, 900)
        app.show_sync()
        pump(4)
        screen = app.sync_screen
        assert screen.t_errors.startswith("Precisa de atenção (1)")
        (row,) = screen.ids.errors.data
        assert row["text"].startswith("Ana Mussa:")
        assert "corrija as respostas" in row["text"]
        assert "15 min adiantado" in screen.clock_text
        shot = screenshot(tmp_path / "sync-attention.png")
        assert shot.stat().st_size > 10_000
    finally:
        shutdown(app)
