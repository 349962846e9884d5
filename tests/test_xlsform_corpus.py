"""Compatibility with the XLSForms field teams write: the real forms of ../shared/xlsforms/.

Every form there that pyxform converts must load, or be refused only
- for a feature the issue (#10) says to refuse with a message until it is supported
  (entities, public_key encryption), or
- for a form error pyxform itself reports (we run pyxform's whole conversion), or
- for a feature of the issue that is not built yet, listed in NOT_YET with the words of its
  refusal (each such refusal still names the feature, sheet, row and column).
A floor on the number of forms that load catches a regression.

The counts are printed (`pytest -s` or in the summary of a failure).
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import pytest

from forms import FormLoadError, load_form, validate_record

pytestmark = [pytest.mark.system, pytest.mark.slow]

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "xlsforms"

# The issue: "Entities and public_key encryption: refuse with a message naming the feature".
REFUSE_WITH_A_MESSAGE = {
    "entities": "entities (the entities sheet, save_to) are not supported yet",
    "encryption": "encryption (settings public_key) is not supported yet",
}
# Features of the issue not built yet, by the words their refusal uses.
NOT_YET = {
    "pyxform's begin loop": ("begin loop over",),
}


def corpus_forms() -> list[Path]:
    suffixes = {".xlsx", ".xls"}
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in suffixes)


def pyxform_converts(path: Path) -> bool:
    from pyxform.xls2xform import convert

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            convert(xlsform=str(path), validate=False)
    except Exception:
        return False
    return True


def classify(path: Path) -> tuple[str, list[str]]:
    """("loads" | "refused: <feature>" | "not yet: <feature>" | "unexpected", problems)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            form = load_form(path)
    except FormLoadError as error:
        messages = [problem.message for problem in error.problems]
        located = all(p.sheet and p.row for p in error.problems)
        kinds = set()
        for text in messages:
            kind = next(
                (f"refused: {f}" for f, words in REFUSE_WITH_A_MESSAGE.items() if words in text),
                None,
            ) or next(
                (f"not yet: {f}" for f, words in NOT_YET.items() if any(w in text for w in words)),
                "unexpected",
            )
            kinds.add(kind)
        if not located:
            kinds.add("unexpected")
        refused = sorted(k for k in kinds if k.startswith("refused"))
        outcome = (
            "unexpected" if "unexpected" in kinds else refused[0] if refused else sorted(kinds)[0]
        )
        return outcome, messages
    # A loaded form must validate an empty record without crashing.
    validate_record(form, {})
    return "loads", []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/xlsforms is not beside the checkout")
def test_every_form_pyxform_converts_loads_or_is_refused_for_a_listed_reason(capsys):
    outcomes: dict[Path, tuple[str, list[str]]] = {}
    converted = 0
    forms = corpus_forms()
    for path in forms:
        if not pyxform_converts(path):
            continue  # pyxform refuses it too: out of scope (see the corpus README)
        converted += 1
        outcomes[path] = classify(path)
    counts = Counter(outcome for outcome, _ in outcomes.values())
    with capsys.disabled():
        print(f"\nXLSForm corpus: {len(forms)} forms, pyxform converts {converted}")
        for outcome, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            print(f"  {count:3d}  {outcome}")
    unexpected = {
        str(path.relative_to(CORPUS)): problems
        for path, (outcome, problems) in outcomes.items()
        if outcome == "unexpected"
    }
    assert not unexpected, unexpected
    assert converted >= 50, "the corpus is incomplete"
    assert counts["loads"] >= 54
