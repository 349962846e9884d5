"""Labels as the enumerator reads them: `${name}` references filled in with the answers.

The tablet app's session and `python -m forms preview` both show labels through here, so a
label reads the same on a tablet and in a terminal. A select_one answer shows as its choice's
label, as ODK does.
"""

from __future__ import annotations

import re

from forms.expressions import to_string
from forms.model import Form, Question
from forms.validation import Index, ValidationResult

_REFERENCE = re.compile(r"\$\{([^}]+)\}")


def fill_references(
    form: Form, result: ValidationResult, text: str, index: Index = (), language: str | None = None
) -> str:
    """`text` with each `${name}` replaced by that answer at repeat position `index` (the
    value in the same repeat instance, or outside the repeat); unknown names stay as typed."""
    if "${" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if not form.has_node(name):
            return match.group(0)
        target = form.node(name)
        value = result.value(name, index[: len(target.repeat_path)])
        if isinstance(target, Question) and target.type == "select_one" and value:
            choice = form.choice(target.choice_list or "", str(value))
            if choice:
                return form.text(choice.label, language)
        return to_string(value)

    return _REFERENCE.sub(replace, text)
