"""Repeat instances with identity (issue #8): the form engine keeps a member's `_key`, never
counts it as an answer, and the tablet's session gives every new member one."""

from __future__ import annotations

import datetime as dt

import pytest

from fieldapp.session import FormSession, Slot
from fieldapp.store import Store
from forms import validate_record
from forms.paths import is_instance_key

pytestmark = pytest.mark.integration

FORM = """
| survey |
| | type         | name     | label    | required | calculation      |
| | text         | village  | Village  | yes      |                  |
| | begin_repeat | members  | Member   |          |                  |
| | text         | name     | Name     | yes      |                  |
| | integer      | age      | Age      |          |                  |
| | begin_repeat | children | Child    |          |                  |
| | integer      | child_age| Age      |          |                  |
| | end_repeat   |          |          |          |                  |
| | end_repeat   |          |          |          |                  |
| | calculate    | people   |          |          | count(${name})   |
"""

KEY_A = "0b7e4c1a-6d1f-4c0e-9a53-2f0a7b1c9d11"
KEY_B = "5d2f8e90-1b3c-4e7a-8f60-9c4d2a1b0e22"


def codes(result) -> set[tuple[str, str]]:
    return {(issue.path, issue.code) for issue in result.errors}


def test_the_form_engine_keeps_each_members_key_and_does_not_count_it(load):
    form = load(FORM)
    record = {
        "village": "Nicoadala",
        "members": [
            {"_key": KEY_A, "name": "Ana", "children": [{"_key": "c-1", "child_age": 3}]},
            {"name": "Zé"},  # made before keys: still valid, still keyless
        ],
    }
    result = validate_record(form, record)
    assert result.ok, result.errors
    assert result.record["members"] == [
        {"_key": KEY_A, "name": "Ana", "children": [{"_key": "c-1", "child_age": 3}]},
        {"name": "Zé", "children": []},
    ]
    assert result.record["people"] == 2  # the keys are not answers


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (7, "instance-key"),
        ("", "instance-key"),
        ("#1", "instance-key"),  # reserved for members made before keys
        ("a.b", "instance-key"),
        ("x" * 65, "instance-key"),
        (KEY_A, "instance-key-repeated"),
    ],
)
def test_a_bad_or_repeated_key_is_an_error_at_that_member(load, key, code):
    form = load(FORM)
    record = {
        "village": "Nicoadala",
        "members": [{"_key": KEY_A, "name": "Ana"}, {"_key": key, "name": "Zé"}],
    }
    result = validate_record(form, record, language="pt")
    assert ("members[2]._key", code) in codes(result)
    (issue,) = [i for i in result.errors if i.path == "members[2]._key"]
    assert "chave" in issue.message  # said in the enumerator's language


def test_the_same_key_in_two_households_or_two_lists_is_fine(load):
    form = load(FORM)
    record = {
        "village": "Nicoadala",
        "members": [
            {"_key": KEY_A, "name": "Ana", "children": [{"_key": "c-1"}]},
            {"_key": KEY_B, "name": "Zé", "children": [{"_key": "c-1"}]},
        ],
    }
    assert validate_record(form, record).ok


def test_a_key_outside_a_repeat_is_an_unknown_field(load):
    result = validate_record(load(FORM), {"village": "Nicoadala", "_key": KEY_A})
    assert ("_key", "unknown-field") in codes(result)


def test_the_tablet_gives_each_new_member_a_key_that_stays(load, tmp_path):
    form = load(FORM)
    store = Store(tmp_path / "tablet.db")
    record_id = store.create_draft(form.form_id, form.version)
    clock = lambda: dt.datetime(2026, 11, 30, 9)  # noqa: E731
    session = FormSession(form, store, record_id, clock=clock)
    members, children = form.node("members"), form.node("children")
    session.set_answer(Slot(form.question("village"), ()), "Nicoadala")
    for position, name in enumerate(["Ana", "Zé", "Rui"]):
        assert session.add_instance(members) == position
        session.set_answer(Slot(form.question("name"), (position,)), name)
    session.add_instance(children, (1,))
    session.set_answer(Slot(form.question("child_age"), (1, 0)), 4)
    keys = [m["_key"] for m in store.draft(record_id).answers["members"]]
    assert len(set(keys)) == 3 and all(is_instance_key(k) for k in keys)
    # answered: village, three names, a child's age; asked: those and three ages, no keys
    assert session.answer_progress() == (5, 8)

    session.remove_instance(members, (), 0)  # Ana leaves: Zé keeps his key
    again = FormSession(form, store, record_id, clock=clock)  # the tablet restarts
    assert [m["_key"] for m in again.answers["members"]] == keys[1:]
    outcome = again.finalize()
    assert outcome.finalized, outcome
    sent = store.draft(record_id).answers
    assert [(m["_key"], m["name"]) for m in sent["members"]] == [(keys[1], "Zé"), (keys[2], "Rui")]
    assert is_instance_key(sent["members"][0]["children"][0]["_key"])
    store.close()
