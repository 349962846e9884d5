"""The store's exceptions. The tree is drawn in `fieldapp.store`'s docstring."""

from __future__ import annotations

# ── Errors ───────────────────────────────────────────────────────────────────────────────


class StoreError(Exception):
    """The store refused or failed an operation. The message says what, and which record."""


class RecordNotFound(StoreError):
    """There is no record with that id on this tablet."""


class RecordLocked(StoreError):
    """The record can't be changed that way in its current state."""


class FormNotFound(StoreError):
    """That form version is not in the form cache."""
