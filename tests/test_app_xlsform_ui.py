"""XLSForm features as the enumerator sees them in the real (offscreen) Kivy window: a
question's media::image prompt, metadata never shown, an audio question's file chooser."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldapp.catalog import form_attachment_dir
from fieldapp.testing import boot, pump, screenshot, shutdown

pytestmark = [pytest.mark.system, pytest.mark.ui]

MEDIA_FORM = """| survey |
| | type | name | label::Português (pt) | label::English (en) | media::image |
| | start | start | | | |
| | deviceid | deviceid | | | |
| | select_one latrine | latrine | Que tipo de latrina vê? | Which latrine do you see? | latrine.png |
| | audio | interview | Grave a entrevista | Record the interview | |
| choices |
| | list_name | name | label::Português (pt) | label::English (en) | media::image |
| | latrine | pit | Fossa | Pit | pit.png |
| | latrine | none | Nenhuma | None | |
| settings |
| | form_id | version | form_title | default_language |
| | media_demo | 1 | Latrinas / Latrines | Português (pt) |
"""


@pytest.fixture
def app(tmp_path):
    application = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt")
    yield application
    shutdown(application)


def test_a_question_shows_its_picture_and_metadata_is_never_asked(app, tmp_path):
    from kivy.uix.image import Image
    from PIL import Image as Picture

    store = app.store
    folder = form_attachment_dir(store, "media_demo", "1")
    folder.mkdir(parents=True)
    Picture.new("RGB", (400, 300), (0, 200, 0)).save(folder / "latrine.png")
    Picture.new("RGB", (200, 100), (200, 0, 200)).save(folder / "pit.png")
    store.cache_form("media_demo", "1", "Latrinas / Latrines", MEDIA_FORM.encode(), "server")

    app.new_record("media_demo")
    pump(4)
    session = app.session
    assert session.answers["deviceid"] == store.device_id  # filled, not asked
    first = app.form_screen.question_widgets[0]
    assert first.slot.question.name == "latrine"
    pictures = [Path(w.source).name for w in first.walk() if isinstance(w, Image)]
    assert pictures == ["latrine.png", "pit.png"]  # the question's, then the first choice's

    shot = screenshot(tmp_path / "media-question.png")
    with Picture.open(shot) as image:
        rgb = image.convert("RGB")
        pixels = [rgb.getpixel((x, y)) for x in range(0, rgb.width, 4) for y in range(0, 600, 2)]
    # The pictures are drawn, not just loaded.
    assert pixels.count((0, 200, 0)) > 500 and pixels.count((200, 0, 200)) > 100

    app.form_screen.go_next()
    pump(3)
    audio = app.form_screen.question_widgets[0]
    assert audio.slot.question.name == "interview"
    assert audio.file_label.text == "Ainda sem ficheiro."
    screenshot(tmp_path / "audio-question.png")


PHOTO_FORM = """| survey |
| | type | name | label |
| | image | shelter | Fotografia do abrigo |
| | file | document | Documento |
| settings |
| | form_id | version | form_title |
| | photo_demo | 1 | Fotografias |
"""


def test_photo_and_file_questions_offer_their_own_buttons_in_portuguese(app):
    """A photo question is a file question with a camera button and words for photos."""
    from kivy.uix.button import Button

    app.store.cache_form("photo_demo", "1", "Fotografias", PHOTO_FORM.encode(), "server")
    app.new_record("photo_demo")
    pump(4)
    [photo] = app.form_screen.question_widgets
    app.form_screen.go_next()
    pump(3)
    [document] = app.form_screen.question_widgets
    buttons = {
        widget.slot.question.name: [
            b.text for b in widget.walk(restrict=True) if isinstance(b, Button)
        ]
        for widget in (photo, document)
    }
    assert buttons == {
        "shelter": ["Escolher um ficheiro", "Tirar fotografia", "Remover"],
        "document": ["Escolher um ficheiro", "Remover"],
    }
    assert photo.file_label.text == "Ainda sem fotografia."
    assert document.file_label.text == "Ainda sem ficheiro."
    assert photo.filters() == ["*.jpg", "*.jpeg", "*.png"] and document.filters() == []
