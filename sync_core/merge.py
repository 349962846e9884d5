"""Merging concurrent edits of one record: pure functions, no SQL, no clock, no I/O.

Records are answer dictionaries as the form engine stores them: question name -> value, a
repeat is a list of dictionaries (`{"members": [{"_key": "3f0c…", "age": 34}, …]}`). To
merge field by field we flatten a record to paths, so that two enumerators editing
different members of one household merge cleanly.

A repeat instance is named in a path by its key (`forms.paths`: the `_key` the tablet gave
it when it was added), `("members", "@3f0c…", "age")`, never by its position: two tablets
that each add a member both keep theirs, and an edit of "member 2" made while another
tablet deleted member 1 still lands on the same person. Each instance has a presence entry,
its `_key` path, so an instance left empty survives and a deleted instance is told from an
instance whose answers were cleared. Instances made before keys existed have no `_key`:
they are named by position (`"@#2"`, written `members[2]`), with the old positional
meaning. The order of instances is the order their paths were first seen: the base's
order, then additions in the order of the edits that made them.

Two levels are offered:

- `three_way(base, ours, theirs)`: the classic merge of two edits made from one parent. A
  field changed on one side only takes that side's value; a field changed on both sides to
  the same value is clean; changed to different values it is a HARD conflict whose
  provisional winner is the side with the higher ordering key (HLC, then revision id), so
  that `three_way(base, a, b) == three_way(base, b, a)`. An instance deleted on one side
  and edited on the other is one hard conflict on the whole instance (`members[@3f0c…]`):
  the winner's side is kept whole, never half a person.
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
from forms.paths import KEY_FIELD, SEGMENT_MARK, format_path, instance_segment

Path = tuple[str | int, ...]  # ("members", "@3f0c…", "age"); see the module docstring
LENGTH = "#"  # a path segment of records merged before keys: the number of instances
DELETED: Any = type("Deleted", (), {"__repr__": lambda self: "DELETED"})()


def path_text(path: Path) -> str:
    """`("members", "@#2", "age")` -> `"members[2].age"`, the form engine's spelling;
    a keyed instance is written `members[@3f0c…].age`."""
    return format_path(path, count_marker=LENGTH)


def position_text(path: Path, answers: Mapping[str, Any]) -> str:
    """`path` as the form engine and a person name it, instances by their position in
    `answers`: `("members", "@3f0c…", "age")` -> `"members[2].age"` when that member is
    second. An instance `answers` doesn't have keeps its key."""
    return path_text(positioned(path, answers))


def positioned(path: Path, answers: Mapping[str, Any]) -> Path:
    """`path` with each instance segment replaced by its 1-based position in `answers`
    (kept as it is when `answers` doesn't have that instance)."""
    parts: list[str | int] = []
    node: Any = answers
    for part in path:
        if is_instance(part) and isinstance(node, list):
            found = [i for i, inst in enumerate(node, 1) if instance_segment(inst, i) == part]
            parts.append(found[0] if found else part)
            node = node[found[0] - 1] if found else None
        else:
            parts.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(parts)


def is_instance(part: Any) -> bool:
    """Whether a path segment names a repeat instance."""
    return isinstance(part, str) and part.startswith(SEGMENT_MARK)


