"""Form screens work for the enumerator, and Portuguese is finished (issue #9, Why 5 and 6).

The real app in a real Kivy window, driven through its widgets.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fieldapp.testing import boot, pump, shutdown, wait
from tests.ui_driver import enter, press

pytestmark = [pytest.mark.system, pytest.mark.ui]


@pytest.fixture
def app(tmp_path):
    application = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt")
    yield application
    shutdown(application)


def widget(screen, name: str):
    return next(w for w in screen.question_widgets if w.slot.question.name == name)


def window_top(w) -> float:
    return w.to_window(w.x, w.top)[1]


def test_the_view_stays_put_when_an_answer_reveals_questions(app):
    app.new_record("household_registration")
    pump(3)
    screen = app.form_screen
    enter(widget(screen, "consent_informed"), "yes")
    pump(4)
    scroll = screen.ids.scroll
    assert screen.ids.body.height > scroll.height  # there is something to scroll
    scroll.scroll_y = 0  # the enumerator reads at the bottom
    pump(3)
    before = window_top(widget(screen, "consent_given"))
    enter(widget(screen, "consent_given"), "yes")  # reveals two more questions
    pump(6)
    assert "consent_share" in {w.slot.question.name for w in screen.question_widgets}
    assert scroll.scroll_y < 0.9  # not thrown back to the top
    assert abs(window_top(widget(screen, "consent_given")) - before) < 4


def test_progress_counts_answered_of_relevant_and_never_moves_back(app):
    app.new_record("household_registration")
    pump(3)
    screen = app.form_screen
    seen = [screen.progress]
    texts = [screen.step_text]
    for name in ("consent_informed", "consent_by", "consent_given"):
        value = "self" if name == "consent_by" else "yes"
        enter(widget(screen, name), value)
        pump(4)
        seen.append(screen.progress)
        texts.append(screen.step_text)
    assert seen == sorted(seen) and seen[-1] > seen[0]
    answered = [int(text.split()[0]) for text in texts]
    # One more per answer; consent also shows the household id the app filled in, which
    # counts as answered at once.
    start = answered[0]
    assert answered == [start, start + 1, start + 2, start + 3 + 1], texts
    assert all(text.endswith("perguntas respondidas") for text in texts)


def test_numbers_take_no_letters_and_gps_is_a_message_not_a_traceback(app, capfd):
    from fieldapp.screenshots import answer_step

    app.new_record("household_registration")
    session = app.session
    consent = ("consent_informed", "consent_given", "consent_recontact", "consent_share")
    answer_step(session, {**dict.fromkeys(consent, "yes"), "consent_by": "self"})
    step = next(i for i, s in enumerate(session.steps) if s.key.startswith("group:head"))
    session.go_to(step)
    app.form_screen.render()
    pump(3)
    size = widget(app.form_screen, "hh_size_declared").input
    size.insert_text("tr3s")
    pump(2)
    assert size.text == "3" and size.input_type == "number"

    gps_step = next(
        i for i, s in enumerate(session.steps) if any(x.question.name == "hh_gps" for x in s.slots)
    )
    session.go_to(gps_step)
    app.form_screen.render()
    pump(3)
    gps = widget(app.form_screen, "hh_gps")
    button = next(b for b in gps.walk(restrict=True) if getattr(b, "text", "") == "Usar GPS")
    press(button)
    assert gps.accuracy_label.text.startswith("Este dispositivo não tem GPS")
    assert "Traceback" not in capfd.readouterr().err


def test_a_failed_finalize_opens_the_first_problem_scrolled_into_view(app):
    app.new_record("household_registration")
    pump(3)
    session, screen = app.session, app.form_screen
    session.go_to(len(session.steps) - 1)
    screen.render()
    pump(3)
    screen.finalize()
    pump(8)
    first = session.result.errors[0].path
    problem = next(w for w in screen.question_widgets if w.slot.path == first)
    scroll = screen.ids.scroll
    bottom = scroll.to_window(scroll.x, scroll.y)[1]
    top = bottom + scroll.height
    y = problem.to_window(problem.x, problem.top)[1]
    assert bottom <= y <= top  # its label is on screen, not below the fold
    assert screen.banner.text.startswith("Não é possível finalizar")


def test_home_speaks_portuguese_counts_and_shows_whole_letters(app):
    from kivy.core.text import Label as CoreLabel

    app.new_record("household_registration")
    app.form_screen.save_and_exit()
    app.store.set_setting("last_sync_at", "2026-11-30T01:19:37Z")
    app.show_home()
    pump(3)
    cards = list(app.home_screen.ids.cards.children)
    counts = {card.counts_text for card in cards}
    assert "1 rascunho · 0 por enviar · 0 enviados" in counts
    assert "0 rascunhos · 0 por enviar · 0 enviados" in counts
    assert "30/11/26, 03:19" in app.home_screen.footer  # Maputo time, not raw UTC
    for card in cards:
        title = card.ids.title
        natural = CoreLabel(text="gjpqy" + title.text, font_size=title.font_size, bold=True)
        natural.refresh()
        assert title.height >= natural.texture.height  # descenders are not cut off


def test_the_chosen_language_is_visibly_selected_at_set_up(tmp_path):
    app = boot(tmp_path / "fresh", language="pt")
    try:
        setup = app.setup_screen
        assert setup.ids.lang_pt.state == "down" and setup.ids.lang_en.state == "normal"
        assert setup.ids.lang_pt.background_color != setup.ids.lang_en.background_color
        press(setup.ids.lang_en)
        pump(2)
        assert setup.ids.lang_en.state == "down" and setup.ids.lang_pt.state == "normal"
        assert setup.t_start == "Start"
    finally:
        shutdown(app)


def test_sphere_panel_in_portuguese_units_and_decimal_commas(app):
    from forms.samples import sample_site_check
    from tests.ui_driver import fill_screen  # noqa: F401  (the driver documents the flow)

    app.new_record("site_check")
    answers = sample_site_check(1, latrines=8)
    answers["assessment_date"] = dt.date.today().isoformat()
    from fieldapp.session import Slot

    for name, value in answers.items():
        app.session.set_answer(Slot(app.session.form.question(name), ()), value)
    app.session.go_to(len(app.session.steps) - 1)
    app.form_screen.render()
    wait(0.2)
    texts = [w.text for w in app.form_screen.ids.body.walk() if hasattr(w, "text")]
    ratings = [t for t in texts if "(" in t and ("≤" in t or "≥" in t)]
    assert ratings
    joined = " ".join(ratings)
    assert "pessoas" in joined and "amarelo" in joined
    for english in ("people", "L/person/day", "m²/person", "ratio", "amber"):
        assert english not in joined


def test_district_and_site_choices_are_the_enrolled_scope_searchable_in_big_rows(app):
    from fieldapp.screens.widgets import ChoiceButton
    from fieldapp.screenshots import answer_step

    app.store.set_setting("district", "MZ1120")
    app.new_record("household_registration")
    session, screen = app.session, app.form_screen
    consent = ("consent_informed", "consent_given", "consent_recontact", "consent_share")
    answer_step(session, {**dict.fromkeys(consent, "yes"), "consent_by": "self"})
    answer_step(session, {"origin_country": "MOZ", "origin_province": "MZ11"})
    step = next(
        i
        for i, s in enumerate(session.steps)
        if any(x.question.name == "district" for x in s.slots)
    )
    session.go_to(step)
    screen.render()
    pump(3)
    district = widget(screen, "district")
    assert [name for name, _label in session.choices(district.slot)] == ["MZ1120"]
    # Where people came from is not limited: any district of the province.
    origin = next(q for q in session.form.questions() if q.name == "origin_district")
    from fieldapp.session import Slot

    assert len(session.choices(Slot(origin, ()))) > 20
    assert not hasattr(district, "spinner")
    rows = [b for b in district.walk(restrict=True) if isinstance(b, ChoiceButton)]
    assert [b.text for b in rows] == ["Namacurra"] and rows[0].font_size >= 19


def test_a_long_list_is_a_search_box_not_a_spinner(app):
    from kivy.uix.spinner import Spinner

    from fieldapp.screens.widgets import ChoiceButton
    from fieldapp.screenshots import answer_step
    from fieldapp.session import Slot

    app.new_record("household_registration")
    session, screen = app.session, app.form_screen
    consent = ("consent_informed", "consent_given", "consent_recontact", "consent_share")
    answer_step(session, {**dict.fromkeys(consent, "yes"), "consent_by": "self"})
    session.set_answer(Slot(session.form.question("origin_country"), ()), "MOZ")
    session.set_answer(Slot(session.form.question("origin_province"), ()), "MZ11")
    step = next(
        i
        for i, s in enumerate(session.steps)
        if any(x.question.name == "origin_district" for x in s.slots)
    )
    session.go_to(step)
    screen.render()
    pump(3)
    origin = widget(screen, "origin_district")
    assert not any(isinstance(w, Spinner) for w in origin.walk(restrict=True))
    origin.search.text = "namac"
    pump(2)
    assert [b.text for b in origin.walk(restrict=True) if isinstance(b, ChoiceButton)] == [
        "Namacurra"
    ]


def test_dates_are_picked_with_big_steppers_not_typed(app):
    import datetime as dt

    from fieldapp.screenshots import answer_step
    from fieldapp.session import Slot

    app.new_record("household_registration")
    session, screen = app.session, app.form_screen
    consent = ("consent_informed", "consent_given", "consent_recontact", "consent_share")
    answer_step(session, {**dict.fromkeys(consent, "yes"), "consent_by": "self"})
    answer_step(session, {"registration_date": "2026-01-31"})
    step = next(
        i
        for i, s in enumerate(session.steps)
        if any(x.question.name == "registration_date" for x in s.slots)
    )
    session.go_to(step)
    screen.render()
    pump(3)
    date = widget(screen, "registration_date")
    press(date.pick_button)
    picker = date.picker
    assert picker.labels["month"].text == "janeiro"  # month names in the UI language
    press(picker.buttons[("month", 1)])  # 31 January + 1 month: the end of February
    press(picker.buttons[("day", -1)])
    press(picker.buttons[("year", -1)])
    assert (picker.labels["day"].text, picker.labels["month"].text) == ("27", "fevereiro")
    press(picker.ok_button)
    wait(0.4)
    assert date.input.text == "2025-02-27"
    assert session.value(Slot(session.form.question("registration_date"), ())) == "2025-02-27"
    assert dt.date.fromisoformat(app.store.draft(session.record_id).answers["registration_date"])
