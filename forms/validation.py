"""Validate a record against its form, the way ODK Collect would on a tablet.

`validate_record(form, record)` is the single definition of a valid record: the tablet
app calls it as the enumerator types, the sync server on every uploaded revision (a device
is never trusted). It:

- computes relevance and calculations in dependency order (a calculation may use one that
  appears later in the form, as ODK allows);
- drops answers to questions that aren't relevant, as ODK does;
- checks type, required (only when relevant), constraints, choices and choice filters,
  repeat counts, GPS range and accuracy;
- returns field-level errors and warnings with a path ("members[2].age"), a code and a
  message in the form's language, plus the cleaned record with its computed values.

Soft constraints, GPS accuracy and site checks are warnings: they never block finalizing.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from forms.expressions import NodeSet, Value, to_number, to_string
from forms.geopoint import geopoint_numbers, split_geopoint
from forms.messages import message
from forms.model import Choice, Form, Group, Node, Question, Repeat
from forms.paths import KEY_FIELD, answer_path, is_instance_key
from forms.plan import (
    CHOICE_COLUMN_PREFIX,
    Step,
    build_plan,
    rewrite_choice_filter,
)
from forms.standards import Rating, Thresholds, assess, load_thresholds

Index = tuple[int, ...]  # 0-based instance numbers of the enclosing repeats, outermost first
# (node, name, container name, container's repeat depth, relevant, calculation)
Key = tuple[str, Index]
Severity = Literal["error", "warning"]

TEXT_LIMIT = 5000
INT32 = 2**31
# A GPS fix worse than this is flagged when the form sets no capture-accuracy of its own.
DEFAULT_ACCURACY_LIMIT_M = 50.0
SITE_DISTANCE_WARNING_M = 1000.0
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INTEGER_TEXT = re.compile(r"^\s*[-+]?\d+\s*$")
_DATE_TEXT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_TIME_TEXT = re.compile(
    r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)


@dataclass(frozen=True)
class FieldIssue:
    """One problem with one answer."""

    path: str  # "members[2].age" (repeat positions count from 1, as enumerators do)
    name: str  # the question name, for jumping to it
    code: str  # "required", "constraint", "integer", "date", ...
    message: str
    severity: Severity = "error"

    def as_dict(self) -> dict[str, str]:
        """The issue as the reason a revision was rejected (the protocol's `Reason`)."""
        return rejection_reason(self.code, self.message, field=self.name, path=self.path)


def rejection_reason(code: str, message: str, *, field: str = "", path: str = "") -> dict[str, str]:
    """Why a revision was rejected, as the sync protocol's `Reason` carries it.

    The one spelling of a reason, for the validator's issues and for the checks the server
    and the tablet make themselves (unknown form, conflicting id, too large, out of scope).
    `path` is empty when the reason is about the whole revision.
    """
    return {"path": path, "field": field, "code": code, "message": message}


@dataclass
class ValidationResult:
    errors: list[FieldIssue]
    warnings: list[FieldIssue]
    record: dict[str, Any]  # relevant answers plus computed values, ready to store
    # Minimum-standard indicators of the form (Sphere for the site check), rated.
    ratings: list[Rating] = field(default_factory=list)
    _run: _Run | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @functools.cached_property
    def calculated(self) -> dict[str, Any]:
        """Path ("members[2].age_years") -> computed value, for relevant calculations."""
        run = self._run
        if run is None:
            return {}
        return {
            run._path(name, index): _to_json(value)
            for (name, index), value in run.computed.items()
            if run.relevance.get((name, index), True)
        }

    def is_relevant(self, name: str, index: Index = ()) -> bool:
        return self._run is None or self._run.relevance.get((name, index), True)

    def value(self, name: str, index: Index = ()) -> Value:
        """The XPath value a question has in this record (computed ones included)."""
        return "" if self._run is None else self._run.values.get((name, index), "")

    def evaluate(self, expression: str, name: str | None = None, index: Index = ()) -> Value:
        """Evaluate an expression of the form as if it sat on question `name` at `index`
        (the first top-level node when None): used for labels, instance names and counts."""
        if self._run is None:
            return ""
        form = self._run.form
        node = form.node(name) if name else form.children[0]
        return form.expression(expression).evaluate(_Context(self._run, node, index))

    def filtered_choices(self, question: Question, index: Index = ()) -> list[Choice]:
        """The choices to offer now: the list after the question's choice_filter."""
        if self._run is None:
            return []
        return self._run.filtered_choices(question, index)

    def issues_for(self, path: str) -> list[FieldIssue]:
        """Errors then warnings for one answer, by its path ("members[2].age")."""
        return [issue for issue in self.errors + self.warnings if issue.path == path]

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.ok,
            "errors": [issue.as_dict() for issue in self.errors],
            "warnings": [issue.as_dict() for issue in self.warnings],
            "calculated": self.calculated,
            "ratings": [
                {"indicator": r.indicator.id, "value": r.value, "colour": r.colour}
                for r in self.ratings
            ],
        }


