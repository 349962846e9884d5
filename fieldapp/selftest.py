"""`fieldapp --self-test`: prove that this installation of the app works, then exit.

Run once after installing the app on a tablet or a laptop (and by CI on a freshly built
bundle). In a throw-away data folder, never the enumerator's own, it:

1. opens the real app window offscreen (Kivy, SDL2, OpenGL: the libraries a bundle must
   carry) in Portuguese (the translations travel as .po files);
2. draws the home screen and reads its buttons back from the widget tree;
3. opens a new household registration (the bundled XLSForm, gazetteer GeoJSON) and draws
   its first question;
4. answers a whole household of six through the form session the screens use, finalizes
   it (validation, the duplicate check with its bundled model) and checks that the
   tablet's database holds it, queued for the next sync;
5. closes the window and removes the folder.

Each step prints one line; the first failure prints what failed and the exit status is 1.
A screen whose text did not draw (missing fonts) shows as one flat colour: the screenshot
of each screen is checked for that.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

ENUMERATOR = "Autoteste (ENUM-000)"


_PROGRAM = "fieldapp"


def code_folder() -> Path:
    """The folder this program's code was loaded from: the bundle's own folder when it
    is frozen (tests check that a moved bundle uses its copy, not the source tree)."""
    return Path(__file__).resolve().parent.parent


class SelfTestFailure(Exception):
    """One step did not do what it must; the message says what was seen instead."""


def run(out: TextIO = sys.stdout, screenshots: Path | None = None) -> int:
    """Run every step in a temporary folder; 0 when all pass, 1 at the first failure.

    `screenshots`: keep the PNG of each screen there (otherwise they go with the folder).
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fieldapp-selftest-") as folder:
        # Kivy writes its config and logs under KIVY_HOME: keep them in the folder too,
        # so a self-test never changes the settings of the app installed on this machine.
        os.environ["KIVY_HOME"] = str(Path(folder) / "kivy")
        if sys.platform.startswith("linux"):
            # Draw offscreen (EGL) even on a desktop: a self-test opens no window. (The
            # same happens by itself where there is no display, as on CI.)
            os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
        checker = _SelfTest(Path(folder) / "data", screenshots or Path(folder) / "shots", out)
        try:
            checker.run_all()
        except Exception as error:  # every failure, expected or not, ends in one sentence
            detail = str(error) if isinstance(error, SelfTestFailure) else repr(error)
            print(f"fieldapp self-test FAILED at '{checker.step}': {detail}", file=out, flush=True)
            return 1
        finally:
            checker.close()
    print(f"fieldapp self-test passed in {time.monotonic() - started:.1f} s.", file=out, flush=True)
    return 0


class _SelfTest:
    def __init__(self, data_dir: Path, shots: Path, out: TextIO):
        self.data_dir = data_dir
        self.shots = shots
        self.out = out
        self.step = "start"
        self.app: Any = None

    def run_all(self) -> None:
        steps: list[tuple[str, Callable[[], str]]] = [
            ("open the window in Portuguese", self.open),
            ("draw the home screen", self.home),
            ("draw a household form", self.form),
            ("fill and save a household", self.fill_and_save),
            ("close", self.close),
        ]
        print(f"{_PROGRAM} self-test, code from {code_folder()}", file=self.out, flush=True)
        for name, step in steps:
            self.step = name
            detail = step()
            print(f"  ok  {name}{': ' + detail if detail else ''}", file=self.out, flush=True)

    def open(self) -> str:
        from fieldapp import testing
        from fieldapp.i18n import _

        self.app = testing.boot(self.data_dir, language="pt", enumerator=ENUMERATOR)
        if _("Next") == "Next":
            raise SelfTestFailure("the Portuguese translations are missing (fieldapp.po)")
        from kivy.core.window import Window

        return f"{Window.size[0]}x{Window.size[1]}, data in a temporary folder"

    def home(self) -> str:
        from fieldapp.i18n import _

        if self.app.manager.current != "home":
            raise SelfTestFailure(f"the app opened on '{self.app.manager.current}', not home")
        self._expect_texts("home", [_("Sync"), _("New"), _("Records")])
        return self._shot("home")

    def form(self) -> str:
        from fieldapp import testing

        self.app.new_record("household_registration")
        testing.pump(3)
        if self.app.manager.current != "form" or self.app.session is None:
            raise SelfTestFailure("the household form did not open")
        session = self.app.session
        first = self.app.form_screen.question_widgets[0].slot.question
        self._expect_texts("form", [session.label(first)])
        return self._shot("form")

    def fill_and_save(self) -> str:
        from fieldapp import testing
        from fieldapp.session import Slot
        from forms.samples import sample_household

        session = self.app.session
        household = sample_household(seed=7, site_id="MOZ-ZAM-0001")
        for name, value in household.items():
            if name != "members":
                session.set_answer(Slot(session.form.question(name), ()), value)
        members = session.form.node("members")
        for position, member in enumerate(household["members"]):
            session.add_instance(members)
            for name, value in member.items():
                session.set_answer(Slot(session.form.question(name), (position,)), value)
        record_id = session.record_id
        self.app.form_screen.finalize(confirm_duplicates=True)
        testing.pump(3)
        if self.app.manager.current != "home":
            problems = session.finalize().errors
            where = ", ".join(f"{issue.path}: {issue.message}" for issue in problems[:3])
            raise SelfTestFailure(f"the household could not be finalized ({where})")
        queued = [r for r in self.app.store.pending_outbox() if r.record_id == record_id]
        if len(queued) != 1:
            raise SelfTestFailure(f"{len(queued)} revisions of the household wait to be sent")
        saved = queued[0].answers
        if len(saved.get("members", [])) != len(household["members"]):
            raise SelfTestFailure("the saved household lost members")
        return f"household of {len(saved['members'])} finalized, queued for sync"

    def close(self) -> str:
        if self.app is not None:
            from fieldapp import testing

            app, self.app = self.app, None
            testing.shutdown(app)
        return ""

    def _expect_texts(self, screen: str, texts: list[str]) -> None:
        """Each text must be drawn whole on screen, as a person would read it."""
        from fieldapp import testing

        testing.pump(3)
        shown = {label["text"] for label in testing.visible_labels()}
        missing = [text for text in texts if text not in shown]
        if missing:
            raise SelfTestFailure(f"the {screen} screen does not show {missing}")

    def _shot(self, name: str) -> str:
        from fieldapp import testing

        path = testing.screenshot(self.shots / f"selftest-{name}.png")
        colours = _colour_count(path)
        if colours < 8:
            raise SelfTestFailure(f"the {name} screen is almost blank ({colours} colours)")
        return f"{colours} colours drawn"


def _colour_count(path: Path) -> int:
    """How many different colours the image has (a flat, undrawn window has one or two)."""
    from kivy.core.image import Image as CoreImage

    image = CoreImage.load(str(path), keep_data=True)
    pixels = image.image._data[0].data  # RGBA bytes, as read from the PNG
    step = 4 * 97  # a sample of pixels is enough to tell a drawn screen from a blank one
    return len({bytes(pixels[i : i + 4]) for i in range(0, len(pixels) - 3, step)})
