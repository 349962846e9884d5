"""Merging concurrent edits of one record: pure functions, no SQL, no clock, no I/O.

Records are answer dictionaries as the form engine stores them: question name -> value, a
repeat is a list of dictionaries (`{"members": [{"age": 34}, {"age": 9}]}`). To merge field
by field we flatten a record to paths (`members[2].age`, counting from 1 as enumerators do),
so that two enumerators editing different members of one household merge cleanly.

Two levels are offered:

- `three_way(base, ours, theirs)`: the classic merge of two edits made from one parent. A
  field changed on one side only takes that side's value; a field changed on both sides to
  the same value is clean; changed to different values it is a HARD conflict whose
  provisional winner is the side with the higher ordering key (HLC, then revision id), so
  that `three_way(base, a, b) == three_way(base, b, a)`.
- `merge_record(revisions)`: the state of a record from every revision the server holds
  (a DAG: each revision names its parent; server merge revisions name all the heads they
  merged). It replays every edit's own changes in causal order, concurrent edits ordered by
  their key, and reports the heads and the sibling pairs that conflict. The result depends
  only on the set of revisions, never on the order they arrived in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from forms.graph import topological_order
from forms.paths import format_path

Path = tuple[str | int, ...]  # ("members", 2, "age"); repeat positions count from 1
LENGTH = "#"  # path segment holding the number of instances of a repeat
DELETED: Any = type("Deleted", (), {"__repr__": lambda self: "DELETED"})()


def path_text(path: Path) -> str:
    """`("members", 2, "age")` -> `"members[2].age"`, the form engine's spelling."""
    return format_path(path, count_marker=LENGTH)


