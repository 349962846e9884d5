"""once() is evaluated once per record and kept in the draft, as ODK does (issue #9, Why 7).

Forms use once(now()) to time an interview and once(random()) to pick a child at random:
recomputing them on every answer, restart or finalize would change the record under the
enumerator's feet.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fieldapp.session import FormSession, Slot
from fieldapp.store import Store

pytestmark = pytest.mark.integration

FORM = """
| survey |
| | type      | name    | label   | calculation    |
| | text      | village | Village |                |
| | integer   | people  | People  |                |
| | calculate | started |         | once(now())    |
| | calculate | key     |         | once(uuid())   |
| | calculate | draw    |         | once(random()) |
| | calculate | plain   |         | random()       |
"""


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 30, 8, 0, 0)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(minutes=7)
        return self.now


ONCE = ("started", "key", "draw")


def test_once_values_stay_across_answers_restarts_and_finalize(load, tmp_path):
    form = load(FORM)
    clock = Clock()
    store = Store(tmp_path / "tablet.db")
    record_id = store.create_draft(form.form_id, form.version)

    session = FormSession(form, store, record_id, clock=clock)
    first = {name: store.draft(record_id).answers.get(name) for name in ONCE}
    assert all(first.values()), first  # fixed when the record is opened
    assert first["started"].startswith("2026-11-30T08:07")

    session.set_answer(Slot(form.question("village"), ()), "Namacurra")
    session.set_answer(Slot(form.question("people"), ()), 5)
    after_answers = {name: store.draft(record_id).answers.get(name) for name in ONCE}
    assert after_answers == first

    # The tablet restarts: a new session on the same draft, hours later.
    clock.now += dt.timedelta(hours=3)
    session = FormSession(form, store, record_id, clock=clock)
    session.set_answer(Slot(form.question("people"), ()), 6)
    assert {name: session.answers.get(name) for name in ONCE} == first

    outcome = session.finalize()
    assert outcome.finalized
    final = store.revisions_of(record_id)[-1].answers
    assert {name: final[name] for name in ONCE} == {
        "started": first["started"],
        "key": first["key"],
        "draw": first["draw"],
    }
    store.close()
