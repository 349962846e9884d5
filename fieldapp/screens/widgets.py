"""One widget per question type. Each draws a question and reports answers to the session.

A question widget is a vertical box: label, hint, the input, and a message line for
errors and warnings. It never stores anything itself: `on_answer(slot, value)` goes to the
`FormSession`, which validates and autosaves, and the screen then calls `show_issues`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.properties import ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.checkbox import CheckBox
from kivy.uix.label import Label
from kivy.uix.slider import Slider
from kivy.uix.spinner import Spinner
from kivy.uix.textinput import TextInput
from kivy.uix.togglebutton import ToggleButton

from fieldapp.i18n import N_, _
from fieldapp.screens.theme import (
    ANSWER_BUTTON,
    CARD_BACKGROUND,
    CHECKBOX_COLOUR,
    CHOSEN_CHOICE,
    ERROR_COLOUR,
    HINT_COLOUR,
    ON_DARK_COLOUR,
    ROW_HEIGHT,
    TEXT_COLOUR,
    WARNING_COLOUR,
)
from fieldapp.session import FormSession, Slot
from forms.text import strip_accents
from forms.validation import FieldIssue

AnswerCallback = Callable[[Slot, Any], None]


class SharedTexture:
    """Reuse the rendered text of an identical label instead of rendering it again.

    Rendering text into a texture is most of what a question screen costs (the same
    choices, "Sem dificuldade", "Sim"/"Não", and the same member questions come back on
    screen after screen), so labels with the same text and look share one texture.

    Kivy's core label renders lazily and recycles: `refresh()` creates a texture whose
    pixels are filled from the core label's *current* text when it is first drawn, and a
    later refresh of the same size re-renders into the same texture object. A texture
    that other labels share must therefore be finished and disowned before it is shared:
    its pixels are filled at once (`bind()`), and the core label forgets it, so its next
    refresh renders into a texture of its own. Without that (commit 5f7a530), a label
    that changed its text or colour (a language switch, a chosen "Sim") scribbled over
    every label sharing the texture: black bars, stripes and blank rows.
    """

    _textures: ClassVar[OrderedDict[tuple, Any]] = OrderedDict()
    LIMIT = 2000

    def texture_update(self, *largs) -> None:
        core = self._label
        if not self.text or self.markup:
            super().texture_update(*largs)
            return
        # Everything the core label renders from: its text, its box and all its options
        # (font, size, colour after the disabled state, padding, alignment, ...).
        key = (core.text, repr(core.usersize), repr(sorted(core.options.items())))
        texture = SharedTexture._textures.get(key)
        if texture is None:
            super().texture_update(*largs)
            texture = self.texture
            if texture is not None and texture is not core.texture_1px:
                texture.bind()  # render the pixels now, from this text
                core.texture = None  # never render another text into a shared texture
                SharedTexture._textures[key] = texture
                if len(SharedTexture._textures) > self.LIMIT:
                    SharedTexture._textures.popitem(last=False)
            return
        SharedTexture._textures.move_to_end(key)
        self.texture = texture
        self.texture_size = list(texture.size)


class WrappedLabel(SharedTexture, Label):
    """A label that wraps to its width and grows to fit its text."""

    def __init__(self, **kwargs):
        kwargs.setdefault("color", TEXT_COLOUR)
        kwargs.setdefault("halign", "left")
        kwargs.setdefault("valign", "middle")
        kwargs.setdefault("size_hint_y", None)
        # Start at the width the screen will give it: a label first laid out at Kivy's
        # default 100 px renders its text twice, which dominated screen render time.
        kwargs.setdefault("width", content_width())
        super().__init__(**kwargs)
        self.bind(width=self._rewrap, texture_size=self._fit, text=self._fit)
        self._rewrap()
        self._fit()

    def _rewrap(self, *_args) -> None:
        self.text_size = (self.width, None)

    def _fit(self, *_args) -> None:
        # An empty label (no message yet) takes no room.
        self.height = self.texture_size[1] + dp(4) if self.text else 0


def content_width() -> float:
    """The width question widgets get on the form screen (window minus body padding)."""
    from kivy.core.window import Window

    return max(Window.width - dp(48), dp(200))


class BigButton(Button):
    """A button inside a question or the form, in the theme's ANSWER_BUTTON colour."""

    def __init__(self, **kwargs):
        kwargs.setdefault("size_hint_y", None)
        kwargs.setdefault("height", ROW_HEIGHT)
        kwargs.setdefault("font_size", sp(19))
        kwargs.setdefault("background_normal", "")
        kwargs.setdefault("background_color", ANSWER_BUTTON)
        super().__init__(**kwargs)


