"""First start: who is collecting, in which language, and (optionally) which server."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from fieldapp.i18n import _, current_language

Builder.load_file(str(Path(__file__).with_name("setup.kv")))


class SetupScreen(Screen):
    t_title = StringProperty("")
    t_intro = StringProperty("")
    t_enumerator = StringProperty("")
    t_enumerator_hint = StringProperty("")
    t_server = StringProperty("")
    t_code = StringProperty("")
    t_start = StringProperty("")
    message = StringProperty("")
    device_text = StringProperty("")
    language = StringProperty("pt")

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self.app = app
        self.retranslate()

    def retranslate(self) -> None:
        self.language = current_language()
        self.t_title = _("Set up this tablet")
        self.t_intro = _(
            "Enter your name or enumerator ID. The server address and "
            "enrollment code come from your coordinator; you can add them later."
        )
        self.t_enumerator = _("Enumerator name or ID")
        self.t_enumerator_hint = _("e.g. Maria Cossa or ENUM-014")
        self.t_server = _("Sync server address (optional)")
        self.t_code = _("Enrollment code (optional)")
        self.t_start = _("Start")
        self.device_text = _("Device ID: {device}").format(device=self.app.store.device_id)

    def choose_language(self, language: str) -> None:
        self.app.set_language(language)

    def start(self) -> None:
        enumerator = self.ids.enumerator.text.strip()
        if not enumerator:
            self.message = _("Enter your name or enumerator ID to continue.")
            return
        server = self.ids.server.text.strip()
        code = self.ids.code.text.strip()
        if code and not server:
            self.message = _("An enrollment code needs the server address too.")
            return
        self.message = ""
        self.app.complete_setup(enumerator, server or None, code or None)
