"""Drive the real Kivy form screen the way an enumerator does: type, tap, tick, press Next.

`fill_form(app, answers)` walks the screens of the open record and, on each one, enters
the answers for the questions the screen shows, through the widgets themselves (text typed
into TextInputs, choice buttons pressed, checkboxes ticked, "Add" pressed for a member).
It never writes to the session or the store directly, so what the store holds at the end
is what the UI produced.
"""

from __future__ import annotations

from typing import Any

from fieldapp.i18n import _
from fieldapp.screens.widgets import (
    AcknowledgeQuestion,
    ChoiceButton,
    ComputedQuestion,
    DateQuestion,
    GeopointQuestion,
    NoteQuestion,
    RangeQuestion,
    SelectMultipleQuestion,
    SelectOneQuestion,
    TextQuestion,
)
from fieldapp.testing import pump, wait

MAX_SCREENS = 400


def press(button) -> None:
    """A tap: down then release, as a finger does."""
    button.dispatch("on_press")
    button.dispatch("on_release")
    pump(1)


def answer_for(answers: dict[str, Any], name: str, index: tuple[int, ...], repeat_path):
    container: Any = answers
    for repeat, position in zip(repeat_path, index, strict=False):
        container = container.get(repeat, [])[position]
    return container.get(name)


def enter(widget, value: Any) -> None:
    """Give `value` to one question widget through its input controls."""
    if isinstance(widget, ComputedQuestion | NoteQuestion):
        return
    if isinstance(widget, GeopointQuestion):
        lat, lon = value.split()[:2]
        widget.lat_input.text = lat
        widget.lon_input.text = lon
    elif isinstance(widget, SelectMultipleQuestion):
        for name, box in widget.checkboxes.items():
            box.active = name in value
    elif isinstance(widget, SelectOneQuestion) and hasattr(widget, "spinner"):
        widget.spinner.text = dict(widget.session.choices(widget.slot))[value]
    elif isinstance(widget, SelectOneQuestion):
        if hasattr(widget, "search"):
            label = dict(widget.session.choices(widget.slot))[value]
            widget.search.text = label[:6]
            pump(1)
            container = widget.matches
        else:
            container = widget.choice_box
        buttons = [b for b in container.children if isinstance(b, ChoiceButton)]
        button = next(b for b in buttons if b.choice_name == value)
        if button.state != "down":
            button.state = "down"
            button.dispatch("on_release")
    elif isinstance(widget, AcknowledgeQuestion):
        widget.toggle.state = "down"
    elif isinstance(widget, RangeQuestion):
        widget.slider.value = value
    elif isinstance(widget, TextQuestion | DateQuestion):
        widget.input.text = str(value)
    else:
        raise AssertionError(f"no way to answer {type(widget).__name__}")
    pump(1)


def fill_screen(screen, answers: dict[str, Any], seen: list[str]) -> None:
    """Answer every question the current screen shows; relevance may add more as we go."""
    done: set[str] = set()
    for _question in range(200):
        pending = [w for w in screen.question_widgets if w.slot.path not in done]
        if not pending:
            return
        widget = pending[0]
        done.add(widget.slot.path)
        seen.append(widget.slot.path)
        question = widget.slot.question
        value = answer_for(answers, question.name, widget.slot.index, question.repeat_path)
        if value is not None:
            enter(widget, value)
            pump(2)  # a relevance change redraws the screen on the next frame
        if len(done) >= len(screen.question_widgets) and all(
            w.slot.path in done for w in screen.question_widgets
        ):
            return


def fill_form(app, answers: dict[str, Any]) -> list[str]:
    """Fill the open record screen by screen and press Finalize; returns the paths seen."""
    screen = app.form_screen
    session = app.session
    seen: list[str] = []
    for _screen in range(MAX_SCREENS):
        step = session.step
        if step.kind == "repeat":
            repeat = step.group
            wanted = len(answer_for(answers, repeat.name, step.index, repeat.repeat_path) or [])
            if session.instance_count(repeat, step.index) < wanted:
                add = next(
                    w
                    for w in screen.ids.body.children
                    if getattr(w, "text", "").startswith(_("Add {name}").split("{")[0])
                )
                press(add)
                position = session.instance_count(repeat, step.index) - 1
                fill_instance(app, answers, seen, (*step.index, position))
                jump_to(app, step.key)
                continue
        else:
            for _round in range(3):  # answers may reveal more questions on the same screen
                before = len(seen)
                fill_screen(screen, answers, seen)
                if len(seen) == before:
                    break
        if session.position + 1 >= len(session.steps):
            press(screen.ids.next_button)  # "Finalize"
            pump(2)
            return seen
        press(screen.ids.next_button)
    raise AssertionError("the form never ended")


def fill_instance(app, answers, seen, index) -> None:
    """Fill the screens of one repeat instance (a household member)."""
    session = app.session
    screen = app.form_screen
    while session.step.index[: len(index)] == index and session.step.kind != "repeat":
        for _round in range(3):
            before = len(seen)
            fill_screen(screen, answers, seen)
            if len(seen) == before:
                break
        if session.position + 1 >= len(session.steps):
            return
        press(screen.ids.next_button)


def jump_to(app, step_key: str) -> None:
    """Use the index popup, as an enumerator would, to go back to a screen."""
    screen = app.form_screen
    screen.open_index()
    wait(0.3)
    position = next(i for i, step in enumerate(app.session.steps) if step.key == step_key)
    entry = screen.popup.content.index.data[position]
    entry["on_release"]()
    wait(0.3)
