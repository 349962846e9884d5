"""External data: choices from CSV/GeoJSON files, instance() lookups, pulldata(), search(),
and `forms check` reporting attachments that are missing. Through validate and the session."""

from __future__ import annotations

import datetime as dt
import io
import json
import warnings
from pathlib import Path

import pytest

from fieldapp.session import FormSession, Slot
from fieldapp.store import Store
from forms import load_form, validate_record
from forms.cli import check_forms

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "xlsforms"

VILLAGES_CSV = """name,label,label::Português (pt),district
v1,Namacurra Sede,Namacurra Sede,namacurra
v2,Macuse,Macuse,namacurra
v3,Mocuba Sede,Mocuba Sede,mocuba
"""

FILE_FORM = """
| survey |
| | type | name | label | choice_filter | calculation |
| | select_one district | district | District | | |
| | select_one_from_file villages.csv | village | Village | district=${district} | |
| | calculate | village_name | | | instance('villages')/root/item[name=${village}]/label |
| | calculate | pulled | | | pulldata('villages', 'district', 'name', ${village}) |
| choices |
| | list_name | name | label |
| | district | namacurra | Namacurra |
| | district | mocuba | Mocuba |
| settings |
| | form_id | version |
| | villages | 1 |
"""


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "store" / "fieldapp.db")
    yield store
    store.close()


def session_for(form, store) -> FormSession:
    record_id = store.create_draft(form.form_id, form.version)
    return FormSession(form, store, record_id, clock=lambda: dt.datetime(2026, 11, 30, 9))


def at(session: FormSession, name: str) -> Slot:
    return Slot(session.form.question(name), ())


def test_select_one_from_a_csv_file_with_a_filter_lookup_and_pulldata(write_form, store):
    form_path = write_form(FILE_FORM)
    (form_path.parent / "villages.csv").write_text(VILLAGES_CSV, encoding="utf-8")
    form = load_form(form_path)
    assert form.attachments == ["villages.csv"] and form.missing_attachments() == []
    assert [c.name for c in form.choices["villages.csv"]] == ["v1", "v2", "v3"]

    result = validate_record(form, {"district": "namacurra", "village": "v2"})
    assert result.ok, result.errors
    assert result.record["village_name"] == "Macuse"
    assert result.record["pulled"] == "namacurra"
    wrong = validate_record(form, {"district": "mocuba", "village": "v2"})
    assert [i.code for i in wrong.errors] == ["choice-filtered"]
    assert [i.code for i in validate_record(form, {"village": "v9"}).errors] == ["choice"]

    session = session_for(form, store)
    session.set_answer(at(session, "district"), "namacurra")
    assert session.choices(at(session, "village")) == [
        ("v1", "Namacurra Sede"),
        ("v2", "Macuse"),
    ]
    session.set_answer(at(session, "village"), "v1")
    assert session.computed(at(session, "village_name")) == "Namacurra Sede"
    assert session.finalize().finalized


def test_select_one_from_a_geojson_file_and_a_geometry_lookup(write_form):
    form_path = write_form(
        """
        | survey |
        | | type | name | label | calculation |
        | | select_one_from_file sites.geojson | site | Site | |
        | | calculate | site_point | | instance('sites')/root/item[id=${site}]/geometry |
        """
    )
    features = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": "s1",
                "properties": {"title": "Site one"},
                "geometry": {"type": "Point", "coordinates": [36.88, -17.85]},
            }
        ],
    }
    (form_path.parent / "sites.geojson").write_text(json.dumps(features), encoding="utf-8")
    form = load_form(form_path)
    assert form.text(form.choices["sites.geojson"][0].label) == "Site one"
    result = validate_record(form, {"site": "s1"})
    assert result.ok and result.record["site_point"] == "-17.85 36.88 0 0"


SEARCH_FORM = """
| survey |
| | type | name | label | appearance |
| | select_one district | district | District | |
| | select_one pov | village | Village | search('villages', 'matches', 'district', ${district}) |
| choices |
| | list_name | name | label |
| | district | namacurra | Namacurra |
| | district | mocuba | Mocuba |
| | pov | name | label |
| | pov | other | Not in the list |
"""


def test_the_search_appearance_offers_the_matching_rows_of_the_csv(write_form, store):
    form_path = write_form(SEARCH_FORM)
    (form_path.parent / "villages.csv").write_text(VILLAGES_CSV, encoding="utf-8")
    form = load_form(form_path)
    assert form.question("village").search[0] == "'villages'"
    assert validate_record(form, {"district": "mocuba", "village": "v3"}).ok
    assert validate_record(form, {"district": "mocuba", "village": "other"}).ok
    # The placeholder row that names the columns is never a valid answer.
    for value in ("name", "v1"):
        result = validate_record(form, {"district": "mocuba", "village": value})
        assert [i.code for i in result.errors] == ["choice"]

    session = session_for(form, store)
    session.set_answer(at(session, "district"), "namacurra")
    assert session.choices(at(session, "village")) == [
        ("v1", "Namacurra Sede"),
        ("v2", "Macuse"),
        ("other", "Not in the list"),
    ]


def test_check_warns_about_missing_attachments_and_strict_makes_them_errors(write_form):
    form_path = write_form(FILE_FORM)
    out = io.StringIO()
    assert check_forms([form_path], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"✓ {form_path}: villages version 1")
    assert lines[1].strip() == (
        f"warning: the attachment 'villages.csv' is missing (expected in {form_path.parent}); "
        "publish it with the form"
    )
    out = io.StringIO()
    assert check_forms([form_path], out, strict=True) == 1
    assert out.getvalue().splitlines()[1].strip().startswith("error: the attachment")
    (form_path.parent / "villages.csv").write_text(VILLAGES_CSV, encoding="utf-8")
    out = io.StringIO()
    assert check_forms([form_path], out, strict=True) == 0


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/xlsforms is absent")
def test_hot_field_mapping_form_looks_up_the_chosen_feature(tmp_path):
    # HOT's FMTM form: select_one_from_file features.csv, then instance('features') lookups.
    (tmp_path / "features.csv").write_text(
        "name,label,id,geometry\nb1,Building 1,b1,-8.35 115.6 0 0\n", encoding="utf-8"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        form = load_form(
            CORPUS / "fmtm" / "building_natural_risks_survey.xlsx", attachment_dir=tmp_path
        )
    assert "features.csv" in form.attachments and form.missing_attachments() == []
    result = validate_record(form, {"feature": "b1"})
    assert result.record.get("xid") == "b1"