class QuestionWidget(BoxLayout):
    """Label, hint, input and messages for one question."""

    slot = ObjectProperty(None)
    message = StringProperty("")

    def __init__(self, session: FormSession, slot: Slot, on_answer: AnswerCallback, **kwargs):
        super().__init__(orientation="vertical", size_hint_y=None, spacing=dp(6), **kwargs)
        self.session = session
        self.slot = slot
        self.on_answer_callback = on_answer
        self.bind(minimum_height=self.setter("height"))
        question = slot.question
        required = " *" if question.required else ""
        self.label = WrappedLabel(
            text=session.label(question, slot.index) + required,
            font_size=sp(21),
            bold=question.type != "note",  # a note is read out, not answered
        )
        self.add_widget(self.label)
        hint = session.hint(question, slot.index)
        if hint:
            # As legible as body text: a contrast of at least 4.5:1 (tests/test_theme.py).
            self.add_widget(WrappedLabel(text=hint, font_size=sp(18), color=HINT_COLOUR))
        self.add_media(question.media)
        self.build_input()
        self.message_label = WrappedLabel(text="", font_size=sp(17), markup=False)
        self.add_widget(self.message_label)
        self.show_issues(session.issues(slot))

    # subclasses add their input here
    def build_input(self) -> None:
        pass

    def add_media(self, media: dict[str, dict[str, str]]) -> None:
        """The question's media prompts: its picture, and a button that plays its audio
        or video where the platform can (the file name otherwise)."""
        from kivy.uix.image import Image

        picture = self.session.media_file(media, "image")
        if picture is not None:
            self.add_widget(
                Image(source=str(picture), size_hint_y=None, height=dp(220), fit_mode="contain")
            )
        for kind in ("audio", "video"):
            path = self.session.media_file(media, kind)
            if path is not None:
                button = BigButton(text=_("Play") + f"  ({path.name})")
                button.bind(on_release=lambda *_args, p=path: _play(p))
                self.add_widget(button)

    def answer(self, value: Any) -> None:
        self.on_answer_callback(self.slot, value)

    def refresh(self) -> None:
        """Called after any answer changed: computed values and labels may have changed."""
        question = self.slot.question
        required = " *" if question.required else ""
        self.label.text = self.session.label(question, self.slot.index) + required

    def show_issues(self, issues: list[FieldIssue]) -> None:
        if not issues:
            self.message_label.text = ""
            return
        first = issues[0]
        self.message_label.color = ERROR_COLOUR if first.severity == "error" else WARNING_COLOUR
        # Colour and weight mark errors; the bundled font has no warning/cross glyphs.
        self.message_label.bold = first.severity == "error"
        self.message_label.text = "\n".join(issue.message for issue in issues)

    @property
    def current_value(self) -> Any:
        return self.session.value(self.slot)


class TextQuestion(QuestionWidget):
    input_type = "text"
    input_filter: Callable[[str, bool], str] | None = None
    multiline = False

    def build_input(self) -> None:
        value = self.current_value
        self.input = TextInput(
            text="" if value is None else str(value),
            multiline=self.multiline or "multiline" in (self.slot.question.appearance or ""),
            input_type=self.input_type,  # the number keyboard on a tablet
            input_filter=self.input_filter,  # letters typed into a number are not taken
            font_size=sp(20),
            size_hint_y=None,
            height=ROW_HEIGHT if not self.multiline else dp(140),
            write_tab=False,
            padding=(dp(12), dp(14)),
        )
        self.input.bind(text=self._typed)
        self.add_widget(self.input)

    def _typed(self, _widget, text: str) -> None:
        self.answer(self.convert(text))

    def convert(self, text: str) -> Any:
        return text


def _integer_filter(text: str, from_undo: bool) -> str:
    """Only what an integer can hold: digits, and a minus sign."""
    return "".join(c for c in text if c.isdigit() or c == "-")


