"""Shared fixtures and the test tiers. UI tests set up Kivy themselves (fieldapp/testing.py).

Tiers (markers registered in pyproject.toml; docs/architecture.md explains them):
    unit         pure functions and classes, no processes
    integration  the server in-process through its ASGI app (sync_server.testing.InProcessServer)
    system       real processes, kill and crash tests, property tests, the Kivy window
`make test-fast` runs `-m "not system"`; `make test` runs everything. A test module that
declares no tier counts as system, so a new slow test never slips into the fast tier.
"""

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
# SDL2's clipboard works without a display (xclip needs an X server); read at `import kivy`.
os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")

TIERS = ("unit", "integration", "system")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(pytest.mark.system)


@pytest.fixture(autouse=True)
def english_ui():
    """Every test starts with the app's UI language at English (the source language), so
    a UI test that switched to Portuguese never changes what a later test reads."""
    from fieldapp.i18n import set_language

    set_language("en")


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
