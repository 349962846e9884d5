"""A stable topological order (Kahn's algorithm), shared by the form engine and the merge.

The form engine orders calculations and relevance after what they use (`forms.plan`); the
merge replays a record's revisions parents first (`sync_core.merge`). Both need the same
thing: a dependency order that is deterministic, taking the ready item with the lowest
priority first. Layer 0: pure, no I/O.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["topological_order"]

K = TypeVar("K", bound=Hashable)


def topological_order(
    depends_on: Mapping[K, Iterable[K]], priority: Callable[[K], Any]
) -> tuple[list[K], dict[K, int]]:
    """Every key after the keys it depends on; among those ready, lowest `priority` first.

    `depends_on` maps each key to the keys it needs (every one of them a key of the mapping;
    the caller drops unknown ones). Returns `(order, waiting)`: `waiting` counts, for every
    key, the dependencies still unplaced; keys on or behind a cycle are left out of `order`
    and have a nonzero count there. Priorities must differ for different keys.
    """
    waiting: dict[K, int] = {}
    users: dict[K, list[K]] = {key: [] for key in depends_on}
    for key, deps in depends_on.items():
        deps = set(deps)
        waiting[key] = len(deps)
        for dep in deps:
            users[dep].append(key)
    ready = [(priority(key), key) for key, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[K] = []
    while ready:
        _, key = heapq.heappop(ready)
        order.append(key)
        for user in users[key]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (priority(user), user))
    return order, waiting
