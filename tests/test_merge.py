"""The pure merge: field-by-field three-way merge and whole-record merge from revisions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_core.merge import (
    DELETED,
    Node,
    flatten,
    merge_record,
    path_text,
    put,
    same,
    sibling_conflicts,
    three_way,
    unflatten,
)

pytestmark = pytest.mark.unit

# --- strategies: answers shaped like the form engine's records --------------------------

names = st.sampled_from(["district", "site_id", "head_name", "phone", "shelter", "notes"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 120),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=8),
    st.lists(st.sampled_from(["food", "water", "shelter"]), max_size=3),
)
member_answers = st.dictionaries(
    st.sampled_from(["name", "age", "sex", "pregnant"]), scalars, max_size=4
)
instance_keys = st.sampled_from(["k1", "k2", "k3", "k4", "k5", "k6"])


@st.composite
def members(draw: st.DrawFn) -> list[dict]:
    """Members with keys (made on a tablet that has them) or without (made before)."""
    people = draw(st.lists(member_answers, max_size=4))
    if draw(st.booleans()):
        keys = draw(
            st.lists(instance_keys, min_size=len(people), max_size=len(people), unique=True)
        )
        people = [{"_key": key, **person} for key, person in zip(keys, people, strict=True)]
    return people


answers_strategy = st.builds(
    lambda top, people: {**top, **({"members": people} if people is not None else {})},
    st.dictionaries(names, scalars, max_size=5),
    st.one_of(st.none(), members()),
)


@st.composite
def edits(draw: st.DrawFn, base: dict) -> dict:
    """An edit of `base`: change, add or remove some answers and members."""
    flat = flatten(base)
    result = dict(flat)
    for path in flat:
        if path[-1] != "_key" and draw(st.integers(0, 3)) == 0:
            result[path] = draw(scalars)
    edited = unflatten(result)
    people = edited.get("members")
    if isinstance(people, list) and people and isinstance(people[0], dict) and draw(st.booleans()):
        del people[draw(st.integers(0, len(people) - 1))]
    for name in draw(st.lists(names, max_size=2)):
        if draw(st.booleans()):
            edited[name] = draw(scalars)
        else:
            edited.pop(name, None)
    people = edited.get("members")
    is_repeat = isinstance(people, list) and all(isinstance(m, dict) for m in people)
    if is_repeat and draw(st.booleans()):
        added: dict = {"name": draw(st.text(max_size=5)), "age": 3}
        if edited["members"] and all("_key" in m for m in edited["members"]):
            # A tablet with keys gives the new member a key of its own (a uuid, unique).
            added = {"_key": f"new-{draw(st.uuids())}", **added}
        elif not edited["members"] and draw(st.booleans()):
            added = {"_key": f"new-{draw(st.uuids())}", **added}
        edited["members"] = [*edited["members"], added]
    return edited


@st.composite
def three_versions(draw: st.DrawFn) -> tuple[dict, dict, dict]:
    base = draw(answers_strategy)
    return base, draw(edits(base)), draw(edits(base))


# --- flattening ----------------------------------------------------------------------


def test_flatten_names_repeat_answers_like_the_form_engine():
    flat = flatten({"head_name": "Ana", "members": [{"age": 34}, {"age": 9, "sex": "f"}]})
    assert {path_text(p): v for p, v in flat.items()} == {
        "head_name": "Ana",
        "members[1]._key": "#1",  # presence of a member made before keys: its position
        "members[2]._key": "#2",
        "members[1].age": 34,
        "members[2].age": 9,
        "members[2].sex": "f",
    }


@settings(suppress_health_check=[HealthCheck.too_slow])  # the first draws, on a busy machine
@given(answers_strategy)
def test_unflatten_undoes_flatten(answers):
    assert unflatten(flatten(answers)) == answers


def test_an_empty_member_and_an_empty_list_survive_the_round_trip():
    answers = {"members": [{"age": 1}, {}], "needs": [], "gps": {}}
    assert unflatten(flatten(answers)) == answers


# --- three-way merge -----------------------------------------------------------------


@given(three_versions())
def test_merge_is_symmetric(versions):
    base, a, b = versions
    ab = three_way(base, a, b, ours_key=("hlc-1", "r1"), theirs_key=("hlc-2", "r2"))
    ba = three_way(base, b, a, ours_key=("hlc-2", "r2"), theirs_key=("hlc-1", "r1"))
    assert ab.answers == ba.answers
    assert {c.path for c in ab.conflicts} == {c.path for c in ba.conflicts}


@given(three_versions())
def test_a_field_changed_on_one_side_only_takes_that_side(versions):
    base, a, b = versions
    merged = three_way(base, a, b)
    result, conflicts = flatten(merged.answers), {c.path for c in merged.conflicts}
    flat_base, flat_a, flat_b = flatten(base), flatten(a), flatten(b)
    for path in set(flat_a) | set(flat_base):
        a_changed = not same(flat_a.get(path, DELETED), flat_base.get(path, DELETED))
        b_changed = not same(flat_b.get(path, DELETED), flat_base.get(path, DELETED))
        # (an answer under a path the other side restructured, or in a member one side
        # deleted and the other edited, is settled as a conflict on the whole)
        restructured = any(q[: len(path)] == path[: len(q)] and q != path for q in flat_b)
        in_conflict = any(path_text(path[:i]) in conflicts for i in range(1, len(path)))
        if any(str(part).startswith("@#") for part in path):
            continue  # members made before keys are named by position, which shifts
        if a_changed and not b_changed and not restructured and not in_conflict:
            assert same(result.get(path, DELETED), flat_a.get(path, DELETED)), path_text(path)


@given(answers_strategy, answers_strategy)
def test_merging_with_an_unchanged_side_gives_the_other_side(base, edited):
    assert three_way(base, edited, base).answers == edited
    assert three_way(base, base, edited).answers == edited


@given(three_versions())
def test_a_hard_conflict_is_exactly_a_field_both_sides_set_differently(versions):
    base, a, b = versions
    fa, fb, f0 = flatten(a), flatten(b), flatten(base)
    both_set_differently = {
        p
        for p in set(fa) | set(fb) | set(f0)
        if not same(fa.get(p, DELETED), f0.get(p, DELETED))
        and not same(fb.get(p, DELETED), f0.get(p, DELETED))
        and not same(fa.get(p, DELETED), fb.get(p, DELETED))
    }
    # ...or an answer one side made a value while the other put answers under it.
    leaf_vs_tree = {
        p
        for p in set(fa) | set(fb)
        if any(q[: len(p)] == p and len(q) > len(p) for q in (fb if p in fa else fa))
    }
    # ...or a member one side deleted and the other edited: one conflict on the member.
    deleted_vs_edited = {
        p[:i]
        for p in set(fa) | set(fb)
        for i in range(2, len(p))
        if (*p[:i], "_key") in f0
        and ((*p[:i], "_key") in fa) != ((*p[:i], "_key") in fb)
        and any(
            q[:i] == p[:i] and not same(side.get(q, DELETED), f0.get(q, DELETED))
            for side in (fa, fb)
            if (*p[:i], "_key") in side
            for q in side
        )
    }
    conflicts = {c.path for c in three_way(base, a, b).conflicts}
    for path in both_set_differently:
        covering = [path[:i] for i in range(1, len(path) + 1) if path_text(path[:i]) in conflicts]
        assert covering, path_text(path)
    for text in conflicts:
        expected = both_set_differently | leaf_vs_tree | deleted_vs_edited
        assert text in {path_text(p) for p in expected}


def test_edits_to_different_members_merge_cleanly():
    base = {"head_name": "Ana", "members": [{"name": "Ana", "age": 34}, {"name": "Zé", "age": 9}]}
    a = {"head_name": "Ana", "members": [{"name": "Ana", "age": 35}, {"name": "Zé", "age": 9}]}
    b = {"head_name": "Ana", "members": [{"name": "Ana", "age": 34}, {"name": "Zé", "age": 10}]}
    result = three_way(base, a, b)
    assert not result.hard
    assert result.answers["members"] == [{"name": "Ana", "age": 35}, {"name": "Zé", "age": 10}]


def test_the_same_field_set_differently_is_a_hard_conflict_won_by_the_higher_key():
    base = {"shelter": "tent"}
    result = three_way(
        base, {"shelter": "school"}, {"shelter": "none"}, ours_key=("2",), theirs_key=("1",)
    )
    assert result.hard
    (conflict,) = result.conflicts
    assert (conflict.path, conflict.base, conflict.ours, conflict.theirs) == (
        "shelter",
        "tent",
        "school",
        "none",
    )
    assert result.answers == {"shelter": "school"} and conflict.winner == "school"


def test_one_is_not_true_and_not_one_point_zero():
    result = three_way({"x": 0}, {"x": 1}, {"x": True})
    assert result.hard


def test_removing_a_member_while_another_is_edited():
    base = {"members": [{"age": 1}, {"age": 2}, {"age": 3}]}
    a = {"members": [{"age": 1}, {"age": 2}]}  # removed the third
    b = {"members": [{"age": 10}, {"age": 2}, {"age": 3}]}  # edited the first
    result = three_way(base, a, b)
    assert not result.hard
    assert result.answers == {"members": [{"age": 10}, {"age": 2}]}


# --- whole records ---------------------------------------------------------------------


def node(rid: str, parent: str | None, hlc: str, answers: dict, **kw) -> Node:
    return Node(rid, (parent,) if parent else (), (hlc, rid), answers, **kw)


def test_a_linear_history_shows_its_last_revision():
    nodes = [
        node("r1", None, "1", {"a": 1}),
        node("r2", "r1", "2", {"a": 2}),
        node("r3", "r2", "3", {"a": 3, "b": 1}),
    ]
    state = merge_record(nodes)
    assert state.heads == ["r3"] and state.answers == {"a": 3, "b": 1}
    assert state.siblings == []


def test_two_edits_from_one_parent_are_merged_and_flagged():
    nodes = [
        node("r1", None, "1", {"a": 1, "b": 1, "c": 1}),
        node("x", "r1", "2", {"a": 2, "b": 1, "c": 5}),
        node("y", "r1", "3", {"a": 1, "b": 3, "c": 6}),
    ]
    state = merge_record(nodes)
    assert state.heads == ["x", "y"] and state.winner == "y"
    assert state.answers == {"a": 2, "b": 3, "c": 6}  # c: both changed, y has the higher HLC
    (pair,) = state.siblings
    assert pair.hard and [f.path for f in pair.fields] == ["c"]


def test_different_fields_from_one_parent_is_a_soft_conflict():
    pair = sibling_conflicts(
        [
            node("r1", None, "1", {"a": 1, "b": 1}),
            node("x", "r1", "2", {"a": 2, "b": 1}),
            node("y", "r1", "3", {"a": 1, "b": 2}),
        ]
    )[0]
    assert not pair.hard and pair.changed == ("a", "b")


def test_an_edit_on_top_of_a_server_merge_keeps_what_the_merge_brought():
    nodes = [
        node("r1", None, "1", {"a": 1, "b": 1}),
        node("x", "r1", "2", {"a": 2, "b": 1}),
        node("y", "r1", "3", {"a": 1, "b": 2}),
        Node("m", ("x", "y"), ("4", "m"), {"a": 2, "b": 2}, is_merge=True),
        node("z", "m", "5", {"a": 2, "b": 2, "c": 7}),
        node("w", "r1", "6", {"a": 1, "b": 1, "d": 8}),  # a late sibling from another tablet
    ]
    state = merge_record(nodes)
    assert sorted(state.heads) == ["w", "z"]
    assert state.answers == {"a": 2, "b": 2, "c": 7, "d": 8}


@settings(max_examples=50)
@given(st.permutations(range(5)))
def test_the_merged_state_does_not_depend_on_arrival_order(order):
    nodes = [
        node("r1", None, "1", {"a": 1, "b": 1}),
        node("x", "r1", "2", {"a": 2, "b": 1}),
        node("y", "r1", "3", {"a": 3, "b": 2}),
        node("x2", "x", "4", {"a": 2, "b": 1, "c": 1}),
        node("z", "r1", "5", {"a": 1, "b": 9}),
    ]
    state = merge_record([nodes[i] for i in order])
    assert state.answers == {"a": 3, "b": 9, "c": 1}
    assert state.heads == ["y", "x2", "z"]


def test_a_revision_whose_parent_has_not_arrived_counts_all_its_answers():
    state = merge_record([node("x", "missing", "2", {"a": 2}), node("y", "missing", "3", {"b": 1})])
    assert state.answers == {"a": 2, "b": 1}
    assert state.siblings == []  # no telling what each changed without the parent


def test_three_siblings_make_three_pairs():
    base = node("r1", None, "1", {"a": 0})
    kids = [node(f"k{i}", "r1", str(i + 2), {"a": i + 1}) for i in range(3)]
    pairs = sibling_conflicts([base, *kids])
    assert {p.revision_ids for p in pairs} == set(itertools.combinations(["k0", "k1", "k2"], 2))
    assert all(p.hard for p in pairs)


# --- repeat instances with keys ----------------------------------------------------------


def member(key: str, **answers) -> dict:
    return {"_key": key, **answers}


HOUSEHOLD = {
    "head_name": "Ana",
    "members": [member("k-ana", name="Ana"), member("k-ze", name="Zé")],
}


def test_members_added_on_two_tablets_are_both_kept():
    a = {**HOUSEHOLD, "members": [*HOUSEHOLD["members"], member("k-rui", name="Rui")]}
    b = {**HOUSEHOLD, "members": [*HOUSEHOLD["members"], member("k-eva", name="Eva")]}
    result = three_way(HOUSEHOLD, a, b, ours_key=("1",), theirs_key=("2",))
    assert not result.hard
    assert [m["name"] for m in result.answers["members"]] == ["Ana", "Zé", "Rui", "Eva"]
    swapped = three_way(HOUSEHOLD, b, a, ours_key=("2",), theirs_key=("1",))
    assert swapped.answers == result.answers


def test_an_edit_of_member_two_lands_on_that_person_after_member_one_is_deleted():
    a = {**HOUSEHOLD, "members": [member("k-ze", name="Zé")]}  # Ana deleted
    b = {**HOUSEHOLD, "members": [member("k-ana", name="Ana"), member("k-ze", name="José")]}
    result = three_way(HOUSEHOLD, a, b)
    assert not result.hard
    assert result.answers["members"] == [member("k-ze", name="José")]


def test_without_keys_members_merge_by_position_as_before():
    """Records made before keys: the second member's edit lands on whoever is second."""
    base = {"members": [{"name": "Ana"}, {"name": "Zé"}]}
    a = {"members": [{"name": "Zé"}]}  # Ana deleted: Zé is now first
    b = {"members": [{"name": "Ana"}, {"name": "José"}]}
    result = three_way(base, a, b)  # b's key is higher: the edit of position 2 wins
    assert result.answers == {"members": [{"name": "Zé"}, {"name": "José"}]}  # Zé twice
    assert [c.path for c in result.conflicts] == ["members[2]"]


