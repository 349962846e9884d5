"""Form engine speed: forms loaded/s, expression evaluations/s, households validated/s.

Each figure is printed next to a baseline measured in the same run (json.loads of the
same household record), because this machine is shared and absolute numbers drift.
Run: .venv/bin/python benchmarks/bench_forms.py
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from collections.abc import Callable

from forms import FORMS_DIR, load_form, validate_record
from forms.expressions import parse
from forms.samples import sample_household

NOW = dt.datetime(2026, 11, 24, 9, 0)


def rate(action: Callable[[], object], seconds: float = 2.0) -> tuple[float, float]:
    """(operations per second, median seconds per operation) over about `seconds`."""
    timings = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(timings) < 5:
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    median = statistics.median(timings)
    return 1 / median, median


class Context:
    now = NOW

    def __init__(self, values):
        self.values = values

    def resolve(self, name):
        return self.values.get(name, "")

    def current(self):
        return ""

    def position(self):
        return 1

    def indexed_repeat(self, name, repeat, index):
        return ""

    def choice_label(self, field, value):
        return value


def main() -> None:
    path = FORMS_DIR / "household_registration.xlsx"
    form = load_form(path)
    record = sample_household(seed=1, members=6)
    text = json.dumps(record)
    assert validate_record(form, record, now=NOW).ok

    loads_per_s, loads_s = rate(lambda: json.loads(text))
    forms_per_s, _ = rate(lambda: load_form(path), seconds=3)
    expression = parse("${age} >= 18 and ${sex} = 'F'")
    context = Context({"age": 34.0, "sex": "F"})

    def thousand_evaluations():
        for _ in range(1000):
            expression.evaluate_bool(context)

    evals_per_s = rate(thousand_evaluations)[0] * 1000
    validations_per_s, validate_s = rate(lambda: validate_record(form, record, now=NOW))

    print(f"household record: {len(text)} bytes of JSON, 6 members")
    print(f"{'measure':44} {'value':>14}")
    print(f"{'json.loads of the record (baseline)':44} {loads_per_s:>12,.0f}/s")
    print(f"{'forms loaded (household .xlsx)':44} {forms_per_s:>12,.1f}/s")
    print(f"{'expression evaluations':44} {evals_per_s:>12,.0f}/s")
    print(f"{'households validated':44} {validations_per_s:>12,.0f}/s")
    ratio = validate_s / loads_s
    print(f"validating a household costs {ratio:,.0f}x its json.loads (aim: under 20x)")


if __name__ == "__main__":
    main()
