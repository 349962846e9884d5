"""The form engine: one definition of what a valid record is, for the app and the server.

from forms import load_form, validate_record
form = load_form("forms/household_registration.xlsx")
result = validate_record(form, {"consent": "yes", ...}, language="pt")
result.ok, result.errors, result.warnings, result.record
"""

from pathlib import Path

from forms.expressions import ExpressionError
from forms.loader import FormLoadError, FormProblem, load_form
from forms.model import Choice, Form, Group, Question, Repeat
from forms.validation import FieldIssue, ValidationResult, validate_record

FORMS_DIR = Path(__file__).parent

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