def test_a_member_deleted_on_one_tablet_and_edited_on_the_other_is_one_conflict():
    a = {**HOUSEHOLD, "members": [member("k-ana", name="Ana")]}  # Zé deleted
    b = {**HOUSEHOLD, "members": [member("k-ana", name="Ana"), member("k-ze", name="José")]}
    kept = three_way(HOUSEHOLD, a, b, ours_key=("1",), theirs_key=("2",))
    (conflict,) = kept.conflicts
    assert conflict.path == "members[@k-ze]"
    assert (conflict.ours, conflict.theirs) == (None, member("k-ze", name="José"))
    assert kept.answers["members"] == [member("k-ana", name="Ana"), member("k-ze", name="José")]
    gone = three_way(HOUSEHOLD, a, b, ours_key=("2",), theirs_key=("1",))
    assert gone.answers["members"] == [member("k-ana", name="Ana")]
    assert [c.path for c in gone.conflicts] == ["members[@k-ze]"]


def test_a_member_made_before_keys_keeps_its_place_beside_new_ones():
    base = {"members": [{"name": "Ana"}]}
    a = {"members": [{"name": "Ana", "age": 30}]}
    b = {"members": [{"name": "Ana"}, member("k-new", name="Rui")]}
    result = three_way(base, a, b)
    assert not result.hard
    assert result.answers == {"members": [{"name": "Ana", "age": 30}, member("k-new", name="Rui")]}


