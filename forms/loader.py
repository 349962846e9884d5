"""Load an XLSForm into a checked `Form`, or refuse it with every problem and where it is.

pyxform reads the workbook (.xlsx, .xls, .csv or .md) exactly as ODK and KoboToolbox do, so
field teams bring their forms unchanged. We then check what pyxform allows but we don't
support: a form we can't render faithfully is refused at load time, never shown wrong.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyxform.builder import create_survey_element_from_dict
from pyxform.errors import PyXFormError
from pyxform.question_type_dictionary import QUESTION_TYPE_DICT
from pyxform.xls2json import workbook_to_json
from pyxform.xls2json_backends import get_xlsform

from forms.expressions import ExpressionError, parse
from forms.model import (
    METADATA_TYPES,
    QUESTION_TYPES,
    SENSITIVITY_LEVELS,
    Choice,
    Form,
    Group,
    Node,
    Question,
    Repeat,
    Translations,
    language_code,
)
from forms.plan import CHOICE_COLUMN_PREFIX, dependency_order, rewrite_choice_filter

# pyxform's names for a few types differ from the XLSForm spelling.
_PYXFORM_TYPES = {
    "select one": "select_one",
    "select all that apply": "select_multiple",
    "select one external": "select_one",
    # ODK renders a trigger as an acknowledge (pyxform writes the same <trigger> control).
    "trigger": "acknowledge",
}


def _type_aliases() -> dict[str, str]:
    """Every spelling pyxform accepts for a type we support ("gps", "int", "q picture",
    "date time", ...): the ones for which pyxform writes exactly the XForm of the canonical
    type, so they mean the same thing in ODK."""
    canonical = [t for t in QUESTION_TYPES if t in QUESTION_TYPE_DICT]
    aliases = {}
    for spelling, definition in QUESTION_TYPE_DICT.items():
        for name in canonical:
            if spelling != name and definition == QUESTION_TYPE_DICT[name]:
                aliases[spelling] = name
                break
    # hidden and calculate share pyxform's definition: keep each as itself.
    aliases.pop("hidden", None)
    aliases.pop("calculate", None)
    return aliases


_PYXFORM_TYPES.update({k: v for k, v in _type_aliases().items() if k not in _PYXFORM_TYPES})
# pyxform's spellings of the metadata types ("get start time", "imei" ...) by the preload
# ODK uses for them.
_METADATA_SPELLINGS = {
    spelling: str(definition["bind"].get("jr:preloadParams"))
    for spelling, definition in QUESTION_TYPE_DICT.items()
    if definition.get("bind", {}).get("jr:preloadParams") in METADATA_TYPES
}
_METADATA_SPELLINGS["start-geopoint"] = "start-geopoint"
_METADATA_SPELLINGS["audit"] = "audit"
# The audit parameters pyxform copies into the bind (ODK Collect's names).
_AUDIT_BIND_KEYS = {
    "odk:track-changes",
    "odk:track-changes-reasons",
    "odk:identify-user",
    "odk:location-priority",
    "odk:location-min-interval",
    "odk:location-max-age",
}

# Keys of a pyxform survey element we understand. Anything else (media::image, trigger,
# guidance_hint, bind::*, body::*, ...) changes how ODK renders or behaves, so we refuse it.
_KNOWN_KEYS = {
    "type",
    "name",
    "label",
    "hint",
    "bind",
    "control",
    "parameters",
    "itemset",
    "list_name",
    "choices",
    "choice_filter",
    "default",
    "children",
    "sensitivity",
    "soft_constraint",
    "soft_constraint_message",
    "geo_site",
    # HXL hashtag for exports to HDX: our `hxl` column, or ODK's `instance::hxl`, which
    # pyxform hands over as {"instance": {"hxl": ...}}.
    "hxl",
    # pyxform's markers for a default that is an expression (e.g. today()): the `default`
    # key still holds the expression, which the app evaluates when it creates a draft.
    "_dynamic_default",
    "actions",
    "trigger",
    "media",
    # instance::<attribute> columns only add attributes to the record's XML node; ODK Collect
    # ignores them, and so do we, except instance::hxl: the question's HXL tag (see _hxl).
    "instance",
    # For ODK's SMS submission, which we don't use; it changes nothing on the tablet.
    "sms_field",
    # pyxform's copy of a select_one_external's list name (for ODK's itemsets.csv).
    "query",
    "_sheet_name",  # see qualify_duplicate_names
}
# Keys pyxform itself knows: it writes them into the XForm, so they change what ODK does and
# we must understand them or refuse. Any other column (analysis columns such as level, theme,
# indicator, disaggregation, tutorial notes ...) is dropped by pyxform and ignored by ODK.
_PYXFORM_KEYS = {
    "guidance_hint",
    "query",
    "flat",
    "bind",
    "control",
    "children",
}
_KNOWN_BIND_KEYS = {
    "relevant",
    "constraint",
    "jr:constraintMsg",
    "required",
    "jr:requiredMsg",
    "calculate",
    "readonly",
    # parameters: max-pixels=N (pyxform copies it into the bind); the app scales photos.
    "orx:max-pixels",
    # the entities sheet's save_to: refused once per form at the entities sheet.
    "entities:saveto",
}
_KNOWN_CONTROL_KEYS = {
    "appearance",
    "jr:count",
    "start",
    "end",
    "step",
    "accuracyThreshold",
    "unacceptableAccuracyThreshold",
}

# Where a key of pyxform's output came from on the survey sheet, for messages.
_COLUMN_OF = {
    "relevant": "relevant",
    "constraint": "constraint",
    "jr:constraintMsg": "constraint_message",
    "required": "required",
    "jr:requiredMsg": "required_message",
    "calculate": "calculation",
    "readonly": "read_only",
    "jr:count": "repeat_count",
    "appearance": "appearance",
}

_SEARCH = re.compile(r"search\((.*)\)", re.DOTALL)
_SEARCH_MODES = {"matches", "contains", "startswith", "endswith"}
_PULLDATA_FILE = re.compile(r"""pulldata\(\s*(['"])([^'"]+)\1""")
_GENERATED_NOTE = re.compile(r"generated_note_name_(\d+)")
_YES = {"yes", "true", "true()"}
_NO = {"", "no", "false", "false()"}
# An HXL hashtag with attributes: "#affected+idps+hh", "#x_shelter+type".
_HXL_TAG = re.compile(r"#[A-Za-z][A-Za-z0-9_]*(\s*\+\s*[A-Za-z][A-Za-z0-9_]*)*")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class FormProblem:
    """One thing wrong with a form, located so that a form author can fix it."""

    message: str
    sheet: str = "survey"
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [f"sheet '{self.sheet}'"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}"


class FormLoadError(Exception):
    """The form can't be used. `problems` lists everything found, not just the first."""

    def __init__(self, source: str, problems: list[FormProblem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def load_form(path: str | Path, attachment_dir: str | Path | None = None) -> Form:
    """Read an XLSForm file and return the checked form, or raise FormLoadError.

    The files the form refers to (choices from a file, pulldata() and lookup tables, media)
    are read from `attachment_dir`, by default the form's own folder. A missing one does not
    stop the form loading: `Form.missing_attachments()` lists them (as ODK Central does, the
    form is valid and its files come separately).
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise FormLoadError(source, [FormProblem(f"no such file: {path}", sheet="-")])
    try:
        # This is pyxform's parse_file_to_json, split in two so that we keep the sheet rows
        # and can point at the row of every problem we find.
        workbook = get_xlsform(xlsform=str(path))
        parsed = workbook_to_json(
            workbook_dict=workbook,
            form_name="data",
            fallback_form_name=workbook.fallback_form_name,
            default_language="default",
            warnings=[],
        )
        # The rest of pyxform's conversion (building the XForm) finds more form errors than
        # the sheet parse alone (a question named `data` used as ${data}, ...): a form pyxform
        # refuses is refused here too, with pyxform's message. It works on a copy because
        # the builder changes the dict it is given.
        create_survey_element_from_dict(copy.deepcopy(parsed)).to_xml(
            validate=False, pretty_print=False, warnings=[]
        )
    except PyXFormError as error:
        raise FormLoadError(source, [_problem_from_pyxform(error)]) from None
    except Exception as error:  # a corrupt or unreadable file: openpyxl/xlrd raise anything
        problem = FormProblem(f"cannot read the file as an XLSForm ({error})", sheet="-")
        raise FormLoadError(source, [problem]) from None

    qualify_duplicate_names(parsed)
    version = str(parsed.get("version") or "") or _content_version(path)
    folder = Path(attachment_dir) if attachment_dir is not None else path.parent
    return _FormBuilder(workbook, parsed, source, version, folder).build()


def _content_version(path: Path) -> str:
    """A version for a form whose settings sheet has none: its content hash, so that any
    edit makes a new version and records always say which definition they were filled on."""
    return "sha-" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


_PYXFORM_ROW = re.compile(r"\[row\s*:\s*(\d+)\]")
_PYXFORM_SHEET = re.compile(r"'(survey|choices|settings)' sheet")
_PYXFORM_COLUMN = re.compile(r"the '([^']+)' (?:value|column)")


def _problem_from_pyxform(error: PyXFormError) -> FormProblem:
    text = str(error).strip()
    row = _PYXFORM_ROW.search(text)
    sheet = _PYXFORM_SHEET.search(text)
    column = _PYXFORM_COLUMN.search(text)
    message = _PYXFORM_ROW.sub("", text).strip()
    return FormProblem(
        message=message,
        sheet=sheet.group(1) if sheet else "survey",
        row=int(row.group(1)) if row else None,
        column=column.group(1) if column else None,
    )


class _FormBuilder:
    """Turns pyxform's JSON into our model, collecting problems instead of stopping early."""

    def __init__(
        self,
        workbook: Any,
        parsed: dict[str, Any],
        source: str,
        version: str,
        attachment_dir: Path,
    ):
        self.parsed = parsed
        self.attachment_dir = attachment_dir
        self.file_choices: dict[str, list[Choice]] = {}
        self.source = source
        self.version = version
        self.problems: list[FormProblem] = []
        self.languages: set[str] = set()
        # Survey rows by name, in sheet order (pyxform keeps blank rows, so index + 2 is the
        # spreadsheet row: one for the header, one because rows count from 1).
        self.rows_by_name: dict[str, deque[tuple[int, dict[str, Any]]]] = defaultdict(deque)
        self.rows_by_position: dict[int, dict[str, Any]] = {}
        for index, raw_row in enumerate(workbook.survey or []):
            row = _lower_keys(raw_row)
            self.rows_by_position[index + 2] = row
            if row.get("name"):
                self.rows_by_name[str(row["name"]).strip()].append((index + 2, row))
        self.choice_rows: dict[tuple[str, str], int] = {}
        for index, raw_row in enumerate(workbook.choices or []):
            row = _lower_keys(raw_row)
            list_name = row.get("list_name", row.get("list name", ""))
            key = (str(list_name).strip(), str(row.get("name", "")).strip())
            self.choice_rows.setdefault(key, index + 2)
        self.external_choices: dict[str, list[Choice]] = _external_choices(workbook)
        self.entities = workbook.entities
        self.settings_row = _lower_keys((workbook.settings or [{}])[0])
        self.seen_names: dict[str, int] = {}
        self.attachments: list[str] = []

    def build(self) -> Form:
        self._refuse_unsupported_settings()
        children = self._nodes(self.parsed.get("children", []), repeat_path=())
        choices = self._choices()
        for list_name, items in {**self.external_choices, **self.file_choices}.items():
            choices.setdefault(list_name, items)
        settings_name = self.parsed.get("instance_name")
        form_id = str(self.parsed.get("id_string") or "")
        if not form_id:
            self.problems.append(FormProblem("the form has no form_id", sheet="settings"))
        default_language = str(self.parsed.get("default_language") or "default")
        if self.languages and default_language not in self.languages:
            # pyxform leaves "default" when the settings sheet names no default language.
            default_language = sorted(self.languages)[0]
        form = Form(
            form_id=form_id or "unnamed",
            version=self.version,
            title=str(self.parsed.get("title") or form_id),
            default_language=default_language,
            languages=sorted(self.languages) or ["default"],
            instance_name=settings_name,
            children=children,
            choices=choices,
            source=self.source,
            attachments=sorted(set(self.attachments)),
            attachment_dir=str(self.attachment_dir),
        )
        if settings_name:
            self._check_expression(settings_name, "instance_name", None, sheet="settings")
        self._check_references(form)
        self._check_selects(form)
        if not self.problems:  # the dependency order needs every expression readable
            self._check_cycles(form)
        if self.problems:
            raise FormLoadError(self.source, self.problems)
        return form

    # --- survey ---------------------------------------------------------------------

    def _nodes(self, elements: list[dict[str, Any]], repeat_path: tuple[str, ...]) -> list[Node]:
        nodes: list[Node] = []
        previous_select: Question | None = None
        for element in elements:
            if element.get("name") == "meta" and element.get("control", {}).get("bodyless"):
                # pyxform's instanceID/instanceName: we keep our own identity. The audit
                # log is a metadata question of its own (the answer names audit.csv).
                for child in element.get("children", []):
                    if child.get("type") == "audit":
                        node = self._node(child, repeat_path)
                        if node is not None:
                            nodes.append(node)
                continue
            name = str(element.get("name", ""))
            if previous_select is not None and name == f"{previous_select.name}_other":
                nodes.append(self._other_question(element, previous_select, repeat_path))
                previous_select = None
                continue
            node = self._node(element, repeat_path)
            if node is not None:
                nodes.append(node)
            is_or_other = (
                isinstance(node, Question)
                and node.is_select
                and _has_other_field(node.name, elements)
            )
            previous_select = node if is_or_other else None  # type: ignore[assignment]
        return nodes

    def _row_of(self, name: str) -> tuple[int, dict[str, Any]]:
        rows = self.rows_by_name.get(name)
        if rows:
            return rows.popleft()
        # pyxform names a nameless note after its spreadsheet row.
        generated = _GENERATED_NOTE.fullmatch(name)
        if generated:
            row = int(generated.group(1))
            return row, self.rows_by_position.get(row, {})
        return 0, {}

    def _node(self, element: dict[str, Any], repeat_path: tuple[str, ...]) -> Node | None:
        name = str(element.get("name", ""))
        row, sheet_row = self._row_of(str(element.get(_SHEET_NAME, name)))
        kind = str(element.get("type", ""))

        if name in self.seen_names:
            self._problem(
                f"the name '{name}' is already used on row {self.seen_names[name]}; names must "
                "be unique across the whole form (records are keyed by question name)",
                row,
                "name",
            )
        else:
            self.seen_names[name] = row

        metadata = _METADATA_SPELLINGS.get(kind)
        question_type = METADATA_TYPES[metadata] if metadata else _PYXFORM_TYPES.get(kind, kind)
        # pyxform's "phone number", "percentage", "number of days in last month": a text or
        # integer with pyxform's own constraint and hint, which we apply the same way.
        preset = QUESTION_TYPE_DICT.get(kind, {})
        if question_type not in QUESTION_TYPES and preset.get("bind", {}).get("constraint"):
            question_type = {"int": "integer", "string": "text"}.get(preset["bind"]["type"], "")
            element = {
                **element,
                "bind": {"constraint": preset["bind"]["constraint"], **element.get("bind", {})},
            }
            if "hint" in preset:
                element.setdefault("hint", preset["hint"])
        if kind == "csv-external":
            # Declares name.csv as a table for instance('name') lookups: not a question.
            self.attachments.append(f"{name}.csv")
            return None
        itemset = str(element.get("itemset", ""))
        if question_type in ("select_one", "select_multiple") and itemset.endswith(".xml"):
            self._problem(
                f"choices from an XML file ('{itemset}') are not supported yet; use a .csv or "
                ".geojson file",
                row,
                "type",
            )
        elif question_type in ("select_one", "select_multiple") and itemset.endswith(
            (".csv", ".geojson")
        ):
            self._read_file_choices(itemset)
        appearance = str((element.get("control") or {}).get("appearance") or "")
        search = self._search_arguments(appearance, row) if "search(" in appearance else ()
        if kind not in ("group", "repeat") and question_type not in QUESTION_TYPES:
            # Its other columns are pyxform's doing for that type: the type says it all.
            self._problem(
                f"the question type '{sheet_row.get('type', kind)}' is not supported "
                f"(supported: {', '.join(sorted(QUESTION_TYPES))})",
                row,
                "type",
            )
            return None

        unknown = sorted(set(element) & _PYXFORM_KEYS - _KNOWN_KEYS)
        for key in unknown:
            self._problem(f"the column '{_column_name(key)}' is not supported", row, key)
        bind = element.get("bind", {}) or {}
        control = element.get("control", {}) or {}
        parameter_names = set((_parameters_of(element)).keys())
        for key in sorted(set(bind) - _KNOWN_BIND_KEYS):
            if not _changes_behaviour(key):
                continue
            if metadata == "audit" and key in _AUDIT_BIND_KEYS:
                continue  # the audit's parameters: fieldapp.audit_log reads them
            if key.startswith("odk:") and key[4:] in parameter_names:
                column = "parameters"  # pyxform copies some parameters into the bind
            else:
                column = f"bind::{key}"
            self._problem(f"the bind column '{key}' is not supported", row, column)
        for key in sorted(set(control) - _KNOWN_CONTROL_KEYS - {"bodyless"}):
            if not _changes_behaviour(key):
                continue
            column = "parameters" if key in parameter_names else f"body::{key}"
            self._problem(f"the body column '{key}' is not supported", row, column)

        common: dict[str, Any] = {
            "name": name,
            "row": row,
            "label": self._translations(element.get("label"), row, "label"),
            "hint": self._translations(element.get("hint"), row, "hint"),
            "relevant": self._expression(bind.get("relevant"), row, "relevant"),
            "appearance": control.get("appearance"),
            "repeat_path": repeat_path,
        }
        if kind in ("group", "repeat"):
            # `required` on a group changes nothing in ODK (only questions are required).
            for key in ("constraint", "calculate"):
                if bind.get(key):
                    self._problem(f"a {kind} cannot have a {_COLUMN_OF[key]}", row, key)
            if kind == "repeat":
                inner_path = (*repeat_path, name)
                return Repeat(
                    **common,
                    children=self._nodes(element.get("children", []), inner_path),
                    repeat_count=self._expression(control.get("jr:count"), row, "repeat_count"),
                )
            return Group(**common, children=self._nodes(element.get("children", []), repeat_path))

        sensitivity = str(element.get("sensitivity", "personal")).strip().lower()
        if sensitivity not in SENSITIVITY_LEVELS:
            self._problem(
                f"sensitivity '{element.get('sensitivity')}' must be one of "
                f"{', '.join(SENSITIVITY_LEVELS)}",
                row,
                "sensitivity",
            )
            sensitivity = "sensitive"
        parameters = _parameters_of(element)
        if "orx:max-pixels" in bind:
            parameters.setdefault("max-pixels", str(bind["orx:max-pixels"]))
        for key in ("start", "end", "step"):
            if key in control:
                parameters.setdefault(key, str(control[key]))
        if "accuracyThreshold" in control:
            parameters.setdefault("capture-accuracy", str(control["accuracyThreshold"]))
        if "unacceptableAccuracyThreshold" in control:
            parameters.setdefault("warning-accuracy", str(control["unacceptableAccuracyThreshold"]))

        if metadata == "audit":
            for feature in ("identify-user", "track-changes-reasons"):
                if parameters.get(feature, "").lower() not in ("", "false", "no"):
                    self._problem(
                        f"the audit parameter '{feature}' is not supported yet: the app "
                        "does not ask for it; remove it to use this form",
                        row,
                        "parameters",
                    )
            if str(parameters.get("track-changes", "")).lower() == "true":
                sensitivity = "sensitive"  # the log then holds answers (old and new values)
        choice_filter = element.get("choice_filter")
        if choice_filter:
            self._check_expression(rewrite_choice_filter(choice_filter), "choice_filter", row)
        geo_site = element.get("geo_site")
        if geo_site:
            geo_site = str(geo_site).strip()
            match = re.fullmatch(r"\$\{([^}]+)\}", geo_site)
            geo_site = match.group(1) if match else geo_site
        type_cell = str(sheet_row.get("type", ""))
        trigger = tuple(str(name) for name in (element.get("trigger") or ()))
        calculation = self._expression(bind.get("calculate"), row, "calculation")
        media = self._media(element.get("media"), row, "survey")
        return Question(
            hxl=self._hxl(element, row),
            **common,
            type=question_type,
            required=_flag_or_expression(
                bind.get("required"), lambda text: self._expression(text, row, "required")
            ),
            required_message=self._translations(bind.get("jr:requiredMsg"), row, "required"),
            constraint=self._expression(bind.get("constraint"), row, "constraint"),
            constraint_message=self._translations(
                bind.get("jr:constraintMsg"), row, "constraint_message"
            ),
            soft_constraint=self._expression(
                element.get("soft_constraint"), row, "soft_constraint"
            ),
            soft_constraint_message=self._translations(
                element.get("soft_constraint_message"), row, "soft_constraint_message"
            ),
            calculation=None if trigger else calculation,
            trigger=trigger,
            trigger_calculation=calculation if trigger else None,
            metadata=metadata,
            media=media,
            external=kind == "select one external",
            search=search,
            default=None if element.get("default") is None else str(element["default"]),
            read_only=_flag_or_expression(
                bind.get("readonly"), lambda text: self._expression(text, row, "read_only")
            ),
            choice_list=element.get("itemset") or element.get("list_name"),
            choice_filter=choice_filter,
            or_other=type_cell.replace("_", " ").lower().endswith(("or other", "specify other")),
            parameters={str(k): str(v) for k, v in parameters.items()},
            sensitivity=sensitivity,
            geo_site=geo_site,
        )

    def _hxl(self, element: dict[str, Any], row: int) -> str | None:
        """The question's HXL hashtag (`#adm2+code`), from `hxl` or `instance::hxl`."""
        instance = element.get("instance") or {}  # its other attributes are ignored
        text = str(element.get("hxl") or instance.get("hxl") or "").strip()
        if not text:
            return None
        if not _HXL_TAG.fullmatch(text):
            self._problem(
                f"the HXL hashtag '{text}' is not valid: write it like '#adm2+code' (a '#', a "
                "lower-case tag, then '+attribute's)",
                row,
                "hxl",
            )
            return None
        # DTM files write `+pcode` where core HXL has `+code`: accept both, emit `+code`.
        tag = re.sub(r"\s+", "", text).lower()
        return "+".join("code" if part == "pcode" else part for part in tag.split("+"))

    def _other_question(
        self, element: dict[str, Any], select: Question, repeat_path: tuple[str, ...]
    ) -> Question:
        """The "specify other" text question pyxform adds after an `or_other` select.

        pyxform writes its relevance as an XPath path (`selected(../x, 'other')`); we state
        the same thing in our reference syntax and give it both languages' labels. It sits
        on the select's row and is as sensitive as the select.
        """
        name = str(element["name"])
        self.seen_names.setdefault(name, select.row)
        label = {
            language: _SPECIFY_OTHER.get(language_code(language), "Specify other")
            for language in (self.languages or {"default"})
        }
        return Question(
            name=name,
            row=select.row,
            label=label,
            type="text",
            relevant=f"selected(${{{select.name}}}, 'other')",
            required="yes",
            sensitivity=select.sensitivity,
            repeat_path=repeat_path,
        )

    # --- choices --------------------------------------------------------------------

    def _choices(self) -> dict[str, list[Choice]]:
        result: dict[str, list[Choice]] = {}
        for list_name, items in (self.parsed.get("choices") or {}).items():
            choices = []
            for item in items:
                name = str(item.get("name", ""))
                row = self.choice_rows.get((list_name, name))
                properties = {
                    str(key): str(value)
                    for key, value in item.items()
                    if key not in ("name", "label", "media")
                }
                choices.append(
                    Choice(
                        name=name,
                        label=self._translations(item.get("label"), row, "label", "choices"),
                        properties=properties,
                        media=self._media(item.get("media"), row, "choices"),
                    )
                )
            result[str(list_name)] = choices
        return result

    # --- checks across the form ---------------------------------------------------------

    def _check_references(self, form: Form) -> None:
        for question in form.walk():
            for column, text in _expressions_of(question):
                for name in _references(text):
                    if name.startswith(CHOICE_COLUMN_PREFIX):
                        continue
                    if not form.has_node(name):
                        self._problem(
                            f"'${{{name}}}' refers to a question that does not exist",
                            question.row,
                            column,
                        )
            if isinstance(question, Question) and question.geo_site:
                if not form.has_node(question.geo_site):
                    self._problem(
                        f"geo_site names '{question.geo_site}', which is not a question",
                        question.row,
                        "geo_site",
                    )
                elif question.type != "geopoint":
                    self._problem("geo_site only applies to a geopoint", question.row, "geo_site")

    def _check_selects(self, form: Form) -> None:
        for question in form.questions():
            if not question.is_select:
                continue
            if str(question.choice_list).endswith((".csv", ".xml", ".geojson")):
                continue  # the file's rows: reported as a missing attachment, not an error
            if not question.choice_list or question.choice_list not in form.choices:
                sheet = "external_choices" if question.external else "choices"
                self._problem(
                    f"the choice list '{question.choice_list}' is not on the {sheet} sheet",
                    question.row,
                    "type",
                )
            elif not form.choices[question.choice_list]:
                self._problem(
                    f"the choice list '{question.choice_list}' has no choices",
                    question.row,
                    "type",
                )

    def _check_cycles(self, form: Form) -> None:
        try:
            dependency_order(form)
        except ValueError as error:
            node_name = getattr(error, "node_name", None)
            row = form.node(node_name).row if node_name else None
            self._problem(str(error), row, "calculation")

    def _search_arguments(self, appearance: str, row: int) -> tuple[str, ...]:
        """search('file'[, 'mode', 'column', value ...]) of a select's appearance: its
        arguments, each a checked expression; a quoted file is an attachment."""
        match = _SEARCH.search(appearance)
        arguments = _split_arguments(match.group(1)) if match else []
        if not arguments or (len(arguments) > 1 and len(arguments) % 2):
            self._problem(
                "search() takes a file, or a file, a mode and column/value pairs",
                row,
                "appearance",
            )
            return ()
        for argument in arguments:
            self._check_expression(argument, "appearance", row)
        if len(arguments) > 1:
            mode = arguments[1].strip("'\" ")
            if mode not in _SEARCH_MODES:
                self._problem(
                    f"search() mode '{mode}' is not one of {', '.join(sorted(_SEARCH_MODES))}",
                    row,
                    "appearance",
                )
        literal = re.fullmatch(r"""\s*(['"])([^'"]+)\1\s*""", arguments[0])
        if literal:
            self.attachments.append(f"{literal.group(2)}.csv")
        return tuple(arguments)

    def _read_file_choices(self, file_name: str) -> None:
        """select_one_from_file: the choices are the rows of the attached CSV (name, label,
        label::language, other columns for choice filters) or GeoJSON (id, title, the other
        properties and the geometry)."""
        self.attachments.append(file_name)
        if file_name in self.file_choices:
            return
        from forms.model import read_attachment_rows

        geojson = file_name.lower().endswith(".geojson")
        choices = []
        for row in read_attachment_rows(self.attachment_dir, file_name):
            name = row.get("id" if geojson else "name", "")
            if not name:
                continue
            label: Translations = {}
            properties: dict[str, str] = {}
            for key, value in row.items():
                if key == ("title" if geojson else "label"):
                    label["default"] = value
                elif key.lower().startswith("label::"):
                    label[key.split("::", 1)[1].strip()] = value
                    self.languages.add(key.split("::", 1)[1].strip())
                elif key != ("id" if geojson else "name"):
                    properties[key] = value
            choices.append(Choice(name=name, label=label, properties=properties))
        self.file_choices[file_name] = choices

    def _refuse_unsupported_settings(self) -> None:
        """Features a form asks for that we can't honour yet: refused, never dropped."""
        if self.entities:
            columns = sorted({str(k) for row in self.entities for k in row}, key=str.lower)
            column = next((c for c in columns if c.lower() == "list_name"), None)
            self._problem(
                "entities (the entities sheet, save_to) are not supported yet: records would "
                "not create or update the entity list",
                2,
                column or (columns[0] if columns else None),
                sheet="entities",
            )
        if self.parsed.get("public_key"):
            self._problem(
                "encryption (settings public_key) is not supported yet: it comes with data "
                "protection; remove public_key to use this form",
                2,
                "public_key",
                sheet="settings",
            )

    def _media(self, value: Any, row: int | None, sheet: str) -> dict[str, Translations]:
        """media::image / audio / video columns, by kind then language; the files they
        name are the form's attachments."""
        if not value:
            return {}
        media: dict[str, Translations] = {}
        for kind, files in dict(value).items():
            if kind not in ("image", "big-image", "audio", "video"):
                self._problem(f"media::{kind} is not supported", row, f"media::{kind}", sheet)
                continue
            translations = self._translations(files, row, f"media::{kind}", sheet)
            media[str(kind)] = translations
            self.attachments.extend(name for name in translations.values() if name)
        return media

    # --- helpers ------------------------------------------------------------------------

    def _expression(self, text: Any, row: int, column: str) -> str | None:
        if text is None or str(text).strip() == "":
            return None
        text = str(text).strip()
        self._check_expression(text, column, row)
        # pulldata('file', ...) and instance('name') read attachments the form names.
        for match in _PULLDATA_FILE.finditer(text):
            self.attachments.append(f"{match.group(2)}.csv")
        return text

    def _check_expression(self, text: str, column: str, row: int | None, sheet: str = "survey"):
        try:
            parse(text)
        except ExpressionError as error:
            self._problem(f"cannot read the expression: {error}", row, column, sheet=sheet)

    def _translations(
        self, value: Any, row: int | None, column: str, sheet: str = "survey"
    ) -> Translations:
        if value is None:
            return {}
        if isinstance(value, dict):
            self.languages.update(str(language) for language in value)
            return {str(language): str(text) for language, text in value.items()}
        return {"default": str(value)}

    def _problem(
        self, message: str, row: int | None, column: str | None, sheet: str = "survey"
    ) -> None:
        self.problems.append(FormProblem(message, sheet=sheet, row=row, column=column))


_SPECIFY_OTHER = {"pt": "Especifique outro", "en": "Specify other"}


def _lower_keys(row: dict[str, Any]) -> dict[str, Any]:
    """Sheet headers are case-insensitive in XLSForm ("NAME" is "name")."""
    return {str(key).strip().lower(): value for key, value in row.items()}


def _has_other_field(name: str, siblings: list[dict[str, Any]]) -> bool:
    """pyxform follows an `or_other` select with a "{name}_other" text question."""
    other = f"{name}_other"
    for element in siblings:
        if element.get("name") == other:
            relevant = str((element.get("bind") or {}).get("relevant", ""))
            return "'other'" in relevant and name in relevant
    return False


def _column_name(key: str) -> str:
    return {"media": "media::image", "guidance_hint": "guidance_hint"}.get(key, key)


# bind:: and body:: attributes ODK knows but that change nothing we do: the height of a text
# box, autoplaying media, "save an incomplete draft here" (we save on every change), the
# message for a missing external app.
_HARMLESS_ATTRIBUTES = {"rows", "autoplay", "saveIncomplete", "jr:noAppErrorString"}
# ODK's own attributes (and their namespaces): any other one changes how ODK behaves.
_ODK_ATTRIBUTES = {"intent", "mediatype", "type", "preload", "preloadParams"}


def _changes_behaviour(attribute: str) -> bool:
    """True for a bind::/body:: attribute ODK acts on. A custom attribute (one a team adds
    for its own tools, like bind::myAttribute) is carried by pyxform but ignored by ODK."""
    if attribute in _HARMLESS_ATTRIBUTES:
        return False
    return ":" in attribute or attribute in _ODK_ATTRIBUTES


_SHEET_NAME = "_sheet_name"


def qualify_duplicate_names(parsed: dict[str, Any]) -> None:
    """Give a name used in more than one group or repeat (valid XLSForm) a key of its own.

    Records are keyed by name, so two questions named `phone` in groups `g1` and `g2` become
    `g1.phone` and `g2.phone`: the shortest run of enclosing group names that tells them
    apart; one outside any group keeps its bare name. No expression can refer to such a name
    (pyxform refuses `${phone}` when `phone` is not unique), so nothing else changes. Forms
    without such names, and so every record stored before, keep their keys. Changes `parsed`
    in place; the sheet's name is kept for messages.
    """
    placed: list[tuple[dict[str, Any], tuple[str, ...]]] = []

    def walk(elements: list[dict[str, Any]], groups: tuple[str, ...]) -> None:
        for element in elements:
            if element.get("name") == "meta" and (element.get("control") or {}).get("bodyless"):
                continue
            placed.append((element, groups))
            if element.get("type") in ("group", "repeat"):
                walk(element.get("children") or [], (*groups, str(element.get("name", ""))))

    walk(parsed.get("children") or [], ())
    by_name: dict[str, list[tuple[dict[str, Any], tuple[str, ...]]]] = {}
    for element, groups in placed:
        by_name.setdefault(str(element.get("name", "")), []).append((element, groups))
    for name, found in by_name.items():
        if len(found) < 2:
            continue
        for depth in range(1, max(len(groups) for _, groups in found) + 1):
            keys = [".".join([*groups[-depth:], name]) for _, groups in found]
            if len(set(keys)) == len(keys):
                break
        for (element, groups), key in zip(found, keys, strict=True):
            if groups:  # still equal keys are refused later as duplicate names
                element[_SHEET_NAME] = name
                element["name"] = key


def _external_choices(workbook: Any) -> dict[str, list[Choice]]:
    """The external_choices sheet (for select_one_external), by list name. ODK Collect reads
    it from the itemsets.csv pyxform writes; it is the same table."""
    lists: dict[str, list[Choice]] = {}
    for raw_row in workbook.external_choices or []:
        row = {str(key).strip(): value for key, value in raw_row.items()}
        lowered = _lower_keys(row)
        list_name = str(lowered.get("list_name", lowered.get("list name", "")) or "").strip()
        name = str(lowered.get("name", "") or "").strip()
        if not list_name or not name:
            continue
        label: Translations = {}
        properties: dict[str, str] = {}
        for key, value in row.items():
            folded = key.lower()
            if folded in ("list_name", "list name", "name"):
                continue
            if folded == "label":
                label["default"] = str(value)
            elif folded.startswith("label::"):
                label[key.split("::", 1)[1].strip()] = str(value)
            else:
                properties[key] = str(value)
        lists.setdefault(list_name, []).append(
            Choice(name=name, label=label, properties=properties)
        )
    return lists


def _split_arguments(text: str) -> list[str]:
    """Split a call's argument text at its top-level commas (not inside quotes, ${} or ())."""
    arguments, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
        elif char == "," and depth == 0:
            arguments.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        arguments.append("".join(current).strip())
    return arguments


def _parameters_of(element: dict[str, Any]) -> dict[str, str]:
    parameters = element.get("parameters") or {}
    if isinstance(parameters, str):
        return _parse_parameters(parameters)
    return {str(k): str(v) for k, v in parameters.items()}


def _parse_parameters(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in re.split(r"[\s;,]+", text.strip()) if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


def _flag_or_expression(value: Any, check) -> str | None:
    """required and read_only take yes/no or an expression."""
    if value is None:
        return None
    text = str(value).strip()
    if text.lower() in _NO:
        return None
    if text.lower() in _YES:
        return "yes"
    return check(text)


def _expressions_of(node: Node) -> list[tuple[str, str]]:
    found = []
    if node.relevant:
        found.append(("relevant", node.relevant))
    if isinstance(node, Repeat) and node.repeat_count:
        found.append(("repeat_count", node.repeat_count))
    if isinstance(node, Question):
        for column in ("constraint", "soft_constraint", "calculation", "trigger_calculation"):
            text = getattr(node, column)
            if text:
                found.append((column.replace("trigger_", ""), text))
        for column in ("required", "read_only"):
            text = getattr(node, column)
            if text and text != "yes":
                found.append((column.replace("trigger_", ""), text))
        if node.choice_filter:
            found.append(("choice_filter", rewrite_choice_filter(node.choice_filter)))
    return found


def _references(text: str) -> frozenset[str]:
    try:
        return parse(text).references
    except ExpressionError:
        return frozenset()  # already reported where the expression was read
