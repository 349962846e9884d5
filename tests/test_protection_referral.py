"""Protection referral, safely (issue #11): unaccompanied children derived from the roster, a
referral offered and recorded without free text, and nothing of it in a shareable export.

The household form is the bundled workbook read by the real engine; the export runs through
the server's own export code on a real SQLite file (the app in-process).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forms import FORMS_DIR, Group, load_form, validate_record
from forms.samples import sample_household
from sync_server import auth
from sync_server.app import create_app
from sync_server.exports import ExportOptions, export
from sync_server.exports.testing import seed_records

pytestmark = pytest.mark.integration

HOUSEHOLD = FORMS_DIR / "household_registration.xlsx"
NOW = dt.datetime(2026, 11, 25, 12, 0)
# Every field that says something about a household's protection situation.
PROTECTION_FIELDS = {
    "vulnerabilities",
    "is_uasc_reported",
    "is_child_head",
    "child_headed",
    "n_uasc_reported",
    "no_adult",
    "n_unaccompanied_derived",
    "missing_members",
    "n_missing",
    "protection_trigger",
    "referral_offered",
    "referral_agreed",
    "referral_services",
    "referral_made",
    "flags_pt",
    "flags_en",
}
REFERRAL = {
    "referral_offered": "yes",
    "referral_agreed": "yes",
    "referral_services": ["child_protection", "family_tracing"],
    "referral_made": "made_now",
}


@pytest.fixture(scope="module")
def form():
    return load_form(HOUSEHOLD)


def children_alone(seed: int = 7) -> dict[str, Any]:
    """Three children without an adult: the eldest, 12, is the head."""
    record = sample_household(seed, members=3)
    record["consent_by"] = "caregiver"
    for member, (relationship, age) in zip(
        record["members"], [("head", 12), ("sibling", 8), ("sibling", 5)], strict=True
    ):
        member.pop("dob", None)
        member.update(relationship=relationship, dob_known="no", age_reported=age,
                      age_estimated="yes", id_doc_type="birth_certificate",
                      vulnerabilities=["none"], school_attending="no")  # fmt: skip
        member["wg_respondent"] = "proxy"
        for domain in ("seeing", "hearing", "walking", "remembering", "selfcare", "communicating"):
            member[f"wg_{domain}"] = "no_difficulty"
    return record


def test_children_without_an_adult_are_derived_unaccompanied_and_offered_a_referral(form):
    record = children_alone()
    result = validate_record(form, record, now=NOW, language="en")
    # Derived from the roster, not from a tick box: no member is 18 or over.
    assert result.record["n_adults"] == 0
    assert result.record["n_children"] == 3
    assert result.record["no_adult"] == 1
    assert result.record["n_unaccompanied_derived"] == 3
    assert result.record["child_headed"] == 1
    assert result.record["protection_trigger"] == 1
    # The referral must be offered (answered) before the household can be saved.
    assert {e.path for e in result.errors} == {"referral_offered"}
    assert result.is_relevant("no_adult_note")

    record.update(REFERRAL)
    result = validate_record(form, record, now=NOW, language="en")
    assert result.ok, result.errors
    assert result.record["referral_services"] == ["child_protection", "family_tracing"]
    assert result.record["referral_made"] == "made_now"


def test_a_household_with_an_adult_gets_no_referral_questions(form):
    result = validate_record(form, sample_household(7), now=NOW)
    assert result.ok, result.errors
    assert result.record["no_adult"] == 0
    assert result.record["protection_trigger"] == 0
    assert not result.is_relevant("referral_offered")
    assert "referral_offered" not in result.record


def test_unaccompanied_ticked_in_a_household_with_an_adult_asks_to_check(form):
    record = sample_household(8)
    child = next(m for m in record["members"] if m["relationship"] == "son_daughter")
    child["vulnerabilities"] = ["unaccompanied_child"]
    result = validate_record(form, record, now=NOW)
    position = record["members"].index(child)
    assert result.is_relevant("uac_adult_note", (position,))
    assert result.record["n_uasc_reported"] == 1
    assert result.record["protection_trigger"] == 1


def test_a_missing_relative_triggers_the_referral_but_no_names_are_asked(form):
    record = sample_household(9)
    record.update(missing_members="yes", n_missing=1, referral_offered="no")
    result = validate_record(form, record, now=NOW)
    assert result.ok, result.errors
    assert result.record["protection_trigger"] == 1


def test_referral_and_tracing_questions_are_sensitive_and_never_free_text(form):
    for name in ("family_tracing", "protection_referral"):
        group = form.node(name)
        assert isinstance(group, Group)
        for question in group.children:
            if question.type == "note":
                continue
            assert question.type in ("select_one", "select_multiple", "integer"), question.name
            assert question.sensitivity == "sensitive", question.name
    for name in PROTECTION_FIELDS:
        assert form.node(name).sensitivity == "sensitive", name
    # GBV and trafficking are never asked of a household.
    for node in form.questions():
        text = " ".join(str(v) for v in (node.label or {}).values()).lower()
        for word in ("violência", "violence", "tráfico", "trafficking", "abuso", "abuse"):
            assert word not in text, (node.name, word)


@pytest.fixture(scope="module")
def server(tmp_path_factory, form):
    data_dir = tmp_path_factory.mktemp("protection") / "data"
    app = create_app(data_dir, validation_workers=0)
    with TestClient(app):
        db = app.state.db
        answers = []
        for seed in range(40, 46):
            record = children_alone(seed)
            record.update(REFERRAL, site_id="MOZ-ZAM-0001", district="MZ1120")
            result = validate_record(form, record, now=NOW)
            assert result.ok, result.errors
            answers.append(result.record)
        seed_records(db, HOUSEHOLD, answers)
        yield db


def read_tables(path: Path) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(path) as archive:
        return {
            name.removesuffix(".csv"): list(
                csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig")))
            )
            for name in archive.namelist()
        }


def columns_and_values(tables: dict[str, list[dict[str, str]]]) -> tuple[set[str], set[str]]:
    columns = {c.split("/")[0] for rows in tables.values() for row in rows for c in row}
    values = {v for rows in tables.values() for row in rows for v in row.values()}
    return columns, values


def test_a_shareable_export_holds_no_row_level_protection_field(server, tmp_path):
    path = tmp_path / "shareable.zip"
    export(server, ExportOptions(form_id="household_registration", format="csvzip",
                                 labels=False), path)  # fmt: skip
    columns, values = columns_and_values(read_tables(path))
    assert "hh_size" in columns  # the export has the household rows
    assert not columns & PROTECTION_FIELDS
    assert not values & {"child_protection", "family_tracing", "made_now"}

    # The same records in a coordinator's full export do carry the referral: the check above
    # is not looking at an empty file.
    full = tmp_path / "full.zip"
    export(
        server,
        ExportOptions(form_id="household_registration", format="csvzip", labels=False,
                      shareable=False, purpose="follow up protection referrals"),
        full,
        principal=auth.Principal("coordinator-test", "coordinator", "MZ1120"),
    )  # fmt: skip
    columns, values = columns_and_values(read_tables(full))
    assert {"referral_made", "no_adult", "n_unaccompanied_derived"} <= columns
    assert "made_now" in values
