"""Audit and record files in the real app (offscreen Kivy window) against a real server:
an enumerator fills a form with `audit` and an audio question, attaches a recording the
way this desktop can (Record says there is no recorder; Choose a file attaches one), syncs
from the Sync screen, and the `audit.csv` and the recording reach the server intact.
"""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import pytest

from fieldapp.testing import boot, prepare_kivy, pump, screenshot, shutdown

# The window is created when Kivy's widgets are first imported (tests.ui_driver): size it
# to the tablet's 1280x800 first, or it opens at Kivy's default 800x600.
prepare_kivy()

from sync_core.media import CHUNK_BYTES  # noqa: E402
from tests.sync_helpers import ROOT, ServerProcess  # noqa: E402
from tests.ui_driver import enter, press  # noqa: E402

pytestmark = [pytest.mark.system, pytest.mark.ui]

FORMS = ROOT / "tests" / "data" / "media_forms"
FORM = FORMS / "audited_visit.md"


def wait_until(condition, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        pump(1)
        time.sleep(0.05)


def widgets(root):
    """Every widget under `root`; for the window, under each of its children (popups)."""
    from kivy.core.window import Window

    roots = list(Window.children) if root is Window else [root]
    return [w for top in roots for w in top.walk()]


def button(root, text: str):
    return next(w for w in widgets(root) if getattr(w, "text", None) == text)


def test_an_audited_form_and_its_recording_reach_the_server(tmp_path: Path):
    recording = tmp_path / "entrevista.m4a"
    recording.write_bytes(os.urandom(2 * CHUNK_BYTES + 77))  # three chunks
    server = ServerProcess(tmp_path / "server", forms_dir=FORMS).start()
    try:
        code = server.quick_code(enumerator="Maria Cossa")
        app = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt",
                   server_url=server.url, enroll_code=code)  # fmt: skip
        # Kivy only after boot(): it sizes the window (1280x800) before it is created.
        from kivy.core.window import Window
        from kivy.uix.filechooser import FileChooserListView

        try:
            app.store.cache_form(
                "audited_visit", "1", "Visita auditada", FORM.read_bytes(), "server"
            )
            app.new_record("audited_visit")
            pump(3)
            session, screen = app.session, app.form_screen
            for value in ("MZ1120", "MOZ-ZAM-0001", "Ana Mussa"):
                enter(screen.question_widgets[0], value)
                press(screen.ids.next_button)
                pump(2)
            audio = screen.question_widgets[0]
            assert audio.slot.question.name == "interview"

            # No recorder on this desktop: Record says so and attaches nothing.
            press(button(audio, "Gravar"))
            assert audio.file_label.text.startswith("Este dispositivo não tem gravador")
            assert "interview" not in session.answers
            # Choose a file: the file chooser popup, as the enumerator uses it.
            press(button(audio, "Escolher um ficheiro"))
            pump(2)
            chooser = next(w for w in widgets(Window) if isinstance(w, FileChooserListView))
            chooser.path = str(tmp_path)
            chooser.selection = [str(recording)]
            press(button(Window, "Usar este ficheiro"))
            pump(2)
            name = session.answers["interview"]
            attached = app.store.media_dir(session.record_id) / name
            assert attached.read_bytes() == recording.read_bytes()
            screenshot(Path(os.environ.get("DFK_SCREENSHOTS") or tmp_path) / "audio-pt.png")
            record_id = session.record_id
            press(screen.ids.next_button)  # the last screen: Finalize
            pump(3)
            assert app.store.records("audited_visit")[0].state == "finalized"

            app.show_sync()
            pump(2)
            sync = app.sync_screen
            assert "2 ficheiros à espera de envio" in sync.outbox_text  # audio + audit.csv
            screenshot(Path(os.environ.get("DFK_SCREENSHOTS") or tmp_path) / "sync-waiting-pt.png")
            press(button(sync, sync.t_sync_now))
            wait_until(lambda: not sync.running)
            assert sync.status_colour[1] > 0.4, sync.status_text  # green: complete
            assert "ficheiro" not in sync.outbox_text
            screenshot(Path(os.environ.get("DFK_SCREENSHOTS") or tmp_path) / "sync-pt.png")
        finally:
            shutdown(app)

        rows = {r["name"]: r for r in server.query("SELECT * FROM media")}
        assert set(rows) == {name, "audit.csv"}
        assert rows["audit.csv"]["path"] == "audit"
        on_server = server.data_dir / "media" / record_id
        assert (on_server / name).read_bytes() == recording.read_bytes()
        audit = list(csv.DictReader(io.StringIO((on_server / "audit.csv").read_text())))
        events = [(r["event"], r["node"]) for r in audit]
        assert events[0] == ("form start", "")
        assert [e for e, _ in events[-3:]] == ["form save", "form finalize", "form exit"]
        shown = [node for event, node in events if event == "question"]
        assert shown == ["/data/district", "/data/site_id", "/data/head_name", "/data/interview"]
        head = next(r for r in audit if r["node"] == "/data/head_name")
        assert (head["old-value"], head["new-value"]) == ("", "Ana Mussa")  # track-changes
        interview = next(r for r in audit if r["node"] == "/data/interview")
        assert interview["new-value"] == name
        assert all(int(r["end"]) >= int(r["start"]) > 1_700_000_000_000 for r in audit)
        # The server log names ids and counts, never the answers in the audit.
        assert "Ana Mussa" not in server.log()
    finally:
        server.stop()