def _decimal_filter(text: str, from_undo: bool) -> str:
    """Digits, a minus sign and a decimal separator (the comma Portuguese writes, or a dot)."""
    return "".join(c for c in text if c.isdigit() or c in "-.,")


def _number_or_text(text: str, number: Callable[[str], Any]) -> Any:
    """The number typed, or what was typed when it isn't one: the validator says so next to
    the question, and the enumerator's keystrokes are never silently thrown away."""
    stripped = text.strip()
    try:
        return number(stripped)
    except ValueError:
        return stripped


class IntegerQuestion(TextQuestion):
    input_type = "number"
    input_filter = staticmethod(_integer_filter)

    def convert(self, text: str) -> Any:
        return _number_or_text(text, int)


class DecimalQuestion(TextQuestion):
    input_type = "number"
    input_filter = staticmethod(_decimal_filter)

    def convert(self, text: str) -> Any:
        return _number_or_text(text, lambda typed: float(typed.replace(",", ".")))


class DateQuestion(TextQuestion):
    placeholder = "AAAA-MM-DD"
    now_label = "Today"

    def build_input(self) -> None:
        row = BoxLayout(size_hint_y=None, height=ROW_HEIGHT, spacing=dp(8))
        value = self.current_value
        self.input = TextInput(
            text="" if value is None else str(value),
            hint_text=_("YYYY-MM-DD") if self.placeholder == "AAAA-MM-DD" else self.placeholder,
            multiline=False,
            font_size=sp(20),
            padding=(dp(12), dp(14)),
        )
        self.input.bind(text=self._typed)
        row.add_widget(self.input)
        now_button = BigButton(text=_(self.now_label), size_hint_x=None, width=dp(160))
        now_button.bind(on_release=lambda *_: setattr(self.input, "text", self.now_text()))
        row.add_widget(now_button)
        if self.picks_dates:
            self.pick_button = BigButton(text=_("Choose"), size_hint_x=None, width=dp(160))
            self.pick_button.bind(on_release=lambda *_: self.open_picker())
            row.add_widget(self.pick_button)
        self.add_widget(row)

    picks_dates = True

    def open_picker(self) -> None:
        """A day/month/year picker starting at the answer, or today."""
        import datetime as dt

        from fieldapp.screens.date_picker import DatePicker

        try:
            start = dt.date.fromisoformat(self.input.text.strip())
        except ValueError:
            start = self.session.clock().date()
        self.picker = DatePicker(
            start, on_pick=lambda day: setattr(self.input, "text", day.isoformat())
        )
        self.picker.open()

    def now_text(self) -> str:
        return self.session.clock().date().isoformat()

    def convert(self, text: str) -> Any:
        return text.strip()


class TimeQuestion(DateQuestion):
    placeholder = "HH:MM"
    now_label = "Now"
    picks_dates = False

    def now_text(self) -> str:
        return self.session.clock().strftime("%H:%M")


class DateTimeQuestion(DateQuestion):
    placeholder = "YYYY-MM-DDTHH:MM"
    now_label = "Now"
    picks_dates = False

    def now_text(self) -> str:
        return self.session.clock().replace(microsecond=0).isoformat()


class ChoiceButton(SharedTexture, ToggleButton):
    """A full-width choice: white when free, dark teal with white text when chosen."""

    def __init__(self, **kwargs):
        super().__init__(
            size_hint_y=None,
            height=ROW_HEIGHT,
            font_size=sp(19),
            halign="left",
            valign="middle",
            padding=(dp(16), 0),
            background_normal="",
            background_down="",
            width=content_width(),
            text_size=(content_width() - dp(32), None),
            **kwargs,
        )
        self.bind(state=self._paint)
        self._paint()

    def _paint(self, *_args) -> None:
        chosen = self.state == "down"
        self.background_color = CHOSEN_CHOICE if chosen else CARD_BACKGROUND
        self.color = ON_DARK_COLOUR if chosen else TEXT_COLOUR
        self.bold = chosen


