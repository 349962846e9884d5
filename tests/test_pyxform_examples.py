"""pyxform's own example forms: each loads, or is refused with a reason naming its row."""

from __future__ import annotations

from pathlib import Path

import pytest

from forms import FormLoadError, load_form

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).parent / "data" / "pyxform_examples"
# What we expect of each, so a regression in either direction is caught.
EXPECTED = {
    "text_and_integer.md": "loads",
    "yes_or_no_question.md": "loads",
    "specify_other.md": "loads",
    "group.md": "the question type 'phone number' is not supported",
    "group.csv": "the question type 'phone number' is not supported",
    "include.md": "the question type 'include' is not supported",
    "include_json.md": "the question type 'include' is not supported",
    "loop.md": "the question type 'begin loop over toilet_type' is not supported",
    "case_insensitivity.md": "the question type 'select_one_external c1' is not supported",
    "case_insensitivity.csv": "the question type 'select_one_external c1' is not supported",
}


def test_every_example_is_covered():
    present = {p.name for p in EXAMPLES.iterdir() if p.suffix in (".md", ".csv")}
    assert present == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_loads_or_is_refused_with_a_reason(name):
    expected = EXPECTED[name]
    if expected == "loads":
        form = load_form(EXAMPLES / name)
        assert list(form.questions())
        return
    with pytest.raises(FormLoadError) as caught:
        load_form(EXAMPLES / name)
    first = caught.value.problems[0]
    assert expected in first.message
    assert first.row is not None and first.row >= 2
