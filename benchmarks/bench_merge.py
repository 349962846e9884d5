"""Merge speed with repeat instance keys (issue #8): merge_record over concurrent edits of
one household, its members keyed (as the app makes them now) and keyless (records made
before keys, merged by position: the baseline, measured in the same run because this
machine is shared and absolute numbers drift).
Run: .venv/bin/python benchmarks/bench_merge.py
"""

from __future__ import annotations

import copy
import statistics
import time
import uuid
from collections.abc import Callable

from forms.samples import sample_household
from sync_core.merge import Node, merge_record, three_way


def median_ms(action: Callable[[], object], seconds: float = 2.0) -> float:
    timings = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(timings) < 5:
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def household(members: int, *, keyed: bool) -> dict:
    answers = sample_household(1, members=members, site_id="MOZ-ZAM-0001")
    if keyed:
        answers["members"] = [{"_key": str(uuid.uuid4()), **m} for m in answers["members"]]
    return answers


def siblings(base: dict, edits: int) -> list[Node]:
    """`edits` tablets each correct another member of `base`, from the same revision."""
    nodes = [Node("r0", (), ("0", "r0"), base)]
    for i in range(1, edits + 1):
        edited = copy.deepcopy(base)
        edited["members"][i % len(edited["members"])]["given_name"] = f"Nome {i}"
        nodes.append(Node(f"r{i}", ("r0",), (f"{i:03d}", f"r{i}"), edited))
    return nodes


def main() -> None:
    for members, edits in ((6, 2), (8, 8), (20, 4)):
        figures = {}
        for keyed in (False, True):
            base = household(members, keyed=keyed)
            nodes = siblings(base, edits)
            figures[keyed] = (
                median_ms(lambda nodes=nodes: merge_record(nodes)),
                median_ms(lambda n=nodes: three_way(n[0].answers, n[1].answers, n[2].answers)),
            )
        (old_record, old_pair), (new_record, new_pair) = figures[False], figures[True]
        print(
            f"household of {members}, {edits} concurrent edits: merge_record "
            f"{new_record:.2f} ms keyed vs {old_record:.2f} ms by position "
            f"(x{new_record / old_record:.2f}); three_way {new_pair:.2f} ms vs "
            f"{old_pair:.2f} ms (x{new_pair / old_pair:.2f})"
        )


if __name__ == "__main__":
    main()
