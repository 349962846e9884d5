"""The shape of an export: which tables and columns a form gives, and a record's rows.

Pure: no SQL, no files. ODK Central's layout, which analysts already know:

- one table for the form (one row per record) and one per repeat (one row per instance),
  joined by `KEY` / `PARENT_KEY`; a repeat row's KEY is its parent's KEY plus
  `/members[2]`;
- a select_multiple is its answer string plus one 0/1 column per choice (`vulnerabilities/
  pregnant`), empty when the question was not answered;
- a geopoint is four columns: `hh_gps-Latitude`, `-Longitude`, `-Altitude`, `-Accuracy`;
- after the questions, the record's metadata (`KEY`, `FormVersion`, `Status`, …);
- a household form's main table also has `household_id`: the id under which a
  coordinator's confirmation of a probable duplicate links records (sync_server.duplicates);
  for a record never linked, its own `household_id` answer if the form asks one, else the
  record id. Two registrations of one family share it, which is what an analyst counts.

A shareable export (`ExportOptions.shareable`) keeps only `public` questions and no free
text, gives the record KEY as a keyed HMAC of the id (the key is the server's secret: the
same record gets the same KEY in every export, and nobody without the key can link it back),
places a personal geopoint at the centre of the record's site, and writes any people count
(a column tagged `#affected`, `#population`, `#inneed`, `#targeted` or `#reached`) below the
threshold as `<5`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from forms import Form, Question, Repeat
from forms.geo import parse_geopoint
from sync_server.duplicates import HOUSEHOLD_FIELD

GEO_PARTS = ("Latitude", "Longitude", "Altitude", "Accuracy")
GEO_HXL = {"Latitude": "+lat", "Longitude": "+lon"}
# HXL hashtags that count people: small values can single someone out.
COUNT_TAGS = ("#affected", "#population", "#inneed", "#targeted", "#reached")
NUMERIC_TYPES = ("integer", "decimal", "range", "calculate")
FREE_TEXT_TYPES = ("text", "barcode")


@dataclass
class RecordContext:
    """What a record's rows need besides its answers."""

    key: str
    form_version: str = ""
    submission_date: str = ""
    status: str = ""
    edits: int = 0
    submitter: str = ""
    device_id: str = ""
    site_centre: tuple[float, float] | None = None  # (lat, lon) of the record's site
    record_key: str = ""  # every-revision exports: the record's KEY (KEY is the revision's)
    revision_origin: str = ""
    revision_created_at: str = ""
    parent_revision_key: str = ""
    household_id: str = ""  # household forms: see the module's docstring


HOUSEHOLD_ID = "household_id"


def registers_households(forms: list[Form]) -> bool:
    return any(HOUSEHOLD_FIELD in {node.name for node in form.walk()} for form in forms)


@dataclass
class Column:
    """One column: its header, its HXL hashtag, and the Python expression that computes
    its value from `a` (the answers of the row's record or repeat instance) and `c` (the
    RecordContext). A geopoint or a select_multiple's 0/1 columns come from one expression
    that yields several values (`*G0(...)`): `width` says how many."""

    header: str
    code: str = ""
    hxl: str | None = None
    width: int = 1  # > 1: this column's code fills `width` columns; the next ones are ""


@dataclass
class Table:
    """One CSV file / XLSX sheet: the form's main table or one repeat's."""

    name: str  # file name without suffix: "household_registration-members"
    sheet: str  # XLSX sheet title (<= 31 characters)
    repeat: str | None  # the repeat's name, None for the main table
    columns: list[Column] = field(default_factory=list)
    children: list[Table] = field(default_factory=list)
    index: int = 0  # position in Layout.tables
    row: Callable[[dict[str, Any], RecordContext], list[Any]] = field(init=False, repr=False)

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.columns]

    def compile(self, namespace: dict[str, Any]) -> None:
        """Build `row(a, c)`, one function computing the whole row.

        Generated once per table, like dataclasses' __init__: calling a function per cell
        was most of an export's time (about 3 µs a cell, 18 million cells for 100,000
        households); one expression list per row is several times faster.
        """
        parts = [column.code for column in self.columns if column.code]
        source = "def row(a, c):\n    return [" + ", ".join(parts) + "]\n"
        scope = dict(namespace)
        exec(compile(source, f"<export row of {self.name}>", "exec"), scope)
        self.row = scope["row"]


@dataclass
class Layout:
    tables: list[Table]
    geopoint: str | None  # the main table's first geopoint, for GeoJSON
    geopoint_coarse: bool  # shareable and not public: GeoJSON places it at the site
    count_questions: list[str]  # main-table people counts, summed per site
    households: bool = False  # a household form: the main table has household_id

    @property
    def main(self) -> Table:
        return self.tables[0]


