"""The form-filling screen: one question, or one field-list group, per screen.

Draws the session's current step and forwards every change to the `FormSession`, which
validates and autosaves. Relevance, messages and computed values refresh as the
enumerator types.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kivy.clock import Clock
from kivy.factory import Factory
from kivy.graphics import Color, Rectangle
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.popup import Popup
from kivy.uix.recycleview import RecycleView
from kivy.uix.screenmanager import Screen

from fieldapp.catalog import localized_title
from fieldapp.i18n import N_, _, current_language, format_number, ngettext
from fieldapp.screens.theme import (
    DANGER_BUTTON,
    ERROR_COLOUR,
    HEADING_COLOUR,
    INDEX_ROW,
    NO_RATING,
    ON_DARK_COLOUR,
    RATING_COLOURS,
    TEXT_COLOUR,
)
from fieldapp.screens.widgets import (
    BigButton,
    QuestionWidget,
    WrappedLabel,
    widget_for,
)
from fieldapp.session import FinalizeOutcome, FormSession, Slot, Step
from forms import Repeat

Builder.load_file(str(Path(__file__).with_name("form.kv")))


class FormScreen(Screen):
    form_title = StringProperty("")
    step_text = StringProperty("")
    progress = NumericProperty(0)
    banner_text = StringProperty("")  # pinned above the questions (form.kv)
    can_go_back = BooleanProperty(False)
    next_text = StringProperty("")
    t_back = StringProperty("")
    t_index = StringProperty("")
    t_language = StringProperty("")
    t_previous = StringProperty("")

    def __init__(
        self,
        on_exit: Callable[[], None],
        on_language: Callable[[str], None],
        on_rendered: Callable[[], None] = lambda: None,
        **kw,
    ):
        super().__init__(**kw)
        self.on_exit = on_exit
        self.on_language = on_language
        self.on_rendered = on_rendered
        self.session: FormSession | None = None
        self.question_widgets: list[QuestionWidget] = []
        self._rendered_slots: tuple[str, ...] = ()
        self.popup: Popup | None = None

    # --- opening ------------------------------------------------------------------------

    def open_session(self, session: FormSession) -> None:
        self.session = session
        self._progress_high = 0.0  # the bar never moves backwards within a record
        self.form_title = localized_title(session.form, current_language())
        self.retranslate()
        self.render()

    def retranslate(self) -> None:
        self.t_back = _("Save & exit")
        self.t_index = _("Index")
        self.t_language = "EN" if current_language() == "pt" else "PT"
        self.t_previous = _("Previous")
        if self.session:
            self.session.set_language(current_language())
            self.form_title = localized_title(self.session.form, current_language())
            self.render()

    # --- drawing ------------------------------------------------------------------------

    def render(self, banner: str = "", keep_place: bool = False, show: str | None = None) -> None:
        """Draw the current step. `keep_place`: the same step redrawn because questions
        appeared or went (keep the view where the enumerator is reading); `show`: the
        path of a question to scroll to (the first problem after a failed finalize)."""
        session = self.session
        if session is None:
            return
        step = session.step
        body = self.ids.body
        offset = self._offset_from_top()
        body.clear_widgets()
        self.question_widgets = []
        self.banner_text = banner
        if step.instance:
            repeat_label = self._instance_heading(step)
            if repeat_label:
                body.add_widget(
                    WrappedLabel(
                        text=repeat_label, font_size=sp(18), color=HEADING_COLOUR, bold=True
                    )
                )
        if step.kind == "repeat":
            self._render_repeat(step)
        else:
            if step.group is not None:
                title = session.label(step.group, step.index)
                if title:
                    body.add_widget(WrappedLabel(text=title, font_size=sp(24), bold=True))
            for slot in step.slots:
                widget = widget_for(session, slot, self.answered)
                self.question_widgets.append(widget)
                body.add_widget(widget)
        if session.position + 1 == len(session.steps) and session.result.ratings:
            self._render_ratings()
        self._rendered_slots = tuple(slot.path for slot in step.slots)
        self._update_bar()
        if keep_place:
            Clock.schedule_once(lambda *_: self._restore_place(offset, body.height, 5), 0)
        else:
            self.ids.scroll.scroll_y = 1
        if show is not None:
            Clock.schedule_once(lambda *_: self._scroll_to(show, 5), 0)
        self.on_rendered()

    def _offset_from_top(self) -> float:
        scroll, body = self.ids.scroll, self.ids.body
        return max(0.0, (body.height - scroll.height) * (1 - scroll.scroll_y))

    def _restore_place(self, offset: float, old_height: float, tries: int) -> None:
        """Scroll so that what was `offset` px below the top stays there after a redraw.

        The new questions' heights settle over a frame or two (text is measured when
        drawn), so this tries again while the body's height is still changing."""
        scroll, body = self.ids.scroll, self.ids.body
        span = body.height - scroll.height
        scroll.scroll_y = 1 - min(offset, span) / span if span > 0 else 1
        if tries and body.height != old_height:
            Clock.schedule_once(lambda *_: self._restore_place(offset, body.height, tries - 1), 0)

    def _scroll_to(self, path: str, tries: int) -> None:
        widget = next((w for w in self.question_widgets if w.slot.path == path), None)
        if widget is not None:
            self.ids.scroll.scroll_to(widget, padding=dp(16), animate=False)
        if tries:
            Clock.schedule_once(lambda *_: self._scroll_to(path, tries - 1), 0)

    def _instance_heading(self, step: Step) -> str:
        if not step.instance:
            return ""
        repeat = self._enclosing_repeat(step)
        name = self.session.label(repeat, step.index[:-1]) if repeat else ""
        position, count = step.instance
        return _("{name}: {position} of {count}").format(
            name=name or _("Entry"), position=position, count=count
        )

    def _enclosing_repeat(self, step: Step) -> Repeat | None:
        node = step.slots[0].question if step.slots else step.group
        if node is None or not node.repeat_path:
            return None
        repeat = self.session.form.node(node.repeat_path[-1])
        return repeat if isinstance(repeat, Repeat) else None

    def _render_repeat(self, step: Step) -> None:
        session = self.session
        repeat: Repeat = step.group  # type: ignore[assignment]
        body = self.ids.body
        count = session.instance_count(repeat, step.index)
        expected = session.expected_count(repeat, step.index)
        title = session.label(repeat, step.index) or repeat.name
        body.add_widget(WrappedLabel(text=title, font_size=sp(24), bold=True))
        summary = _("{count} added").format(count=count)
        if expected is not None:
            summary += " · " + _("{expected} expected").format(expected=expected)
        body.add_widget(WrappedLabel(text=summary, font_size=sp(18), color=TEXT_COLOUR))
        for position in range(count):
            row = BoxLayout(size_hint_y=None, height=dp(60), spacing=dp(10))
            label = self.instance_title(repeat, step.index, position)
            open_button = Button(
                text=label, font_size=sp(19), halign="left", valign="middle", padding=(dp(16), 0)
            )
            open_button.bind(width=lambda b, w: setattr(b, "text_size", (w - dp(32), None)))
            open_button.bind(
                on_release=lambda _b, p=position: self.open_instance(repeat, step.index, p)
            )
            remove = Button(
                text=_("Remove"),
                size_hint_x=None,
                width=dp(150),
                font_size=sp(18),
                background_color=DANGER_BUTTON,
            )
            remove.bind(
                on_release=lambda _b, p=position: self.confirm_remove(repeat, step.index, p)
            )
            row.add_widget(open_button)
            row.add_widget(remove)
            body.add_widget(row)
        add = BigButton(text=_("Add {name}").format(name=title.lower()))
        add.bind(on_release=lambda *_: self.add_instance(repeat, step.index))
        body.add_widget(add)
        for issue in session.result.errors:
            if issue.path.split("[")[0] == repeat.name and issue.code == "repeat-count":
                body.add_widget(
                    WrappedLabel(text="✖ " + issue.message, color=ERROR_COLOUR, font_size=sp(17))
                )

    def _render_ratings(self) -> None:
        """Minimum-standard indicators (Sphere) with their colour, before finalizing."""
        language = current_language()
        body = self.ids.body
        body.add_widget(WrappedLabel(text=_("Minimum standards"), font_size=sp(22), bold=True))
        for rating in self.session.result.ratings:
            row = BoxLayout(size_hint_y=None, height=dp(44), spacing=dp(12))
            chip = Label(
                text=_(rating.colour or "no value"),
                size_hint_x=None,
                width=dp(110),
                bold=True,
                color=ON_DARK_COLOUR,
                font_size=sp(17),
            )
            colour = RATING_COLOURS.get(rating.colour or "", NO_RATING)
            with chip.canvas.before:
                Color(*colour)
                chip._background = Rectangle(pos=chip.pos, size=chip.size)
            chip.bind(pos=_follow, size=_follow)
            value = "—" if rating.value is None else format_number(round(rating.value, 2))
            # With no facility at all the text says so ("No functioning latrine for 480
            # people") instead of showing a value.
            said = rating.text(language) if rating.reason else f"{rating.text(language)}: {value}"
            text = WrappedLabel(
                text=f"{said}  ({threshold_text(rating.indicator)})",
                font_size=sp(17),
            )
            text.size_hint_y = 1
            row.add_widget(chip)
            row.add_widget(text)
            body.add_widget(row)

    def instance_title(self, repeat: Repeat, index: tuple[int, ...], position: int) -> str:
        """ "3. Ana Mussa" — the first answered text questions of the instance."""
        instance_index = (*index, position)
        words = []
        for question in _questions(repeat):
            if question.type == "text":
                value = self.session.value(Slot(question, instance_index))
                if value:
                    words.append(str(value))
            if len(words) == 2:
                break
        return f"{position + 1}. " + (" ".join(words) or _("(not filled in yet)"))

    def _update_bar(self) -> None:
        session = self.session
        total = len(session.steps)
        answered, relevant = session.answer_progress()
        self.step_text = ngettext(
            "{answered} of {relevant} question answered",
            "{answered} of {relevant} questions answered",
            relevant,
        ).format(answered=format_number(answered), relevant=format_number(relevant))
        # Answering can reveal more questions than it answers; the bar still never goes
        # back, so it reads as "how far along", not as a ratio that jumps around.
        fraction = answered / relevant if relevant else 0.0
        self._progress_high = max(getattr(self, "_progress_high", 0.0), fraction)
        self.progress = self._progress_high
        self.can_go_back = session.position > 0
        last = session.position + 1 >= total
        self.next_text = _("Finalize") if last else _("Next")

    # --- events ---------------------------------------------------------------------

    def answered(self, slot: Slot, value) -> None:
        session = self.session
        session.set_answer(slot, value)
        new_slots = tuple(s.path for s in session.step.slots)
        if new_slots != self._rendered_slots:
            # Relevance changed what this screen shows. Redraw after the current event so
            # the widget that fired it isn't torn down mid-callback.
            Clock.schedule_once(lambda *_: self.render(keep_place=True), 0)
            return
        for widget in self.question_widgets:
            widget.refresh()
            widget.show_issues(session.issues(widget.slot))
        self._update_bar()

    def go_next(self) -> None:
        if self.session.next():
            self.render()
        else:
            self.finalize()

    def go_previous(self) -> None:
        if self.session.previous():
            self.render()

    def add_instance(self, repeat: Repeat, index: tuple[int, ...]) -> None:
        position = self.session.add_instance(repeat, index)
        self.open_instance(repeat, index, position)

    def open_instance(self, repeat: Repeat, index: tuple[int, ...], position: int) -> None:
        key_index = ".".join(str(i) for i in (*index, position))
        for number, step in enumerate(self.session.steps):
            if step.index == (*index, position) or step.key.endswith(":" + key_index):
                self.session.go_to(number)
                break
        self.render()

    def confirm_remove(self, repeat: Repeat, index: tuple[int, ...], position: int) -> None:
        title = self.instance_title(repeat, index, position)
        self._confirm(
            _("Remove {entry}?").format(entry=title),
            _("Everything entered for this entry will be deleted."),
            _("Remove"),
            lambda: (self.session.remove_instance(repeat, index, position), self.render()),
        )

    def finalize(self, confirm_duplicates: bool = False) -> None:
        outcome: FinalizeOutcome = self.session.finalize(confirm_duplicates=confirm_duplicates)
        if outcome.finalized:
            self.on_exit()
            return
        if outcome.duplicates:
            names = "\n".join(f"• {match.title} ({match.reason})" for match in outcome.duplicates)
            self._confirm(
                _("Possible duplicate household"),
                _("This looks like a household already registered on this tablet:")
                + f"\n{names}\n"
                + _("Save it anyway only if it is a different family."),
                _("Save anyway"),
                lambda: self.finalize(confirm_duplicates=True),
            )
            return
        count = len(outcome.errors)
        first = outcome.errors[0].path if outcome.errors else None
        self.render(
            banner=ngettext(
                "Cannot finalize: {count} answer needs attention. It is shown below.",
                "Cannot finalize: {count} answers need attention. The first one is shown below.",
                count,
            ).format(count=format_number(count)),
            show=first,
        )

    def save_and_exit(self) -> None:
        # Every answer is already in the store; leaving just records where we were.
        if self.session is not None:
            self.session.leave()
            self.session.store.audit(
                "draft-left", record_id=self.session.record_id, form_id=self.session.form.form_id
            )
        self.on_exit()

    def toggle_language(self) -> None:
        self.on_language("en" if current_language() == "pt" else "pt")

    @property
    def banner(self) -> Label:
        """The pinned "cannot finalize" message (empty when there is none)."""
        return self.ids.banner

    def open_index(self) -> None:
        entries = self.session.index_entries()
        view = IndexList()
        view.data = [
            {
                "text": f"{position + 1}. {title}"
                + (f"  ({_('needs attention')})" if errors else ""),
                "color": ERROR_COLOUR if errors else TEXT_COLOUR,
                "on_release": lambda p=position: self._jump(p),
            }
            for position, title, errors in entries
        ]
        # A button to close it, in view in both orientations: tapping outside a popup is
        # not something an enumerator finds.
        content = Factory.IndexPopupContent()
        content.index = view
        content.add_widget(view)
        back = BigButton(text=_("Go back"))
        content.add_widget(back)
        self.popup = Popup(
            title=_("Jump to a question"), content=content, size_hint=(0.9, 0.9), title_size=sp(20)
        )
        back.bind(on_release=lambda *_: self.popup.dismiss())
        self.popup.back_button = back
        self.popup.open()

    def _jump(self, position: int) -> None:
        if self.popup:
            self.popup.dismiss()
        self.session.go_to(position)
        self.render()

    def _confirm(self, title: str, text: str, action: str, on_yes: Callable[[], object]):
        layout = BoxLayout(orientation="vertical", spacing=dp(12), padding=dp(12))
        message = Label(text=text, font_size=sp(19), halign="left", valign="top")
        message.bind(size=lambda lbl, size: setattr(lbl, "text_size", size))
        layout.add_widget(message)
        buttons = BoxLayout(size_hint_y=None, height=dp(60), spacing=dp(12))
        cancel = BigButton(text=_("Go back"))
        yes = BigButton(text=action, background_color=DANGER_BUTTON)
        buttons.add_widget(cancel)
        buttons.add_widget(yes)
        layout.add_widget(buttons)
        popup = Popup(
            title=title, content=layout, size_hint=(0.8, 0.6), title_size=sp(20), auto_dismiss=False
        )
        cancel.bind(on_release=lambda *_: popup.dismiss())
        yes.bind(on_release=lambda *_: (popup.dismiss(), on_yes()))
        self.popup = popup
        popup.open()


