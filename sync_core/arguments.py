"""The command-line parser both programs use: a wrong argument is one sentence, no usage dump.

A logistics officer who mistypes `sync-server serve --port eighty` (or starts a bundle with
a wrong option) reads one line saying what was wrong and where the help is, and the
program exits 2, as argparse's own errors do:

    sync-server serve: argument --port: invalid int value: 'eighty' (see `sync-server
    serve --help`).
"""

from __future__ import annotations

import argparse
from typing import NoReturn


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, with errors as one sentence (sub-commands inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`).\n")
