"""Loading XLSForms: every supported type and column, languages, settings, and refusals."""

from __future__ import annotations

import openpyxl
import pytest

from forms import FormLoadError, Group, Repeat, load_form

pytestmark = pytest.mark.unit

ALL_TYPES_FORM = """
| survey |
| | type | name | label::English (en) | label::Português (pt) | parameters | sensitivity | calculation |
| | text | t | Text | Texto | | personal | |
| | integer | i | Integer | Inteiro | | public | |
| | decimal | d | Decimal | Decimal | | public | |
| | range | r | Range | Intervalo | start=0 end=10 step=2 | public | |
| | select_one yn | s1 | One | Uma | | public | |
| | select_multiple yn | sm | Many | Várias | | public | |
| | select_one yn or_other | so | Other | Outro | | public | |
| | note | n | Note | Nota | | public | |
| | acknowledge | ack | Ack | Conf | | public | |
| | date | dt | Date | Data | | personal | |
| | time | tm | Time | Hora | | public | |
| | dateTime | dtm | When | Quando | | public | |
| | geopoint | gp | Point | Ponto | capture-accuracy=10 | personal | |
| | geotrace | gt | Trace | Linha | | public | |
| | geoshape | gs | Shape | Área | | public | |
| | image | img | Photo | Foto | | sensitive | |
| | barcode | bc | Code | Código | | public | |
| | calculate | calc | | | | public | ${i} * 2 |
| | hidden | hid | | | | public | |
| choices |
| | list_name | name | label::English (en) | label::Português (pt) |
| | yn | yes | Yes | Sim |
| | yn | no | No | Não |
| settings |
| | form_id | version | default_language | instance_name | form_title |
| | all_types | 2026112401 | Português (pt) | concat(${t}, '-', ${i}) | All types |
"""


def test_every_supported_question_type_loads(load):
    form = load(ALL_TYPES_FORM)
    types = {q.name: q.type for q in form.questions()}
    assert types == {
        "t": "text",
        "i": "integer",
        "d": "decimal",
        "r": "range",
        "s1": "select_one",
        "sm": "select_multiple",
        "so": "select_one",
        "so_other": "text",
        "n": "note",
        "ack": "acknowledge",
        "dt": "date",
        "tm": "time",
        "dtm": "dateTime",
        "gp": "geopoint",
        "gt": "geotrace",
        "gs": "geoshape",
        "img": "image",
        "bc": "barcode",
        "calc": "calculate",
        "hid": "hidden",
    }


def test_or_other_adds_a_specify_other_question_that_follows_the_select(load):
    form = load(ALL_TYPES_FORM)
    select = form.question("so")
    other = form.question("so_other")
    assert select.or_other
    assert other.relevant == "selected(${so}, 'other')"
    assert form.text(other.label, "pt") == "Especifique outro"
    assert other.sensitivity == "public"  # inherits the select's level


def test_settings_languages_and_parameters(load):
    form = load(ALL_TYPES_FORM)
    assert (form.form_id, form.version, form.title) == ("all_types", "2026112401", "All types")
    assert form.default_language == "Português (pt)"
    assert form.languages == ["English (en)", "Português (pt)"]
    assert form.instance_name == "concat(${t}, '-', ${i})"
    assert form.question("r").parameters == {"start": "0", "end": "10", "step": "2"}
    assert form.question("gp").parameters["capture-accuracy"] == "10"
    assert form.question("img").sensitivity == "sensitive"


def test_labels_per_language_with_fallback(load):
    form = load(
        """
        | survey |
        | | type | name | label::English (en) | label::Português (pt) | hint::English (en) |
        | | text | a | Name | Nome | Only English hint |
        | settings |
        | | form_id | default_language |
        | | f | Português (pt) |
        """
    )
    question = form.question("a")
    assert form.text(question.label, "pt") == "Nome"
    assert form.text(question.label, "en") == "Name"
    assert form.text(question.label) == "Nome"  # the form's default language
    assert form.text(question.label, "fr") == "Nome"  # unknown language: the default
    assert form.text(question.hint, "pt") == "Only English hint"  # missing: any language


