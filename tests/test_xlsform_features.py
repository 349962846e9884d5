"""The XLSForm features and bugs of issue #10, through `validate` and the app's session.

Small forms of our own where a feature needs isolating; real corpus forms
(../shared/xlsforms/) where one shows it.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pytest

from fieldapp.session import FormSession, Slot
from fieldapp.store import Store
from forms import FormLoadError, load_form, validate_record
from forms.paths import is_instance_key

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "xlsforms"
NOW = dt.datetime(2026, 11, 30, 9, 15, 0)
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/xlsforms is absent")


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "fieldapp.db")
    store.set_setting("enumerator", "Ana Mussa")
    yield store
    store.close()


def open_session(form, store, answers=None) -> FormSession:
    record_id = store.create_draft(form.form_id, form.version, answers)
    return FormSession(form, store, record_id, clock=lambda: NOW)


def slot(session: FormSession, name: str, index=()) -> Slot:
    return Slot(session.form.question(name), index)


def refusals(write_form, text: str) -> list[str]:
    with pytest.raises(FormLoadError) as caught:
        load_form(write_form(text))
    return [str(problem) for problem in caught.value.problems]


def corpus_form(relative: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl's complaints about the workbook's styles
        return load_form(CORPUS / relative)


# --- metadata ---------------------------------------------------------------------------

METADATA_FORM = """
| survey |
| | type | name | label |
| | start | start | |
| | end | end | |
| | today | today | |
| | deviceid | deviceid | |
| | uri:deviceid | instance_device | |
| | username | username | |
| | phonenumber | phone | |
| | email | email | |
| | imei | imei | |
| | simserial | sim | |
| | subscriberid | subscriber | |
| | start-geopoint | where_started | |
| | text | household | Household |
| settings |
| | form_id | version |
| | metadata_demo | 1 |
"""


def test_metadata_types_load_with_odk_value_types(load):
    form = load(METADATA_FORM)
    kinds = {q.name: (q.metadata, q.type) for q in form.questions() if q.metadata}
    assert kinds == {
        "start": ("start", "dateTime"),
        "end": ("end", "dateTime"),
        "today": ("today", "date"),
        "deviceid": ("deviceid", "text"),
        "instance_device": ("uri:deviceid", "text"),
        "username": ("username", "text"),
        "phone": ("phonenumber", "text"),
        "email": ("email", "text"),
        "imei": ("deviceid", "text"),  # pyxform's spelling of deviceid
        "sim": ("simserial", "text"),
        "subscriber": ("subscriberid", "text"),
        "where_started": ("start-geopoint", "geopoint"),
    }
    assert not any(q.takes_input for q in form.questions() if q.metadata)


def test_metadata_values_are_validated_like_their_type(load):
    form = load(METADATA_FORM)
    good = {
        "start": "2026-11-30T09:15:00",
        "end": "2026-11-30T09:40:00",
        "today": "2026-11-30",
        "deviceid": "7f3c",
        "where_started": "-17.85 36.88 12 5",
        "household": "HH-1",
    }
    assert validate_record(form, good).ok
    bad = {**good, "start": "yesterday", "today": "30/11/2026", "where_started": "here"}
    codes = {issue.path: issue.code for issue in validate_record(form, bad).errors}
    assert codes == {"start": "datetime", "today": "date", "where_started": "geopoint"}
    # Filled by the app, never asked: an empty one is not an error.
    assert validate_record(form, {"household": "HH-1"}).ok


def test_the_app_fills_metadata_and_never_shows_it(load, store):
    form = load(METADATA_FORM)
    session = open_session(form, store)
    shown = {s.question.name for step in session.steps for s in step.slots}
    assert shown == {"household"}
    assert session.answers["start"] == "2026-11-30T09:15:00"
    assert session.answers["today"] == "2026-11-30"
    assert session.answers["deviceid"] == store.device_id
    assert session.answers["instance_device"] == f"uuid:{store.device_id}"
    assert session.answers["username"] == "Ana Mussa"
    # A desktop (and a tablet without a SIM) has no phone number, SIM or subscriber id.
    for name in ("phone", "sim", "subscriber", "email", "where_started"):
        assert name not in session.answers

    session.set_answer(slot(session, "household"), "HH-1")
    outcome = session.finalize()
    assert outcome.finalized, outcome.errors
    stored = store.revisions_of(session.record_id)[-1].answers
    assert stored["end"] == "2026-11-30T09:15:00"
    assert stored["deviceid"] == store.device_id
    assert stored["username"] == "Ana Mussa"


def test_start_geopoint_comes_from_the_gps_when_there_is_a_fix(load, store):
    from fieldapp.location import LocationTracker

    now = [100.0]
    tracker = LocationTracker(max_age_s=120, clock=lambda: now[0])
    tracker.on_location(lat=-17.851234, lon=36.883456, altitude=12.0, accuracy=4.5)
    form = load(METADATA_FORM)
    record_id = store.create_draft(form.form_id, form.version)
    session = FormSession(form, store, record_id, clock=lambda: NOW, location=tracker)
    assert session.answers["where_started"] == "-17.851234 36.883456 12.0 4.5"
    session.set_answer(slot(session, "household"), "HH-1")
    assert session.finalize().finalized
    # A fix older than two minutes is not where this record started.
    now[0] = 300.0
    assert tracker.latest() is None and tracker.reason == "no-fix"


def test_start_geopoint_without_a_gps_stays_empty_and_says_why(load, store):
    from fieldapp.location import LocationTracker

    tracker = LocationTracker()
    assert not tracker.start("linux")  # this desktop: plyer has no GPS here
    form = load(METADATA_FORM)
    record_id = store.create_draft(form.form_id, form.version)
    session = FormSession(form, store, record_id, clock=lambda: NOW, location=tracker)
    assert "where_started" not in session.answers
    [entry] = [e for e in store.audit_entries() if e["action"] == "metadata-empty"]
    assert entry["details"] == {"field": "where_started", "reason_code": "no-gps"}
    assert entry["record_id"] == record_id


# --- aliases and ignored columns -----------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("gps", "geopoint"),
        ("location", "geopoint"),
        ("string", "text"),
        ("int", "integer"),
        ("datetime", "dateTime"),
        ("date time", "dateTime"),
        ("q picture", "image"),
        ("photo", "image"),
        ("trigger", "acknowledge"),
    ],
)
def test_aliases_of_supported_types_load_as_the_canonical_type(load, spelling, canonical):
    form = load(
        f"""
        | survey |
        | | type | name | label |
        | | {spelling} | q | Question |
        """
    )
    assert form.question("q").type == canonical


def test_pyxform_preset_types_keep_their_constraint(load):
    form = load(
        """
        | survey |
        | | type | name | label |
        | | phone number | phone | Phone |
        """
    )
    phone = form.question("phone")
    assert phone.type == "text"
    assert not validate_record(form, {"phone": "84 123"}).ok
    assert validate_record(form, {"phone": "841234567"}).ok


def test_analysis_columns_that_odk_ignores_are_ignored(load):
    form = load(
        """
        | survey |
        | | type | name | label | level | theme | indicator | module | priority | index | correlate | disaggregation | ordinal | tutorial notes | sms_field | instance::hxl |
        | | integer | n | People | 1 | shelter | S1 | A | high | 3 | x | sex | 1 | ask twice | n | #affected |
        """
    )
    assert form.question("n").type == "integer"


def test_custom_attributes_are_ignored_but_odk_attributes_are_refused(write_form):
    form = load_form(
        write_form(
            """
            | survey |
            | | type | name | label | bind::myTool | body::rows | bind::saveIncomplete |
            | | text | a | A | x | 3 | true |
            """
        )
    )
    assert form.question("a")
    problems = refusals(
        write_form,
        """
        | survey |
        | | type | name | label | body::intent |
        | | text | a | A | org.example.scan |
        """,
    )
    assert problems == [
        "sheet 'survey', row 2, column 'body::intent': the body column 'intent' is not supported"
    ]


def test_required_on_a_group_is_ignored_as_in_odk(load):
    form = load(
        """
        | survey |
        | | type | name | label | required |
        | | begin group | g | G | yes |
        | | text | a | A | |
        | | end group | | | |
        """
    )
    assert validate_record(form, {}).ok


# --- misleading messages -------------------------------------------------------------------


def test_choices_from_an_xml_file_are_refused_naming_the_feature(write_form):
    problems = refusals(
        write_form,
        """
        | survey |
        | | type | name | label |
        | | select_one_from_file villages.xml | village | Village |
        """,
    )
    assert problems == [
        "sheet 'survey', row 2, column 'type': choices from an XML file ('villages.xml') are "
        "not supported yet; use a .csv or .geojson file"
    ]


def test_a_malformed_lookup_is_refused_naming_the_lookup_not_question_syntax(write_form):
    problems = refusals(
        write_form,
        """
        | survey |
        | | type | name | label | calculation |
        | | text | id | Id | |
        | | calculate | a | | instance('people')/root/item |
        """,
    )
    assert problems[0].startswith("sheet 'survey', row 3, column 'calculation': cannot read")
    assert "instance('name')/root/item[condition]/column" in problems[0]
    assert "${name}" not in problems[0]


def test_max_pixels_is_a_parameter_not_a_missing_column(load):
    form = load(
        """
        | survey |
        | | type | name | label | parameters |
        | | image | photo | Photo | max-pixels=1024 |
        """
    )
    assert form.question("photo").parameters["max-pixels"] == "1024"


def test_a_problem_on_a_nameless_note_names_its_row(write_form):
    problems = refusals(
        write_form,
        """
        | survey |
        | | type | name | label | relevant |
        | | text | a | A | |
        | | note | | Hello ${a} | ${a} = = 1 |
        """,
    )
    assert len(problems) == 1
    assert problems[0].startswith("sheet 'survey', row 3, column 'relevant'")


# --- choices with duplicate names ------------------------------------------------------------


DUPLICATE_CHOICES = """
| survey |
| | type | name | label | choice_filter |
| | select_one states | state | State | |
| | select_one counties | county | County | state=${state} |
| choices |
| | list_name | name | label | state |
| | states | texas | Texas | |
| | states | washington | Washington | |
| | counties | king | King | washington |
| | counties | king | King | texas |
| | counties | cameron | Cameron | texas |
| settings |
| | form_id | allow_choice_duplicates |
| | counties | yes |
"""


def test_a_duplicate_choice_name_is_available_under_each_of_its_filters(load, store):
    form = load(DUPLICATE_CHOICES)
    assert validate_record(form, {"state": "washington", "county": "king"}).ok
    assert validate_record(form, {"state": "texas", "county": "king"}).ok
    result = validate_record(form, {"state": "washington", "county": "cameron"})
    assert [issue.code for issue in result.errors] == ["choice-filtered"]

    session = open_session(form, store)
    session.set_answer(slot(session, "state"), "washington")
    assert [name for name, _ in session.choices(slot(session, "county"))] == ["king"]
    session.set_answer(slot(session, "county"), "king")
    assert session.finalize().finalized


# --- pyxform's whole conversion --------------------------------------------------------------


def test_forms_pyxform_refuses_are_refused_with_its_message(write_form):
    problems = refusals(
        write_form,
        """
        | survey |
        | | type | name | label | calculation |
        | | text | data | Data | |
        | | calculate | copy | | ${data} |
        """,
    )
    assert len(problems) == 1
    assert "There are multiple survey elements named 'data'" in problems[0]


# --- required notes -----------------------------------------------------------------------


REQUIRED_NOTE = """
| survey |
| | type | name | label | relevant | required | required_message |
| | integer | people | People | | | |
| | integer | children | Children | | | |
| | note | too_many | More children than people: check the counts | ${children} > ${people} | yes | Fix the counts |
"""


def test_a_relevant_required_note_blocks_finalizing(load, store):
    form = load(REQUIRED_NOTE)
    result = validate_record(form, {"people": 2, "children": 3})
    assert [(i.path, i.code, i.message) for i in result.errors] == [
        ("too_many", "required", "Fix the counts")
    ]
    assert validate_record(form, {"people": 4, "children": 3}).ok

    session = open_session(form, store)
    session.set_answer(slot(session, "people"), 2)
    session.set_answer(slot(session, "children"), 3)
    outcome = session.finalize()
    assert not outcome.finalized
    assert session.step.slots[0].question.name == "too_many"  # it jumps to the note
    session.set_answer(slot(session, "people"), 5)
    assert session.finalize().finalized


# --- refused with a message naming the feature -------------------------------------------------


def test_entities_without_save_to_are_refused_naming_the_feature(write_form):
    problems = refusals(
        write_form,
        """
        | survey |
        | | type | name | label |
        | | text | tree | Tree |
        | entities |
        | | list_name | label |
        | | trees | ${tree} |
        """,
    )
    assert problems == [
        "sheet 'entities', row 2, column 'list_name': entities (the entities sheet, save_to) "
        "are not supported yet: records would not create or update the entity list"
    ]


def test_encryption_is_refused_naming_the_feature(write_form):
    problems = refusals(
        write_form,
        """
        | survey |
        | | type | name | label |
        | | text | a | A |
        | settings |
        | | form_id | public_key |
        | | secret | MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA |
        """,
    )
    assert problems == [
        "sheet 'settings', row 2, column 'public_key': encryption (settings public_key) is "
        "not supported yet: it comes with data protection; remove public_key to use this form"
    ]


AUDIT_FORM = """
| survey |
| | type | name | label | parameters |
| | audit | audit | | {parameters} |
| | text | head_name | Head of household | |
| | integer | age | Age | |
"""


def ticking_clock(start: dt.datetime = NOW):
    """A clock that moves one second each time it is read."""
    moments = iter(start + dt.timedelta(seconds=n) for n in range(10_000))
    return lambda: next(moments)


def audit_rows(session: FormSession, name: str = "audit.csv") -> list[dict[str, str]]:
    import csv

    with (session.store.media_dir(session.record_id) / name).open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def fill_audited(load, store, parameters: str = "") -> FormSession:
    form = load(AUDIT_FORM.format(parameters=parameters))
    record_id = store.create_draft(form.form_id, form.version)
    session = FormSession(form, store, record_id, clock=ticking_clock())
    session.set_answer(slot(session, "head_name"), "Ana Mussa")
    assert session.next()
    session.set_answer(slot(session, "age"), 34)
    assert session.finalize().finalized
    return session


def test_audit_writes_odks_audit_csv_without_answers(load, store):
    session = fill_audited(load, store)
    assert session.answers["audit"] == "audit.csv"
    assert store.open_for_edit(session.record_id).answers["audit"] == "audit.csv"
    rows = audit_rows(session)
    assert list(rows[0]) == ["event", "node", "start", "end"]
    assert [(r["event"], r["node"]) for r in rows] == [
        ("form start", ""),
        ("question", "/data/head_name"),
        ("question", "/data/age"),
        ("form save", ""),
        ("form finalize", ""),
        ("form exit", ""),
    ]
    head = rows[1]
    assert int(head["end"]) - int(head["start"]) >= 1000  # milliseconds on screen
    text = (store.media_dir(session.record_id) / "audit.csv").read_text()
    assert "Ana" not in text and "34" not in text  # no answers unless track-changes
    assert session.form.question("audit").sensitivity == "personal"


def test_audit_with_track_changes_and_locations(load, store):
    session = fill_audited(
        load,
        store,
        "track-changes=true location-priority=balanced location-min-interval=10 location-max-age=60",
    )
    rows = audit_rows(session)
    assert list(rows[0]) == [
        "event", "node", "start", "end", "latitude", "longitude", "accuracy",
        "old-value", "new-value",
    ]  # fmt: skip
    # No GPS on this platform: said once in the file, the location columns stay empty.
    assert rows[1]["event"] == "location providers disabled"
    head = next(r for r in rows if r["node"] == "/data/head_name")
    assert (head["old-value"], head["new-value"], head["latitude"]) == ("", "Ana Mussa", "")
    age = next(r for r in rows if r["node"] == "/data/age")
    assert (age["old-value"], age["new-value"]) == ("", "34")
    # The log holds answers now: the audit is sensitive data.
    assert session.form.question("audit").sensitivity == "sensitive"


def test_audit_locations_come_from_the_gps_on_every_event_while_the_fix_is_fresh(load, store):
    """With a GPS, each row carries the tablet's latest fix; once the fix is older than
    `location-max-age`, the columns stay empty rather than place the event where it was not."""
    from fieldapp.location import LocationTracker

    now = [100.0]
    tracker = LocationTracker(max_age_s=600, clock=lambda: now[0])
    tracker.on_location(lat=-17.851234, lon=36.883456, altitude=12.0, accuracy=4.5)
    form = load(
        AUDIT_FORM.format(
            parameters="location-priority=balanced location-min-interval=10 location-max-age=60"
        )
    )
    record_id = store.create_draft(form.form_id, form.version)
    session = FormSession(form, store, record_id, clock=ticking_clock(), location=tracker)
    session.set_answer(slot(session, "head_name"), "Ana Mussa")
    assert session.next()
    now[0] = 200.0  # the walk to the next question took 100 s: the fix is stale for the audit
    session.set_answer(slot(session, "age"), 34)
    assert session.finalize().finalized
    rows = audit_rows(session)
    assert rows[1]["event"] == "location tracking enabled"
    head = next(r for r in rows if r["node"] == "/data/head_name")
    assert (head["latitude"], head["longitude"], head["accuracy"]) == (
        "-17.851234", "36.883456", "4.5")  # fmt: skip
    age = next(r for r in rows if r["node"] == "/data/age")
    assert (age["latitude"], age["longitude"]) == ("", "")
    assert all(r["latitude"] == "" for r in rows if r["event"] == "form finalize")


def test_an_edit_after_the_server_may_have_the_audit_writes_a_new_file(load, store):
    session = fill_audited(load, store)
    pending = store.pending_outbox()
    store.mark_attempted([r.revision_id for r in pending])
    store.acknowledge([r.revision_id for r in pending])
    store.open_for_edit(session.record_id)
    again = FormSession(session.form, store, session.record_id, clock=ticking_clock())
    assert again.answers["audit"] == "audit-2.csv"
    again.set_answer(slot(again, "head_name"), "Ana M. Mussa")
    assert again.finalize().finalized
    assert audit_rows(again, "audit-2.csv")[0]["event"] == "form start"
    # The first file is as it was when the server could have taken it.
    assert [r["event"] for r in audit_rows(session)][-1] == "form exit"


def test_a_draft_left_and_resumed_appends_to_its_audit(load, store):
    form = load(AUDIT_FORM.format(parameters=""))
    record_id = store.create_draft(form.form_id, form.version)
    first = FormSession(form, store, record_id, clock=ticking_clock())
    first.set_answer(slot(first, "head_name"), "Ana")
    first.leave()
    resumed = FormSession(form, store, record_id, clock=ticking_clock())
    assert resumed.answers["audit"] == "audit.csv"
    events = [r["event"] for r in audit_rows(resumed)]
    assert events == ["form start", "question", "form save", "form exit", "form resume"]


@pytest.mark.parametrize("parameter", ["identify-user=true", "track-changes-reasons=on-form-edit"])
def test_audit_parameters_the_app_cannot_honour_are_refused(write_form, parameter):
    problems = refusals(write_form, AUDIT_FORM.format(parameters=parameter))
    assert len(problems) == 1
    assert problems[0].startswith("sheet 'survey', row 2, column 'parameters': the audit parameter")


# --- the trigger column --------------------------------------------------------------------


TRIGGER_FORM = """
| survey |
| | type | name | label | calculation | trigger |
| | integer | age | Age | | |
| | text | age_note | Age as first given | concat('age ', ${age}) | ${age} |
| | integer | recorded | Recorded | | |
"""


def test_a_trigger_sets_a_value_once_per_change_of_its_trigger(load, store):
    form = load(TRIGGER_FORM)
    question = form.question("age_note")
    assert question.trigger == ("age",) and question.calculation is None
    session = open_session(form, store)
    session.set_answer(slot(session, "age"), 30)
    assert session.answers["age_note"] == "age 30"
    # The enumerator may correct it; other changes don't recompute it.
    session.set_answer(slot(session, "age_note"), "about 30")
    session.set_answer(slot(session, "recorded"), 1)
    assert session.answers["age_note"] == "about 30"
    session.set_answer(slot(session, "age"), 31)
    assert session.answers["age_note"] == "age 31"
    # The validator keeps the stored value: it is an answer, not a calculation.
    result = validate_record(form, {"age": 31, "age_note": "about 31"})
    assert result.ok and result.record["age_note"] == "about 31"


# --- media, audio, video, files ----------------------------------------------------------------


def test_media_on_questions_and_choices_are_attachments_of_the_form(load):
    form = load(
        """
        | survey |
        | | type | name | label | media::image | media::audio |
        | | select_one animals | animal | Animal | animals.png | ask.mp3 |
        | choices |
        | | list_name | name | label | media::image |
        | | animals | goat | Goat | goat.jpg |
        | | animals | cow | Cow | |
        """
    )
    assert form.question("animal").media == {
        "image": {"default": "animals.png"},
        "audio": {"default": "ask.mp3"},
    }
    assert form.choice("animals", "goat").media == {"image": {"default": "goat.jpg"}}
    assert form.attachments == ["animals.png", "ask.mp3", "goat.jpg"]


def test_audio_video_and_file_answers_are_attached_files(load, store, tmp_path):
    form = load(
        """
        | survey |
        | | type | name | label |
        | | audio | interview | Interview |
        | | video | walk | Walk |
        | | file | letter | Letter |
        """
    )
    assert [q.type for q in form.questions()] == ["audio", "video", "file"]
    assert not validate_record(form, {"interview": 3}).ok
    session = open_session(form, store)
    recording = tmp_path / "Interview.M4A"
    recording.write_bytes(b"not really audio")
    name = session.attach(recording, form.question("interview"))
    assert name.endswith(".m4a") and session.media_path(name).read_bytes() == b"not really audio"
    session.set_answer(slot(session, "interview"), name)
    assert session.finalize().finalized


def test_max_pixels_scales_photos_down_keeping_their_shape(load, store, tmp_path):
    from PIL import Image

    form = load(
        """
        | survey |
        | | type | name | label | parameters |
        | | image | photo | Photo | max-pixels=1024 |
        | | image | full | Full size | |
        """
    )
    source = tmp_path / "big.jpg"
    Image.new("RGB", (2000, 1000), "red").save(source)
    session = open_session(form, store)
    scaled = session.media_path(session.attach(source, form.question("photo")))
    kept = session.media_path(session.attach(source, form.question("full")))
    with Image.open(scaled) as image:
        assert image.size == (1024, 512)
    with Image.open(kept) as image:
        assert image.size == (2000, 1000)


# --- select_one_external, on a real form -------------------------------------------------------


@needs_corpus
def test_select_one_external_offers_the_external_choices_filtered(store):
    form = corpus_form("terrafirma_legend/LEGEND_C2_assinantes_assoc.xlsx")
    district = form.question("dist_id")
    assert district.external and district.type == "select_one"
    niassa = [c.name for c in form.choices["districts"] if c.properties["prov_id"] == "P01"]
    assert niassa and "D0102" in niassa

    session = open_session(form, store)
    session.set_answer(slot(session, "prov_id"), "P01")
    offered = [name for name, _ in session.choices(slot(session, "dist_id"))]
    assert offered == niassa
    assert dict(session.choices(slot(session, "dist_id")))["D0102"] == "CUAMBA"

    answers = {"prov_id": "P01", "dist_id": "D0102"}
    result = validate_record(form, answers)
    assert not any(issue.path == "dist_id" for issue in result.errors)
    outside = next(c.name for c in form.choices["districts"] if c.properties["prov_id"] != "P01")
    result = validate_record(form, {"prov_id": "P01", "dist_id": outside})
    assert [i.code for i in result.errors if i.path == "dist_id"] == ["choice-filtered"]


@needs_corpus
def test_a_real_form_with_metadata_and_aliases_loads_and_fills(store):
    # Ona's tutorial form: start, end, today, deviceid, imei, phonenumber, gps.
    form = corpus_form("onadata/tutorial.xlsx")
    assert {q.metadata for q in form.questions() if q.metadata} >= {"start", "end", "deviceid"}
    session = open_session(form, store)
    assert session.answers[next(q.name for q in form.questions() if q.metadata == "start")] == (
        "2026-11-30T09:15:00"
    )


# --- preview follows the app's rules --------------------------------------------------------


PREVIEW_FORM = """
| survey |
| | type | name | label | choice_filter | repeat_count |
| | text | head | Name of the head | | |
| | select_one province | province | Province of ${head} | | |
| | select_one district | district | District in ${province} | province=${province} | |
| | integer | children | Children | | |
| | begin repeat | child | Child | | ${children} |
| | text | child_name | Name of child of ${head} | | |
| | end repeat | | | | |
| choices |
| | list_name | name | label | province |
| | province | zam | Zambézia | |
| | province | nia | Niassa | |
| | district | moc | Mocuba | zam |
| | district | cua | Cuamba | nia |
"""


def test_preview_filters_choices_fills_labels_and_follows_repeat_counts(write_form):
    import io

    from forms.cli import preview_form

    answers = io.StringIO("Ana\n1\n1\n2\nRui\nEva\n")
    out = io.StringIO()
    assert preview_form(write_form(PREVIEW_FORM), None, answers, out) == 0
    text = out.getvalue()
    assert "Province of Ana" in text
    assert "District in Zambézia" in text
    assert "1. Mocuba" in text and "Cuamba" not in text  # the choice filter applies
    assert "Add a" not in text  # repeat_count decides how many children
    assert text.count("Name of child of Ana") == 2
    assert '"child_name": "Eva"' in text


# --- the same name in different groups and repeats -----------------------------------------

SAME_NAMES = """
| survey |
| | type | name | label | calculation | relevant |
| | text | name | Household name | | |
| | begin group | head | Head | | |
| | text | phone | Phone of the head | | |
| | end group | | | | |
| | begin group | contact | Contact person | | |
| | text | phone | Phone of the contact | | |
| | end group | | | | |
| | begin repeat | members | Members | | |
| | text | name | Member name | | |
| | integer | age | Age | | |
| | note | adult | An adult | | ${age} >= 18 |
| | end repeat | | | | |
"""


def test_the_same_name_in_different_groups_and_repeats(load, store):
    form = load(SAME_NAMES)
    keys = [q.name for q in form.questions()]
    assert keys == [
        "name",
        "head.phone",
        "contact.phone",
        "members.name",
        "age",
        "adult",
    ]

    record = {
        "name": "Casa Mussa",
        "head.phone": "841111111",
        "contact.phone": "842222222",
        "members": [{"members.name": "Ana", "age": 30}],
    }
    result = validate_record(form, record)
    assert result.ok, result.errors

    session = open_session(form, store)
    session.set_answer(slot(session, "name"), "Casa Mussa")
    session.set_answer(slot(session, "head.phone"), "841111111")
    session.set_answer(slot(session, "contact.phone"), "842222222")
    members = form.node("members")
    session.add_instance(members)
    session.set_answer(slot(session, "members.name", (0,)), "Ana")
    session.set_answer(slot(session, "age", (0,)), 30)
    assert session.result.is_relevant("adult", (0,))
    assert session.finalize().finalized
    stored = store.revisions_of(session.record_id)[-1].answers
    assert stored["head.phone"] == "841111111" and stored["contact.phone"] == "842222222"
    (member,) = stored["members"]
    assert is_instance_key(member.pop("_key"))  # the member's identity (issue #8)
    assert member == {"members.name": "Ana", "age": 30}


@needs_corpus
def test_a_real_form_with_repeated_names_loads(store):
    # Ona's household form: "name" of the household and of each member.
    form = corpus_form("onadata/household.xlsx")
    names = [q.name for q in form.questions() if q.name.endswith("name")]
    assert len(names) == len(set(names)) >= 2
