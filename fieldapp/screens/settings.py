"""Settings, reachable from home at any time: who collects, which server, enrollment.

The set-up screen appears only at first start; everything it asks (and what a tablet
needs after a failed enrollment or a revocation) can be changed here: the server address,
a new enrollment code (typed, pasted from the `dfk://enroll?...` text of the QR code
that `sync-server enroll` writes, or scanned with the camera where Kivy has a camera
provider; `fieldapp/qr.py` reads the frames), the language. It also shows the full device id a
coordinator needs for `sync-server revoke --device`, with a copy action, and how far the
tablet's clock was from the server's at the last sync.
"""

from __future__ import annotations

import threading
from pathlib import Path

from kivy.clock import Clock, mainthread
from kivy.core.clipboard import Clipboard
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from fieldapp.attention import CLOCK_SKEW
from fieldapp.i18n import _, current_language
from fieldapp.qr import Enrollment, NoQRCodeFound, NotAnEnrollmentCode, decode_frame
from fieldapp.screens import theme
from fieldapp.sync_messages import describe

Builder.load_file(str(Path(__file__).with_name("settings.kv")))

OK_COLOUR = list(theme.OK_COLOUR)
ERROR_COLOUR = list(theme.ERROR_COLOUR)
CLOCK_TOLERANCE_S = 120  # more than this apart and times in records are misleading
SCAN_EVERY_S = 0.5  # camera frames decoded per second: 2 (about 20 ms each)


def camera_available() -> bool:
    """Whether Kivy found a camera provider on this device (Android's camera, OpenCV,
    GStreamer...). Asked once, when Settings first opens: the look-up logs each provider
    it tries, and the answer does not change while the app runs."""
    from kivy.core.camera import Camera as CoreCamera

    return CoreCamera is not None


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
    has_camera = BooleanProperty(False)
    t_scan = StringProperty("")
    t_no_camera = StringProperty("")

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self.app = app
        self._camera_checked = False
        self.scanner = None  # the camera popup while it is open
        self.retranslate()

    def on_pre_enter(self, *args) -> None:
        store = self.app.store
        self.ids.enumerator.text = store.get_setting("enumerator") or ""
        self.ids.server.text = store.get_setting("server_url") or ""
        self.ids.code.text = ""
        self.message = ""
        if not self._camera_checked:
            self.has_camera = camera_available()
            self._camera_checked = True
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
        self.t_scan = _("Scan the QR code")
        self.t_no_camera = _(
            "No camera was found on this device: paste the text of the QR code, or type the code."
        )
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

    # --- scanning the enrollment QR code -------------------------------------------------

    def scan(self) -> None:
        """Show the camera; decode a frame every half second until an enrollment code is
        read. Not tried on a real camera here (this machine has none): the frames' path
        from the camera texture on is tested with photos of the server's QR image."""
        from kivy.uix.boxlayout import BoxLayout
        from kivy.uix.camera import Camera
        from kivy.uix.label import Label
        from kivy.uix.popup import Popup

        from fieldapp.screens.widgets import BigButton

        layout = BoxLayout(orientation="vertical", spacing=8)
        camera = Camera(play=True, resolution=(640, 480))
        layout.add_widget(camera)
        self.scan_status = Label(text=_("Point the camera at the enrollment QR code."))
        self.scan_status.size_hint_y = None
        self.scan_status.height = 48
        layout.add_widget(self.scan_status)
        back = BigButton(text=_("Go back"))
        layout.add_widget(back)
        popup = Popup(title=self.t_scan, content=layout, size_hint=(0.9, 0.9))
        ticker = Clock.schedule_interval(lambda _dt: self._scan_camera(camera), SCAN_EVERY_S)

        def closed(*_args) -> None:
            ticker.cancel()
            camera.play = False
            self.scanner = None

        popup.bind(on_dismiss=closed)
        back.bind(on_release=lambda *_: popup.dismiss())
        self.scanner = popup
        popup.open()

    def _scan_camera(self, camera) -> None:
        texture = camera.texture
        if texture is not None:
            self.scanned_frame(texture.pixels, tuple(texture.size))

    def scanned_frame(self, pixels: bytes, size: tuple[int, int]) -> Enrollment | None:
        """Decode one camera frame (RGBA, rows bottom up, as Kivy textures hold them); on an
        enrollment code, fill the code and the server and close the camera."""
        try:
            found = decode_frame(pixels, size)
        except NoQRCodeFound:
            return None  # no code in this frame yet: keep looking
        except NotAnEnrollmentCode:
            if self.scanner is not None:
                self.scan_status.text = _("This QR code is not an enrollment code.")
            return None
        self.ids.code.text = found.code
        if found.server:
            self.ids.server.text = found.server
        self.message = _("QR code read. Press “Save and enroll”.")
        self.message_colour = OK_COLOUR
        if self.scanner is not None:
            self.scanner.dismiss()
        return found

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
