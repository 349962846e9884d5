"""The records of one form: search, filter by state, sort by date, open one.

A RecycleView draws only the rows on screen; the store does the searching, filtering and
paging in SQL. The list loads a page at a time and the next page when the enumerator
scrolls to the end: laying out all 10,000 rows of a busy tablet took most of a second
(benchmarks/bench_app.py), and nobody scrolls through them when search finds one.
"""

from __future__ import annotations

from pathlib import Path

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import ListProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.togglebutton import ToggleButton

from fieldapp.i18n import _, format_number, ngettext
from fieldapp.screens.theme import RECORD_STATE_COLOURS, TEXT_COLOUR

Builder.load_file(str(Path(__file__).with_name("records.kv")))

PAGE = 200  # rows loaded at a time
ROW_HEIGHT = dp(64)  # records.kv: the RecycleBoxLayout's default_size


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
        self.total = 0  # records matching the search and filter, all pages
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
        """Show the first page of records matching the search and the state filter."""
        if self.form_id is None:
            return
        entry = next((e for e in self.app.catalog.entries() if e.form_id == self.form_id), None)
        self.heading = self.app.form_title(entry) if entry else self.form_id
        self.total = self.app.store.count_records(
            self.form_id, state=self.state_filter, search=self._search()
        )
        self.ids.list.data = self._rows(offset=0)
        self.ids.list.scroll_y = 1
        self._summarize()

    def load_more(self) -> None:
        """Append the next page, keeping the rows the enumerator is looking at in place."""
        view = self.ids.list
        shown = len(view.data)
        if shown >= self.total:
            return
        above = (shown * ROW_HEIGHT - view.height) * (1 - view.scroll_y)  # px scrolled
        view.data.extend(self._rows(offset=shown))
        span = len(view.data) * ROW_HEIGHT - view.height
        # scroll_y is a fraction of the list's height, which just grew: keep the pixels.
        view.scroll_y = 1 - above / span if span > 0 else 1
        self._summarize()

    def scrolled(self, scroll_y: float) -> None:
        """Near the end of what is loaded: load the next page before the enumerator gets
        there (scheduled, not during the scroll event that reported it)."""
        if scroll_y <= 0.05 and len(self.ids.list.data) < self.total:
            Clock.schedule_once(lambda _dt: self.load_more(), 0)

    def _search(self) -> str | None:
        return self.ids.search.text.strip() or None

    def _rows(self, offset: int) -> list[dict]:
        rows = self.app.store.records(
            self.form_id,
            state=self.state_filter,
            search=self._search(),
            newest_first=self.newest_first,
            limit=PAGE,
            offset=offset,
        )
        labels = {"draft": _("Draft"), "finalized": _("Not sent"), "sent": _("Sent")}
        return [
            {
                "title": row.title or _("(no name) {id}").format(id=row.record_id[:8]),
                "state_text": labels.get(row.state, row.state),
                "state_colour": RECORD_STATE_COLOURS.get(row.state, TEXT_COLOUR),
                "when": row.updated_at[:16].replace("T", " "),
                "record_id": row.record_id,
                "index": number,
            }
            for number, row in enumerate(rows, start=offset)
        ]

    def _summarize(self) -> None:
        shown = len(self.ids.list.data)
        if shown >= self.total:
            self.summary = ngettext("{count} record", "{count} records", self.total).format(
                count=format_number(self.total)
            )
            return
        self.summary = ngettext(
            "{shown} of {count} record shown: scroll down for more, or search",
            "{shown} of {count} records shown: scroll down for more, or search",
            self.total,
        ).format(shown=format_number(shown), count=format_number(self.total))

    def open_record(self, record_id: str) -> None:
        self.app.open_record(record_id)

    def go_home(self) -> None:
        self.app.show_home()