def test_columns_are_kept(load):
    form = load(
        """
        | survey |
        | | type | name | label | relevant | constraint | constraint_message | required | required_message | calculation | default | read_only | appearance | choice_filter |
        | | integer | age | Age | | . >= 0 and . <= 110 | 0 to 110 | yes | Age please | | 30 | | | |
        | | text | note_txt | N | ${age} > 5 | | | ${age} > 10 | | | | yes | multiline | |
        | | calculate | twice | | | | | | | ${age} * 2 | | | | |
        | | select_one prov | p | P | | | | | | | | | minimal | |
        | | select_one dist | d | D | | | | | | | | | | prov = ${p} |
        | choices |
        | | list_name | name | label | prov |
        | | prov | a | A | |
        | | dist | d1 | D1 | a |
        | settings |
        | | form_id |
        | | cols |
        """
    )
    age = form.question("age")
    assert age.constraint == ". >= 0 and . <= 110"
    assert form.text(age.constraint_message) == "0 to 110"
    assert age.required == "yes" and form.text(age.required_message) == "Age please"
    assert age.default == "30"
    text = form.question("note_txt")
    assert text.relevant == "${age} > 5" and text.required == "${age} > 10"
    assert text.is_read_only and text.appearance == "multiline"
    assert form.question("twice").calculation == "${age} * 2"
    assert form.question("p").appearance == "minimal"
    assert form.question("d").choice_filter == "prov = ${p}"
    assert form.choice("dist", "d1").properties == {"prov": "a"}


def test_groups_repeats_and_repeat_count(load):
    form = load(
        """
        | survey |
        | | type | name | label | appearance | repeat_count |
        | | integer | n | How many? | | |
        | | begin_group | hh | Household | field-list | |
        | | text | head | Head | | |
        | | end_group | | | | |
        | | begin_repeat | members | Members | | ${n} |
        | | text | member_name | Name | | |
        | | begin_repeat | visits | Visits | | |
        | | date | visit_date | Date | | |
        | | end_repeat | | | | |
        | | end_repeat | | | | |
        | settings |
        | | form_id |
        | | rep |
        """
    )
    group = form.node("hh")
    members = form.node("members")
    assert isinstance(group, Group) and group.is_field_list
    assert isinstance(members, Repeat) and members.repeat_count == "${n}"
    assert form.question("member_name").repeat_path == ("members",)
    assert form.question("visit_date").repeat_path == ("members", "visits")
    assert [r.name for r in form.repeats()] == ["members", "visits"]


def test_reads_xlsx_and_csv_as_well_as_markdown(tmp_path):
    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::English (en)", "label::Português (pt)"])
    survey.append(["integer", "age", "Age", "Idade"])
    settings = book.create_sheet("settings")
    settings.append(["form_id", "version"])
    settings.append(["xl", "7"])
    path = tmp_path / "form.xlsx"
    book.save(path)
    form = load_form(path)
    assert (form.form_id, form.version) == ("xl", "7")
    assert form.text(form.question("age").label, "pt") == "Idade"

    csv_path = tmp_path / "form.csv"
    csv_path.write_text("survey,,,\n,type,name,label\n,text,who,Who?\n", encoding="utf-8")
    assert load_form(csv_path).question("who").type == "text"


def test_version_defaults_to_a_content_hash_that_changes_with_the_form(write_form):
    first = load_form(write_form("| survey |\n| | type | name | label |\n| | text | a | A |"))
    second = load_form(write_form("| survey |\n| | type | name | label |\n| | text | a | B |"))
    assert first.version.startswith("sha-") and first.version != second.version


# --- refusals: every message names the sheet, the row and the column --------------------


def refused(write_form, text: str) -> list[str]:
    with pytest.raises(FormLoadError) as caught:
        load_form(write_form(text))
    return [str(problem) for problem in caught.value.problems]