def validate_record(
    form: Form,
    record: Any,
    *,
    language: str | None = None,
    now: dt.datetime | None = None,
    gazetteer: Any = None,
    thresholds: Thresholds | None = None,
    device_id: str | None = None,
) -> ValidationResult:
    """Check `record` against `form`; see the module docstring for what is checked.

    `language` is an ISO code ("pt") or a form language name; messages fall back to the
    form's default language. `now` fixes today()/now() (the server passes the time the
    record was saved). `gazetteer` is a `forms.geo.Gazetteer` for site and province checks;
    the bundled Zambezia data is used when it's None. `thresholds` are the minimum
    standards to rate the form's indicators against (bundled Sphere emergency by default);
    amber and red ratings are warnings that name the threshold and its source.
    `device_id`, when given (the server, for a record's first revision), is the device that
    made the record: a `deviceid` metadata answer must be that device.
    """
    run = _Run(form, record, language, now or dt.datetime.now(), gazetteer)
    result = run.execute()
    if device_id is not None and isinstance(record, dict):
        _check_device(form, result, run.message_language, device_id)
    _check_household_id(form, result, run.message_language)
    if result.record:
        run.rate(result, thresholds or _default_thresholds())
    return result


HOUSEHOLD_ID = "household_id"  # by convention, as `forms.scope` names district and site_id


def _check_device(form: Form, result: ValidationResult, language: str, device_id: str) -> None:
    """ODK's deviceid is filled by the app with the device's own id: another value means the
    record did not come from the device that sent it as new."""
    for question in form.questions():
        if question.metadata != "deviceid" or question.repeat_path:
            continue
        value = result.record.get(question.name)
        if value not in (None, "", device_id):
            result.errors.append(
                FieldIssue(
                    path=question.name,
                    name=question.name,
                    code="metadata",
                    message=message(
                        "metadata-device", language, value=_shorten(value), device=device_id
                    ),
                )
            )


def _check_household_id(form: Form, result: ValidationResult, language: str) -> None:
    """A `household_id` answer must be a household id whose check character matches
    (`forms.household_id`): a mistyped card number would file an update under another
    family. The form's regex constraint checks only the shape."""
    from forms.household_id import is_valid

    if not form.has_node(HOUSEHOLD_ID) or form.node(HOUSEHOLD_ID).repeat_path:
        return
    value = result.record.get(HOUSEHOLD_ID)
    if value in (None, "") or is_valid(str(value)):
        return
    if any(issue.name == HOUSEHOLD_ID for issue in result.errors):
        return  # the constraint already said so
    result.errors.append(
        FieldIssue(
            path=HOUSEHOLD_ID,
            name=HOUSEHOLD_ID,
            code="household-id",
            message=message("household-id", language, value=_shorten(value)),
        )
    )


@functools.lru_cache(maxsize=1)
def _default_thresholds() -> Thresholds:
    return load_thresholds()


# --- one validation run -------------------------------------------------------------------


