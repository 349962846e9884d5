"""Scanning the enrollment QR code on the Settings screen, in the real Kivy window.

This machine has no camera, so Kivy has no camera provider: the screen must say so in one
sentence and keep the paste path. The scan path from a camera frame on (the texture's
pixels decoded, the code and server filled in) is driven with frames made from the QR
image that the server's `enroll` command writes. The camera itself was not tried here.
"""

from __future__ import annotations

import pytest
from PIL import Image

from fieldapp.screens.settings import camera_available
from fieldapp.testing import boot, pump, shutdown, visible_labels
from tests.test_qr_enrollment import SERVER, photo, server_enrollment_qr

pytestmark = [pytest.mark.system, pytest.mark.ui]
NO_CAMERA = "Não foi encontrada nenhuma câmara neste dispositivo"


@pytest.fixture
def app(tmp_path):
    application = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt")
    application.show_settings()
    pump(3)
    yield application
    shutdown(application)


def read_texts() -> list[str]:
    return [label["text"] for label in visible_labels()]


def kivy_frame(picture: Image.Image) -> tuple[bytes, tuple[int, int]]:
    """A picture as a Kivy camera texture holds it: RGBA rows from the bottom up."""
    rgba = picture.convert("RGBA")
    return rgba.transpose(Image.Transpose.FLIP_TOP_BOTTOM).tobytes(), rgba.size


def test_without_a_camera_settings_says_so_and_keeps_the_paste_path(app):
    assert not camera_available()  # no camera provider on this machine
    screen = app.settings_screen
    texts = read_texts()
    assert any(text.startswith(NO_CAMERA) for text in texts)
    assert "Ler o código QR" not in texts
    assert screen.ids.scan_button.disabled
    # The paste path: the QR code's text typed or pasted into the code field still works.
    assert screen.ids.code.parent is not None and screen.ids.save.text == "Guardar e inscrever"


def test_where_there_is_a_camera_the_scan_button_shows_instead(app):
    screen = app.settings_screen
    screen.has_camera = True  # what camera_available() answers on a tablet with a camera
    pump(3)
    texts = read_texts()
    assert "Ler o código QR" in texts
    assert not any(text.startswith(NO_CAMERA) for text in texts)
    assert not screen.ids.scan_button.disabled


def test_a_camera_frame_of_the_servers_qr_fills_the_code_and_server(app, tmp_path):
    code, path = server_enrollment_qr(tmp_path / "server")
    screen = app.settings_screen
    screen.ids.server.text = ""
    nothing = Image.new("RGB", (640, 480), (180, 180, 180))
    assert screen.scanned_frame(*kivy_frame(nothing)) is None  # not in view yet
    assert screen.ids.code.text == ""

    frame = photo(Image.open(path), angle=20, blur=1.0, low=20, high=235)
    found = screen.scanned_frame(*kivy_frame(frame))
    pump(2)
    assert found is not None
    assert (screen.ids.code.text, screen.ids.server.text) == (code, SERVER)
    assert screen.message == "Código QR lido. Carregue em “Guardar e inscrever”."
