"""A text progress bar for the command line: records done, percent, time left."""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    """Call with (done, total); redraws at most five times a second on one line."""

    def __init__(self, stream: TextIO, *, clock=time.monotonic):
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.last_draw = -1.0
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if done < total and now - self.last_draw < 0.2:
            return
        self.last_draw = now
        self.stream.write("\r" + line(done, total, now - self.started))
        self.drawn = True
        if done >= total:
            self.finish()  # the last line stays; log lines start below it
        self.stream.flush()

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def line(done: int, total: int, elapsed: float) -> str:
    """E.g. `[#########---------------------]  30,000/100,000 records  30%  1:05 left`."""
    fraction = done / total if total else 1.0
    filled = int(WIDTH * fraction)
    if done and done < total:
        left = f"{_clock(elapsed / done * (total - done))} left"
    elif done >= total:
        left = f"done in {_clock(elapsed)}"
    else:
        left = "estimating…"
    bar = "#" * filled + "-" * (WIDTH - filled)
    return f"[{bar}] {done:>9,}/{total:,} records {fraction:4.0%}  {left}"


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