class SelectOneQuestion(QuestionWidget):
    def build_input(self) -> None:
        self.choice_box = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(4))
        self.choice_box.bind(minimum_height=self.choice_box.setter("height"))
        self.add_widget(self.choice_box)
        self._choices_shown: list[tuple[str, str]] | None = None  # None: nothing drawn yet
        self._fill()

    def _fill(self) -> None:
        choices = self.session.choices(self.slot)
        if choices == self._choices_shown:
            return
        self._choices_shown = choices
        self.choice_box.clear_widgets()
        current = self.current_value
        if not choices:
            self.choice_box.add_widget(_no_choices_hint())
            return
        # A short "minimal" list may be a dropdown; a long list is a search box with big
        # rows under it (Kivy's spinner had small text and needed ~30 scroll steps).
        if "minimal" in (self.slot.question.appearance or "").split() and (
            len(choices) <= DROPDOWN_LIST
        ):
            labels = {name: label for name, label in choices}
            spinner = self.spinner = Spinner(
                text=labels.get(current, _("Choose…")),
                values=[label for _name, label in choices],
                size_hint_y=None,
                height=ROW_HEIGHT,
                font_size=sp(19),
            )
            by_label = {label: name for name, label in choices}
            spinner.bind(text=lambda _w, label: self.answer(by_label.get(label)))
            self.choice_box.add_widget(spinner)
            return
        if _searchable(self.slot.question.appearance, len(choices)):
            self._fill_searchable(choices, current)
            return
        self._add_buttons(choices, current)

    def _add_buttons(self, choices: list[tuple[str, str]], current: Any) -> None:
        from kivy.uix.image import Image

        group = f"{self.slot.path}-{id(self)}"
        question = self.slot.question
        for name, label in choices:
            choice = self.session.form.choice(question.choice_list or "", name)
            picture = self.session.media_file(choice.media, "image") if choice else None
            if picture is not None:  # the choice's media::image, above its button
                self.choice_box.add_widget(
                    Image(source=str(picture), size_hint_y=None, height=dp(120), fit_mode="contain")
                )
            button = ChoiceButton(
                text=label, group=group, state="down" if name == current else "normal"
            )
            button.bind(width=lambda b, w: setattr(b, "text_size", (w - dp(32), None)))
            button.choice_name = name
            button.bind(on_release=self._picked)
            self.choice_box.add_widget(button)

    def _fill_searchable(self, choices: list[tuple[str, str]], current: Any) -> None:
        """A long list (249 countries): a search box and the best matches under it."""
        self.search = TextInput(
            hint_text=_("Type to search…"),
            multiline=False,
            font_size=sp(19),
            size_hint_y=None,
            height=ROW_HEIGHT,
            padding=(dp(12), dp(14)),
        )
        self.matches = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(4))
        self.matches.bind(minimum_height=self.matches.setter("height"))
        self.choice_box.add_widget(self.search)
        self.choice_box.add_widget(self.matches)
        self.search.bind(text=lambda _w, text: self._show_matches(choices, text))
        self._show_matches(choices, "")

    def _show_matches(self, choices: list[tuple[str, str]], text: str) -> None:
        wanted = _folded(text)
        current = self.current_value
        shown = [(n, label) for n, label in choices if n == current] if not wanted else []
        shown += [
            (n, label)
            for n, label in choices
            # Nothing typed yet: the first choices, so a short list needs no typing at all.
            if (not wanted and n != current)
            or (wanted and (wanted in _folded(label) or wanted == _folded(n)))
        ]
        self.matches.clear_widgets()
        group, self.choice_box = self.choice_box, self.matches
        try:
            self._add_buttons(shown[:SEARCH_RESULTS], current)
        finally:
            self.choice_box = group

    def _picked(self, button: ToggleButton) -> None:
        self.answer(button.choice_name if button.state == "down" else None)

    def refresh(self) -> None:
        super().refresh()
        self._fill()  # a choice filter may depend on the answer just given


class SelectMultipleQuestion(SelectOneQuestion):
    def _fill(self) -> None:
        choices = self.session.choices(self.slot)
        if choices == self._choices_shown:
            return
        self._choices_shown = choices
        self.choice_box.clear_widgets()
        current = set(self.current_value or [])
        if not choices:
            self.choice_box.add_widget(_no_choices_hint())
            return
        self.checkboxes: dict[str, CheckBox] = {}
        for name, label in choices:
            row = BoxLayout(size_hint_y=None, height=ROW_HEIGHT, spacing=dp(8))
            box = CheckBox(
                active=name in current, size_hint_x=None, width=dp(56), color=CHECKBOX_COLOUR
            )
            box.bind(active=self._toggled)
            self.checkboxes[name] = box
            row.add_widget(box)
            text = WrappedLabel(text=label, font_size=sp(19))
            text.size_hint_y = 1
            row.add_widget(text)
            self.choice_box.add_widget(row)

    def _toggled(self, *_args) -> None:
        chosen = [name for name, box in self.checkboxes.items() if box.active]
        self.answer(chosen)


