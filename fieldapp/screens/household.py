"""The household card: find a household by the id on its card, show the id as a QR code and
text, and start an update or a re-registration pre-filled from its latest registration.

The id is typed here (a camera scanner can fill the same field once the app has one);
`fieldapp.households` does the finding and pre-filling without Kivy.
"""

from __future__ import annotations

from pathlib import Path

import qrcode
from kivy.factory import Factory
from kivy.graphics.texture import Texture
from kivy.lang import Builder
from kivy.properties import ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from fieldapp.households import (
    REGISTRATION_FORM,
    HouseholdIdError,
    Registration,
    find_registration,
)
from fieldapp.i18n import _, format_number
from fieldapp.screens import theme

Builder.load_file(str(Path(__file__).with_name("household.kv")))

RECENT = 5


def qr_texture(text: str) -> Texture:
    """`text` as a QR code texture, one texel per module (drawn sharp, without smoothing).

    RGBA, not luminance: GL reads rows aligned to 4 bytes, and a QR is rarely that wide."""
    code = qrcode.QRCode(border=2, box_size=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    pixels = bytearray()
    for row in reversed(matrix):  # Kivy's textures start at the bottom row
        for dark in row:
            pixels += b"\x00\x00\x00\xff" if dark else b"\xff\xff\xff\xff"
    texture = Texture.create(size=(size, size), colorfmt="rgba")
    texture.blit_buffer(bytes(pixels), colorfmt="rgba", bufferfmt="ubyte")
    texture.mag_filter = "nearest"
    texture.min_filter = "nearest"
    return texture


class HouseholdScreen(Screen):
    t_back = StringProperty("")
    t_title = StringProperty("")
    t_find = StringProperty("")
    t_search = StringProperty("")
    t_recent = StringProperty("")
    t_card = StringProperty("")
    t_update = StringProperty("")
    t_reregister = StringProperty("")
    message = StringProperty("")
    message_colour = ListProperty(list(theme.TEXT_COLOUR))
    household_id = StringProperty("")
    details = StringProperty("")

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self.app = app
        self.registration: Registration | None = None
        self.retranslate()

    def on_pre_enter(self, *args) -> None:
        self.retranslate()
        self.show_recent()

    def retranslate(self) -> None:
        self.t_back = _("Home")
        self.t_title = _("Household card")
        self.t_find = _("Household id (from the card)")
        self.t_search = _("Find")
        self.t_recent = _("Recent registrations on this tablet")
        self.t_card = _("Household card")
        self.t_update = _("Update (births, deaths, departures)")
        self.t_reregister = _("Re-register the household")
        if self.registration is not None:
            self.show(self.registration)

    def show_recent(self) -> None:
        """The latest registrations here, to show a card just made (no names: ids only)."""
        box = self.ids.recent
        box.clear_widgets()
        for row in self.app.store.records(
            REGISTRATION_FORM, state=("finalized", "sent"), limit=RECENT * 4
        ):
            answers = self.app.store.revisions_of(row.record_id)[-1].answers
            household_id = answers.get("household_id")
            if not household_id:
                continue
            button = Factory.SecondaryButton(
                text=f"{household_id} · {answers.get('site_id') or ''}", height=50
            )
            button.bind(on_release=lambda _b, hid=household_id: self.find(hid))
            box.add_widget(button)
            if len(box.children) >= RECENT:
                break

    def find(self, typed: str | None = None) -> None:
        typed = self.ids.household_id.text if typed is None else typed
        self.ids.household_id.text = typed
        self.registration = None
        self.household_id = ""
        try:
            found = find_registration(self.app.store, typed)
        except HouseholdIdError:
            self._say(_("This is not a household id: check the card and type it again."), True)
            return
        if found is None:
            self._say(_("No registration with this id on this tablet. Sync, then search again."),
                      True)  # fmt: skip
            return
        self._say(_("Found. Show the card, or update the registration."), False)
        self.show(found)

    def show(self, registration: Registration) -> None:
        self.registration = registration
        self.household_id = registration.household_id
        self.ids.qr.texture = qr_texture(registration.household_id)
        site = self.app.site_label(registration.site_id)
        self.details = "\n".join(
            (
                _("Site: {site}").format(site=site),
                _("Registered on {date}").format(date=registration.registered_on),
                _("Members: {count}").format(count=format_number(registration.size)),
                _("Registrations with this id: {count}").format(
                    count=format_number(registration.registrations)
                ),
            )
        )

    def start(self, registration_type: str) -> None:
        if self.registration is not None:
            self.app.update_household(self.registration, registration_type)

    def _say(self, text: str, problem: bool) -> None:
        self.message = text
        self.message_colour = list(theme.ERROR_COLOUR if problem else theme.TEXT_COLOUR)