class _Run:
    def __init__(self, form: Form, record: Any, language: str | None, now: dt.datetime, geo):
        self.form = form
        self.plan = build_plan(form)
        self.record = record
        self.language = form.language_for(language) if language else form.default_language
        self.message_language = _code_of(self.language, language)
        self.now = now
        self.gazetteer = geo
        self.answers: dict[Key, Any] = {}
        self.counts: dict[Key, int] = {}
        self.instance_keys: dict[Key, str] = {}  # (repeat, index) -> the instance's `_key`
        self.relevance: dict[Key, bool] = {}
        self.values: dict[Key, Value] = {}
        self.computed: dict[Key, Value] = {}
        self.errors: list[FieldIssue] = []
        self.warnings: list[FieldIssue] = []

    def execute(self) -> ValidationResult:
        if not isinstance(self.record, dict):
            issue = self._issue(
                "", "", "not-an-object", message("not-an-object", self.message_language)
            )
            return ValidationResult([issue], [], {})
        self._read(self.record, None, ())
        for step in self.plan.steps:
            self._compute(step)
        for question in self.plan.checked:
            for index in self._instances(question.repeat_path):
                if self.relevance.get((question.name, index), True):
                    self._check(question, index)
        for repeat in self.plan.repeats_with_count:
            self._check_repeat_count(repeat)
        cleaned = self._cleaned(self.form.children, ())
        return ValidationResult(self.errors, self.warnings, cleaned, _run=self)

    # reading the record -------------------------------------------------------------

    def _read(self, data: dict[str, Any], level: str | None, index: Index) -> None:
        expected = self.plan.names_at_level[level]
        for key, value in data.items():
            if key == KEY_FIELD and level is not None:
                self._read_instance_key(value, level, index)
                continue
            if key not in expected:
                path = _join(self._path_prefix(level, index), key)
                self.errors.append(
                    self._issue(
                        path,
                        key,
                        "unknown-field",
                        message("unknown-field", self.message_language, name=key),
                    )
                )
                continue
            node = self.plan.nodes[key]
            if isinstance(node, Repeat):
                if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                    path = _join(self._path_prefix(level, index), key)
                    self.errors.append(
                        self._issue(
                            path,
                            key,
                            "repeat-shape",
                            message("repeat-shape", self.message_language),
                        )
                    )
                    continue
                self.counts[(key, index)] = len(value)
                for i, instance in enumerate(value):
                    self._read(instance, key, (*index, i))
            else:
                self.answers[(key, index)] = value

    def _read_instance_key(self, value: Any, repeat: str, index: Index) -> None:
        """A repeat instance's key (`forms.paths`): kept with the instance, never an answer;
        two instances of one repeat may not share one."""
        path = _join(self._path_prefix(repeat, index), KEY_FIELD)
        if not is_instance_key(value):
            text = message("instance-key", self.message_language, value=_shorten(value))
            self.errors.append(self._issue(path, KEY_FIELD, "instance-key", text))
            return
        siblings = {
            k for (r, i), k in self.instance_keys.items() if r == repeat and i[:-1] == index[:-1]
        }
        if value in siblings:
            text = message("instance-key-repeated", self.message_language, value=value)
            self.errors.append(self._issue(path, KEY_FIELD, "instance-key-repeated", text))
            return
        self.instance_keys[(repeat, index)] = value

    def _instances(self, repeat_path: tuple[str, ...]) -> Iterator[Index]:
        """Every instance index at the depth of `repeat_path`."""
        if not repeat_path:
            return iter(((),))
        indexes: list[Index] = [()]
        for repeat in repeat_path:
            indexes = [
                (*index, i) for index in indexes for i in range(self.counts.get((repeat, index), 0))
            ]
        return iter(indexes)

    # computing relevance and calculations -------------------------------------------

    def _compute(self, step: Step) -> None:
        node, name, container, container_depth, relevant_expr, calc_expr = step
        relevance, values, answers = self.relevance, self.values, self.answers
        is_question = isinstance(node, Question)
        for index in self._instances(node.repeat_path):
            relevant = (
                True
                if container is None
                else relevance.get((container, index[:container_depth]), True)
            )
            if relevant and relevant_expr is not None:
                relevant = relevant_expr.evaluate_bool(_Context(self, node, index))
            key = (name, index)
            relevance[key] = relevant
            if not is_question:
                continue
            if not relevant:
                values[key] = ""
            elif calc_expr is not None:
                value = calc_expr.evaluate(_Context(self, node, index))
                if isinstance(value, NodeSet):
                    value = value[0] if value else ""
                value = _typed_calculation(node, value)
                self.computed[key] = value
                values[key] = value
            else:
                values[key] = _xpath_value(node, answers.get(key))

    # checking answers ------------------------------------------------------------------

    def _check(self, question: Question, index: Index) -> None:
        key = (question.name, index)
        computed = key in self.computed
        raw = self.computed[key] if computed else self.answers.get(key)
        empty = (
            raw is None or raw == "" or raw == [] or (isinstance(raw, float) and math.isnan(raw))
        )
        if question.type in ("calculate", "hidden") and not question.constraint:
            return
        if empty:
            if not computed and self._is_required(question, index):
                text = self.form.text(question.required_message, self.language) or message(
                    "required", self.message_language
                )
                self.errors.append(
                    self._issue(self._path(question.name, index), question.name, "required", text)
                )
            return
        if not computed:
            problem = self._type_problem(question, raw, index)
            if problem:
                self.errors.append(
                    self._issue(self._path(question.name, index), question.name, *problem)
                )
                return
        context = _Context(self, question, index, current=self.values.get(key, ""))
        if question.constraint and not self.plan.expression(question.constraint).evaluate_bool(
            context
        ):
            text = self.form.text(question.constraint_message, self.language) or message(
                "constraint", self.message_language
            )
            self.errors.append(
                self._issue(self._path(question.name, index), question.name, "constraint", text)
            )
        if question.soft_constraint and not self.plan.expression(
            question.soft_constraint
        ).evaluate_bool(context):
            text = self.form.text(question.soft_constraint_message, self.language) or message(
                "soft-constraint", self.message_language
            )
            self.warnings.append(
                self._issue(
                    self._path(question.name, index),
                    question.name,
                    "soft-constraint",
                    text,
                    "warning",
                )
            )
        if question.type == "geopoint":
            self._check_geopoint_place(question, index, self._path(question.name, index), raw)

    def _is_required(self, question: Question, index: Index) -> bool:
        answered_on_screen = question.takes_input or question.type in ("acknowledge", "note")
        if not question.required or not answered_on_screen:
            return False
        if question.required == "yes":
            return True
        return self.plan.expression(question.required).evaluate_bool(
            _Context(self, question, index)
        )

    def _type_problem(self, question: Question, raw: Any, index: Index) -> tuple[str, str] | None:
        """(code, message) when `raw` isn't a valid answer of the question's type."""
        lang = self.message_language
        kind = question.type
        if kind in ("integer", "decimal", "range"):
            number = _number_or_none(raw, integer=kind == "integer")
            if number is None:
                code = "integer" if kind == "integer" else "decimal"
                return code, message(code, lang, value=_shorten(raw))
            if kind == "integer" and not -INT32 <= number < INT32:
                return "integer-range", message("integer-range", lang, value=number)
            if kind == "range":
                return _range_problem(question, number, lang)
            return None
        if kind in ("text", "barcode", "image", "audio", "video", "file", "hidden"):
            if not isinstance(raw, str):
                return "text", message("text", lang)
            if len(raw) > TEXT_LIMIT:
                return "text-too-long", message(
                    "text-too-long", lang, length=len(raw), limit=TEXT_LIMIT
                )
            if _CONTROL_CHARACTERS.search(raw):
                return "control-characters", message("control-characters", lang)
            return None
        if kind == "select_one":
            return self._choice_problem(question, [raw], index)
        if kind == "select_multiple":
            values = raw.split() if isinstance(raw, str) else raw
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                return "choice", message("choice", lang, value=_shorten(raw))
            for value in values:
                if values.count(value) > 1:
                    return "choice-repeated", message("choice-repeated", lang, value=value)
            return self._choice_problem(question, values, index)
        if kind == "date":
            return (
                None if _parse_date(raw) else ("date", message("date", lang, value=_shorten(raw)))
            )
        if kind == "time":
            ok = isinstance(raw, str) and _TIME_TEXT.match(raw)
            return None if ok else ("time", message("time", lang, value=_shorten(raw)))
        if kind == "dateTime":
            ok = _parse_datetime(raw) is not None
            return None if ok else ("datetime", message("datetime", lang, value=_shorten(raw)))
        if kind == "acknowledge":
            ok = raw in ("OK", "ok", True, "1", 1, "true")
            return None if ok else ("acknowledge", message("acknowledge", lang))
        if kind == "geopoint":
            return _geopoint_problem(question, raw, lang)
        if kind in ("geotrace", "geoshape"):
            return _geo_path_problem(kind, raw, lang)
        return None

    def _choice_problem(self, question: Question, values: list[Any], index: Index):
        lang = self.message_language
        choice_filter = (
            self.plan.expression(rewrite_choice_filter(question.choice_filter))
            if question.choice_filter
            else None
        )
        for value in values:
            if not isinstance(value, str):
                return "choice", message("choice", lang, value=_shorten(value))
            if question.or_other and value == "other":
                continue
            if question.search:
                searched = {c.name: c for c in self.search_choices(question, index)}
                choice = searched.get(value)
            else:
                choice = self.plan.choices.get(question.choice_list or "", {}).get(value)
            if choice is None:
                return "choice", message("choice", lang, value=_shorten(value))
            # Only the chosen values need the filter: evaluating it on the whole list was a
            # quarter of the validation time.
            if choice_filter is not None and not any(
                choice_filter.evaluate_bool(_Context(self, question, index, choice=candidate))
                for candidate in self.plan.duplicate_choices.get(
                    question.choice_list or "", {}
                ).get(value, (choice,))
            ):
                return "choice-filtered", message("choice-filtered", lang, value=value)
        return None

    def search_choices(self, question: Question, index: Index) -> list[Choice]:
        """The choices of a select with the search() appearance: the rows of the CSV it names
        that match its condition, then the list's own choices after the first (whose name and
        label name the CSV's columns), as ODK Collect offers them."""
        listed = self.form.choices_for(question)
        if not listed:
            return []
        context = _Context(self, question, index)
        arguments = [
            to_string(self.form.expression(text).evaluate(context)) for text in question.search
        ]
        mode, pairs = (arguments[1], arguments[2:]) if len(arguments) > 1 else ("", [])
        tests = {
            "matches": lambda cell, wanted: cell == wanted,
            "contains": lambda cell, wanted: wanted in cell,
            "startswith": lambda cell, wanted: cell.startswith(wanted),
            "endswith": lambda cell, wanted: cell.endswith(wanted),
        }
        test = tests.get(mode, tests["matches"])
        key = listed[0]
        label_column = next((text for text in key.label.values() if text), "")
        found = [
            Choice(name=row.get(key.name, ""), label={"default": row.get(label_column, "")})
            for row in self.form.instance_rows(arguments[0])
            if row.get(key.name)
            and all(test(row.get(pairs[i], ""), pairs[i + 1]) for i in range(0, len(pairs) - 1, 2))
        ]
        return found + listed[1:]

    def filtered_choices(self, question: Question, index: Index) -> list[Choice]:
        choices = (
            self.search_choices(question, index)
            if question.search
            else self.form.choices_for(question)
        )
        if not question.choice_filter:
            return choices
        expression = self.plan.expression(rewrite_choice_filter(question.choice_filter))
        return [
            choice
            for choice in choices
            if expression.evaluate_bool(_Context(self, question, index, choice=choice))
        ]

    def _check_geopoint_place(self, question: Question, index: Index, path: str, raw: str):
        lat, lon, _alt, accuracy = split_geopoint(raw)
        parameters = question.parameters
        limit = float(
            parameters.get("warning-accuracy")
            or parameters.get("capture-accuracy")
            or DEFAULT_ACCURACY_LIMIT_M
        )
        lang = self.message_language
        if accuracy is not None and accuracy > limit:
            self.warnings.append(
                self._issue(
                    path,
                    question.name,
                    "geopoint-accuracy",
                    message("geopoint-accuracy", lang, accuracy=accuracy, limit=limit),
                    "warning",
                )
            )
        if not question.geo_site:
            return
        gazetteer = self._gazetteer()
        if not gazetteer.in_province(lat, lon, margin_m=5000):
            area = (
                gazetteer.province_name if hasattr(gazetteer, "province_name") else "the province"
            )
            self.warnings.append(
                self._issue(
                    path,
                    question.name,
                    "geopoint-outside-area",
                    message("geopoint-outside-area", lang, area=area),
                    "warning",
                )
            )
        site_question = self.form.question(question.geo_site)
        site_id = self.values.get((site_question.name, index[: len(site_question.repeat_path)]))
        if isinstance(site_id, str) and site_id in gazetteer.sites:
            distance = gazetteer.distance_to_site_m(lat, lon, site_id)
            if distance > SITE_DISTANCE_WARNING_M:
                self.warnings.append(
                    self._issue(
                        path,
                        question.name,
                        "geopoint-far-from-site",
                        message(
                            "geopoint-far-from-site",
                            lang,
                            distance=distance / 1000,
                            site=gazetteer.sites[site_id].name,
                        ),
                        "warning",
                    )
                )

    def _gazetteer(self):
        if self.gazetteer is None:
            from forms.geo import default_gazetteer

            self.gazetteer = default_gazetteer()
        return self.gazetteer

    def _check_repeat_count(self, repeat: Repeat) -> None:
        expression = self.plan.expression(repeat.repeat_count or "")
        for index in self._instances(repeat.repeat_path):
            if not self.relevance.get((repeat.name, index), True):
                continue
            expected = to_number(expression.evaluate(_Context(self, repeat, index)))
            actual = self.counts.get((repeat.name, index), 0)
            if math.isfinite(expected) and int(expected) != actual:
                path = _join(
                    self._path_prefix(
                        repeat.repeat_path[-1] if repeat.repeat_path else None, index
                    ),
                    repeat.name,
                )
                self.errors.append(
                    self._issue(
                        path,
                        repeat.name,
                        "repeat-count",
                        message(
                            "repeat-count",
                            self.message_language,
                            expected=int(expected),
                            actual=actual,
                        ),
                    )
                )

    def rate(self, result: ValidationResult, thresholds: Thresholds) -> None:
        result.ratings = assess(thresholds, self.form.form_id, result.record)
        for rating in result.ratings:
            if rating.colour in ("amber", "red"):
                name = rating.indicator.field
                result.warnings.append(
                    self._issue(
                        name,
                        name,
                        f"standard-{rating.colour}",
                        rating.message(self.message_language),
                        "warning",
                    )
                )

    # output ------------------------------------------------------------------------

    def _cleaned(self, nodes: list[Node], index: Index) -> dict[str, Any]:
        """The record as it should be stored: relevant answers plus computed values."""
        out: dict[str, Any] = {}
        for node in nodes:
            if not self.relevance.get((node.name, index), True):
                continue
            if isinstance(node, Repeat):
                count = self.counts.get((node.name, index), 0)
                out[node.name] = [self._instance(node, (*index, i)) for i in range(count)]
            elif isinstance(node, Group):
                out.update(self._cleaned(node.children, index))
            elif node.type == "note":
                continue
            elif (node.name, index) in self.computed:
                value = _to_json(self.computed[(node.name, index)])
                if value is not None:
                    out[node.name] = value
            elif (node.name, index) in self.answers:
                out[node.name] = _clean_answer(node, self.answers[(node.name, index)])
        return out

    def _instance(self, repeat: Repeat, index: Index) -> dict[str, Any]:
        """One cleaned repeat instance, its key first (none for one made before keys)."""
        answers = self._cleaned(repeat.children, index)
        key = self.instance_keys.get((repeat.name, index))
        return {KEY_FIELD: key, **answers} if key is not None else answers

    def _issue(self, path: str, name: str, code: str, text: str, severity: Severity = "error"):
        return FieldIssue(path=path, name=name, code=code, message=text, severity=severity)

    def _path(self, name: str, index: Index) -> str:
        return _path_of(self.form, name, index, repeat_path=self.plan.nodes[name].repeat_path)

    def _path_prefix(self, level: str | None, index: Index) -> str:
        if level is None:
            return ""
        repeat = self.plan.nodes[level]
        return _path_of(self.form, level, index, repeat_path=(*repeat.repeat_path, level))


