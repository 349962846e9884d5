"""`sync-server duplicates INPUT.csv --out PAIRS.csv`: probable duplicate households in a
list that comes from elsewhere (a partner's distribution list, an old DTM sheet).

INPUT has the columns of `sync_core.dedup.table.COLUMNS`; PAIRS.csv gets a header row and
one probable pair per row (`record_id_1, record_id_2, score`), best first, at the engine's
threshold; a family registered three times appears as all its pairs. A progress bar runs on
standard error. Bad input ends with one line saying what and where, exit status 2, and no
PAIRS.csv written; the output appears whole or not at all.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from sync_core.dedup import THRESHOLD, find_duplicates
from sync_core.dedup.table import TableError, read_households, write_pairs


def add_command(commands: argparse._SubParsersAction) -> None:
    """Register the `duplicates` sub-command on the sync-server parser."""
    help_text = "Find probable duplicate households in a CSV list (no server needed)."
    sub = commands.add_parser("duplicates", help=help_text, description=help_text)
    sub.add_argument("input", type=Path, metavar="INPUT.csv", help="the households to check")
    sub.add_argument("--out", type=Path, required=True, metavar="PAIRS.csv", help="pairs found")
    sub.add_argument(
        "--threshold",
        type=float,
        default=THRESHOLD,
        help="report pairs at least this probable, 0..1 (default: %(default)s)",
    )
    sub.set_defaults(run=run)


class ProgressBar:
    """A one-line bar on a terminal (or a line per stage elsewhere, for logs)."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.started = time.monotonic()
        self.tty = stream.isatty()

    def __call__(self, stage: str, done: float) -> None:
        filled = round(done * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.monotonic() - self.started
        line = f"[{bar}] {done:4.0%} {stage:<10} {elapsed:5.1f} s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= 1 else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def run(args: argparse.Namespace, stderr: TextIO | None = None) -> int:
    stderr = stderr or sys.stderr
    if not 0 < args.threshold <= 1:
        stderr.write(f"error: --threshold must be above 0 and at most 1, not {args.threshold}\n")
        return 2
    try:
        data = args.input.read_bytes()
    except OSError as error:
        stderr.write(f"error: cannot read {args.input}: {error.strerror}\n")
        return 2
    try:
        households = read_households(data, name=str(args.input))
    except TableError as error:
        stderr.write(f"error: {error}\n")
        return 2
    stderr.write(f"{len(households):,} households from {args.input}\n")
    result = find_duplicates(households, threshold=args.threshold, progress=ProgressBar(stderr))
    partial = args.out.with_name(args.out.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            count = write_pairs(result.pairs, out)
        os.replace(partial, args.out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        stderr.write(f"error: cannot write {args.out}: {error.strerror}\n")
        return 2
    in_clusters = sum(len(c) for c in result.clusters)
    stderr.write(
        f"{count:,} probable duplicate pairs ({in_clusters:,} households in "
        f"{len(result.clusters):,} groups) written to {args.out}\n"
    )
    return 0
