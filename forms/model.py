"""The form model: what an XLSForm means once it has been loaded and checked.

The loader (`forms.loader`) builds these objects from pyxform's parse of a workbook; the
validator, the tablet app's renderer and the sync server all read them. Nothing here knows
about spreadsheets, Kivy, HTTP or SQL.

Records are plain JSON-able dicts keyed by question name. Groups don't appear in a record
(XLSForm names are unique across a form); a repeat is a list of dicts, one per instance:

    {"consent": "yes", "hh_head_name": "Ana", "members": [{"given_name": "Ana", ...}, ...]}

Answer values are JSON scalars: strings for text, select_one, date ("2024-03-01"), time
("14:05:00"), dateTime (ISO 8601) and geo answers (ODK's "lat lon alt accuracy" form);
numbers for integer, decimal and range; a list of choice names for select_multiple.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from forms.expressions import Expression
from forms.expressions import parse as parse_expression

Sensitivity = Literal["public", "personal", "sensitive"]
SENSITIVITY_LEVELS: tuple[Sensitivity, ...] = ("public", "personal", "sensitive")

QuestionType = Literal[
    "text",
    "integer",
    "decimal",
    "range",
    "select_one",
    "select_multiple",
    "note",
    "acknowledge",
    "date",
    "time",
    "dateTime",
    "geopoint",
    "geotrace",
    "geoshape",
    "image",
    "audio",
    "video",
    "file",
    "barcode",
    "calculate",
    "hidden",
]
QUESTION_TYPES: frozenset[str] = frozenset(QuestionType.__args__)  # type: ignore[attr-defined]

# Types whose answer is a file attached to the record (its file name is the answer).
FILE_TYPES = frozenset({"image", "audio", "video", "file"})

# ODK's metadata ("preload") types: filled by the app, never asked. Each keeps the value
# type it has in ODK's XForm, so the validator checks it as such.
METADATA_TYPES: dict[str, str] = {
    "start": "dateTime",
    "end": "dateTime",
    "today": "date",
    "deviceid": "text",
    "uri:deviceid": "text",
    "username": "text",
    "uri:username": "text",
    "email": "text",
    "uri:email": "text",
    "phonenumber": "text",
    "uri:phonenumber": "text",
    "simserial": "text",
    "uri:simserial": "text",
    "subscriberid": "text",
    "uri:subscriberid": "text",
    "start-geopoint": "geopoint",
    # ODK's audit log: the answer is the name of the record's `audit.csv` (fieldapp's
    # audit_log writes it; it travels with the record's other files).
    "audit": "file",
}

# Types whose answer the enumerator never types.
DISPLAY_ONLY_TYPES = frozenset({"note"})
COMPUTED_TYPES = frozenset({"calculate", "hidden"})

# A piece of text in every language the form has, keyed by pyxform's language name
# ("Português (pt)", "English (en)", or "default" for an untranslated column).
Translations = dict[str, str]

_LANGUAGE_CODE = re.compile(r"\(([A-Za-z]{2,3}(?:-[A-Za-z0-9]+)?)\)\s*$")


def language_code(language: str) -> str:
    """The ISO code inside an XLSForm language name: "Português (pt)" -> "pt"."""
    match = _LANGUAGE_CODE.search(language)
    return match.group(1).lower() if match else language.lower()


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    row: int = Field(description="Row on the survey sheet, for messages a form author can act on")
    label: Translations = {}
    hint: Translations = {}
    relevant: str | None = None
    appearance: str | None = None
    # Names of the repeats that enclose this node, outermost first.
    repeat_path: tuple[str, ...] = ()


class Question(_Node):
    kind: Literal["question"] = "question"
    type: QuestionType
    required: str | None = None  # "yes" or an expression
    required_message: Translations = {}
    constraint: str | None = None
    constraint_message: Translations = {}
    # A soft constraint warns and never blocks finalizing (our extension column).
    soft_constraint: str | None = None
    soft_constraint_message: Translations = {}
    calculation: str | None = None
    default: str | None = None
    read_only: str | None = None
    choice_list: str | None = None
    choice_filter: str | None = None
    or_other: bool = False
    parameters: dict[str, str] = {}
    sensitivity: Sensitivity = "personal"
    # HXL hashtag for HDX exports ("#adm2+code"), from the `hxl` or `instance::hxl` column.
    hxl: str | None = None
    # For a geopoint: the question holding the declared site, so a GPS far outside it warns.
    geo_site: str | None = None
    # ODK metadata filled by the app ("start", "deviceid", ...; see METADATA_TYPES).
    metadata: str | None = None
    # The `trigger` column: when one of these questions changes, `trigger_calculation` is
    # evaluated once and stored as this question's answer (or the answer is cleared when the
    # question has no calculation), as ODK does; otherwise the answer is kept as it is.
    trigger: tuple[str, ...] = ()
    trigger_calculation: str | None = None
    # media::image / media::audio / media::video / media::big-image, by language.
    media: dict[str, Translations] = {}
    # The list of a select_one_external comes from the external_choices sheet.
    external: bool = False
    # The search() appearance's arguments (expressions): file, then optionally a mode
    # ('matches', 'contains', 'startswith', 'endswith') and column/value pairs. The choices
    # are that CSV's rows; the list's first choice names its name and label columns.
    search: tuple[str, ...] = ()

    @property
    def is_select(self) -> bool:
        return self.type in ("select_one", "select_multiple")

    @property
    def takes_input(self) -> bool:
        """True when the enumerator answers this question on a screen."""
        return (
            self.type not in DISPLAY_ONLY_TYPES | COMPUTED_TYPES
            and not self.is_read_only
            and self.metadata is None
        )

    @property
    def is_file(self) -> bool:
        return self.type in FILE_TYPES

    @property
    def is_read_only(self) -> bool:
        return self.read_only is not None and self.read_only.strip().lower() in (
            "yes",
            "true",
            "true()",
        )


class Group(_Node):
    kind: Literal["group"] = "group"
    children: list[Node] = []

    @property
    def is_field_list(self) -> bool:
        return "field-list" in (self.appearance or "").split()


class Repeat(Group):
    kind: Literal["repeat"] = "repeat"  # type: ignore[assignment]
    repeat_count: str | None = None


Node = Question | Group | Repeat


class Choice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    label: Translations = {}
    # Other columns of the choices sheet, used by choice_filter expressions (e.g. "province").
    properties: dict[str, str] = {}
    media: dict[str, Translations] = {}


class Form(BaseModel):
    """A loaded, checked form. Build one with `forms.load_form`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    form_id: str
    version: str
    title: str
    default_language: str
    languages: list[str]
    instance_name: str | None = None
    children: list[Node]
    choices: dict[str, list[Choice]]
    source: str = Field("", description="File the form was loaded from")
    # Files the form refers to (media, choice and lookup files): published with the form.
    attachments: list[str] = []
    # Where those files are (the form's own folder unless told otherwise).
    attachment_dir: str = ""

    # Derived lookups, built once in model_post_init.
    _questions: dict[str, Question] = PrivateAttr(default_factory=dict)
    _nodes: dict[str, Node] = PrivateAttr(default_factory=dict)
    _choices_by_name: dict[str, dict[str, Choice]] = PrivateAttr(default_factory=dict)
    _expressions: dict[str, Expression] = PrivateAttr(default_factory=dict)
    # Derived data the validator builds once per form (its evaluation plan).
    _engine_cache: dict[str, Any] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: object) -> None:
        for node in self.walk():
            self._nodes[node.name] = node
            if isinstance(node, Question):
                self._questions[node.name] = node
        self._choices_by_name = {
            list_name: {choice.name: choice for choice in choices}
            for list_name, choices in self.choices.items()
        }

    def expression(self, text: str) -> Expression:
        """The parsed expression for `text`: each expression is parsed once per form."""
        parsed = self._expressions.get(text)
        if parsed is None:
            parsed = self._expressions[text] = parse_expression(text)
        return parsed

    def walk(self, nodes: list[Node] | None = None) -> Iterator[Node]:
        """Every group, repeat and question in document order."""
        for node in self.children if nodes is None else nodes:
            yield node
            if isinstance(node, Group):
                yield from self.walk(node.children)

    def questions(self) -> Iterator[Question]:
        return iter(self._questions.values())

    def question(self, name: str) -> Question:
        try:
            return self._questions[name]
        except KeyError:
            raise KeyError(f"form {self.form_id!r} has no question named {name!r}") from None

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise KeyError(f"form {self.form_id!r} has no field named {name!r}") from None

    def has_node(self, name: str) -> bool:
        return name in self._nodes

    def repeats(self) -> Iterator[Repeat]:
        return (node for node in self._nodes.values() if isinstance(node, Repeat))

    def choice(self, list_name: str, name: str) -> Choice | None:
        return self._choices_by_name.get(list_name, {}).get(name)

    def choices_for(self, question: Question) -> list[Choice]:
        return self.choices.get(question.choice_list or "", [])

    def missing_attachments(self) -> list[str]:
        """The attachments the form names that are not in its attachment folder."""
        folder = Path(self.attachment_dir or ".")
        return [name for name in self.attachments if not (folder / name).is_file()]

    def instance_rows(self, name: str) -> list[dict[str, str]]:
        """The items of the secondary instance `name`, for lookups and pulldata(): a choice
        list of the form, else the attachment `name.csv` / `name.geojson` (or `name` itself).
        Read once per form; a missing file has no items."""
        cache = self._engine_cache.setdefault("instances", {})
        rows = cache.get(name)
        if rows is None:
            if name in self.choices:
                rows = [choice_row(choice) for choice in self.choices[name]]
            else:
                rows = read_attachment_rows(Path(self.attachment_dir or "."), name)
            cache[name] = rows
        return rows

    def language_for(self, code: str | None) -> str:
        """The form's language name for an ISO code ("pt"), falling back to the default."""
        if code:
            for language in self.languages:
                if language_code(language) == code.lower() or language == code:
                    return language
        return self.default_language

    def text(self, translations: Translations, language: str | None = None) -> str:
        """One text in `language` (a code or a language name), falling back sensibly.

        Fallback order: the language asked for, the form's default language, "default",
        then whatever language has it, so a half-translated form still shows something.
        """
        if not translations:
            return ""
        wanted = self.language_for(language) if language else self.default_language
        for key in (wanted, self.default_language, "default"):
            if translations.get(key):
                return translations[key]
        return next((text for text in translations.values() if text), "")

    @property
    def key(self) -> str:
        """The identity of this exact form definition: form id plus version."""
        return f"{self.form_id}@{self.version}"


