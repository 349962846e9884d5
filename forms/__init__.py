"""The form engine: one definition of what a valid record is, for the app and the server.

from forms import load_form, validate_record
form = load_form("forms/household_registration.xlsx")
result = validate_record(form, {"consent": "yes", ...}, language="pt")
result.ok, result.errors, result.warnings, result.record
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forms.expressions import ExpressionError
    from forms.loader import FormLoadError, FormProblem, load_form
    from forms.model import Choice, Form, Group, Question, Repeat
    from forms.validation import FieldIssue, ValidationResult, validate_record

FORMS_DIR = Path(__file__).parent

# The public names, imported on first use: `forms.text` or `forms.paths` (what the tablet's
# store needs at start) must not load pyxform and the expression engine with them.
_HOMES = {
    "ExpressionError": "forms.expressions",
    "FormLoadError": "forms.loader",
    "FormProblem": "forms.loader",
    "load_form": "forms.loader",
    "Choice": "forms.model",
    "Form": "forms.model",
    "Group": "forms.model",
    "Question": "forms.model",
    "Repeat": "forms.model",
    "FieldIssue": "forms.validation",
    "ValidationResult": "forms.validation",
    "validate_record": "forms.validation",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'forms' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "FORMS_DIR",
    "Choice",
    "ExpressionError",
    "FieldIssue",
    "Form",
    "FormLoadError",
    "FormProblem",
    "Group",
    "Question",
    "Repeat",
    "ValidationResult",
    "bundled_form_paths",
    "load_form",
    "validate_record",
]


def bundled_form_paths() -> list[Path]:
    """The demo forms shipped with the project (household, site check, diaspora)."""
    return sorted(FORMS_DIR.glob("*.xlsx"))
