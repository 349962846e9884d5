"""Settings, reachable from home at any time: who collects, which server, enrollment.

The set-up screen appears only at first start; everything it asks (and what a tablet
needs after a failed enrollment or a revocation) can be changed here: the server address,
a new enrollment code (typed, or pasted from the `dfk://enroll?...` text of the QR code
that `sync-server enroll` writes), the language. It also shows the full device id a
coordinator needs for `sync-server revoke --device`, with a copy action, and how far the
tablet's clock was from the server's at the last sync.
"""

from __future__ import annotations

import threading
from pathlib import Path

from kivy.clock import mainthread
from kivy.core.clipboard import Clipboard
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from fieldapp.attention import CLOCK_SKEW
from fieldapp.i18n import _, current_language
from fieldapp.sync_messages import describe

Builder.load_file(str(Path(__file__).with_name("settings.kv")))

OK_COLOUR = [0.06, 0.45, 0.35, 1]
ERROR_COLOUR = [0.75, 0.1, 0.1, 1]
CLOCK_TOLERANCE_S = 120  # more than this apart and times in records are misleading


class SettingsScreen(Screen):
    t_title = StringProperty("")
    t_back = StringProperty("")
    t_enumerator = StringProperty("")
    t_server = StringProperty("")
    t_code = StringProperty("")
    t_enroll = StringProperty("")
    t_device = StringProperty("")
    t_copy = StringProperty("")
    t_language = StringProperty("")
    enrollment_text = StringProperty("")
    clock_text = StringProperty("")
    device_id = StringProperty("")
    message = StringProperty("")
    message_colour = ListProperty(OK_COLOUR)
    enrolling = BooleanProperty(False)
    language = StringProperty("pt")

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self.app = app
        self.retranslate()

    def on_pre_enter(self, *args) -> None:
        store = self.app.store
        self.ids.enumerator.text = store.get_setting("enumerator") or ""
        self.ids.server.text = store.get_setting("server_url") or ""
        self.ids.code.text = ""
        self.message = ""
        self.retranslate()

    def retranslate(self) -> None:
        store = self.app.store
        self.language = current_language()
        self.t_title = _("Settings")
        self.t_back = _("Home")
        self.t_enumerator = _("Enumerator name or ID")
        self.t_server = _("Sync server address")
        self.t_code = _("Enrollment code (from your supervisor, or the text of its QR code)")
        self.t_enroll = _("Save and enroll")
        self.t_device = _("Device ID (your coordinator needs it to revoke this tablet)")
        self.t_copy = _("Copy")
        self.t_language = _("Language")
        self.device_id = store.device_id
        district = store.get_setting("district")
        if store.get_setting("token"):
            self.enrollment_text = _("Enrolled for district {district}.").format(
                district=district or "?"
            )
        else:
            self.enrollment_text = _("Not enrolled: sync is off until you enter a code.")
        offset = store.get_setting(CLOCK_SKEW)
        if offset is None:
            self.clock_text = _("Clock check: not done yet (it is done at each sync).")
        elif abs(offset) <= CLOCK_TOLERANCE_S:
            self.clock_text = _("Clock check: this tablet's clock agrees with the server's.")
        else:
            self.clock_text = _(
                "Clock check: this tablet's clock is {minutes} min off the server's. "
                "Set the date and time in the tablet's settings."
            ).format(minutes=round(abs(offset) / 60))

    def choose_language(self, language: str) -> None:
        self.app.set_language(language)
        self.retranslate()

    def copy_device_id(self) -> None:
        Clipboard.copy(self.device_id)
        self.message = _("Device ID copied.")
        self.message_colour = OK_COLOUR

    def save(self) -> None:
        """Keep the enumerator and server; enroll (again) when a code was entered."""
        store = self.app.store
        enumerator = self.ids.enumerator.text.strip()
        server = self.ids.server.text.strip().rstrip("/")
        code = self.ids.code.text.strip()
        if not enumerator:
            self.show_error(_("Enter your name or enumerator ID."))
            return
        store.set_setting("enumerator", enumerator)
        if code.startswith("dfk://") and not server:
            from fieldapp.sync_client import parse_enrollment_uri

            server = (parse_enrollment_uri(code)[1] or "").rstrip("/")
        if code and not server:
            self.show_error(_("An enrollment code needs the server address too."))
            return
        if server:
            store.set_setting("server_url", server)
        if not code:
            self.message = _("Saved.")
            self.message_colour = OK_COLOUR
            return
        self.enrolling = True
        self.message = _("Enrolling…")
        self.message_colour = OK_COLOUR
        threading.Thread(
            target=self._enroll, args=(server, code), daemon=True, name="enroll"
        ).start()

    def _enroll(self, server: str, code: str) -> None:
        from fieldapp.sync_client import SyncError

        try:
            self.app.enroll(server, code)
        except SyncError as error:
            self._enrolled(describe(error))
        else:
            self._enrolled(None)

    @mainthread
    def _enrolled(self, error: str | None) -> None:
        self.enrolling = False
        if error:
            self.show_error(_("Enrollment failed.") + " " + error)
        else:
            self.ids.code.text = ""
            self.retranslate()
            self.message = _("Enrolled. You can sync now.")
            self.message_colour = OK_COLOUR

    def show_error(self, text: str) -> None:
        self.message = text
        self.message_colour = ERROR_COLOUR
