"""`python -m forms`: check forms, validate a record, or walk a form in the terminal.

python -m forms check FILE... [--strict]  every problem, with sheet, row and column; missing
                                          attachments are warnings (errors with --strict)
python -m forms validate FORM RECORD     field-level errors and computed values as JSON
python -m forms preview FORM [--lang pt] question by question, answers typed at the prompt
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, TextIO

from forms.expressions import to_number
from forms.labels import fill_references
from forms.loader import FormLoadError, load_form
from forms.model import Form, Group, Node, Question, Repeat
from forms.paths import KEY_FIELD, new_instance_key
from forms.validation import path_of, validate_record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forms", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="load forms and report every problem")
    check.add_argument("files", nargs="+", type=Path)
    check.add_argument(
        "--strict",
        action="store_true",
        help="fail when a file the form refers to (CSV, GeoJSON, media) is missing",
    )

    validate = commands.add_parser("validate", help="validate a record (JSON) against a form")
    validate.add_argument("form", type=Path)
    validate.add_argument("record", type=Path, help="a JSON file, or - for standard input")
    validate.add_argument("--lang", default=None, help="message language: pt or en")

    preview = commands.add_parser("preview", help="walk a form question by question")
    preview.add_argument("form", type=Path)
    preview.add_argument("--lang", default=None, help="pt or en (default: the form's own)")

    args = parser.parse_args(argv)
    if args.command == "check":
        return check_forms(args.files, sys.stdout, strict=args.strict)
    if args.command == "validate":
        return validate_file(args.form, args.record, args.lang, sys.stdout)
    return preview_form(args.form, args.lang, sys.stdin, sys.stdout)


def check_forms(paths: list[Path], out: TextIO, *, strict: bool = False) -> int:
    """Load each form and print what is wrong with it. A file the form refers to that is not
    beside it is a warning, as in ODK Central (the form is valid; its files are published
    with it), or an error with `strict`."""
    failed = 0
    for path in paths:
        try:
            form = load_form(path)
        except FormLoadError as error:
            failed += 1
            print(f"✗ {path}", file=out)
            for problem in error.problems:
                print(f"    {problem}", file=out)
            continue
        questions = sum(1 for _ in form.questions())
        missing = form.missing_attachments()
        failed += bool(strict and missing)
        print(
            f"{'✗' if strict and missing else '✓'} {path}: {form.form_id} version "
            f"{form.version}, {questions} questions, languages: {', '.join(form.languages)}",
            file=out,
        )
        for name in missing:
            print(
                f"    {'error' if strict else 'warning'}: the attachment '{name}' is missing "
                f"(expected in {form.attachment_dir}); publish it with the form",
                file=out,
            )
    return 1 if failed else 0


def validate_file(form_path: Path, record_path: Path, lang: str | None, out: TextIO) -> int:
    try:
        form = load_form(form_path)
    except FormLoadError as error:
        print(str(error), file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if str(record_path) == "-" else record_path.read_text("utf-8")
        record = json.loads(text)
    except (OSError, UnicodeDecodeError) as error:
        print(f"{record_path}: cannot read the record: {error}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as error:
        print(
            f"{record_path}: not valid JSON at line {error.lineno}, column {error.colno}: "
            f"{error.msg}",
            file=sys.stderr,
        )
        return 2
    result = validate_record(form, record, language=lang)
    print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False), file=out)
    return 0 if result.ok else 1


def preview_form(path: Path, lang: str | None, stdin: TextIO, out: TextIO) -> int:
    """Walk the form like an enumerator would, with the app's rules: relevance, choice
    filters, ${} references in labels and repeat counts come from the engine, and answers
    are checked as they are typed."""
    try:
        form = load_form(path)
    except FormLoadError as error:
        print(str(error), file=sys.stderr)
        return 2
    walk = _Preview(form, lang or None, stdin, out)
    print(f"{form.title} ({form.form_id}, version {form.version})", file=out)
    print("Type an answer and press Enter; empty skips; 'q' quits.\n", file=out)
    try:
        walk.nodes(form.children, walk.record, (), prefix="")
    except _Quit:
        print("\n(stopped)", file=out)
    result = validate_record(form, walk.record, language=walk.language)
    print("\nRecord:", file=out)
    print(json.dumps(result.record, indent=2, ensure_ascii=False), file=out)
    for issue in result.errors:
        print(f"  ✗ {issue.path}: {issue.message}", file=out)
    for issue in result.warnings:
        print(f"  ! {issue.path}: {issue.message}", file=out)
    return 0


class _Quit(Exception):
    pass


class _Preview:
    """One walk through a form at the terminal. The record is re-validated after each
    answer, so what is asked next follows from the engine, in one place."""

    def __init__(self, form: Form, language: str | None, stdin: TextIO, out: TextIO):
        self.form, self.language, self.stdin, self.out = form, language, stdin, out
        self.record: dict[str, Any] = {}
        self.result = validate_record(form, self.record, language=language)

    def refresh(self) -> None:
        self.result = validate_record(self.form, self.record, language=self.language)

    def label(self, node: Node, index: tuple[int, ...]) -> str:
        text = self.form.text(node.label, self.language)
        return fill_references(self.form, self.result, text, index, self.language)

    def nodes(
        self, nodes: list[Node], scope: dict[str, Any], index: tuple[int, ...], prefix: str
    ) -> None:
        for node in nodes:
            self.refresh()
            if not self.result.is_relevant(node.name, index):
                continue
            if isinstance(node, Repeat):
                self.repeat(node, scope, index, prefix)
            elif isinstance(node, Group):
                label = self.label(node, index)
                if label:
                    print(f"{prefix}== {label} ==", file=self.out)
                self.nodes(node.children, scope, index, prefix)
            elif node.type == "note":
                print(f"{prefix}{self.label(node, index)}", file=self.out)
            elif node.takes_input:
                self.question(node, scope, index, prefix)

    def repeat(self, repeat: Repeat, scope: dict, index: tuple[int, ...], prefix: str) -> None:
        instances: list[dict[str, Any]] = scope.setdefault(repeat.name, [])
        label = self.label(repeat, index) or repeat.name
        expected = None
        if repeat.repeat_count:
            number = to_number(self.result.evaluate(repeat.repeat_count, repeat.name, index))
            expected = int(number) if math.isfinite(number) and number >= 0 else 0
        while True:
            if expected is not None:  # repeat_count decides, as in the app: no "Add …?"
                if len(instances) >= expected:
                    break
                print(f"{prefix}-- {label} {len(instances) + 1}/{expected} --", file=self.out)
            else:
                question = f"{prefix}Add a {label} (#{len(instances) + 1})? [y/N] "
                if _ask(question, self.stdin, self.out).lower() not in ("y", "yes", "s", "sim"):
                    break
            instances.append({KEY_FIELD: new_instance_key()})  # see forms.paths
            inner = (*index, len(instances) - 1)
            self.nodes(repeat.children, instances[-1], inner, prefix + "  ")

    def question(
        self, question: Question, scope: dict, index: tuple[int, ...], prefix: str
    ) -> None:
        form, out = self.form, self.out
        label = self.label(question, index) or question.name
        hint = fill_references(
            form, self.result, form.text(question.hint, self.language), index, self.language
        )
        while True:
            choices = self.result.filtered_choices(question, index) if question.is_select else []
            print(f"{prefix}{label}" + (f"  ({hint})" if hint else ""), file=out)
            for number, choice in enumerate(choices, 1):
                print(f"{prefix}  {number}. {form.text(choice.label, self.language)}", file=out)
            answer = _ask(f"{prefix}> ", self.stdin, out)
            if answer == "":
                scope.pop(question.name, None)
                return
            scope[question.name] = _interpret(question, answer, choices)
            self.refresh()
            path = path_of(form, question.name, index)
            problems = [issue for issue in self.result.errors if issue.path == path]
            if not problems:
                return
            for issue in problems:
                print(f"{prefix}  ✗ {issue.message}", file=out)


def _interpret(question: Question, answer: str, choices: list) -> Any:
    if question.is_select:
        picked = []
        for token in answer.replace(",", " ").split():
            if token.isdigit() and 1 <= int(token) <= len(choices):
                picked.append(choices[int(token) - 1].name)
            else:
                picked.append(token)
        return picked if question.type == "select_multiple" else (picked[0] if picked else "")
    return answer


def _ask(prompt: str, stdin: TextIO, out: TextIO) -> str:
    print(prompt, end="", file=out, flush=True)
    line = stdin.readline()
    if not line or line.strip().lower() == "q":
        raise _Quit
    return line.strip()


if __name__ == "__main__":
    raise SystemExit(main())
