"""Settings and sync failures, as an enumerator meets them (issue #9, "Why" 2 and 3).

The real app in a real Kivy window; servers are real processes or real sockets on
loopback: one that is gone (connection refused) and one that accepts and never answers.
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from fieldapp.attention import CLOCK_SKEW
from fieldapp.testing import boot, pump, shutdown
from forms import FORMS_DIR
from tests.sync_helpers import cli, free_port, running_server
from tests.ui_driver import press

pytestmark = [pytest.mark.system, pytest.mark.ui]

ENGLISH_WORDS = ("Error", "Exception", "connection failed", "Could not reach")


def wait_until(condition, timeout: float = 60) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        pump(1)
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def app(tmp_path):
    application = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt")
    yield application
    shutdown(application)


def test_settings_open_from_home_and_show_the_full_device_id_to_copy(app):
    from kivy.core.clipboard import Clipboard

    home = app.home_screen
    press(home.ids.settings)
    assert app.manager.current == "settings"
    screen = app.settings_screen
    assert screen.ids.device.text == app.store.device_id  # the full id, not the short one
    press(screen.ids.copy_button)
    assert Clipboard.paste() == app.store.device_id
    assert screen.message == "ID do dispositivo copiado."
    # The active language is the one visibly pressed.
    assert screen.ids.lang_pt.state == "down" and screen.ids.lang_en.state == "normal"
    press(screen.ids.lang_en)
    assert screen.ids.lang_en.state == "down" and screen.ids.lang_pt.state == "normal"
    assert screen.t_title == "Settings"


def test_a_server_that_is_gone_fails_in_seconds_in_portuguese(app):
    app.store.set_setting("server_url", f"http://127.0.0.1:{free_port()}")
    app.store.set_setting("token", "t")
    app.show_sync()
    pump(2)
    screen = app.sync_screen
    press(screen.ids.sync_now)
    took = wait_until(lambda: not screen.running, timeout=60)
    assert took < 30  # FIRST_CONTACT_S (15 s), not the two minutes of before
    assert screen.status_text.startswith("Não foi possível contactar o servidor")
    assert "Os seus dados estão seguros" in screen.status_text
    assert not any(word in screen.status_text for word in ENGLISH_WORDS)


def test_cancel_stops_a_sync_waiting_on_a_silent_server(app):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    try:
        app.store.set_setting("server_url", f"http://127.0.0.1:{silent.getsockname()[1]}")
        app.store.set_setting("token", "t")
        app.show_sync()
        pump(2)
        screen = app.sync_screen
        press(screen.ids.sync_now)
        pump(5)
        assert screen.running and not screen.ids.cancel.disabled
        press(screen.ids.cancel)
        pump(2)
        assert not screen.running
        assert screen.status_text.startswith("Sincronização cancelada.")
        assert not screen.ids.sync_now.disabled
    finally:
        silent.close()


def test_skipped_setup_then_enroll_from_settings_and_again_after_revocation(tmp_path):
    with running_server(tmp_path / "district", forms_dir=FORMS_DIR) as server:
        # The enumerator skipped server and code at first start.
        app = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt")
        try:
            app.show_sync()
            pump(2)
            assert "Definições" in app.sync_screen.server_text

            def enroll_from_settings(code: str) -> None:
                app.show_settings()
                pump(2)
                settings = app.settings_screen
                settings.ids.server.text = server.url
                settings.ids.code.text = code
                press(settings.ids.save)
                wait_until(lambda: not settings.enrolling)
                assert settings.message == "Inscrito. Já pode sincronizar.", settings.message

            enroll_from_settings(server.enroll_code(district="MZ1120"))
            sync = app.sync_screen
            app.show_sync()
            pump(2)
            press(sync.ids.sync_now)
            wait_until(lambda: not sync.running)
            assert sync.status_text == "Sincronização concluída.", sync.status_text
            # Progress in records and bytes, with Portuguese decimal commas.
            assert re.fullmatch(
                r"Enviados 0 de 0 registos \(\d+,\d kB\) · recebidos \d+ \(\d+,\d kB\)",
                sync.progress_text,
            ), sync.progress_text
            assert app.store.get_setting(CLOCK_SKEW) is not None  # the clock check ran

            # The coordinator revokes the tablet by the id Settings shows.
            cli(server.data_dir, "revoke", "--device", app.store.device_id)
            press(sync.ids.sync_now)
            wait_until(lambda: not sync.running)
            assert "Definições" in sync.status_text and "Error" not in sync.status_text

            enroll_from_settings(server.enroll_code(district="MZ1120"))
            app.show_sync()
            pump(2)
            press(sync.ids.sync_now)
            wait_until(lambda: not sync.running)
            assert sync.status_text == "Sincronização concluída.", sync.status_text
        finally:
            shutdown(app)


def test_a_failed_enrollment_at_start_opens_settings_with_the_reason(tmp_path, capfd):
    app = boot(
        tmp_path / "tablet",
        enumerator="ENUM-014",
        language="pt",
        server_url=f"http://127.0.0.1:{free_port()}",
        enroll_code="ABCD-EFGH-JK",
    )
    try:
        assert app.manager.current == "settings"
        message = app.settings_screen.message
        assert message.startswith("A inscrição falhou. Não foi possível contactar o servidor")
        assert "fieldapp: enrollment failed:" in capfd.readouterr().err
        assert not app.store.get_setting("token")
    finally:
        shutdown(app)