class AcknowledgeQuestion(QuestionWidget):
    def build_input(self) -> None:
        self.toggle = ToggleButton(
            text=_("OK"),
            state="down" if self.current_value == "OK" else "normal",
            size_hint=(None, None),
            size=(dp(200), ROW_HEIGHT),
            font_size=sp(20),
        )
        self.toggle.bind(state=lambda _w, state: self.answer("OK" if state == "down" else None))
        self.add_widget(self.toggle)


class RangeQuestion(QuestionWidget):
    def build_input(self) -> None:
        parameters = self.slot.question.parameters
        start = float(parameters.get("start", 1))
        end = float(parameters.get("end", 10))
        step = float(parameters.get("step", 1))
        row = BoxLayout(size_hint_y=None, height=ROW_HEIGHT, spacing=dp(12))
        value = self.current_value
        self.slider = Slider(
            min=min(start, end),
            max=max(start, end),
            step=step,
            value=float(value) if isinstance(value, int | float) else start,
        )
        self.value_label = Label(
            text="—" if value is None else _number(value),
            color=TEXT_COLOUR,
            font_size=sp(22),
            size_hint_x=None,
            width=dp(90),
        )
        self.slider.bind(value=self._moved)
        row.add_widget(self.slider)
        row.add_widget(self.value_label)
        self.add_widget(row)

    def _moved(self, _slider, value: float) -> None:
        self.value_label.text = _number(value)
        self.answer(int(value) if float(value).is_integer() else value)


class GeopointQuestion(QuestionWidget):
    """GPS where the platform has it (plyer); on desktop, typed lat/lon or the site's centre."""

    def build_input(self) -> None:
        lat, lon, accuracy = _split_point(self.current_value)
        row = BoxLayout(size_hint_y=None, height=ROW_HEIGHT, spacing=dp(8))
        self.lat_input = _coordinate_input(lat, _("Latitude"))
        self.lon_input = _coordinate_input(lon, _("Longitude"))
        for field in (self.lat_input, self.lon_input):
            field.bind(text=self._typed)
            row.add_widget(field)
        self.add_widget(row)
        buttons = BoxLayout(size_hint_y=None, height=ROW_HEIGHT, spacing=dp(8))
        gps = BigButton(text=_("Use GPS"))
        gps.bind(on_release=lambda *_: self._start_gps())
        centre = BigButton(text=_("Use the site's centre"))
        centre.bind(on_release=lambda *_: self._use_site_centre())
        buttons.add_widget(gps)
        buttons.add_widget(centre)
        self.add_widget(buttons)
        self.accuracy_label = WrappedLabel(
            text=_accuracy_text(accuracy), font_size=sp(16), color=HINT_COLOUR
        )
        self.add_widget(self.accuracy_label)
        self._accuracy = accuracy

    def _typed(self, *_args) -> None:
        lat, lon = self.lat_input.text.strip(), self.lon_input.text.strip()
        if not lat and not lon:
            self.answer(None)
            return
        value = f"{lat.replace(',', '.')} {lon.replace(',', '.')}"
        # Typed coordinates have no altitude, and no GPS accuracy to report.
        self.answer(f"{value} 0 {self._accuracy}" if self._accuracy else value)

    def _use_site_centre(self) -> None:
        site_question = self.slot.question.geo_site
        site_id = self.session.result.value(site_question) if site_question else ""
        from forms.geo import default_gazetteer

        site = default_gazetteer().sites.get(str(site_id))
        if site is None:
            self.show_issues(
                [
                    FieldIssue(
                        self.slot.path,
                        self.slot.question.name,
                        "no-site",
                        _("Choose the site first."),
                        "warning",
                    )
                ]
            )
            return
        self._accuracy = ""
        self.lat_input.text = f"{site.centre.y:.6f}"
        self.lon_input.text = f"{site.centre.x:.6f}"
        self.accuracy_label.text = _("Position set to the site's centre (not a GPS fix).")

    def _start_gps(self) -> None:
        from kivy.utils import platform

        if platform not in ("android", "ios"):
            # plyer has no GPS here and prints a traceback when asked: say it in words.
            self.accuracy_label.text = _(
                "No GPS on this device: type the position or use the site's centre."
            )
            return
        try:
            from plyer import gps

            gps.configure(on_location=self._on_location)
            gps.start(minTime=1000, minDistance=0)
            self.accuracy_label.text = _("Waiting for GPS…")
        except (ImportError, NotImplementedError, ModuleNotFoundError):
            self.accuracy_label.text = _(
                "No GPS on this device: type the position or use the site's centre."
            )

    def _on_location(self, **location) -> None:
        Clock.schedule_once(lambda *_: self._apply_location(location))

    def _apply_location(self, location: dict) -> None:
        self._accuracy = f"{float(location.get('accuracy', 0)):.1f}"
        self.accuracy_label.text = _accuracy_text(self._accuracy)
        self.lat_input.text = f"{float(location['lat']):.6f}"
        self.lon_input.text = f"{float(location['lon']):.6f}"