class _Context:
    """What an expression sees: answers of the record at one position in its repeats."""

    __slots__ = ("_current", "choice", "index", "node", "now", "run")

    def __init__(self, run: _Run, node: Node, index: Index, current: Value = "", choice=None):
        self.run = run
        self.node = node
        self.index = index
        self._current = current
        self.choice = choice
        self.now = run.now

    def resolve(self, name: str) -> Value:
        if self.choice is not None and name.startswith(CHOICE_COLUMN_PREFIX):
            column = name[len(CHOICE_COLUMN_PREFIX) :]
            if column == "name":
                return self.choice.name
            return self.choice.properties.get(column, "")
        run = self.run
        target = run.plan.nodes[name]
        target_path = target.repeat_path
        here = self.node.repeat_path
        if target_path == here[: len(target_path)] and not isinstance(target, Repeat):
            # The common case: a field outside any repeat, or in this node's own repeat.
            return run.values.get((name, self.index[: len(target_path)]), "")
        shared = 0
        while (
            shared < len(target_path) and shared < len(here) and target_path[shared] == here[shared]
        ):
            shared += 1
        if isinstance(target, Repeat):
            if shared < len(target_path):
                outer = self.index[:shared]
                return NodeSet(
                    ""
                    for index in run._instances(target_path)
                    if index[:shared] == outer
                    for _ in range(run.counts.get((name, index), 0))
                )
            count = run.counts.get((name, self.index[: len(target_path)]), 0)
            return NodeSet([""] * count)
        if shared == len(target_path):
            return run.values.get((name, self.index[:shared]), "")
        outer = self.index[:shared]
        return NodeSet(
            run.values.get((name, index), "")
            for index in run._instances(target_path)
            if index[:shared] == outer
        )

    def current(self) -> Value:
        if self._current == "" and isinstance(self.node, Question):
            # once(): the value the device already had, so a uuid() is not regenerated.
            previous = self.run.answers.get((self.node.name, self.index))
            if previous not in (None, ""):
                return _xpath_value(self.node, previous)
        return self._current

    def position(self) -> int:
        return self.index[-1] + 1 if self.index else 1

    def indexed_repeat(self, name: str, repeat: str, index: int) -> Value:
        repeat_node = self.run.plan.nodes[repeat]
        base = (*self.index[: len(repeat_node.repeat_path)], int(index) - 1)
        return self.run.values.get((name, base), "")

    def instance_rows(self, name: str) -> list[dict[str, str]]:
        """Items of a secondary instance (a choice list or an attached file), for lookups."""
        return self.run.form.instance_rows(name)

    def choice_label(self, field_name: str, value: str) -> str:
        question = self.run.form.question(field_name)
        choice = self.run.form.choice(question.choice_list or "", value)
        return self.run.form.text(choice.label, self.run.language) if choice else ""