class IndexEntry(Button):
    def __init__(self, **kwargs):
        super().__init__(
            font_size=sp(18),
            halign="left",
            valign="middle",
            background_normal="",
            background_color=INDEX_ROW,
            **kwargs,
        )
        self.bind(size=lambda b, s: setattr(b, "text_size", (s[0] - dp(24), None)))


class IndexList(RecycleView):
    """The jump-to-question index: a RecycleView, so a 300-screen form scrolls smoothly.
    Layout in form.kv."""


Factory.register("IndexEntry", cls=IndexEntry)


def _follow(widget, *_args) -> None:
    widget._background.pos = widget.pos
    widget._background.size = widget.size


def _questions(repeat: Repeat):
    from forms import Group, Question

    for child in repeat.children:
        if isinstance(child, Question):
            yield child
        elif isinstance(child, Group) and not isinstance(child, Repeat):
            yield from _questions(child)  # type: ignore[arg-type]


# The Sphere units, in words an enumerator reads (forms/data/sphere_thresholds*.json).
SPHERE_UNITS = {
    "%": "%",
    "L/person/day": N_("L/person/day"),
    "m": "m",
    "min": "min",
    "m²/person": N_("m²/person"),
    "people": N_("people"),
    "ratio": N_("ratio"),
}


def threshold_text(indicator) -> str:
    """The standard in the UI language: "≤ 20 pessoas (amarelo ≤ 50)"."""
    sign = "≤" if indicator.direction == "max" else "≥"
    unit = _(SPHERE_UNITS.get(indicator.unit, indicator.unit))
    return _("{sign} {green} {unit} (amber {sign} {amber})").format(
        sign=sign,
        green=format_number(indicator.green),
        amber=format_number(indicator.amber),
        unit=unit,
    )