class Pseudonymiser:
    """Record and revision ids that can't be traced back without the server's secret."""

    def __init__(self, secret: str | None):
        self._key = secret.encode() if secret else None

    def __call__(self, kind: str, value: str) -> str:
        if self._key is None:
            return value
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def build_layout(
    forms: list[Form],
    *,
    labels: bool,
    language: str | None,
    shareable: bool,
    threshold: int,
    every_revision: bool = False,
    codes_for_code_tags: bool = False,
) -> Layout:
    """The tables of an export of these versions of one form (newest first): the newest
    version's questions in form order, then any question only an older version had.

    `codes_for_code_tags` (HXL exports): a select tagged `+code` (`#adm2+code`) holds the
    choice name even when the export shows labels, as HDX expects codes there."""
    newest = forms[0]
    households = registers_households(forms)
    main = Table(newest.form_id, _sheet_title(newest.form_id), None)
    tables = [main]
    by_repeat: dict[str | None, Table] = {None: main}
    seen: set[str] = set()
    geopoint: str | None = None
    geopoint_checked = False
    geopoint_coarse = False
    counts: list[str] = []
    namespace: dict[str, Any] = {"P": _plain, "S": _suppressor(threshold), "SIMPLE": _SIMPLE}
    for form in forms:
        for node in form.walk():
            if node.name in seen or (households and node.name == HOUSEHOLD_ID):
                continue  # a household_id answer is read into the household_id column
            seen.add(node.name)
            parent_name = node.repeat_path[-1] if node.repeat_path else None
            if isinstance(node, Repeat):
                table = Table(f"{newest.form_id}-{node.name}", _sheet_title(node.name), node.name)
                by_repeat[parent_name].children.append(table)
                by_repeat[node.name] = table
                tables.append(table)
                continue
            if not isinstance(node, Question) or node.type == "note":
                continue
            if shareable and not _shareable(node):
                continue
            table = by_repeat[parent_name]
            as_labels = labels and not (codes_for_code_tags and _is_code(node))
            table.columns.extend(
                _question_columns(form, node, as_labels, language, shareable, namespace)
            )
            # The record's own position: the first geopoint checked against its site
            # (`geo_site`), else the first geopoint (a "new site" GPS may come first).
            if (
                parent_name is None
                and node.type == "geopoint"
                and (geopoint is None or (node.geo_site and not geopoint_checked))
            ):
                geopoint = node.name
                geopoint_checked = bool(node.geo_site)
                geopoint_coarse = shareable and node.sensitivity != "public"
            if parent_name is None and _is_count(node):
                counts.append(node.name)
    for index, table in enumerate(tables):
        table.index = index
        if table.repeat is None:
            table.columns = [
                Column("SubmissionDate", "c.submission_date"),
                *table.columns,
                *_meta_columns(shareable, every_revision, households),
            ]
        else:
            table.columns += [
                Column("PARENT_KEY", "a['__parent_key']"),
                Column("KEY", "a['__key']"),
            ]
        table.compile(namespace)
    return Layout(tables, geopoint, geopoint_coarse, counts, households)


def _shareable(question: Question) -> bool:
    if question.type == "geopoint":
        return True  # kept, but placed at the site when it isn't public
    return question.sensitivity == "public" and question.type not in FREE_TEXT_TYPES


def _is_code(question: Question) -> bool:
    return bool(question.hxl and "code" in question.hxl.split("+")[1:])


def _is_count(question: Question) -> bool:
    return bool(question.hxl and question.hxl.split("+")[0] in COUNT_TAGS) and (
        question.type in NUMERIC_TYPES
    )


def _meta_columns(shareable: bool, every_revision: bool, households: bool) -> list[Column]:
    columns = [Column("KEY", "c.key", hxl="#meta+id")]
    if households:
        columns.append(Column(HOUSEHOLD_ID, "c.household_id", hxl="#meta+household"))
    if every_revision:
        columns += [
            Column("RECORD_KEY", "c.record_key", hxl="#meta+record"),
            Column("ParentRevisionKEY", "c.parent_revision_key"),
            Column("RevisionOrigin", "c.revision_origin"),
            Column("RevisionCreatedAt", "c.revision_created_at"),
        ]
    columns += [
        Column("FormVersion", "c.form_version"),
        Column("Status", "c.status"),
        Column("Edits", "c.edits"),
    ]
    if not shareable:
        columns += [Column("SubmitterName", "c.submitter"), Column("DeviceID", "c.device_id")]
    return columns


