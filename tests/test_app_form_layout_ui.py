"""What stays in view on the form screen, in both orientations, in the real Kivy window.

The "Não é possível finalizar" banner is pinned above the questions: the enumerator scrolls
to the answers it is about and can still read it. The question index popup has a "Voltar"
button on screen at 1280x800 and at 800x1280 (closing a popup by tapping outside it is not
something an enumerator finds).

These check the widget tree (what is laid out where, and which labels are whole on
screen). The pixels of the same two screens, in both languages and orientations, are read
back by the OCR test: `fieldapp/screenshots.py` shoots the index with its "Voltar" button
and the blocked finalize scrolled to the end with its banner.
"""

from __future__ import annotations

import pytest

from fieldapp.testing import boot, pump, resize, shutdown, visible_labels, wait
from tests.ui_driver import press

pytestmark = [pytest.mark.system, pytest.mark.ui]
SIZES = [(1280, 800), (800, 1280)]


@pytest.fixture
def app(tmp_path):
    application = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt")
    yield application
    shutdown(application)
    resize(1280, 800)


def on_screen(widget) -> bool:
    """The whole widget is inside the window."""
    from kivy.core.window import Window

    left, bottom = widget.to_window(widget.x, widget.y)
    return (
        widget.opacity > 0
        and widget.height > 0
        and left >= 0
        and left + widget.width <= Window.width
        and bottom >= 0
        and bottom + widget.height <= Window.height
    )


def read_texts() -> list[str]:
    return [label["text"] for label in visible_labels()]


@pytest.mark.parametrize("size", SIZES, ids=["landscape", "portrait"])
def test_the_cannot_finalize_banner_stays_in_view_while_scrolling(app, size):
    resize(*size)
    app.new_record("household_registration")
    pump(3)
    session, screen = app.session, app.form_screen
    session.go_to(len(session.steps) - 1)
    screen.render()
    pump(3)
    screen.finalize()
    pump(8)
    banner = screen.banner
    assert banner.text.startswith("Não é possível finalizar")
    scroll = screen.ids.scroll
    for where in (0, 1, 0.5):  # the end of the questions, the top, the middle
        scroll.scroll_y = where
        pump(3)
        assert on_screen(banner)
        # above the scrolled questions, not among them
        assert banner.to_window(banner.x, banner.y)[1] >= scroll.to_window(0, scroll.top)[1]
        assert banner.text in read_texts()
    # Moving on to another screen clears it.
    assert session.position + 1 < len(session.steps)
    screen.go_next()
    pump(2)
    assert not on_screen(banner) and banner.text not in read_texts()


@pytest.mark.parametrize("size", SIZES, ids=["landscape", "portrait"])
def test_the_index_popup_has_a_visible_voltar_button_that_closes_it(app, size):
    resize(*size)
    app.new_record("household_registration")
    pump(3)
    screen = app.form_screen
    screen.open_index()
    wait(0.4)
    popup = screen.popup
    back = popup.back_button
    assert back.text == "Voltar"
    assert on_screen(back)
    assert "Voltar" in read_texts()  # drawn whole, not covered or cut off
    press(back)
    wait(0.4)
    assert popup.parent is None  # closed; the form is there again
    assert "Voltar" not in read_texts()
