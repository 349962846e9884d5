"""Home: the forms on this tablet, each with its drafts, unsent and sent counts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kivy.core.window import Window
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from fieldapp.households import REGISTRATION_FORM
from fieldapp.i18n import _, current_language, format_moment, format_number, ngettext

Builder.load_file(str(Path(__file__).with_name("home.kv")))


class FormCard(BoxLayout):
    title = StringProperty("")
    counts_text = StringProperty("")
    t_new = StringProperty("")
    t_records = StringProperty("")

    def __init__(self, on_new: Callable[[], None], on_records: Callable[[], None], **kwargs):
        self._on_new = on_new
        self._on_records = on_records
        super().__init__(**kwargs)

    def on_new(self) -> None:
        self._on_new()

    def on_records(self) -> None:
        self._on_records()


class HomeScreen(Screen):
    heading = StringProperty("")
    footer = StringProperty("")
    t_sync = StringProperty("")
    t_settings = StringProperty("")
    t_language = StringProperty("")
    columns = NumericProperty(2)

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self.app = app
        Window.bind(size=lambda *_: self._fit_columns())
        self._fit_columns()

    def _fit_columns(self) -> None:
        # Two cards side by side in landscape, one per row in portrait.
        self.columns = 2 if Window.width > Window.height else 1

    def on_pre_enter(self, *args) -> None:
        self.refresh()

    def refresh(self) -> None:
        store = self.app.store
        self.heading = _("Displacement Field Kit")
        self.t_sync = _("Sync")
        self.t_settings = _("Settings")
        self.t_language = "EN" if current_language() == "pt" else "PT"
        enumerator = store.get_setting("enumerator", "")
        last = store.get_setting("last_sync_at")
        last_sync = format_moment(last) if last else _("never")
        self.footer = _("Enumerator: {name} · Device {device} · Last sync: {when}").format(
            name=enumerator, device=store.device_id[:8], when=last_sync
        )
        cards = self.ids.cards
        cards.clear_widgets()
        card_button = dp(56)
        for entry in self.app.catalog.entries():
            counts = store.record_counts(entry.form_id)
            card = FormCard(
                on_new=lambda e=entry: self.app.new_record(e.form_id),
                on_records=lambda e=entry: self.app.show_records(e.form_id),
            )
            card.title = self.app.form_title(entry)
            drafts = counts.get("draft", 0)
            card.counts_text = " · ".join(
                (
                    ngettext("{count} draft", "{count} drafts", drafts).format(
                        count=format_number(drafts)
                    ),
                    _("{count} not sent").format(count=format_number(counts.get("finalized", 0))),
                    _("{count} sent").format(count=format_number(counts.get("sent", 0))),
                )
            )
            card.t_new = _("New")
            card.t_records = _("Records")
            if entry.form_id == REGISTRATION_FORM:
                # Households have a card: find one by its id, update it.
                button = Factory.SecondaryButton(text=_("Card / update"), height=card_button)
                button.bind(on_release=lambda _b: self.app.show_household())
                card.ids.buttons.add_widget(button)
            cards.add_widget(card)

    def on_sync(self) -> None:
        self.app.show_sync()

    def toggle_language(self) -> None:
        self.app.set_language("en" if current_language() == "pt" else "pt")
