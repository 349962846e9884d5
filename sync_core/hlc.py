"""Hybrid logical clock: timestamps that order edits across tablets whose clocks disagree.

A hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014) pairs the wall
clock in milliseconds with a counter. It never goes backwards, even when the tablet's clock
does (a flat battery can reset it to 1970), and after it has seen another device's
timestamp every later timestamp it issues sorts after that one.

Timestamps are strings that sort the same way as the (milliseconds, counter, node) tuples
they encode, so SQLite can ``ORDER BY`` them directly:

    000171720000000-00003-6f1c0d7e-8a42-4b0e-9a7c-1d2e3f405162
    └─ physical ms ─┘ └cnt┘ └──────────── node (device id) ───────────┘

Drift bound (the HLC rule): a remote timestamp more than ``max_drift_ms`` (default
``MAX_DRIFT_MS``, 5 minutes) ahead of this node's wall clock is NOT adopted by ``observe()``.
Without it, one tablet whose clock runs 10 years fast would drag every clock that syncs with
it 10 years ahead, for good. The server uses the same bound: it orders such a revision as if
it arrived now and flags it (``is_far_future()`` is the shared test). A node's own last
timestamp, restored from disk, is always taken back (``catch_up()``): the clock never runs
backwards, even when the wall clock does (a flat battery can reset it to 1970).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

__all__ = [
    "MAX_COUNTER",
    "MAX_DRIFT_MS",
    "HybridClock",
    "format_hlc",
    "is_far_future",
    "parse_hlc",
    "wall_clock_ms",
]

MAX_DRIFT_MS = 5 * 60 * 1000  # how far ahead of the wall clock a remote time may be
MAX_COUNTER = 99_999
_MAX_MS = 10**15 - 1

_NODE_RE = re.compile(r"[A-Za-z0-9._:-]+")
_HLC_RE = re.compile(r"(\d{15})-(\d{5})-([A-Za-z0-9._:-]+)")


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch by the device's wall clock."""
    return time.time_ns() // 1_000_000


def parse_hlc(text: str) -> tuple[int, int, str]:
    """Split a timestamp into ``(physical_ms, counter, node_id)``.

    Raises ``ValueError`` naming the text if it is not a well-formed timestamp.
    """
    match = _HLC_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"malformed HLC timestamp {text!r}: expected "
            "'<15-digit milliseconds>-<5-digit counter>-<node id>'"
        )
    return int(match[1]), int(match[2]), match[3]


def format_hlc(physical_ms: int, counter: int, node_id: str) -> str:
    """The sortable string for ``(physical_ms, counter, node_id)``."""
    if not 0 <= physical_ms <= _MAX_MS:
        raise ValueError(f"HLC physical time {physical_ms!r} is out of range")
    if not 0 <= counter <= MAX_COUNTER:
        raise ValueError(f"HLC counter {counter!r} is out of range 0..{MAX_COUNTER}")
    if not _NODE_RE.fullmatch(node_id):
        raise ValueError(f"HLC node id {node_id!r} may only use letters, digits and . _ : -")
    return f"{physical_ms:015d}-{counter:05d}-{node_id}"


def is_far_future(timestamp: str, now_ms: int, max_drift_ms: int = MAX_DRIFT_MS) -> bool:
    """True if ``timestamp`` is more than ``max_drift_ms`` ahead of ``now_ms``."""
    return parse_hlc(timestamp)[0] > now_ms + max_drift_ms


class HybridClock:
    """A hybrid logical clock for one node (one tablet, or the server).

    ``now_ms`` is the wall clock, injectable for tests. ``last`` is the last timestamp this
    node issued, persisted by the caller so that the clock never goes backwards across
    restarts. The clock is safe to share between threads.
    """

    def __init__(
        self,
        node_id: str,
        now_ms: Callable[[], int] = wall_clock_ms,
        last: str | None = None,
        max_drift_ms: int = MAX_DRIFT_MS,
    ) -> None:
        # Validates the node id once, so now() can't produce a malformed timestamp later
        format_hlc(0, 0, node_id)
        self.node_id = node_id
        self._now_ms = now_ms
        self.max_drift_ms = max_drift_ms
        self._lock = threading.Lock()
        self._ms, self._counter = 0, 0
        if last is not None:
            self._ms, self._counter, _ = parse_hlc(last)

    @property
    def last(self) -> str:
        """The latest timestamp this clock has issued or observed, as this node's."""
        with self._lock:
            return format_hlc(self._ms, self._counter, self.node_id)

    def now(self) -> str:
        """Issue a timestamp later than every one issued or observed before."""
        with self._lock:
            physical = self._now_ms()
            if physical > self._ms:
                self._advance(physical, 0)
            else:
                self._advance(self._ms, self._counter + 1)
            return format_hlc(self._ms, self._counter, self.node_id)

    def observe(self, remote: str) -> bool:
        """Merge a timestamp received from another node.

        Every timestamp issued afterwards sorts after ``remote``, unless ``remote`` is more
        than ``max_drift_ms`` ahead of the wall clock: then it is not adopted (the clock only
        ticks) and this returns False. Raises ``ValueError`` if ``remote`` is malformed,
        leaving the clock unchanged.
        """
        remote_ms, remote_counter, _ = parse_hlc(remote)
        with self._lock:
            physical = self._now_ms()
            if remote_ms > physical + self.max_drift_ms:
                self._tick(physical)
                return False
            self._merge(physical, remote_ms, remote_counter)
            return True

    def catch_up(self, last: str) -> None:
        """Take back this node's own last timestamp (persisted by the caller, or issued by
        another process on the same data), however far ahead of the wall clock it is."""
        ms, counter, _ = parse_hlc(last)
        with self._lock:
            if (ms, counter) > (self._ms, self._counter):
                self._ms, self._counter = ms, counter

    def _tick(self, physical: int) -> None:
        if physical > self._ms:
            self._advance(physical, 0)
        else:
            self._advance(self._ms, self._counter + 1)

    def _merge(self, physical: int, remote_ms: int, remote_counter: int) -> None:
        ms = max(self._ms, remote_ms, physical)
        if ms == self._ms == remote_ms:
            counter = max(self._counter, remote_counter) + 1
        elif ms == self._ms:
            counter = self._counter + 1
        elif ms == remote_ms:
            counter = remote_counter + 1
        else:
            counter = 0
        self._advance(ms, counter)

    def _advance(self, ms: int, counter: int) -> None:
        # A counter that would outgrow its five digits borrows the next millisecond
        # instead: the clock runs slightly ahead of the wall clock but stays monotonic.
        if counter > MAX_COUNTER:
            ms, counter = ms + 1, 0
        self._ms, self._counter = ms, counter

    def __repr__(self) -> str:
        return f"<HybridClock {self.last}>"
