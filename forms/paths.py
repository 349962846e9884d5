"""Record paths: the one spelling of where an answer sits in a record.

`members[2].age` is the age of the second member: repeat positions count from 1, as
enumerators count. The validator reports issues with these paths, the tablet keys its
widgets and error messages by them, the merge names conflicting fields with them and the
server words a rejected request's problems with them. Layer 0: no Kivy, HTTP or SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["answer_path", "format_path"]


def format_path(parts: Iterable[str | int], *, count_marker: str | None = None) -> str:
    """`("members", 2, "age")` -> `"members[2].age"`.

    Integers are written as positions exactly as given (the caller decides whether they
    count from 0 or 1). A part equal to `count_marker` stands for the number of instances
    of the repeat before it and is written `[#]`.
    """
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
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