# --- values --------------------------------------------------------------------------


def _xpath_value(question: Question, raw: Any) -> Value:
    """A stored answer as the expression engine sees it (ODK's typed values)."""
    if raw is None or raw == "":
        return ""
    kind = question.type
    if kind in ("integer", "decimal", "range"):
        number = _number_or_none(raw, integer=False)
        return float("nan") if number is None else float(number)
    if kind == "select_multiple":
        return " ".join(raw) if isinstance(raw, list) else str(raw)
    if kind == "date":
        return _parse_date(raw) or ""
    if kind == "dateTime":
        return _parse_datetime(raw) or ""
    if kind == "time" and isinstance(raw, str) and _TIME_TEXT.match(raw):
        parts = [int(p) for p in raw[:8].split(":") if p.isdigit()]
        return dt.time(*parts[:3])
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return float(raw)
    return str(raw)


def _typed_calculation(question: Question, value: Value) -> Value:
    """A computed value, coerced to the question's type when it has one."""
    if question.type == "integer":
        number = to_number(value)
        return float(int(number)) if math.isfinite(number) else ""
    if question.type in ("decimal", "range"):
        number = to_number(value)
        return number if math.isfinite(number) else ""
    return value


def _to_json(value: Value) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else round(value, 10)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if value == "":
        return None
    return to_string(value)


