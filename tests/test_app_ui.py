"""The real app in a real (offscreen) Kivy window, driven through its widgets.

Each test boots FieldApp on a fresh data folder, fills a form by typing and tapping, and
checks what the enumerator would see and what the store holds.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fieldapp.session import Slot
from fieldapp.testing import boot, pump, shutdown
from forms.samples import sample_diaspora_interview, sample_household, sample_site_check
from tests.ui_driver import enter, fill_form, fill_screen, press

pytestmark = [pytest.mark.system, pytest.mark.ui]
TODAY = dt.date.today()


@pytest.fixture
def app(tmp_path):
    application = boot(tmp_path / "tablet", enumerator="ENUM-014", language="en")
    yield application
    shutdown(application)


def household(members: int = 3) -> dict:
    record = sample_household(seed=7, members=members, registration_date=TODAY)
    return record


def test_fill_household_registration_end_to_end(app):
    answers = household(members=3)
    answers["members"][2].update(dob_known="no", age_reported=3, age_estimated="yes")
    answers["members"][2].pop("dob", None)
    for key in [k for k in answers["members"][2] if k.startswith("wg_")] + ["school_attending"]:
        answers["members"][2].pop(key, None)
    app.new_record("household_registration")
    seen = fill_form(app, answers)

    # Relevance skipped questions: the 3-year-old got no Washington Group questions or
    # school question; the refusal screen never appeared.
    assert "members[3].wg_seeing" not in seen
    assert "members[3].school_attending" not in seen
    assert "members[1].wg_seeing" in seen
    assert "refusal_reason" not in seen

    store = app.store
    rows = store.records("household_registration")
    assert [(row.state, row.title) for row in rows] == [
        # The record's title names the site and the date, never the head (data minimisation).
        ("finalized", f"{answers['site_id']} {answers['registration_date']}")
    ]
    revision = store.revisions_of(rows[0].record_id)[-1]
    stored = revision.answers
    assert len(stored["members"]) == 3
    assert [m["given_name"] for m in stored["members"]] == [
        m["given_name"] for m in answers["members"]
    ]
    assert stored["hh_size"] == 3 and stored["n_heads"] == 1 and stored["n_under5"] == 1
    assert stored["members"][2].get("wg_seeing") is None
    assert stored["contact_phone"] == answers["contact_phone"]
    assert [r.revision_id for r in store.pending_outbox()] == [revision.revision_id]
    assert app.manager.current == "home"


def test_fill_site_check_end_to_end_with_sphere_ratings(app):
    answers = sample_site_check(seed=2, latrines=8, individuals=480)
    answers["assessment_date"] = TODAY.isoformat()
    answers["date_opened"] = (TODAY - dt.timedelta(days=30)).isoformat()
    app.new_record("site_check")
    fill_form(app, answers)
    row = app.store.records("site_check")[0]
    stored = app.store.revisions_of(row.record_id)[-1].answers
    assert row.state == "finalized"
    assert stored["people_per_latrine"] == 60
    assert stored["individuals"] == 480


def test_fill_diaspora_interview_end_to_end(app):
    answers = sample_diaspora_interview(seed=3)
    answers["interview_date"] = TODAY.isoformat()
    app.new_record("diaspora_mapping")
    seen = fill_form(app, answers)
    assert "contact_phone" in seen and "contact_whatsapp" in seen
    row = app.store.records("diaspora_mapping")[0]
    stored = app.store.revisions_of(row.record_id)[-1].answers
    assert stored["residence_country"] == "ZAF"  # chosen through the search box
    assert stored["legal_status"] == "prefer_not_to_say"
    assert stored["remit_channels"] == ["mpesa", "informal_driver"]


def test_refused_consent_stores_nothing_personal(app):
    app.new_record("household_registration")
    session = app.session
    answers = {
        "consent_informed": "yes",
        "consent_by": "self",
        "consent_given": "yes",
        "consent_recontact": "yes",
        "consent_share": "yes",
    }
    fill_screen(app.form_screen, answers, [])
    # The enumerator goes on, types the head's name, then the person withdraws consent.
    head = next(i for i, s in enumerate(session.steps) if s.key.startswith("group:head"))
    session.go_to(head)
    app.form_screen.render()
    pump(2)
    fill_screen(app.form_screen, {"hh_head_given_name": "Felismina"}, [])
    record_id = session.record_id
    assert app.store.draft(record_id).answers["hh_head_given_name"] == "Felismina"
    session.go_to(0)
    app.form_screen.render()
    pump(2)
    fill_screen(app.form_screen, {**answers, "consent_given": "no"}, [])
    draft = app.store.draft(record_id)
    assert "hh_head_given_name" not in draft.answers
    assert draft.answers["consent_given"] == "no"


@pytest.mark.parametrize(
    ("question", "typed", "shown"),
    [
        ("hh_size_declared", "three", "Enter a whole number (you entered “three”)."),
        ("displacement_date", "2026-02-30", "“2026-02-30” is not a real date (use YYYY-MM-DD)."),
        ("hh_head_given_name", "x" * 10_000, "Too long: 10000 characters (at most 5000)."),
        (
            "hh_head_given_name",
            "Ana\x00\x1b[2J",
            "The text contains invisible control characters; please retype it.",
        ),
        ("hh_gps", "0 0", "0, 0 is not a real location: the GPS has no fix yet."),
        ("hh_gps", "-25.96 32.57", "This point is outside Zambézia. Check the GPS or the site."),
    ],
)
def test_bad_input_gets_a_clear_message_next_to_the_question(app, question, typed, shown):
    app.new_record("household_registration")
    session = app.session
    consent = {
        "consent_informed": "yes",
        "consent_by": "self",
        "consent_given": "yes",
        "consent_recontact": "no",
        "consent_share": "no",
    }
    fill_screen(app.form_screen, consent, [])
    fill_screen(app.form_screen, {"district": "MZ1120", "site_id": "MOZ-ZAM-0001"}, [])
    step = next(
        i
        for i, s in enumerate(session.steps)
        if any(slot.question.name == question for slot in s.slots)
    )
    session.go_to(step)
    app.form_screen.render()
    pump(2)
    widget = next(w for w in app.form_screen.question_widgets if w.slot.question.name == question)
    enter(widget, typed)
    pump(2)
    assert shown in widget.message_label.text
    # What was typed is kept as typed (data is sacred), and nothing crashed.
    stored = app.store.draft(session.record_id).answers
    if question != "hh_gps":
        assert stored[question] == (typed if question != "hh_size_declared" else "three")


def test_finalize_with_errors_jumps_to_the_first_one(app):
    app.new_record("household_registration")
    press(app.form_screen.ids.next_button)  # nothing answered on screen 1 yet
    session = app.session
    while session.position + 1 < len(session.steps):
        press(app.form_screen.ids.next_button)
    press(app.form_screen.ids.next_button)  # Finalize
    assert session.position == 0
    assert app.form_screen.banner is not None
    assert "Cannot finalize" in app.form_screen.banner.text
    assert app.store.records("household_registration")[0].state == "draft"


def test_draft_resumes_at_the_same_question_after_restart(tmp_path):
    data = tmp_path / "tablet"
    first = boot(data, enumerator="ENUM-014", language="en")
    first.new_record("household_registration")
    answers = household()
    fill_screen(first.form_screen, answers, [])
    press(first.form_screen.ids.next_button)
    fill_screen(first.form_screen, answers, [])
    key = first.session.step.key
    record_id = first.session.record_id
    shutdown(first)  # as if the battery died: nothing more is saved on the way out

    second = boot(data, language="en")
    try:
        assert second.manager.current == "home"
        second.open_record(record_id)
        assert second.session.step.key == key
        assert (
            second.session.value(Slot(second.session.form.question("enumerator")))
            == (answers["enumerator"])
        )
    finally:
        shutdown(second)


def test_language_switch_translates_ui_and_form(app):
    app.new_record("household_registration")
    screen = app.form_screen
    assert screen.ids.next_button.text == "Next"
    press(screen.ids.language_button)
    pump(2)
    assert screen.ids.next_button.text == "Seguinte"
    assert "Consentimento" in " ".join(w.label.text for w in screen.question_widgets) or (
        "entrevistado" in " ".join(w.label.text for w in screen.question_widgets)
    )


def test_record_list_search_and_filter(app):
    for seed in range(3):
        app.new_record("household_registration")
        answers = sample_household(seed=seed, registration_date=TODAY)
        fill_screen(app.form_screen, answers, [])
        head = next(i for i, s in enumerate(app.session.steps) if s.key.startswith("group:head"))
        app.session.go_to(head)
        app.form_screen.render()
        pump(2)
        fill_screen(app.form_screen, answers, [])
        app.show_home()
    app.show_records("household_registration")
    pump(2)
    screen = app.records_screen
    assert len(screen.ids.list.data) == 3
    name = sample_household(seed=1)["hh_head_family_name"]
    screen.ids.search.text = name
    pump(2)
    # Found by the head's name, which the title (site and date) no longer shows.
    assert len(screen.ids.list.data) == 1
    found = app.store.draft(screen.ids.list.data[0]["record_id"]).answers
    assert found["hh_head_family_name"] == name