class FileQuestion(QuestionWidget):
    """Audio, video or any file: chosen from the tablet's storage and attached to the
    record. An audio question also offers Record where plyer has a recorder (Android); on
    a desktop there is none, and the button says so: choose a recorded file instead."""

    FILTERS: ClassVar[dict[str, list[str]]] = {
        "audio": ["*.mp3", "*.m4a", "*.ogg", "*.wav", "*.amr", "*.3gp"],
        "video": ["*.mp4", "*.3gp", "*.webm", "*.mkv"],
        "file": [],
    }
    # The words for the kind of file, marked for translation (N_) and translated when shown.
    empty_text = N_("No file yet.")
    chooser_title = N_("Choose a file")
    use_text = N_("Use this file")

    def build_input(self) -> None:
        self.file_label = WrappedLabel(
            text=self.current_value or _(self.empty_text), font_size=sp(17), color=HINT_COLOUR
        )
        self.add_widget(self.file_label)
        row = BoxLayout(size_hint_y=None, height=ROW_HEIGHT, spacing=dp(8))
        choose = BigButton(text=_("Choose a file"))
        choose.bind(on_release=lambda *_: self._choose())
        clear = BigButton(text=_("Remove"))
        clear.bind(on_release=lambda *_: self._set(None))
        for button in (choose, *self.more_buttons(), clear):
            row.add_widget(button)
        self.add_widget(row)

    def more_buttons(self) -> list[BigButton]:
        """Buttons between "Choose a file" and "Remove": an audio question records, a photo
        adds the camera."""
        self._recording: Any = None
        if self.slot.question.type != "audio":
            return []
        self.record_button = BigButton(text=_("Record"))
        self.record_button.bind(on_release=lambda *_: self._record())
        return [self.record_button]

    def _record(self) -> None:
        """Start recording with the platform's recorder; pressed again, stop and attach."""
        from fieldapp.recorder import NoRecorder, start_recording

        if self._recording is not None:
            target = self._recording.stop()
            self._recording = None
            self.record_button.text = _("Record")
            self._set(self.session.attach(target, self.slot.question))
            return
        try:
            self._recording = start_recording(self.session.media_path("recording.3gp"))
        except NoRecorder:
            self.file_label.text = _("No recorder on this device: choose a recorded file instead.")
            return
        self.record_button.text = _("Stop and keep")

    def filters(self) -> list[str]:
        return self.FILTERS.get(self.slot.question.type, [])

    def _set(self, path: str | None) -> None:
        self.file_label.text = path or _(self.empty_text)
        self.answer(path)

    def _choose(self) -> None:
        from kivy.uix.filechooser import FileChooserListView
        from kivy.uix.popup import Popup

        chooser = FileChooserListView(
            filters=self.filters(), path=str(__import__("pathlib").Path.home())
        )
        layout = BoxLayout(orientation="vertical")
        layout.add_widget(chooser)
        pick = BigButton(text=_(self.use_text))
        layout.add_widget(pick)
        popup = Popup(title=_(self.chooser_title), content=layout, size_hint=(0.9, 0.9))

        def use(*_args):
            if chooser.selection:
                self._set(self.session.attach(chooser.selection[0], self.slot.question))
            popup.dismiss()

        pick.bind(on_release=use)
        popup.open()