def _clean_answer(question: Question, raw: Any) -> Any:
    """Normalise a valid answer for storage; leave an invalid one exactly as typed."""
    if question.type == "integer" and isinstance(raw, str) and _INTEGER_TEXT.match(raw):
        return int(raw)
    if question.type in ("decimal", "range") and isinstance(raw, str):
        number = _number_or_none(raw, integer=False)
        return raw if number is None else number
    if question.type == "select_multiple" and isinstance(raw, str):
        return raw.split()
    return raw


def _number_or_none(raw: Any, *, integer: bool) -> int | float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return None
        if integer:
            return int(raw) if raw.is_integer() else None
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if integer:
            return int(text) if _INTEGER_TEXT.match(text) else None
        try:
            number = float(text.replace(",", ".")) if text.count(",") <= 1 else None
        except ValueError:
            return None
        return number if number is not None and math.isfinite(number) else None
    return None


def _range_problem(question: Question, number: float, lang: str) -> tuple[str, str] | None:
    start = float(question.parameters.get("start", 1))
    end = float(question.parameters.get("end", 10))
    step = float(question.parameters.get("step", 1))
    low, high = min(start, end), max(start, end)
    on_step = step == 0 or abs(((number - start) / step) - round((number - start) / step)) < 1e-9
    if low <= number <= high and on_step:
        return None
    return "range", message("range", lang, start=_num(start), end=_num(end), step=_num(step))


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _parse_date(raw: Any) -> dt.date | None:
    if not isinstance(raw, str):
        return None
    match = _DATE_TEXT.match(raw.strip()[:10]) if len(raw.strip()) in (10,) else None
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _parse_datetime(raw: Any) -> dt.datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        return dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _geopoint_problem(question: Question, raw: Any, lang: str) -> tuple[str, str] | None:
    if not isinstance(raw, str):
        return "geopoint", message("geopoint", lang, value=_shorten(raw))
    parts = geopoint_numbers(raw)
    if parts is None or not all(math.isfinite(p) for p in parts):
        return "geopoint", message("geopoint", lang, value=_shorten(raw))
    lat, lon = parts[0], parts[1]
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return "geopoint-range", message("geopoint-range", lang)
    if lat == 0 and lon == 0:
        return "geopoint-null-island", message("geopoint-null-island", lang)
    return None


