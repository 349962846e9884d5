"""Shared fixtures. UI tests set up Kivy themselves (see tests/ui_helpers.py)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the same examples every time, so a landing never depends on a lucky draw;
# locally Hypothesis keeps exploring new ones (and remembers failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Kivy must not read pytest's arguments, nor share a config between test runs.
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

ROOT = Path(__file__).resolve().parent.parent
FORMS_DIR = ROOT / "forms"


@pytest.fixture
def write_form(tmp_path):
    """Write an XLSForm in pyxform's markdown table format and return its path."""

    def write(text: str, name: str = "form.md") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).strip() + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def load(write_form):
    """Write and load a form in one step."""
    from forms import load_form

    def load_text(text: str, name: str = "form.md"):
        return load_form(write_form(text, name))

    return load_text
