"""Two household registrations side by side, for the Duplicates review page. Pure: no SQL.

    fields = compare_fields(answers_1, answers_2, levels)   rows: label, value 1, value 2, how
    members = align_members(answers_1, answers_2)          rows: member 1, member 2, how

`how` is "agree" (the dedup engine's full agreement, or the same value), "near" (a level
between: a similar spelling, one digit off, a year apart), "differ", or "" when a side is
missing. Members are paired by sex and age (within MEMBER_AGE_GAP years), closest ages
first, each member at most once: a family registered again by the spouse has another head
but the same children, and the coordinator should see them line up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forms.text import fold
from sync_core.dedup import household_from_answers
from sync_core.dedup.compare import COMPARISONS, FIELD

MEMBER_AGE_GAP = 2  # years: ages given on two days by two people differ by a year or two


@dataclass(frozen=True)
class FieldRow:
    key: str  # the label's catalogue key
    first: str
    second: str
    how: str


@dataclass(frozen=True)
class MemberRow:
    first: dict[str, Any] | None  # {"name", "sex", "age"}
    second: dict[str, Any] | None
    how: str


def _level_how(name: str, levels: dict[str, str]) -> str | None:
    """The engine's reading of one comparison: agree / near / differ (None: not compared)."""
    level = levels.get(name)
    if level is None:
        return None
    names = COMPARISONS[FIELD[name]].levels
    if level not in names:
        return None
    index = names.index(level)
    if index == len(names) - 1:
        return "agree"
    return "differ" if index == 0 else "near"


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def compare_fields(
    answers_1: dict[str, Any], answers_2: dict[str, Any], levels: dict[str, str]
) -> list[FieldRow]:
    """The household-level answers of both records, with how they compare."""
    one = household_from_answers("1", answers_1)
    two = household_from_answers("2", answers_2)
    rows = [
        ("dup-head-name", one.head_name, two.head_name, ("given", "family")),
        ("dup-sex", one.sex, two.sex, ("sex",)),
        ("dup-age", _text(one.age), _text(two.age), ("age",)),
        ("dup-phone", one.phone, two.phone, ("phone",)),
        ("site", one.site_id, two.site_id, ("site",)),
        ("dup-origin", one.origin_district, two.origin_district, ("origin",)),
        ("dup-registered", _text(one.registration_date), _text(two.registration_date),
         ("date",)),
        ("dup-size", _text(one.household_size), _text(two.household_size), ("size",)),
        ("dup-gps", _text(answers_1.get("hh_gps")), _text(answers_2.get("hh_gps")), ("gps",)),
    ]  # fmt: skip
    out = []
    for key, first, second, compared in rows:
        out.append(FieldRow(key, first, second, _how(first, second, compared, levels)))
    return out


def _how(first: str, second: str, compared: tuple[str, ...], levels: dict[str, str]) -> str:
    if not first or not second:
        return ""
    readings = [r for r in (_level_how(name, levels) for name in compared) if r is not None]
    if not readings:
        return "agree" if fold(first) == fold(second) else "differ"
    if all(r == "agree" for r in readings):
        return "agree"
    if all(r == "differ" for r in readings):
        return "differ"
    return "near"


def _members(answers: dict[str, Any]) -> list[dict[str, Any]]:
    household = household_from_answers("x", answers)
    raw = [m for m in answers.get("members") or [] if isinstance(m, dict)]
    out = []
    for member, known in zip(raw, household.members, strict=False):
        name = f"{_text(member.get('given_name'))} {_text(member.get('family_name'))}".strip()
        out.append({"name": name, "sex": known.sex, "age": known.age})
    return out


def align_members(answers_1: dict[str, Any], answers_2: dict[str, Any]) -> list[MemberRow]:
    """Both households' members, paired by sex and closest age; the unpaired after."""
    first, second = _members(answers_1), _members(answers_2)
    candidates = []
    for i, a in enumerate(first):
        for j, b in enumerate(second):
            if a["sex"] and b["sex"] and a["sex"] != b["sex"]:
                continue
            if a["age"] is None or b["age"] is None:
                continue
            gap = abs(a["age"] - b["age"])
            if gap <= MEMBER_AGE_GAP:
                candidates.append((gap, i, j))
    partner: dict[int, int] = {}
    taken: set[int] = set()
    for _gap, i, j in sorted(candidates):
        if i not in partner and j not in taken:
            partner[i] = j
            taken.add(j)
    rows = []
    for i, a in enumerate(first):
        if i in partner:
            b = second[partner[i]]
            same = a["age"] == b["age"] and a["sex"] == b["sex"]
            rows.append(MemberRow(a, b, "agree" if same else "near"))
        else:
            rows.append(MemberRow(a, None, "differ"))
    rows += [MemberRow(None, b, "differ") for j, b in enumerate(second) if j not in taken]
    return rows
