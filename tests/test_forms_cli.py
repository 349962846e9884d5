"""`python -m forms check | validate | preview`, run as a field team would from a terminal."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from forms import FORMS_DIR, load_form
from forms.samples import sample_household

pytestmark = pytest.mark.system

HOUSEHOLD = str(FORMS_DIR / "household_registration.xlsx")


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forms", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_reports_good_and_bad_forms_with_sheet_row_and_column(write_form):
    bad = write_form(
        """
        | survey |
        | | type | name | label | relevant |
        | | text | a | A | |
        | | xml-external | b | | |
        | | integer | c | C | ${a} = = 1 |
        """,
        name="bad.md",
    )
    result = run("check", HOUSEHOLD, str(bad))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"✓ {HOUSEHOLD}: household_registration version ")
    assert lines[1] == f"✗ {bad}"
    assert lines[2].strip().startswith("sheet 'survey', row 3, column 'type': the question type")
    assert lines[3].strip().startswith("sheet 'survey', row 4, column 'relevant': cannot read")
    assert run("check", HOUSEHOLD).returncode == 0


def test_validate_prints_errors_and_computed_values_as_json(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(sample_household(seed=1)), encoding="utf-8")
    result = run("validate", HOUSEHOLD, str(good), "--lang", "en")
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["errors"] == []
    assert report["calculated"]["hh_size"] == 6

    bad_record = sample_household(seed=1)
    bad_record["hh_size_declared"] = "six"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_record), encoding="utf-8")
    result = run("validate", HOUSEHOLD, str(bad), "--lang", "pt")
    assert result.returncode == 1
    errors = json.loads(result.stdout)["errors"]
    assert {
        "path": "hh_size_declared",
        "field": "hh_size_declared",
        "code": "integer",
        "message": "Introduza um número inteiro (introduziu “six”).",
    } in errors


def test_validate_refuses_unreadable_json_clearly(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"consent_informed": "yes",', encoding="utf-8")
    result = run("validate", HOUSEHOLD, str(broken))
    assert result.returncode == 2
    assert "not valid JSON at line 1" in result.stderr


def test_preview_walks_the_form_and_applies_relevance():
    # Consent informed: 1 (yes), by: 1 (self), given: 2 (no) -> the refusal screen only.
    answers = "1\n1\n2\n\n\n\nq\n"
    result = run("preview", HOUSEHOLD, "--lang", "en", stdin=answers)
    assert result.returncode == 0
    out = result.stdout
    assert "== Informed consent ==" in out
    assert "Do you agree to take part in the registration?" in out
    form = load_form(HOUSEHOLD)
    head_name = form.text(form.question("hh_head_given_name").label, "en")
    assert head_name not in out  # personal sections are skipped after a refusal
    record = json.loads(out[out.index("Record:") + len("Record:") : out.index("}") + 1])
    assert record["consent_given"] == "no"
