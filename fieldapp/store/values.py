"""Values the store hands to the UI and the sync client (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from sync_core.hlc import parse_hlc

# ── Values handed to the UI and the sync client ──────────────────────────────────────────


@dataclass(frozen=True)
class Draft:
    """The answers of a record as the enumerator is editing them."""

    record_id: str
    form_id: str
    form_version: str
    state: str
    answers: dict
    position: Any
    updated_at: str
    head_revision_id: str | None


@dataclass(frozen=True)
class RecordRow:
    """One line of the record list. Deliberately without phone or answers."""

    record_id: str
    form_id: str
    form_version: str
    state: str
    title: str
    site_id: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class HouseholdCandidate:
    """A record the duplicate check compares a new household with."""

    record_id: str
    title: str
    phone: str | None
    site_id: str | None


@dataclass(frozen=True)
class Revision:
    """An immutable, finalized version of a record's answers."""

    revision_id: str
    record_id: str
    parent_revision_id: str | None
    form_id: str
    form_version: str
    device_id: str
    hlc: str
    created_at: str
    answers: dict

    def to_wire(self) -> dict:
        """The JSON-able dict sent to the server: exactly this dataclass's fields."""
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict) -> Revision:
        """Build a revision from the server's JSON, checking every field.

        Raises ``ValueError`` naming the first missing or malformed field. Keys this version
        of the app doesn't know are ignored, so the server can add fields.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a revision must be a JSON object, not {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data]
        if missing:
            raise ValueError(f"revision is missing {', '.join(missing)}")
        values = {name: data[name] for name in names}
        if isinstance(values["form_version"], int) and not isinstance(values["form_version"], bool):
            values["form_version"] = str(values["form_version"])
        # The protocol's model is the one definition of a well-formed revision. The answers'
        # contents are the form engine's business; here they only need to be an object.
        answers = values["answers"]
        # Imported here: pydantic costs the store's start-up (a child process in the crash
        # tests, the app on a tablet) and only pulls need it.
        import pydantic

        from sync_core import protocol as wire

        try:
            wire.Revision.model_validate(
                {**values, "answers": {} if isinstance(answers, dict) else answers}
            )
        except pydantic.ValidationError as error:
            name = str(error.errors()[0]["loc"][0])
            if name == "hlc" and isinstance(values["hlc"], str):
                parse_hlc(values["hlc"])  # its message says what is wrong with the clock
            raise ValueError(
                f"revision {data.get('revision_id')!r} has a malformed {name}: {values[name]!r}"
            ) from None
        parse_hlc(values["hlc"])
        return cls(**values)
