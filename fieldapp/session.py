"""Filling one record: screens, navigation, answers, autosave and finalize. No Kivy here.

A `FormSession` turns a form and a draft into a sequence of *steps* (one question, or one
field-list group, per screen; plus an overview screen per repeat where members are added
and removed), keeps the answers, and saves them to the store on every change. The Kivy
screens only draw a step and report what the enumerator did, so all of this is tested
without a window.

Relevance, calculations and checks come from the form engine (`forms.validate_record`);
nothing here re-implements a rule. Answers to questions that stop being relevant are
dropped when saved, as ODK does: so when consent is refused, nothing personal is stored.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldapp.audit_log import AuditLog
from fieldapp.location import LocationTracker
from forms import Form, Group, Question, Repeat, ValidationResult, validate_record
from forms.expressions import to_number, to_string
from forms.labels import fill_references
from forms.model import Node
from forms.paths import KEY_FIELD, answer_path, new_instance_key
from forms.scope import DISTRICT_QUESTION, SITE_QUESTION
from forms.site_list import NEW_SITE
from forms.validation import FieldIssue, path_of

Index = tuple[int, ...]
ONCE = re.compile(r"\s*once\s*\(")  # a calculation evaluated once per record


@dataclass(frozen=True)
class Slot:
    """One question at one position in the repeats (index () outside any repeat)."""

    question: Question
    index: Index = ()

    @property
    def path(self) -> str:
        return answer_path(self.question.name, self.question.repeat_path, self.index)


@dataclass(frozen=True)
class Step:
    """What one screen shows."""

    key: str  # stable across restarts: used to resume a draft at the same question
    kind: str  # "questions" or "repeat"
    slots: tuple[Slot, ...] = ()
    group: Group | None = None  # the field-list group, or the repeat for kind "repeat"
    index: Index = ()  # the repeat position of the group/repeat
    instance: tuple[int, int] | None = None  # ("member 3 of 5") for steps inside a repeat


@dataclass
class FinalizeOutcome:
    finalized: bool
    errors: list[FieldIssue] = field(default_factory=list)
    warnings: list[FieldIssue] = field(default_factory=list)
    duplicates: list[Any] = field(default_factory=list)
    revision_id: str | None = None


class FormSession:
    """The state of one record being filled in."""

    def __init__(
        self,
        form: Form,
        store: Any,
        record_id: str,
        *,
        language: str | None = None,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
        duplicate_finder: Callable[[Form, dict[str, Any], str], list[Any]] | None = None,
        scope: tuple[str | None, list[str]] | None = None,
        location: LocationTracker | None = None,
        # scope: (district, sites) the tablet is enrolled for; their choices are limited to it
        # duplicate_finder(form, summary, record_id): `summary` is record_summary()'s dict.
    ):
        self.form = form
        self.store = store
        self.record_id = record_id
        self.language = language
        self.clock = clock
        self.duplicate_finder = duplicate_finder
        self.scope = scope
        # start-geopoint comes from here (None: no GPS, the answer stays empty).
        self.location = location
        draft = store.draft(record_id)
        self.answers: dict[str, Any] = draft.answers or {}
        if not self.answers:
            self.answers = self._defaults()
        self.result: ValidationResult = self._validate()
        self.steps: list[Step] = self._build_steps()
        self.position = self._find_step(draft.position)
        kept = _draft_answers(self.form, self.result.record, self.answers)
        if kept != self.answers and any(_evaluated_once(q) for q in form.questions()):
            # A new record's once() values are fixed when it is opened (the start time of
            # the interview), not at its first answer.
            self.answers = kept
            self.store.save_answers(self.record_id, self.answers, position=self.step.key)
        # Errors are shown only after the enumerator has touched a question or tried to
        # finalize: an empty form shouldn't open covered in "required" messages.
        self.touched: set[str] = set()
        self.show_all_errors = False
        self.audit_log: AuditLog | None = self._open_audit()

    # --- reading ------------------------------------------------------------------------

    @property
    def step(self) -> Step:
        return self.steps[self.position]

    @property
    def progress(self) -> float:
        return (self.position + 1) / len(self.steps) if self.steps else 1.0

    def answer_progress(self) -> tuple[int, int]:
        """(answered, relevant): the questions a person answers (not notes or calculations)
        that are relevant now, and how many of them have an answer."""
        answered = relevant = 0
        for step in self.steps:
            for slot in step.slots:
                question = slot.question
                if question.type == "note" or question.calculation:
                    continue
                relevant += 1
                if self.value(slot) not in (None, "", []):
                    answered += 1
        return answered, relevant

    def value(self, slot: Slot) -> Any:
        container = self._container(slot.question.repeat_path, slot.index)
        return container.get(slot.question.name) if container is not None else None

    def computed(self, slot: Slot) -> str:
        """A calculated/read-only value for display; a read-only choice shows its label."""
        value = to_string(self.result.value(slot.question.name, slot.index))
        if value and slot.question.type.startswith("select_one"):
            labels = dict(self.choices(slot))
            return labels.get(value, value)
        return value

    def _enrolled_for(self, slot: Slot) -> set[str]:
        """The district or sites this tablet is enrolled for, when `slot` asks where the
        record is collected (forms/scope.py's convention); empty: no limit."""
        question = slot.question
        if question.repeat_path or self.scope is None:
            return set()
        district, sites = self.scope
        if question.name == DISTRICT_QUESTION and district:
            return {district}
        if question.name == SITE_QUESTION and sites:
            return set(sites)
        return set()

    def label(self, node: Node, index: Index = ()) -> str:
        """The node's label in the session language, with ${name} references filled in."""
        text = self.form.text(node.label, self.language)
        return self._interpolate(text, node, index)

    def hint(self, node: Node, index: Index = ()) -> str:
        return self._interpolate(self.form.text(node.hint, self.language), node, index)

    def media_file(self, media: dict[str, dict[str, str]], kind: str) -> Path | None:
        """The file of a question's or choice's media::image / audio / video in the session
        language, when it was published with the form (None when the form has none, or the
        tablet doesn't have it: the label alone still says everything)."""
        translations = media.get(kind) or (media.get("image") if kind == "big-image" else None)
        name = self.form.text(translations or {}, self.language)
        if not name or "/" in name or "\\" in name:
            return None
        path = Path(self.form.attachment_dir or ".") / name
        return path if path.is_file() else None

    def choices(self, slot: Slot) -> list[tuple[str, str]]:
        """(name, label) of the choices to show now, after the choice filter."""
        choices = self.result.filtered_choices(slot.question, slot.index)
        allowed = self._enrolled_for(slot)
        if allowed and any(c.name in allowed for c in choices):
            # A site found in the field ("new site") stays offered: the coordinator places it.
            choices = [c for c in choices if c.name in allowed or c.name == NEW_SITE]
        shown = [(c.name, self.form.text(c.label, self.language) or c.name) for c in choices]
        if slot.question.or_other and not any(name == "other" for name, _ in shown):
            shown.append(("other", "Outro" if (self.language or "pt") == "pt" else "Other"))
        return shown

    def issues(self, slot: Slot) -> list[FieldIssue]:
        """Messages to show next to a question now."""
        if not self.show_all_errors and slot.path not in self.touched:
            return [i for i in self.result.warnings if i.path == slot.path]
        return self.result.issues_for(slot.path)

    def step_errors(self, step: Step | None = None) -> list[FieldIssue]:
        step = step or self.step
        paths = {slot.path for slot in step.slots}
        return [issue for issue in self.result.errors if issue.path in paths]

    def instance_count(self, repeat: Repeat, index: Index = ()) -> int:
        instances = self._container(repeat.repeat_path, index)
        return len((instances or {}).get(repeat.name, []) or [])

    def expected_count(self, repeat: Repeat, index: Index = ()) -> int | None:
        if not repeat.repeat_count:
            return None
        number = to_number(self.result.evaluate(repeat.repeat_count, repeat.name, index))
        return int(number) if math.isfinite(number) and number >= 0 else None

    # --- navigation -----------------------------------------------------------------

    def next(self) -> bool:
        """Move forward; False at the last step."""
        if self.position + 1 >= len(self.steps):
            return False
        self.touched.update(slot.path for slot in self.step.slots)
        self.go_to(self.position + 1)
        return True

    def previous(self) -> bool:
        if self.position == 0:
            return False
        self.go_to(self.position - 1)
        return True

    def go_to(self, position: int) -> None:
        leaving = self._screen_values()
        self.position = max(0, min(position, len(self.steps) - 1))
        self.store.set_position(self.record_id, self.step.key)
        if self.audit_log is not None:
            self.audit_log.leave_screen(leaving)
            self.audit_log.show(self._screen_values())

    def index_entries(self) -> list[tuple[int, str, bool]]:
        """(position, title, has errors) of every step, for the jump-to-question index."""
        entries = []
        error_paths = {issue.path for issue in self.result.errors}
        for position, step in enumerate(self.steps):
            if step.kind == "repeat":
                title = self.label(step.group, step.index) if step.group else ""
            elif step.group is not None:
                title = self.label(step.group, step.index)
            else:
                title = self.label(step.slots[0].question, step.slots[0].index)
            if step.instance:
                title = f"{title} ({step.instance[0]}/{step.instance[1]})"
            has_errors = any(slot.path in error_paths for slot in step.slots)
            entries.append((position, title or "—", has_errors))
        return entries

    # --- changing answers -------------------------------------------------------------

    def set_answer(self, slot: Slot, value: Any) -> list[FieldIssue]:
        """Record an answer (None or "" clears it), autosave, and return its messages."""
        self._store_answer(slot, value)
        self.touched.add(slot.path)
        if self._triggered_by(slot.question.name):
            self.result = self._validate()
            self._fire_triggers(slot)
        self._changed()
        return self.issues(slot)

    def _store_answer(self, slot: Slot, value: Any) -> None:
        container = self._container(slot.question.repeat_path, slot.index, create=True)
        if value is None or value == "" or value == []:
            container.pop(slot.question.name, None)
        else:
            container[slot.question.name] = value

    def _triggered_by(self, name: str) -> list[Question]:
        return [q for q in self.form.questions() if name in q.trigger]

    def _fire_triggers(self, slot: Slot) -> None:
        """The `trigger` column: a question whose trigger changed gets its calculation's
        value once (or is cleared when it has none), as in ODK; the enumerator may then
        change it, and it is not recomputed until the trigger changes again."""
        for question in self._triggered_by(slot.question.name):
            index = slot.index[: len(question.repeat_path)]
            value: Any = None
            if question.trigger_calculation:
                computed = self.result.evaluate(question.trigger_calculation, question.name, index)
                value = _default_json(question, computed) or None
                if value is not None and question.type in ("integer", "decimal"):
                    value = _coerce_default(question, value)
            self._store_answer(Slot(question, index), value)

    def add_instance(self, repeat: Repeat, index: Index = ()) -> int:
        """Add an empty instance (a household member); returns its 0-based position."""
        container = self._container(repeat.repeat_path, index, create=True)
        instances = container.setdefault(repeat.name, [])
        # The key names this member for good: the merge matches members by it, so an edit
        # made here never lands on another person after a deletion on another tablet.
        instances.append({KEY_FIELD: new_instance_key()})
        self._changed()
        self.store.audit(
            "repeat-added",
            record_id=self.record_id,
            form_id=self.form.form_id,
            field=repeat.name,
            count=len(instances),
        )
        if self.audit_log is not None:
            self.audit_log.event(
                "add repeat",
                answer_path(repeat.name, repeat.repeat_path, (*index, len(instances) - 1)),
            )
        return len(instances) - 1

    def remove_instance(self, repeat: Repeat, index: Index, position: int) -> None:
        container = self._container(repeat.repeat_path, index, create=True)
        instances = container.get(repeat.name, [])
        if 0 <= position < len(instances):
            del instances[position]
            self._changed()
            if self.audit_log is not None:
                self.audit_log.event(
                    "delete repeat",
                    answer_path(repeat.name, repeat.repeat_path, (*index, position)),
                )
            self.store.audit(
                "repeat-removed",
                record_id=self.record_id,
                form_id=self.form.form_id,
                field=repeat.name,
                count=len(instances),
            )

    def media_path(self, name: str) -> Path:
        """Where an attachment of this record lives: beside the store, never in a path
        that holds personal data (file names are generated, not taken from answers)."""
        folder = self.store.media_dir(self.record_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def attach(self, source: str | Path, question: Question | None = None) -> str:
        """Copy a photo, recording or file into the record's media folder; the answer is
        its new file name. A photo for a question with `max-pixels` is scaled down so its
        longest side is at most that many pixels, as ODK Collect does."""
        source = Path(source)
        target = self.media_path(f"{uuid.uuid4().hex}{source.suffix.lower()}")
        max_pixels = (question.parameters.get("max-pixels") if question else None) or ""
        if question is not None and question.type == "image" and max_pixels.isdigit():
            scale_image(source, target, int(max_pixels))
        else:
            shutil.copyfile(source, target)
        return target.name

    def set_language(self, language: str) -> None:
        self.language = language
        self.result = self._validate()

    # --- finalize -------------------------------------------------------------------

    def finalize(self, *, confirm_duplicates: bool = False) -> FinalizeOutcome:
        """Validate the whole record; store it as a revision when it has no errors.

        With errors, jump to the first one. When a probable duplicate household exists and
        the enumerator hasn't confirmed yet, return the matches without finalizing.
        """
        self.show_all_errors = True
        self._stamp_end()
        self.result = self._validate()
        if self.result.errors:
            if self.audit_log is not None:
                for issue in self.result.errors:
                    self.audit_log.event("constraint error", issue.path)
            self._jump_to_first_error()
            return FinalizeOutcome(False, self.result.errors, self.result.warnings)
        summary = record_summary(self.form, self.result)
        if self.duplicate_finder and not confirm_duplicates:
            matches = self.duplicate_finder(self.form, summary, self.record_id)
            if matches:
                return FinalizeOutcome(False, [], self.result.warnings, duplicates=matches)
        if self.audit_log is not None:
            # Written before the revision: the file is complete when the record can sync.
            self.audit_log.leave_screen(self._screen_values())
            for event in ("form save", "form finalize", "form exit"):
                self.audit_log.event(event)
        revision = self.store.finalize(self.record_id, self.result.record, **summary)
        self.store.audit(
            "finalized",
            record_id=self.record_id,
            form_id=self.form.form_id,
            count=len(self.result.warnings),
        )
        return FinalizeOutcome(True, [], self.result.warnings, revision_id=revision.revision_id)

    # --- internals --------------------------------------------------------------------

    def leave(self) -> None:
        """The enumerator leaves the record unfinished (every answer is already stored)."""
        if self.audit_log is not None:
            self.audit_log.leave_screen(self._screen_values())
            self.audit_log.event("form save")
            self.audit_log.event("form exit")

    def _screen_values(self) -> dict[str, Any]:
        """The answers of the questions on the current screen, by record path."""
        if not self.steps:
            return {}
        return {slot.path: self.value(slot) for slot in self.step.slots if _shown(slot.question)}

    def _open_audit(self) -> AuditLog | None:
        """ODK's audit log, when the form has an `audit` question: its file is named in the
        answer and kept with the record's other files (see `fieldapp.audit_log`)."""
        question = next(
            (q for q in self.form.questions() if q.metadata == "audit" and not q.repeat_path),
            None,
        )
        if question is None:
            return None
        current = self.answers.get(question.name)
        name = AuditLog.file_name(
            current if isinstance(current, str) else None,
            self.store.media_names_shared(self.record_id),
        )
        log = AuditLog(
            question,
            self.store.media_dir(self.record_id),
            name,
            clock=self.clock,
            has_gps=self.location is not None and self.location.available,
            locate=self.location.latest if self.location is not None else None,
        )
        resumed = log.path.exists()
        if current != name:
            self.answers[question.name] = name
            self.store.save_answers(self.record_id, self.answers, position=self.step.key)
        log.start(resumed=resumed)
        log.show(self._screen_values())
        return log

    def _validate(self) -> ValidationResult:
        return validate_record(self.form, self.answers, language=self.language, now=self.clock())

    def _changed(self) -> None:
        self.result = self._validate()
        key = self.step.key if self.steps else None
        self.steps = self._build_steps()
        self.position = self._find_step(key, fallback=self.position)
        # Store only what is relevant (ODK's rule): a refused consent leaves nothing personal.
        self.answers = _draft_answers(self.form, self.result.record, self.answers)
        summary = record_summary(self.form, self.result)
        self.store.save_answers(
            self.record_id,
            self.answers,
            position=self.step.key,
            title=summary["title"] or None,
            search=summary["search"] or None,
        )

    def _jump_to_first_error(self) -> None:
        error_paths = [issue.path for issue in self.result.errors]
        for position, step in enumerate(self.steps):
            if any(slot.path in error_paths for slot in step.slots):
                self.go_to(position)
                return
        # A repeat-count error lives on the repeat's own overview step.
        for position, step in enumerate(self.steps):
            if (
                step.kind == "repeat"
                and step.group is not None
                and any(path.startswith(step.group.name) for path in error_paths)
            ):
                self.go_to(position)
                return

    def _stamp_end(self) -> None:
        """ODK's `end`: when the enumerator finalized the record."""
        for question in self.form.questions():
            if question.metadata == "end" and not question.repeat_path:
                self.answers[question.name] = self.clock().isoformat(timespec="seconds")

    def metadata_value(self, question: Question) -> str | None:
        """What the app fills in for an ODK metadata question, as ODK Collect does: the
        enrolled device, the enumerator, the time the record was started. A tablet with no
        SIM or phone number, and a desktop, has none: those stay empty."""
        now = self.clock()
        kind = question.metadata
        if kind == "start":
            return now.isoformat(timespec="seconds")
        if kind == "today":
            return now.date().isoformat()
        if kind in ("deviceid", "uri:deviceid"):
            device = str(getattr(self.store, "device_id", "") or "")
            return (f"uuid:{device}" if kind == "uri:deviceid" else device) or None
        if kind in ("username", "uri:username"):
            getter = getattr(self.store, "get_setting", None)
            name = str(getter("enumerator") or "") if getter else ""
            return (f"username:{name}" if kind == "uri:username" else name) or None
        if kind == "start-geopoint":
            fix = self.location.latest() if self.location is not None else None
            return fix.as_geopoint() if fix is not None else None
        return None  # phone number, SIM serial, subscriber id, email

    def _defaults(self) -> dict[str, Any]:
        """Static defaults, today()/now() ones and ODK metadata, applied when a draft is
        created."""
        from fieldapp.households import new_household_answers

        # A new household registration gets its id now (fieldapp.households).
        answers: dict[str, Any] = new_household_answers(self.form)
        for question in self.form.questions():
            if question.metadata and not question.repeat_path:
                value = self.metadata_value(question)
                if value is not None:
                    answers[question.name] = value
                elif question.metadata == "start-geopoint":
                    # Empty, and why: no GPS here, or no fix yet (ids and codes only).
                    reason = self.location.reason if self.location is not None else "no-gps"
                    self.store.audit(
                        "metadata-empty",
                        record_id=self.record_id,
                        form_id=self.form.form_id,
                        field=question.name,
                        reason_code=reason,
                    )
                continue
            if question.default is None or question.repeat_path or not question.takes_input:
                continue
            default = question.default.strip()
            if default in ("today()", "now()") or "(" in default or "${" in default:
                try:
                    value = self.form.expression(default).evaluate(_StaticContext(self.clock()))
                except Exception:  # a default that needs answers is left for the enumerator
                    continue
                answers[question.name] = _default_json(question, value)
            else:
                answers[question.name] = _coerce_default(question, default)
        return answers

    def _build_steps(self) -> list[Step]:
        steps: list[Step] = []
        self._add_steps(self.form.children, (), steps, instance=None)
        if not steps:
            steps.append(Step(key="empty", kind="questions"))
        return steps

    def _add_steps(
        self,
        nodes: list[Node],
        index: Index,
        steps: list[Step],
        instance: tuple[int, int] | None,
    ) -> None:
        for node in nodes:
            if not self.result.is_relevant(node.name, index):
                continue
            if isinstance(node, Repeat):
                count = self.instance_count(node, index)
                steps.append(
                    Step(
                        key=f"repeat:{node.name}:{_key(index)}",
                        kind="repeat",
                        group=node,
                        index=index,
                        instance=None,
                    )
                )
                for position in range(count):
                    self._add_steps(
                        node.children, (*index, position), steps, instance=(position + 1, count)
                    )
            elif isinstance(node, Group):
                if node.is_field_list:
                    slots = tuple(
                        Slot(q, index)
                        for q in _questions_in(node)
                        if _shown(q) and self.result.is_relevant(q.name, index)
                    )
                    if slots:
                        steps.append(
                            Step(
                                key=f"group:{node.name}:{_key(index)}",
                                kind="questions",
                                slots=slots,
                                group=node,
                                index=index,
                                instance=instance,
                            )
                        )
                else:
                    self._add_steps(node.children, index, steps, instance)
            elif _shown(node):
                steps.append(
                    Step(
                        key=f"q:{node.name}:{_key(index)}",
                        kind="questions",
                        slots=(Slot(node, index),),
                        index=index,
                        instance=instance,
                    )
                )

    def _find_step(self, key: Any, fallback: int = 0) -> int:
        """The position of the step with `key`, else `fallback` (kept inside the steps)."""
        for position, step in enumerate(self.steps):
            if step.key == key:
                return position
        return min(fallback, len(self.steps) - 1)

    def _container(self, repeat_path: tuple[str, ...], index: Index, create: bool = False):
        container: Any = self.answers
        for repeat, position in zip(repeat_path, index, strict=False):
            instances = container.get(repeat)
            if instances is None or position >= len(instances):
                if not create:
                    return None
                instances = container.setdefault(repeat, [])
                while len(instances) <= position:
                    instances.append({KEY_FIELD: new_instance_key()})
            container = instances[position]
        return container

    def _interpolate(self, text: str, node: Node, index: Index) -> str:
        return fill_references(self.form, self.result, text, index, self.language)


def record_summary(form: Form, result: ValidationResult) -> dict[str, Any]:
    """The columns the record list searches and the duplicate check compares."""
    title = to_string(result.evaluate(form.instance_name)).strip() if form.instance_name else ""
    site = result.record.get("site_id")
    phone = result.record.get("phone") or result.record.get("contact_phone")
    # Titles carry no names (data minimisation), yet an enumerator looks a household up by
    # its head's name: the search text adds the record's top-level text answers.
    texts = [
        value
        for question in form.questions()
        if question.type == "text" and isinstance(value := result.record.get(question.name), str)
    ]
    return {
        "title": title,
        "search": " ".join([title, *texts]).strip(),
        "site_id": site if isinstance(site, str) else None,
        "phone": phone if isinstance(phone, str) else None,
    }


class _StaticContext:
    """For defaults like today(): no answers to refer to."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def resolve(self, name: str):
        raise LookupError(name)

    def current(self):
        return ""

    def position(self) -> int:
        return 1

    def indexed_repeat(self, name, repeat, index):
        raise LookupError(name)

    def choice_label(self, field_name, value):
        return ""


def _shown(question: Question) -> bool:
    """Questions that get a screen: not calculate/hidden nor metadata (read-only ones are
    shown)."""
    return question.type not in ("calculate", "hidden") and question.metadata is None


def scale_image(source: Path, target: Path, max_pixels: int) -> None:
    """Write `source` to `target` with its longest side at most `max_pixels`, keeping the
    aspect ratio (ODK's max-pixels); a smaller photo is copied unchanged."""
    from PIL import Image  # Pillow comes with Kivy; only photos with max-pixels need it

    with Image.open(source) as image:
        if max(image.size) <= max_pixels:
            shutil.copyfile(source, target)
            return
        image.thumbnail((max_pixels, max_pixels))
        image.save(target, format=image.format or "JPEG")


def _questions_in(group: Group) -> list[Question]:
    found: list[Question] = []
    for child in group.children:
        if isinstance(child, Question):
            found.append(child)
        elif isinstance(child, Group) and not isinstance(child, Repeat):
            found.extend(_questions_in(child))
    return found


def _key(index: Index) -> str:
    return ".".join(str(i) for i in index)


def _draft_answers(form: Form, cleaned: dict[str, Any], typed: dict[str, Any]) -> dict:
    """What the draft keeps: `_without_computed`, plus the values the app filled itself
    (the household id and registration type) while they are not yet relevant: the id is
    asked only once consent is given, and must not change (or be lost, in an update)
    before. A record finalized without consent still drops them (the validator does)."""
    from fieldapp.households import APP_FILLED

    kept = _without_computed(form, cleaned, typed)
    for name in APP_FILLED:
        if name in typed and name not in kept:
            kept[name] = typed[name]
    return kept


def _without_computed(form: Form, cleaned: dict[str, Any], typed: dict[str, Any]) -> dict:
    """The relevant answers the enumerator typed, without engine-computed values.

    `cleaned` comes from the validator (relevant answers + calculations); calculations are
    recomputed on every load, so the draft keeps only what a person entered.
    """
    result: dict[str, Any] = {}
    for name, value in cleaned.items():
        if name == KEY_FIELD:
            result[name] = value  # a repeat instance's key (forms.paths), not an answer
            continue
        if not form.has_node(name):
            continue
        node = form.node(name)
        if isinstance(node, Repeat):
            typed_instances = typed.get(name, []) if isinstance(typed.get(name), list) else []
            result[name] = [
                _without_computed(
                    form, inst, typed_instances[i] if i < len(typed_instances) else {}
                )
                for i, inst in enumerate(value)
            ]
        elif isinstance(node, Question) and node.calculation:
            if _evaluated_once(node) and value not in (None, ""):
                # once(): ODK keeps the first value in the record; it is part of the draft
                # so that once(now()), once(uuid()) and once(random()) survive answers,
                # restarts and finalize instead of being recomputed every time.
                result[name] = value
            continue
        elif name in typed:
            result[name] = typed[name]
    return result


def _evaluated_once(question: Question) -> bool:
    return bool(ONCE.match(question.calculation or ""))


def _coerce_default(question: Question, default: str) -> Any:
    if question.type == "integer":
        try:
            return int(default)
        except ValueError:
            return default
    if question.type in ("decimal", "range"):
        try:
            return float(default)
        except ValueError:
            return default
    if question.type == "select_multiple":
        return default.split()
    return default


def _default_json(question: Question, value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (
            value.date().isoformat()
            if question.type == "date"
            else value.isoformat(timespec="seconds")
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    return to_string(value)


__all__ = ["FinalizeOutcome", "FormSession", "Slot", "Step", "path_of", "record_summary"]
