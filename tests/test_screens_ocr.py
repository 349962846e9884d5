"""Read every screen type as a person does, in both languages and orientations.

`python -m fieldapp.screenshots` draws each screen type (set-up, home, every kind of
question, a repeat, the index, a blocked finalize, the Sphere panel, the household card and
its update, a new site, records, sync, home after switching language) and lists the labels
fully on screen. Tesseract reads the
images back: every label must be read inside its own box, none may be a solid block, and
the texts a person needs on each screen (question, hint, choices, buttons) must be there.

This is the test that was missing when Portuguese labels were drawn as black bars and
905 tests passed (commit 5f7a530): nothing looked at the pixels.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fieldapp.testing import boot, pump, screenshot, shutdown, visible_labels
from tests.screen_reader import problems

pytestmark = [
    pytest.mark.system,
    pytest.mark.ui,
    pytest.mark.skipif(not shutil.which("tesseract"), reason="make setup installs tesseract"),
]


@pytest.mark.parametrize("orientation", ["landscape", "portrait"])
@pytest.mark.parametrize("language", ["pt", "en"])
def test_every_screen_type_reads_back_as_drawn(tmp_path, language, orientation):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fieldapp.screenshots",
            str(tmp_path),
            "--only",
            orientation,
            "--language",
            language,
        ],
        check=True,
        capture_output=True,
    )
    manifest = json.loads((tmp_path / f"{language}-{orientation}.json").read_text("utf-8"))
    assert len(manifest) == 19  # with the household card, its update and a new site
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = pool.map(
            lambda item: problems(
                tmp_path / item[0], item[1]["labels"], item[1]["expect"], item[1]["language"]
            ),
            manifest.items(),
        )
        everything = [problem for image in found for problem in image]
    assert everything == []


# The tests below read the pixels of this process's window. Offscreen, a window that an
# earlier test resized keeps a framebuffer of the old size (parts read back black), so in a
# full run they are run again in a fresh process by the test that follows, and skipped here.
FRESH_WINDOW = "DFK_FRESH_WINDOW"
in_fresh_window = pytest.mark.skipif(
    os.environ.get(FRESH_WINDOW) != "1", reason="run in a fresh window by the test below"
)


def test_window_pixel_checks_in_a_fresh_window():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            __file__,
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "broken_texture or reads_back_after",
        ],
        env={**os.environ, FRESH_WINDOW: "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 passed" in result.stdout


@pytest.fixture
def app(tmp_path):
    application = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt")
    yield application
    shutdown(application)


def read_screen(path: Path, language: str = "pt", expect: tuple[str, ...] = ()) -> list[str]:
    """Screenshot the window and return what a person could not read on it."""
    screenshot(path)
    return problems(path, visible_labels(), list(expect), language)


def consent_screen(app):
    app.new_record("household_registration")
    pump(3)
    return app.form_screen


def question_label(screen, name: str):
    widget = next(w for w in screen.question_widgets if w.slot.question.name == name)
    return widget.label


@in_fresh_window
@pytest.mark.parametrize("fill", [b"\x00\x00\x00\xff", b"\xff\xff\xff\x00"], ids=["black", "blank"])
def test_reader_catches_a_label_drawn_with_a_broken_texture(app, tmp_path, fill):
    from kivy.graphics.texture import Texture

    screen = consent_screen(app)
    assert read_screen(tmp_path / "fine.png") == []

    label = question_label(screen, "consent_informed")
    width, height = (int(v) for v in label.texture_size)
    broken = Texture.create(size=(width, height), colorfmt="rgba")
    broken.blit_buffer(fill * (width * height), colorfmt="rgba")
    label.texture = broken
    label.canvas.ask_update()

    found = read_screen(tmp_path / "broken.png")
    assert len(found) == 1 and label.text[:40] in found[0]


@in_fresh_window
def test_portuguese_question_text_reads_back_after_answers_and_language_switches(app, tmp_path):
    """Why 1: black bars in Portuguese, blank "Sim" rows after tapping one, bars after
    switching back from English."""
    from tests.ui_driver import enter

    screen = consent_screen(app)
    expect = ("Leia em voz alta", "Sim", "Não", "Seguinte")
    assert read_screen(tmp_path / "pt.png", expect=expect) == []

    # Tap "Sim" on the first question: the later questions appear, their "Sim" unselected.
    enter(screen.question_widgets[1], "yes")
    pump(3)
    assert read_screen(tmp_path / "after-sim.png", expect=expect) == []

    screen.on_language("en")
    pump(3)
    assert read_screen(tmp_path / "en.png", "en", expect=("Read aloud", "Yes", "No")) == []
    screen.on_language("pt")
    pump(3)
    assert read_screen(tmp_path / "pt-again.png", expect=expect) == []
