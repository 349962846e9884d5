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
    "group.md": "loads",  # 'phone number': pyxform's text with a digits-only constraint
    "group.csv": "loads",
    # pyxform's own conversion refuses these (an include it can't resolve): so do we.
    "include.md": "pyxform: This section has not been included.",
    "include_json.md": "pyxform: This section has not been included.",
    "loop.md": "the question type 'begin loop over toilet_type' is not supported",
    "case_insensitivity.md": "entities (the entities sheet, save_to) are not supported yet",
    "case_insensitivity.csv": "entities (the entities sheet, save_to) are not supported yet",
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
    if expected.startswith("pyxform: "):
        assert first.message == expected.removeprefix("pyxform: ")
        return
    assert expected in first.message
    assert first.row is not None and first.row >= 2