def test_nested_repeat_instances_merge_by_their_keys():
    base = {"plots": [member("p1", crops=[member("c1", crop="maize"), member("c2", crop="rice")])]}
    a = {"plots": [member("p1", crops=[member("c2", crop="rice")])]}
    b = {"plots": [member("p1", crops=[member("c1", crop="maize"), member("c2", crop="beans")])]}
    c = {"plots": [*base["plots"], member("p2", crops=[member("c3", crop="cassava")])]}
    result = three_way(base, a, b)
    assert not result.hard
    assert result.answers == {"plots": [member("p1", crops=[member("c2", crop="beans")])]}
    state = merge_record(
        [
            node("r1", None, "1", base),
            node("x", "r1", "2", a),
            node("y", "r1", "3", b),
            node("z", "r1", "4", c),
        ]
    )
    assert state.answers == {
        "plots": [
            member("p1", crops=[member("c2", crop="beans")]),
            member("p2", crops=[member("c3", crop="cassava")]),
        ]
    }


def test_whole_record_merge_keeps_both_added_members_and_the_right_edit():
    added_a = {**HOUSEHOLD, "members": [*HOUSEHOLD["members"], member("k-rui", name="Rui")]}
    added_b = {**HOUSEHOLD, "members": [*HOUSEHOLD["members"], member("k-eva", name="Eva")]}
    deleted = {**HOUSEHOLD, "members": [member("k-ze", name="Zé")]}
    edited = {**HOUSEHOLD, "members": [member("k-ana", name="Ana"), member("k-ze", name="José")]}
    state = merge_record(
        [
            node("r1", None, "1", HOUSEHOLD),
            node("a", "r1", "2", added_a),
            node("b", "r1", "3", added_b),
            node("d", "r1", "4", deleted),
            node("e", "r1", "5", edited),
        ]
    )
    assert state.answers["members"] == [
        member("k-ze", name="José"),
        member("k-rui", name="Rui"),
        member("k-eva", name="Eva"),
    ]


