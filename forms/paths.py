"""Record paths: the one spelling of where an answer sits in a record.

`members[2].age` is the age of the second member: repeat positions count from 1, as
enumerators count. The validator reports issues with these paths, the tablet keys its
widgets and error messages by them, the merge names conflicting fields with them and the
server words a rejected request's problems with them. Layer 0: no Kivy, HTTP or SQL.

Repeat instances have identity: the tablet gives each new instance (a household member) a
stable key in its reserved field `_key` (a lowercase uuid4 string), so that the merge can
tell "member 2" from "the member who was second before someone was deleted". The merge
names an instance by its key, `members[@3f0c…].age`; an instance made before keys existed
has none and is named by its position as before, `members[2].age` (in the merge's paths a
keyless instance's segment is `@#2`, its position as a derived key that no real key can be).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "KEY_FIELD",
    "answer_path",
    "format_path",
    "instance_segment",
    "is_instance_key",
    "new_instance_key",
]

KEY_FIELD = "_key"  # the reserved field of a repeat instance holding its key; never an answer
# A key is what the tablet writes (a uuid4) or any client's own stable id of the same shape:
# 1 to 64 characters, letters, digits and `-_:`, starting with a letter or digit (`#` is
# reserved for the position-derived segment of keyless instances; no `.` or `]`, so that a
# path text splits unambiguously).
INSTANCE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:-]{0,63}")
SEGMENT_MARK = "@"  # a merge path segment naming an instance: "@<key>" or "@#<position>"


def new_instance_key() -> str:
    """A fresh key for a new repeat instance."""
    return str(uuid.uuid4())


def is_instance_key(value: Any) -> bool:
    return isinstance(value, str) and INSTANCE_KEY.fullmatch(value) is not None


def instance_segment(instance: Any, position: int) -> str:
    """The merge path segment of a repeat instance at 1-based `position`: its key, or its
    position for an instance without a valid key (records made before keys)."""
    key = instance.get(KEY_FIELD) if isinstance(instance, dict) else None
    return SEGMENT_MARK + (key if is_instance_key(key) else f"#{position}")


def format_path(parts: Iterable[str | int], *, count_marker: str | None = None) -> str:
    """`("members", 2, "age")` -> `"members[2].age"`.

    Integers are written as positions exactly as given (the caller decides whether they
    count from 0 or 1). A part equal to `count_marker` stands for the number of instances
    of the repeat before it and is written `[#]`. An instance segment (`instance_segment`)
    is written `[@key]`, or `[2]` for the keyless instance at position 2.
    """
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith(SEGMENT_MARK):
            key = part[len(SEGMENT_MARK) :]
            text += f"[{key[1:]}]" if key.startswith("#") else f"[{part}]"
        elif count_marker is not None and part == count_marker:
            text += "[#]"
        else:
            text += f".{part}" if text else part
    return text


def answer_path(name: str, repeat_path: Sequence[str], index: Sequence[int] = ()) -> str:
    """The path of node `name` inside the repeats `repeat_path` at 0-based `index`.

    `answer_path("age", ("members",), (1,))` -> `"members[2].age"`; a repeat itself is
    named by its instance: `answer_path("members", ("members",), (1,))` -> `"members[2]"`.
    """
    parts: list[str | int] = []
    for repeat, position in zip(repeat_path, index, strict=False):
        parts += [repeat, position + 1]
    if not repeat_path or repeat_path[-1] != name:
        parts.append(name)
    return format_path(parts)