def _is_repeat(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def flatten(answers: Mapping[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    """Leaf values by path; each repeat instance also has its presence entry at its `_key`
    path (the key, or `#<position>` for an instance without one)."""
    flat: dict[Path, Any] = {}
    _flatten_into(flat, answers, prefix, in_instance=False)
    return flat


def _flatten_into(
    flat: dict[Path, Any], answers: Mapping[str, Any], prefix: Path, *, in_instance: bool
) -> None:
    # One dictionary filled in place: merging builds this for every revision it replays.
    for key, value in answers.items():
        if in_instance and key == KEY_FIELD:
            continue  # an instance's key is in its path and its presence entry
        if isinstance(value, dict) and value:
            _flatten_into(flat, value, (*prefix, key), in_instance=False)
        elif _is_repeat(value):
            for position, instance in enumerate(value, start=1):
                segment = instance_segment(instance, position)
                at = (*prefix, key, segment)
                flat[(*at, KEY_FIELD)] = segment[len(SEGMENT_MARK) :]
                _flatten_into(flat, instance, at, in_instance=True)
        else:
            flat[(*prefix, key)] = value


def unflatten(flat: Mapping[Path, Any]) -> dict[str, Any]:
    """The inverse of `flatten`: `unflatten(flatten(a)) == a` for any answers."""
    # A count entry comes only from a positional path (a decision on a conflict listed
    # before keys existed): instances now carry their own presence entries.
    return _rebuild(_tree({p: v for p, v in flat.items() if not (p and p[-1] == LENGTH)}))


def _rebuild(node: dict[Any, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict) and any(is_instance(k) for k in value):
            result[key] = [_instance(v) for k, v in value.items() if is_instance(k)]
        elif isinstance(value, dict) and value and _is_tree(value):
            result[key] = _rebuild(value)
        else:
            result[key] = value
    return result


def _instance(node: dict[Any, Any]) -> dict[str, Any]:
    """One repeat instance: its key first, none for an instance named by position."""
    answers = _rebuild({k: v for k, v in node.items() if k != KEY_FIELD})
    key = node.get(KEY_FIELD)
    if not isinstance(key, str) or key.startswith("#"):
        return answers
    return {KEY_FIELD: key, **answers}


def _is_tree(value: dict[Any, Any]) -> bool:
    """A nested dictionary built by `unflatten`, not an empty-dict leaf value."""
    return all(isinstance(k, str | int) for k in value)


def subtree(flat: Mapping[Path, Any], at: Path) -> dict[Path, Any]:
    """The entries of `flat` at or under `at`, in order."""
    return {p: v for p, v in flat.items() if p[: len(at)] == at}


def put(flat: dict[Path, Any], at: Path, value: Any) -> None:
    """Set the answer at `at` (DELETED removes it), replacing whatever was under it. A
    whole instance (a conflict on `members[@k]`) is given as its answers dictionary; an
    instance already there keeps its place."""
    entries: dict[Path, Any] = {}
    if value is DELETED:
        pass
    elif at and is_instance(at[-1]) and isinstance(value, dict):
        entries[(*at, KEY_FIELD)] = at[-1][len(SEGMENT_MARK) :]
        entries.update(flatten({k: v for k, v in value.items() if k != KEY_FIELD}, at))
    else:
        entries[at] = value
    rebuilt: dict[Path, Any] = {}
    for p, v in flat.items():
        if p[: len(at)] == at:
            rebuilt.update(entries)  # in the place of what it replaces
            entries = {}
        else:
            rebuilt[p] = v
    rebuilt.update(entries)
    flat.clear()
    flat.update(rebuilt)


def value_at(flat: Mapping[Path, Any], at: Path) -> Any:
    """The answer at `at`, a whole instance's answers when `at` names one, else DELETED."""
    if at and is_instance(at[-1]):
        return _instance_value(flat, at)
    return flat.get(at, DELETED)


def _instance_value(flat: Mapping[Path, Any], at: Path) -> Any:
    """An instance as one value (its answers), or DELETED when `flat` doesn't have it."""
    if (*at, KEY_FIELD) not in flat:
        return DELETED
    inner = {p[len(at) :]: v for p, v in subtree(flat, at).items()}
    return _instance(_tree(inner))


def _tree(flat: Mapping[Path, Any]) -> dict[Any, Any]:
    """The nested dictionaries of `flat` before instances are turned into lists."""
    tree: dict[Any, Any] = {}
    for path, value in flat.items():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return tree


def _deleted_and_edited(
    base: Mapping[Path, Any], ours: Mapping[Path, Any], theirs: Mapping[Path, Any]
) -> list[Path]:
    """Instances of `base` one side deleted while the other changed something in them,
    outermost first (an instance inside one already listed is not listed again)."""
    found: list[Path] = []
    for path in sorted(base, key=len):
        at = path[:-1]
        if path[-1] != KEY_FIELD or not at or not is_instance(at[-1]):
            continue
        if any(at[: len(outer)] == outer for outer in found):
            continue
        gone = [ours.get(path) is DELETED, theirs.get(path) is DELETED]
        if gone[0] != gone[1]:
            editor = theirs if gone[0] else ours
            if any(p[: len(at)] == at for p in editor):
                found.append(at)
    return found


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
    flat_base, flat_ours, flat_theirs = flatten(base), flatten(ours), flatten(theirs)
    ours_changes = changes(flat_base, flat_ours)
    theirs_changes = changes(flat_base, flat_theirs)
    ours_wins = ours_key > theirs_key
    if not ours_changes or not theirs_changes:
        # One side changed nothing: the other side exactly, its order of instances too.
        return MergeResult(
            answers=unflatten(flat_theirs if not ours_changes else flat_ours),
            changed_ours=frozenset(path_text(p) for p in ours_changes),
            changed_theirs=frozenset(path_text(p) for p in theirs_changes),
            conflicts=(),
        )
    winner = flat_ours if ours_wins else flat_theirs
    # The lower key's changes first, so that instances both sides added come out in the
    # same order whichever side is "ours".
    first, second = (theirs_changes, ours_changes) if ours_wins else (ours_changes, theirs_changes)
    merged = dict(flat_base)
    conflicts: dict[Path, FieldConflict] = {}
    for path in [*first, *(p for p in second if p not in first)]:
        mine = ours_changes.get(path, _UNCHANGED)
        other = theirs_changes.get(path, _UNCHANGED)
        if mine is _UNCHANGED:
            value = other
        elif other is _UNCHANGED or same(mine, other):
            value = mine
        else:
            value = mine if ours_wins else other
            conflicts[path] = FieldConflict(
                path=path_text(path),
                base=_shown(flat_base.get(path, DELETED)),
                ours=_shown(mine),
                theirs=_shown(other),
                winner=_shown(value),
            )
        if value is DELETED:
            merged.pop(path, None)
        else:
            merged[path] = value
    for at in _deleted_and_edited(flat_base, ours_changes, theirs_changes):
        # Deleted on one side, edited on the other: the instance is one conflict, and the
        # winner's side is kept whole (a member deleted, or the member as edited).
        for path in [p for p in conflicts if p[: len(at)] == at]:
            del conflicts[path]
        put(merged, at, DELETED)
        merged.update(subtree(winner, at))
        conflicts[at] = FieldConflict(
            path=path_text(at),
            base=_shown(_instance_value(flat_base, at)),
            ours=_shown(_instance_value(flat_ours, at)),
            theirs=_shown(_instance_value(flat_theirs, at)),
            winner=_shown(_instance_value(winner, at)),
        )
    for path in _collisions(merged):
        if _emptied_repeat(merged, path):
            del merged[path]  # one side deleted its last member, the other added one
            continue
        # One side made this answer a value, the other put answers under it: the winner's
        # whole subtree is kept, and it is a hard conflict.
        for stale in [p for p in merged if p[: len(path)] == path]:
            del merged[stale]
        merged.update({p: v for p, v in winner.items() if p[: len(path)] == path})
        conflicts[path] = FieldConflict(
            path=path_text(path),
            base=_shown(flat_base.get(path, DELETED)),
            ours=_shown(flat_ours.get(path, DELETED)),
            theirs=_shown(flat_theirs.get(path, DELETED)),
            winner=_shown(winner.get(path, DELETED)),
        )
    # Answers the base had keep their place (an instance restored by a conflict too).
    ordered = [p for p in flat_base if p in merged] + [p for p in merged if p not in flat_base]
    return MergeResult(
        answers=unflatten({p: merged[p] for p in ordered}),
        changed_ours=frozenset(path_text(p) for p in ours_changes),
        changed_theirs=frozenset(path_text(p) for p in theirs_changes),
        conflicts=tuple(conflicts[p] for p in sorted(conflicts, key=path_order)),
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


def _emptied_repeat(flat: Mapping[Path, Any], path: Path) -> bool:
    """Whether `path` holds an empty list while repeat instances sit under it: a repeat one
    edit emptied (its instances were deleted one by one) and another gave new members."""
    value = flat.get(path)
    return isinstance(value, list) and not value and _has_instances(flat, path)


def _has_instances(flat: Mapping[Path, Any], path: Path) -> bool:
    under = [p for p in flat if len(p) > len(path) and p[: len(path)] == path]
    return bool(under) and all(is_instance(p[len(path)]) for p in under)


def _set(state: dict[Path, Any], path: Path, value: Any) -> None:
    """Apply one change to a flat record, replacing whatever it structurally displaces
    (a later edit that turns a repeat into a value removes the repeat's answers). An edit
    that empties a repeat deletes its own members one by one; the members other edits
    added stay."""
    if value is DELETED:
        state.pop(path, None)
        return
    if isinstance(value, list) and not value and _has_instances(state, path):
        return
    for i in range(1, len(path)):
        state.pop(path[:i], None)
    for other in [p for p in state if len(p) > len(path) and p[: len(path)] == path]:
        del state[other]
    state[path] = value


def _shown(value: Any) -> Any:
    return None if value is DELETED else value


def path_order(path: Path) -> tuple[tuple[int, str], ...]:
    """A sort key for paths: positions (`3`, or a keyless instance's `@#3`) as numbers."""
    return tuple(_part_order(p) for p in path)


def _part_order(part: str | int) -> tuple[int, str]:
    if isinstance(part, str) and part.startswith(SEGMENT_MARK + "#") and part[2:].isdigit():
        part = int(part[2:])
    return (0, f"{part:09d}") if isinstance(part, int) else (1, str(part))


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
    changed, and a repeat instance deleted by one edit and edited by another is deleted or
    kept whole by the later of the two. A revision whose parent hasn't arrived yet counts as
    setting all its answers.
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
        mine = flat(node.revision_id)
        for path, value in changes(base, mine).items():
            if (
                value is DELETED
                and path[-1] == KEY_FIELD
                and len(path) > 1
                and is_instance(path[-2])
            ):
                put(state, path[:-1], DELETED)  # an instance deleted goes whole
                continue
            for i, part in enumerate(path[:-1]):
                at = path[: i + 1]
                if is_instance(part) and (*at, KEY_FIELD) not in state:
                    # An edit of an instance a concurrent edit deleted: the later edit wins
                    # and brings the instance back whole, as three_way's winner does.
                    _restore(state, at, mine)
            _set(state, path, value)
    return RecordState(
        answers=unflatten(state),
        heads=[head.revision_id for head in heads],
        winner=heads[-1].revision_id,
        siblings=siblings,
    )


def _restore(state: dict[Path, Any], at: Path, source: Mapping[Path, Any]) -> None:
    """Put the instance `at` back into `state` as `source` has it, in its place: before
    the instance that follows it in `source` (state's order is the order of instances)."""
    for i in range(1, len(at)):
        state.pop(at[:i], None)  # an emptied repeat's [] gives way to its member
    parent, depth = at[:-1], len(at) - 1
    siblings = list(
        dict.fromkeys(p[depth] for p in source if len(p) > depth and p[:depth] == parent)
    )
    later = siblings[siblings.index(at[-1]) + 1 :] if at[-1] in siblings else []
    anchor = next((s for s in later if (*parent, s, KEY_FIELD) in state), None)
    entries = subtree(source, at)
    if anchor is None:
        state.update(entries)
        return
    rebuilt: dict[Path, Any] = {}
    for p, v in state.items():
        if entries and len(p) > depth and p[:depth] == parent and p[depth] == anchor:
            rebuilt.update(entries)
            entries = {}
        rebuilt[p] = v
    state.clear()
    state.update(rebuilt)


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