class ImageQuestion(FileQuestion):
    """A file chooser on desktop; the camera through plyer where there is one."""

    empty_text = N_("No photo yet.")
    chooser_title = N_("Choose a photo")
    use_text = N_("Use this photo")

    def filters(self) -> list[str]:
        return ["*.jpg", "*.jpeg", "*.png"]

    def more_buttons(self) -> list[BigButton]:
        camera = BigButton(text=_("Take a photo"))
        camera.bind(on_release=lambda *_: self._camera())
        return [camera]

    def _camera(self) -> None:
        try:
            from plyer import camera

            target = self.session.media_path("photo.jpg")
            camera.take_picture(
                filename=str(target),
                on_complete=lambda p: self._set(self.session.attach(p, self.slot.question)),
            )
        except (ImportError, NotImplementedError, ModuleNotFoundError):
            self.file_label.text = _("No camera on this device: choose a file instead.")


class NoteQuestion(QuestionWidget):
    pass


class ComputedQuestion(QuestionWidget):
    """A read-only question: shows its computed value."""

    def build_input(self) -> None:
        self.value_label = WrappedLabel(
            text=self.session.computed(self.slot) or "—", font_size=sp(20)
        )
        self.add_widget(self.value_label)

    def refresh(self) -> None:
        super().refresh()
        self.value_label.text = self.session.computed(self.slot) or "—"


SEARCH_RESULTS = 8
DROPDOWN_LIST = 12  # more choices than this: a search box and big rows, not a button each


def _no_choices_hint() -> WrappedLabel:
    """Shown when a choice filter leaves nothing: say why instead of an empty space."""
    return WrappedLabel(
        text=_(
            "No choice fits the answers given so far: answer or check the questions "
            "before this one."
        ),
        font_size=sp(17),
        color=HINT_COLOUR,
    )


def _searchable(appearance: str | None, count: int) -> bool:
    words = (appearance or "").split()
    return "autocomplete" in words or "search" in words or count > DROPDOWN_LIST


def _folded(text: str) -> str:
    """Case- and accent-insensitive text for searching ("África" matches "africa")."""
    return strip_accents(text.lower()).strip()


WIDGETS: dict[str, type[QuestionWidget]] = {
    "text": TextQuestion,
    "barcode": TextQuestion,
    "geotrace": TextQuestion,
    "geoshape": TextQuestion,
    "integer": IntegerQuestion,
    "decimal": DecimalQuestion,
    "range": RangeQuestion,
    "select_one": SelectOneQuestion,
    "select_multiple": SelectMultipleQuestion,
    "date": DateQuestion,
    "time": TimeQuestion,
    "dateTime": DateTimeQuestion,
    "geopoint": GeopointQuestion,
    "image": ImageQuestion,
    "audio": FileQuestion,
    "video": FileQuestion,
    "file": FileQuestion,
    "note": NoteQuestion,
    "acknowledge": AcknowledgeQuestion,
}


def widget_for(session: FormSession, slot: Slot, on_answer: AnswerCallback) -> QuestionWidget:
    question = slot.question
    if question.is_read_only or question.calculation:
        return ComputedQuestion(session, slot, on_answer)
    return WIDGETS.get(question.type, TextQuestion)(session, slot, on_answer)


def _play(path) -> None:
    """Play a media prompt with Kivy's sound provider; silently nothing where there is none
    (the button still names the file, for the enumerator to open elsewhere)."""
    from kivy.core.audio import SoundLoader

    sound = SoundLoader.load(str(path))
    if sound is not None:
        sound.play()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _coordinate_input(text: str, hint: str) -> TextInput:
    return TextInput(
        text=text,
        hint_text=hint,
        multiline=False,
        input_type="number",
        font_size=sp(19),
        padding=(dp(12), dp(14)),
    )


def _split_point(value: Any) -> tuple[str, str, str]:
    if not isinstance(value, str) or not value.strip():
        return "", "", ""
    parts = value.split()
    lat = parts[0] if parts else ""
    lon = parts[1] if len(parts) > 1 else ""
    accuracy = parts[3] if len(parts) > 3 else ""
    return lat, lon, accuracy


def _accuracy_text(accuracy: str) -> str:
    if not accuracy:
        return _("Accuracy: no GPS fix (typed position).")
    return _("Accuracy: {metres} m").format(metres=accuracy)