def _is_repeat(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def flatten(answers: Mapping[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    """Leaf values by path. A repeat also gets a length entry, so that an instance left
    empty, or the removal of the last instance, survives the round trip."""
    flat: dict[Path, Any] = {}
    for key, value in answers.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, (*prefix, key)))
        elif _is_repeat(value):
            flat[(*prefix, key, LENGTH)] = len(value)
            for position, instance in enumerate(value, start=1):
                flat.update(flatten(instance, (*prefix, key, position)))
        else:
            flat[(*prefix, key)] = value
    return flat


def unflatten(flat: Mapping[Path, Any]) -> dict[str, Any]:
    """The inverse of `flatten`: `unflatten(flatten(a)) == a` for any answers."""
    tree: dict[Any, Any] = {}
    for path, value in flat.items():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return _rebuild(tree)


def _rebuild(node: dict[Any, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict) and LENGTH in value:
            count = max([value[LENGTH], *(k for k in value if isinstance(k, int))])
            result[key] = [_rebuild(value.get(i, {})) for i in range(1, count + 1)]
        elif isinstance(value, dict) and any(isinstance(k, int) for k in value):
            # Instances whose length entry was deleted by one side and edited by the other.
            count = max(k for k in value if isinstance(k, int))
            result[key] = [_rebuild(value.get(i, {})) for i in range(1, count + 1)]
        elif isinstance(value, dict) and value and _is_tree(value):
            result[key] = _rebuild(value)
        else:
            result[key] = value
    return result


def _is_tree(value: dict[Any, Any]) -> bool:
    """A nested dictionary built by `unflatten`, not an empty-dict leaf value."""
    return all(isinstance(k, str | int) for k in value)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values: `1`, `1.0` and `true` are three different answers."""
    if a is DELETED or b is DELETED:
        return a is b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict | list):
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return a == b


def changes(base: Mapping[Path, Any], new: Mapping[Path, Any]) -> dict[Path, Any]:
    """What an edit changed: path -> new value, or DELETED for a removed answer."""
    changed = {
        path: value for path, value in new.items() if not same(base.get(path, DELETED), value)
    }
    changed.update({path: DELETED for path in base if path not in new})
    return changed


@dataclass(frozen=True)
class FieldConflict:
    """One answer both sides changed to different values."""

    path: str
    base: Any
    ours: Any
    theirs: Any
    winner: Any  # the provisional value shown until a coordinator decides


@dataclass(frozen=True)
class MergeResult:
    answers: dict[str, Any]
    changed_ours: frozenset[str]  # paths changed only or also by `ours`
    changed_theirs: frozenset[str]
    conflicts: tuple[FieldConflict, ...]

    @property
    def hard(self) -> bool:
        return bool(self.conflicts)


def three_way(
    base: Mapping[str, Any],
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any],
    *,
    ours_key: tuple[Any, ...] = (0,),
    theirs_key: tuple[Any, ...] = (1,),
) -> MergeResult:
    """Merge two edits of `base` field by field; the higher key wins a hard conflict."""
    flat_base = flatten(base)
    ours_changes = changes(flat_base, flatten(ours))
    theirs_changes = changes(flat_base, flatten(theirs))
    ours_wins = ours_key > theirs_key
    merged = dict(flat_base)
    conflicts: list[FieldConflict] = []
    for path in sorted(set(ours_changes) | set(theirs_changes), key=_sort_key):
        mine = ours_changes.get(path, _UNCHANGED)
        other = theirs_changes.get(path, _UNCHANGED)
        if mine is _UNCHANGED:
            value = other
        elif other is _UNCHANGED or same(mine, other):
            value = mine
        else:
            value = mine if ours_wins else other
            conflicts.append(
                FieldConflict(
                    path=path_text(path),
                    base=_shown(flat_base.get(path, DELETED)),
                    ours=_shown(mine),
                    theirs=_shown(other),
                    winner=_shown(value),
                )
            )
        if value is DELETED:
            merged.pop(path, None)
        else:
            merged[path] = value
    flat_ours, flat_theirs = (
        apply_changes(flat_base, ours_changes),
        apply_changes(flat_base, theirs_changes),
    )
    for path in _collisions(merged):
        # One side made this answer a value, the other put answers under it (a repeat
        # emptied to [] on one side and given a member on the other): the winner's whole
        # subtree is kept, and it is a hard conflict.
        winner = flat_ours if ours_wins else flat_theirs
        for stale in [p for p in merged if p[: len(path)] == path]:
            del merged[stale]
        merged.update({p: v for p, v in winner.items() if p[: len(path)] == path})
        conflicts.append(
            FieldConflict(
                path=path_text(path),
                base=_shown(flat_base.get(path, DELETED)),
                ours=_shown(flat_ours.get(path, DELETED)),
                theirs=_shown(flat_theirs.get(path, DELETED)),
                winner=_shown(winner.get(path, DELETED)),
            )
        )
    return MergeResult(
        answers=unflatten(merged),
        changed_ours=frozenset(path_text(p) for p in ours_changes),
        changed_theirs=frozenset(path_text(p) for p in theirs_changes),
        conflicts=tuple(conflicts),
    )


_UNCHANGED: Any = type("Unchanged", (), {})()


def apply_changes(flat: Mapping[Path, Any], changed: Mapping[Path, Any]) -> dict[Path, Any]:
    result = dict(flat)
    for path, value in changed.items():
        if value is DELETED:
            result.pop(path, None)
        else:
            result[path] = value
    return result


def _collisions(flat: Mapping[Path, Any]) -> list[Path]:
    """Leaf paths that other paths run through, outermost first (at most one per subtree)."""
    prefixes = {path[:i] for path in flat for i in range(1, len(path))}
    found: list[Path] = []
    for path in sorted((p for p in flat if p in prefixes), key=len):
        if not any(path[: len(outer)] == outer for outer in found):
            found.append(path)
    return found


def _set(state: dict[Path, Any], path: Path, value: Any) -> None:
    """Apply one change to a flat record, replacing whatever it structurally displaces
    (a later edit that turns a repeat into a value removes the repeat's answers)."""
    if value is DELETED:
        state.pop(path, None)
        return
    for i in range(1, len(path)):
        state.pop(path[:i], None)
    for other in [p for p in state if len(p) > len(path) and p[: len(path)] == path]:
        del state[other]
    state[path] = value


def _shown(value: Any) -> Any:
    return None if value is DELETED else value


def _sort_key(path: Path) -> tuple[tuple[int, str], ...]:
    return tuple((0, f"{p:09d}") if isinstance(p, int) else (1, str(p)) for p in path)


# --- a whole record from its revisions -----------------------------------------------


@dataclass(frozen=True)
class Node:
    """What the merge needs to know about one revision."""

    revision_id: str
    parents: tuple[str, ...]  # a device edit has at most one; a merge revision has several
    key: tuple[Any, ...]  # ordering of concurrent edits: (HLC used for ordering, revision id)
    answers: Mapping[str, Any]
    device_id: str = ""
    is_merge: bool = False  # made by a server: carries state, adds no edit of its own


@dataclass(frozen=True)
class SiblingConflict:
    """Two edits made from the same parent. `hard` when they set an answer differently."""

    base_revision_id: str
    revision_ids: tuple[str, str]  # ordered by key: the provisional winner is the second
    fields: tuple[FieldConflict, ...]  # the answers set differently (empty when soft)
    changed: tuple[str, ...]  # every answer either side changed

    @property
    def hard(self) -> bool:
        return bool(self.fields)

    @property
    def winner(self) -> str:
        return self.revision_ids[1]


@dataclass
class RecordState:
    answers: dict[str, Any]
    heads: list[str]  # revision ids no other revision builds on, lowest key first
    winner: str  # the head with the highest key: its form version is shown
    siblings: list[SiblingConflict] = field(default_factory=list)


def merge_record(nodes: Iterable[Node]) -> RecordState:
    """The merged state of one record from all its revisions (see the module docstring).

    With a single head the state is that head's answers exactly, which is what every device
    that has it shows. With several heads each edit's own changes (against its parent) are
    replayed in causal order, concurrent ones by key, so the later key wins a field both
    changed. A revision whose parent hasn't arrived yet counts as setting all its answers.
    """
    by_id = {node.revision_id: node for node in nodes}
    if not by_id:
        raise ValueError("a record needs at least one revision")
    referenced = {parent for node in by_id.values() for parent in node.parents}
    heads = sorted(
        (node for node in by_id.values() if node.revision_id not in referenced),
        key=lambda n: n.key,
    )
    siblings = sibling_conflicts(by_id.values())
    if len(heads) == 1:
        return RecordState(
            answers=dict(heads[0].answers),
            heads=[heads[0].revision_id],
            winner=heads[0].revision_id,
            siblings=siblings,
        )
    state: dict[Path, Any] = {}
    flat_cache: dict[str, dict[Path, Any]] = {}

    def flat(revision_id: str) -> dict[Path, Any]:
        if revision_id not in flat_cache:
            flat_cache[revision_id] = flatten(by_id[revision_id].answers)
        return flat_cache[revision_id]

    for node in _causal_order(by_id):
        if node.is_merge:
            continue
        parent = node.parents[0] if node.parents and node.parents[0] in by_id else None
        base = flat(parent) if parent else {}
        for path, value in changes(base, flat(node.revision_id)).items():
            _set(state, path, value)
    return RecordState(
        answers=unflatten(state),
        heads=[head.revision_id for head in heads],
        winner=heads[-1].revision_id,
        siblings=siblings,
    )


def _causal_order(by_id: Mapping[str, Node]) -> list[Node]:
    """Parents before children; among the ready ones, lowest key first."""
    parents = {rid: [p for p in set(node.parents) if p in by_id] for rid, node in by_id.items()}
    ids, _waiting = topological_order(parents, lambda rid: by_id[rid].key)
    order = [by_id[rid] for rid in ids]
    if len(order) != len(by_id):  # a cycle can only come from forged parent ids
        seen = set(ids)
        order.extend(sorted((n for n in by_id.values() if n.revision_id not in seen), key=_key))
    return order


def _key(node: Node) -> tuple[Any, ...]:
    return node.key


def sibling_conflicts(nodes: Iterable[Node]) -> list[SiblingConflict]:
    """Every pair of edits made from the same parent, hard or soft.

    A pair whose parent the server doesn't hold yet is left out: without the parent there
    is no telling what each side changed. Server merge revisions are not edits.
    """
    by_id = {node.revision_id: node for node in nodes}
    by_parent: dict[str, list[Node]] = {}
    for node in by_id.values():
        if not node.is_merge and node.parents and node.parents[0] in by_id:
            by_parent.setdefault(node.parents[0], []).append(node)
    found: list[SiblingConflict] = []
    for parent_id, children in sorted(by_parent.items()):
        children.sort(key=_key)
        for i, low in enumerate(children):
            for high in children[i + 1 :]:
                result = three_way(
                    by_id[parent_id].answers,
                    low.answers,
                    high.answers,
                    ours_key=low.key,
                    theirs_key=high.key,
                )
                found.append(
                    SiblingConflict(
                        base_revision_id=parent_id,
                        revision_ids=(low.revision_id, high.revision_id),
                        fields=result.conflicts,
                        changed=tuple(sorted(result.changed_ours | result.changed_theirs)),
                    )
                )
    return found