def choice_row(choice: Choice) -> dict[str, str]:
    """A choice as an item of a secondary instance: name, label and its other columns."""
    label = next((text for text in choice.label.values() if text), "")
    return {"name": choice.name, "label": label, **choice.properties}


def read_attachment_rows(folder: Path, name: str) -> list[dict[str, str]]:
    """Rows of the attached file `name` (with or without .csv / .geojson) in `folder`.

    CSV: one row per line, by header (as ODK reads pulldata() and select_one_from_file
    files). GeoJSON: one row per feature, its properties plus `geometry` as an ODK geopoint
    ("lat lon 0 0") or trace/shape ("lat lon 0 0;..."), and `id` from the feature's id.
    """
    import csv
    import json

    candidates = [name] if "." in name else [f"{name}.csv", f"{name}.geojson"]
    for candidate in candidates:
        path = folder / candidate
        if not path.is_file():
            continue
        if path.suffix.lower() == ".geojson":
            collection = json.loads(path.read_text(encoding="utf-8"))
            return [_feature_row(feature) for feature in collection.get("features", [])]
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [
                {str(k).strip(): (v or "").strip() for k, v in row.items() if k is not None}
                for row in csv.DictReader(handle)
            ]
    return []


def _feature_row(feature: dict[str, Any]) -> dict[str, str]:
    properties = feature.get("properties") or {}
    row = {str(k): "" if v is None else str(v) for k, v in properties.items()}
    if feature.get("id") is not None:
        row.setdefault("id", str(feature["id"]))
    geometry = feature.get("geometry") or {}
    coordinates = geometry.get("coordinates")
    kind = geometry.get("type")
    if kind == "Point" and coordinates:
        points = [coordinates]
    elif kind == "LineString" and coordinates:
        points = coordinates
    elif kind == "Polygon" and coordinates:
        points = coordinates[0]
    else:
        points = []
    row["geometry"] = ";".join(f"{p[1]} {p[0]} 0 0" for p in points)
    return row


Group.model_rebuild()
Repeat.model_rebuild()
Form.model_rebuild()