@pytest.mark.parametrize("edit_first", [True, False])
def test_whole_record_merge_lets_the_later_of_delete_and_edit_decide_the_member(edit_first):
    deleted = {**HOUSEHOLD, "members": [member("k-ana", name="Ana")]}
    edited = {
        **HOUSEHOLD,
        "members": [member("k-ana", name="Ana"), member("k-ze", name="Zé", age=9)],
    }
    keys = ("2", "3") if edit_first else ("3", "2")
    state = merge_record(
        [
            node("r1", None, "1", HOUSEHOLD),
            node("e", "r1", keys[0], edited),
            node("d", "r1", keys[1], deleted),
        ]
    )
    expected = [member("k-ana", name="Ana")]
    if not edit_first:
        expected.append(member("k-ze", name="Zé", age=9))  # kept whole, not just the age
    assert state.answers["members"] == expected
    (pair,) = state.siblings
    assert [f.path for f in pair.fields] == ["members[@k-ze]"]


def test_a_decision_puts_a_whole_member_back():
    flat = flatten({"members": [member("k-ana", name="Ana")]})
    put(flat, ("members", "@k-ze"), member("k-ze", name="Zé", kids=[member("c1", age=2)]))
    assert unflatten(flat)["members"][1] == member("k-ze", name="Zé", kids=[member("c1", age=2)])
    put(flat, ("members", "@k-ana"), DELETED)
    assert [m["_key"] for m in unflatten(flat)["members"]] == ["k-ze"]


def test_deleting_the_last_member_while_another_tablet_adds_one_keeps_the_new_member():
    base = {"members": [member("k-ana", name="Ana")]}
    emptied = {"members": []}
    added = {"members": [member("k-ana", name="Ana"), member("k-rui", name="Rui")]}
    for keys in [(("1",), ("2",)), (("2",), ("1",))]:
        result = three_way(base, emptied, added, ours_key=keys[0], theirs_key=keys[1])
        assert result.answers == {"members": [member("k-rui", name="Rui")]}
        assert not result.hard
    for hlcs in [("2", "3"), ("3", "2")]:
        state = merge_record(
            [
                node("r1", None, "1", base),
                node("e", "r1", hlcs[0], emptied),
                node("a", "r1", hlcs[1], added),
            ]
        )
        assert state.answers["members"] == [member("k-rui", name="Rui")]