def _geo_path_problem(kind: str, raw: Any, lang: str) -> tuple[str, str] | None:
    if not isinstance(raw, str):
        return kind, message(kind, lang)
    points = [p.strip() for p in raw.split(";") if p.strip()]
    for point in points:
        problem = _geopoint_problem(None, point, lang)  # type: ignore[arg-type]
        if problem:
            return problem
    if kind == "geotrace" and len(points) < 2:
        return kind, message(kind, lang)
    if kind == "geoshape":
        coords = [tuple(p.split()[:2]) for p in points]
        if len(set(coords)) < 3 or coords[0] != coords[-1]:
            return kind, message(kind, lang)
    return None


def _shorten(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code_of(language_name: str, asked: str | None) -> str:
    from forms.model import language_code

    if asked and len(asked) <= 3:
        return asked.lower()
    return language_code(language_name)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _path_of(
    form: Form, name: str, index: Index, repeat_path: tuple[str, ...] | None = None
) -> str:
    """ "members[2].age" for age in the second member; repeat positions count from 1."""
    if repeat_path is None:
        repeat_path = form.node(name).repeat_path
    return answer_path(name, repeat_path, index)


def path_of(form: Form, name: str, index: Index = ()) -> str:
    """The path of question `name` at repeat position `index`, as issues report it."""
    return _path_of(form, name, index)