def _question_columns(
    form: Form,
    question: Question,
    labels: bool,
    language: str | None,
    shareable: bool,
    namespace: dict[str, Any],
) -> list[Column]:
    name, tag = question.name, question.hxl
    get = f"a.get({name!r})"

    def bind(prefix: str, value: Any) -> str:
        key = f"{prefix}{len(namespace)}"
        namespace[key] = value
        return key

    if question.type == "geopoint":
        coarsen = shareable and question.sensitivity != "public"
        helper = bind("G", _geo_parts(coarsen))
        columns = [
            Column(
                f"{name}-{part}",
                hxl=f"{tag}{GEO_HXL[part]}" if tag and part in GEO_HXL else None,
            )
            for part in GEO_PARTS
        ]
        columns[0].code, columns[0].width = f"*{helper}({get}, c)", len(GEO_PARTS)
        return columns
    if question.type == "select_one":
        if not labels:
            return [Column(name, _plain_code(get), hxl=tag)]
        texts = bind("T", _choice_texts(form, question, language))
        # The label for a choice name; anything else (an old choice, a number) as it is.
        code = f"({texts}.get(x, x) if (x := {get}).__class__ is str else P(x))"
        return [Column(name, code, hxl=tag)]
    if question.type == "select_multiple":
        texts = _choice_texts(form, question, language) if labels else {}
        joined = bind("M", _joiner(texts, "; " if labels else " "))
        choices = [choice.name for choice in form.choices_for(question)]
        columns = [Column(name, f"{joined}({get})", hxl=tag)]
        if choices:
            flags = bind("F", _flags(choices))
            split = [Column(f"{name}/{choice}") for choice in choices]
            split[0].code, split[0].width = f"*{flags}({get})", len(choices)
            columns += split
        return columns
    if shareable and _is_count(question):
        return [Column(name, f"S({get})", hxl=tag)]
    return [Column(name, _plain_code(get), hxl=tag)]


_SIMPLE = frozenset({str, int, float})


def _plain_code(get: str) -> str:
    # Most answers are already a string or a number: no call for those.
    return f"(x if (x := {get}).__class__ in SIMPLE else P(x))"


def _choice_texts(form: Form, question: Question, language: str | None) -> dict[str, str]:
    return {
        choice.name: form.text(choice.label, language) or choice.name
        for choice in form.choices_for(question)
    }


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return int(value)
    return value


def _joiner(texts: dict[str, str], separator: str) -> Callable[[Any], Any]:
    def join(value: Any) -> Any:
        if isinstance(value, list):
            return separator.join(texts.get(v, v) if isinstance(v, str) else str(v) for v in value)
        return _plain(texts.get(value, value) if isinstance(value, str) else value)

    return join


def _flags(choices: list[str]) -> Callable[[Any], list[Any]]:
    blank = [""] * len(choices)

    def flags(value: Any) -> list[Any]:
        if value is None or value == "" or value == []:
            return blank
        chosen = set(value) if isinstance(value, list) else {value}
        return [1 if choice in chosen else 0 for choice in choices]

    return flags


def _suppressor(threshold: int) -> Callable[[Any], Any]:
    hidden = f"<{threshold}"

    def suppress(value: Any) -> Any:
        value = _plain(value)
        if isinstance(value, int | float) and value < threshold:
            return hidden
        return value

    return suppress


def _geo_parts(coarsen: bool) -> Callable[[Any, RecordContext], tuple[Any, ...]]:
    blank = ("", "", "", "")

    def parts(value: Any, context: RecordContext) -> tuple[Any, ...]:
        if coarsen:
            if context.site_centre is None or not value:
                return blank
            return (context.site_centre[0], context.site_centre[1], "", "")
        point = parse_point(value)
        if point is None:
            return blank
        return tuple("" if part is None else part for part in point)

    return parts


def parse_point(value: Any) -> tuple[float, float, float | None, float | None] | None:
    """A geopoint answer as numbers, or None when it is missing or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_geopoint(value)
    except ValueError:
        return None


def record_rows(
    layout: Layout, answers: dict[str, Any], context: RecordContext
) -> Iterator[tuple[Table, list[Any]]]:
    """Every row one record gives: its main-table row, then its repeat rows, depth first."""
    main = layout.main
    yield main, main.row(answers, context)
    if main.children:
        yield from _repeat_rows(main, answers, context.key, context)


def _repeat_rows(
    table: Table, answers: dict[str, Any], key: str, context: RecordContext
) -> Iterator[tuple[Table, list[Any]]]:
    for child in table.children:
        instances = answers.get(child.repeat or "")
        if not isinstance(instances, list):
            continue
        prefix = f"{key}/{child.repeat}["
        for position, instance in enumerate(instances, start=1):
            if not isinstance(instance, dict):
                continue
            row_key = f"{prefix}{position}]"
            scoped = {**instance, "__parent_key": key, "__key": row_key}
            yield child, child.row(scoped, context)
            if child.children:
                yield from _repeat_rows(child, instance, row_key, context)


def _sheet_title(name: str) -> str:
    # Excel refuses titles over 31 characters or with []:*?/\ in them.
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)
    return cleaned[:31]