def test_unknown_type_is_refused_with_its_row(write_form):
    problems = refused(
        write_form,
        """
        | survey |
        | | type | name | label |
        | | text | a | A |
        | | xml-external | b | |
        """,
    )
    assert problems == [
        "sheet 'survey', row 3, column 'type': the question type 'xml-external' is not "
        "supported (supported: acknowledge, audio, barcode, calculate, date, dateTime, "
        "decimal, file, geopoint, geoshape, geotrace, hidden, image, integer, note, range, "
        "select_multiple, select_one, text, time, video)"
    ]


def test_unparseable_expression_is_refused_with_row_column_and_position(write_form):
    problems = refused(
        write_form,
        """
        | survey |
        | | type | name | label | relevant | constraint |
        | | integer | a | A | | |
        | | integer | b | B | ${a} > > 3 | |
        | | integer | c | C | | foo(.) |
        """,
    )
    assert problems[0].startswith("sheet 'survey', row 3, column 'relevant': cannot read")
    assert "position 7" in problems[0]
    assert problems[1].startswith("sheet 'survey', row 4, column 'constraint': cannot read")
    assert "unknown function 'foo'" in problems[1]


def test_reference_to_a_missing_field_is_refused(write_form):
    problems = refused(
        write_form,
        """
        | survey |
        | | type | name | label | relevant |
        | | integer | a | A | |
        | | integer | b | B | ${nowhere} > 1 |
        """,
    )
    assert len(problems) == 1
    assert "row 3" in problems[0] and "'relevant'" in problems[0] and "nowhere" in problems[0]


def test_missing_choice_list_is_refused(write_form):
    problems = refused(
        write_form,
        """
        | survey |
        | | type | name | label |
        | | select_one colours | c | Colour |
        | choices |
        | | list_name | name | label |
        | | sizes | s | Small |
        """,
    )
    assert len(problems) == 1
    assert "row 2" in problems[0] and "colours" in problems[0]


def test_the_same_name_in_different_groups_gets_a_key_of_its_own(write_form):
    form = load_form(
        write_form(
            """
            | survey |
            | | type | name | label |
            | | begin_group | g1 | G1 |
            | | text | phone | Phone |
            | | end_group | | |
            | | begin_group | g2 | G2 |
            | | text | phone | Phone again |
            | | end_group | | |
            """
        )
    )
    assert [(q.name, q.row) for q in form.questions()] == [("g1.phone", 3), ("g2.phone", 6)]


def test_duplicate_names_in_the_same_group_are_refused_by_pyxform_with_the_row(write_form):
    problems = refused(
        write_form,
        """
        | survey |
        | | type | name | label |
        | | text | a | A |
        | | text | a | A again |
        """,
    )
    assert len(problems) == 1 and "row 3" in problems[0] and "'a'" in problems[0]


def test_calculation_cycle_is_refused(write_form):
    problems = refused(
        write_form,
        """
        | survey |
        | | type | name | label | calculation |
        | | calculate | x | | ${y} + 1 |
        | | calculate | y | | ${x} + 1 |
        """,
    )
    assert problems == [
        "sheet 'survey', row 2, column 'calculation': 'x' depends on itself through a cycle "
        "of calculations or relevance (x -> y)"
    ]


def test_unsupported_columns_and_bad_sensitivity_are_refused(write_form):
    problems = refused(
        write_form,
        """
        | survey |
        | | type | name | label | media::image | sensitivity | body::intent |
        | | text | a | A | a.png | public | org.example.app |
        | | text | b | B | | secret | |
        """,
    )
    assert any("row 2" in p and "body::intent" in p for p in problems)
    assert any("row 3" in p and "sensitivity 'secret'" in p for p in problems)


def test_unreadable_files_are_refused_clearly(tmp_path):
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(b"this is not a zip file")
    with pytest.raises(FormLoadError, match=r"corrupt\.xlsx"):
        load_form(corrupt)
    with pytest.raises(FormLoadError, match="no such file"):
        load_form(tmp_path / "missing.xlsx")


def test_all_problems_are_reported_at_once(write_form):
    problems = refused(
        write_form,
        """
        | survey |
        | | type | name | label | constraint |
        | | xml-external | a | | |
        | | integer | b | B | . > |
        | | background-audio | c | | |
        """,
    )
    assert [p.split(",")[1].strip() for p in problems] == ["row 2", "row 3", "row 4"]
