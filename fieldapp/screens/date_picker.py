"""A date picker for date questions: day, month and year with big − and + buttons.

Typing AAAA-MM-DD on a tablet keyboard is slow and error-prone outdoors; three steppers
(month names in the UI language) and an OK button are not. The picker only proposes a
date: it writes it into the question's text field, which remains the one place an
answer comes from (and can still be typed, e.g. a year far in the past).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.popup import Popup

from fieldapp.i18n import _, babel_locale
from fieldapp.screens import theme


def month_name(month: int) -> str:
    from babel.dates import get_month_names

    return get_month_names("wide", locale=babel_locale())[month]


def shifted(day: dt.date, part: str, step: int) -> dt.date:
    """`day` moved by `step` days, months or years; the day of month is kept when it
    exists (31 January + 1 month = 28 or 29 February)."""
    if part == "day":
        return day + dt.timedelta(days=step)
    year, month = day.year, day.month
    if part == "month":
        month += step
        year += (month - 1) // 12
        month = (month - 1) % 12 + 1
    else:
        year += step
    year = min(max(year, dt.MINYEAR), dt.MAXYEAR)
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class DatePicker(Popup):
    """Pick a date; `on_pick(date)` is called with it when OK is pressed."""

    def __init__(self, start: dt.date, on_pick: Callable[[dt.date], None], **kwargs):
        self.date = start
        self.on_pick = on_pick
        body = BoxLayout(orientation="vertical", spacing=dp(12), padding=dp(12))
        columns = BoxLayout(spacing=dp(12))
        self.labels: dict[str, Label] = {}
        self.buttons: dict[tuple[str, int], Button] = {}
        for part in ("day", "month", "year"):
            column = BoxLayout(orientation="vertical", spacing=dp(8))
            for step in (1, None, -1):
                if step is None:
                    label = Label(font_size=sp(24), bold=True, color=theme.ON_DARK_COLOUR)
                    self.labels[part] = label
                    column.add_widget(label)
                    continue
                button = Button(text="+" if step > 0 else "−", font_size=sp(32))
                button.bind(on_release=lambda _b, p=part, s=step: self.step(p, s))
                self.buttons[(part, step)] = button
                column.add_widget(button)
            columns.add_widget(column)
        body.add_widget(columns)
        actions = BoxLayout(size_hint_y=None, height=dp(64), spacing=dp(12))
        self.cancel_button = Button(text=_("Cancel"), font_size=sp(20))
        self.cancel_button.bind(on_release=lambda *_: self.dismiss())
        self.ok_button = Button(
            text=_("OK"),
            font_size=sp(20),
            background_normal="",
            background_color=theme.CHOSEN_BUTTON,
        )
        self.ok_button.bind(on_release=lambda *_: self.pick())
        actions.add_widget(self.cancel_button)
        actions.add_widget(self.ok_button)
        body.add_widget(actions)
        kwargs.setdefault("title", _("Choose a date"))
        kwargs.setdefault("size_hint", (0.9, None))
        kwargs.setdefault("height", dp(440))
        kwargs.setdefault("title_size", sp(20))
        super().__init__(content=body, **kwargs)
        self._show()

    def step(self, part: str, step: int) -> None:
        self.date = shifted(self.date, part, step)
        self._show()

    def _show(self) -> None:
        self.labels["day"].text = str(self.date.day)
        self.labels["month"].text = month_name(self.date.month)
        self.labels["year"].text = str(self.date.year)

    def pick(self) -> None:
        self.on_pick(self.date)
        self.dismiss()
