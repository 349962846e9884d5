"""The records of one form: search, filter by state, sort by date, open one.

A RecycleView draws only the rows on screen, so 10,000 records scroll smoothly; the store
does the searching, filtering and paging in SQL.
"""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import ListProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.togglebutton import ToggleButton

from fieldapp.i18n import _, format_number, ngettext

Builder.load_file(str(Path(__file__).with_name("records.kv")))

STATE_COLOURS = {
    "draft": (0.65, 0.4, 0.0, 1),
    "finalized": (0.06, 0.3, 0.45, 1),
    "sent": (0.06, 0.45, 0.35, 1),
}
PAGE = 10_000


class RecordRowView(ButtonBehavior, BoxLayout):
    title = StringProperty("")
    state_text = StringProperty("")
    state_colour = ListProperty([0, 0, 0, 1])
    when = StringProperty("")
    record_id = StringProperty("")
    index = NumericProperty(0)
    screen = None

    def on_release(self) -> None:
        if self.screen is not None:
            self.screen.open_record(self.record_id)


class RecordListScreen(Screen):
    heading = StringProperty("")
    summary = StringProperty("")
    t_back = StringProperty("")
    t_search = StringProperty("")

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self.app = app
        self.form_id: str | None = None
        self.state_filter: str | None = None
        self.newest_first = True
        RecordRowView.screen = self

    def show_form(self, form_id: str) -> None:
        self.form_id = form_id
        self.ids.search.text = ""
        self.state_filter = None
        self._build_filters()
        self.refresh()

    def _build_filters(self) -> None:
        self.t_back = _("Home")
        self.t_search = _("Search by household head name or record ID")
        filters = self.ids.filters
        filters.clear_widgets()
        for state, label in (
            (None, _("All")),
            ("draft", _("Drafts")),
            ("finalized", _("Not sent")),
            ("sent", _("Sent")),
        ):
            button = ToggleButton(
                text=label,
                group="state-filter",
                font_size=sp(18),
                state="down" if state == self.state_filter else "normal",
                allow_no_selection=False,
            )
            button.bind(on_release=lambda _b, s=state: self._filter(s))
            filters.add_widget(button)
        sort = ToggleButton(
            text=_("Newest first"),
            font_size=sp(18),
            size_hint_x=None,
            width=dp(190),
            state="down" if self.newest_first else "normal",
        )
        sort.bind(state=lambda _b, state: self._sort(state == "down"))
        filters.add_widget(sort)

    def _filter(self, state: str | None) -> None:
        self.state_filter = state
        self.refresh()

    def _sort(self, newest_first: bool) -> None:
        self.newest_first = newest_first
        self.refresh()

    def refresh(self) -> None:
        if self.form_id is None:
            return
        entry = next((e for e in self.app.catalog.entries() if e.form_id == self.form_id), None)
        self.heading = self.app.form_title(entry) if entry else self.form_id
        search = self.ids.search.text.strip() or None
        rows = self.app.store.records(
            self.form_id,
            state=self.state_filter,
            search=search,
            newest_first=self.newest_first,
            limit=PAGE,
        )
        labels = {"draft": _("Draft"), "finalized": _("Not sent"), "sent": _("Sent")}
        self.ids.list.data = [
            {
                "title": row.title or _("(no name) {id}").format(id=row.record_id[:8]),
                "state_text": labels.get(row.state, row.state),
                "state_colour": STATE_COLOURS.get(row.state, (0, 0, 0, 1)),
                "when": row.updated_at[:16].replace("T", " "),
                "record_id": row.record_id,
                "index": number,
            }
            for number, row in enumerate(rows)
        ]
        self.summary = ngettext("{count} record", "{count} records", len(rows)).format(
            count=format_number(len(rows))
        )

    def open_record(self, record_id: str) -> None:
        self.app.open_record(record_id)

    def go_home(self) -> None:
        self.app.show_home()
