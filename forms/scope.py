"""Which place a record belongs to: what decides who may see it and where it syncs.

By convention a form names its scope questions `district` (an OCHA P-code, e.g. MZ1120)
and `site_id` (e.g. MOZ-ZAM-0001), outside any repeat, as the household registration and
site check do. A form without them (the diaspora interview) has no place of its own: the
sync server files its records under the district of the device that sent them.
"""

from __future__ import annotations

from typing import Any

from forms.model import Form

DISTRICT_QUESTION = "district"
SITE_QUESTION = "site_id"


def record_scope(form: Form, answers: dict[str, Any]) -> tuple[str | None, str | None]:
    """(district P-code, site id) of a record, None for what the form doesn't ask."""
    return _answer(form, answers, DISTRICT_QUESTION), _answer(form, answers, SITE_QUESTION)


def _answer(form: Form, answers: dict[str, Any], name: str) -> str | None:
    if not form.has_node(name) or form.node(name).repeat_path:
        return None
    value = answers.get(name)
    return value if isinstance(value, str) and value else None
