"""Answers as a coordinator reads them: form labels, choice labels, repeats as tables,
and what each revision changed. Pure functions: no SQL, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forms.geopoint import parse_geopoint
from forms.model import Form, Group, Question, Repeat
from forms.paths import KEY_FIELD
from sync_core import merge

MAX_CHANGES_SHOWN = 30


def label(translations: dict[str, str], lang: str, form: Form | None = None) -> str:
    from sync_server.workspace.web import text_in

    return text_in(translations, lang, form.default_language if form else "")


def shown(form: Form | None, name: str, value: Any, lang: str) -> str:
    """One answer as text: choice labels for selects, "lat, lon" for a GPS point."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, dict):  # a whole repeat instance (a member deleted and edited)
        return "; ".join(
            f"{field_label(form, key, lang)}: {shown(form, key, answer, lang)}"
            for key, answer in value.items()
            if key != KEY_FIELD and not isinstance(answer, list | dict)
        )
    question = _question(form, name)
    if question is not None and question.is_select and question.choice_list:
        by_name = {c.name: c for c in form.choices.get(question.choice_list, [])}  # type: ignore[union-attr]
        values = value if isinstance(value, list) else str(value).split()
        return ", ".join(
            label(by_name[v].label, lang, form) if v in by_name else str(v) for v in values
        )
    if question is not None and question.type == "geopoint":
        try:
            lat, lon, _alt, accuracy = parse_geopoint(str(value))
        except ValueError:
            return str(value)
        return f"{lat:.5f}, {lon:.5f}" + (f" (± {accuracy:g} m)" if accuracy else "")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _question(form: Form | None, name: str) -> Question | None:
    if form is None:
        return None
    try:
        return form.question(name)
    except KeyError:
        return None


def field_label(form: Form | None, name: str, lang: str) -> str:
    question = _question(form, name)
    if question is None:
        return name
    return label(question.label, lang, form) or name


@dataclass
class Table:
    label: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    label: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def sections(form: Form | None, answers: dict[str, Any], lang: str) -> list[Section]:
    """The answers grouped as the form groups them; repeats become tables."""
    if form is None:  # the form file is gone: show the raw names and values
        plain = Section("")
        for key, value in answers.items():
            plain.rows.append((key, str(value)))
        return [plain]
    result: list[Section] = []
    loose = Section("")
    for node in form.children:
        if isinstance(node, Repeat):
            loose.tables.extend(_tables(form, node, answers, lang))
        elif isinstance(node, Group):
            section = Section(label(node.label, lang, form) or node.name)
            _fill(form, node.children, answers, lang, section)
            if section.rows or section.tables:
                result.append(section)
        elif isinstance(node, Question):
            _fill(form, [node], answers, lang, loose)
    if loose.rows or loose.tables:
        result.insert(0, loose)
    return result


def _fill(form: Form, nodes: list[Any], answers: dict[str, Any], lang: str, section: Section):
    for node in nodes:
        if isinstance(node, Repeat):
            section.tables.extend(_tables(form, node, answers, lang))
        elif isinstance(node, Group):
            _fill(form, node.children, answers, lang, section)
        elif isinstance(node, Question) and node.type not in ("note",):
            text = shown(form, node.name, answers.get(node.name), lang)
            if text:
                section.rows.append((label(node.label, lang, form) or node.name, text))


def _tables(form: Form, repeat: Repeat, answers: dict[str, Any], lang: str) -> list[Table]:
    items = answers.get(repeat.name)
    if not isinstance(items, list) or not items:
        return []
    questions = [
        n for n in form.walk(repeat.children)
        if isinstance(n, Question) and n.type != "note"
        and any(isinstance(i, dict) and i.get(n.name) not in (None, "", []) for i in items)
    ]  # fmt: skip
    rows = [
        [shown(form, q.name, item.get(q.name), lang) for q in questions]
        for item in items
        if isinstance(item, dict)
    ]
    return [
        Table(
            label=label(repeat.label, lang, form) or repeat.name,
            columns=[label(q.label, lang, form) or q.name for q in questions],
            rows=rows,
        )
    ]


def position(form: Form | None, answers: dict[str, Any]) -> tuple[float, float] | None:
    """(lat, lon) of the record's first GPS answer, if any."""
    if form is None:
        return None
    for question in form.questions():
        if question.type == "geopoint" and not question.repeat_path and answers.get(question.name):
            try:
                lat, lon, _, _ = parse_geopoint(str(answers[question.name]))
            except ValueError:
                continue
            return lat, lon
    return None


@dataclass
class Change:
    field: str
    before: str
    after: str


def changes(
    form: Form | None, before: dict[str, Any] | None, after: dict[str, Any], lang: str
) -> list[Change]:
    """What one revision changed against its parent, field by field, in labels."""
    if before is None:
        return []
    old, new = merge.flatten(before), merge.flatten(after)
    # Members are shown by their position (after the change, or before it when deleted).
    shown_at = {
        path: merge.positioned(path, after if path in new else before)
        for path in set(old) | set(new)
    }
    found = []
    for path in sorted(shown_at, key=lambda p: merge.path_order(shown_at[p])):
        if path and path[-1] in (merge.LENGTH, KEY_FIELD):
            continue  # an instance's presence: its answers show the change
        if merge.same(old.get(path), new.get(path)):
            continue
        name = str(path[-1])
        where = "".join(f" {p}" for p in shown_at[path][1:-1] if isinstance(p, int))
        prefix = f"{field_label(form, str(path[0]), lang)}{where}: " if len(path) > 1 else ""
        found.append(
            Change(
                field=prefix + field_label(form, name, lang),
                before=shown(form, name, old.get(path), lang),
                after=shown(form, name, new.get(path), lang),
            )
        )
    return found


def value_at(answers: dict[str, Any], path_text: str) -> Any:
    """The value at a path like `members[2].age` or `members[@k].age` (None when absent)."""
    flat = {merge.path_text(p): v for p, v in merge.flatten(answers).items()}
    return flat.get(path_text)
