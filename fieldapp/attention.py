"""What needs the enumerator's attention after a sync: refused revisions and a wrong clock.

A revision the server refused is final (the same revision would be refused again): the
sync client moves it out of the outbox (`Store.mark_rejected`), the rest of the outbox
keeps flowing, and the Sync screen lists it here with the record, the reason and what the
enumerator can do about it. No Kivy here: the screen only shows these items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fieldapp.i18n import _
from sync_core.hlc import MAX_DRIFT_MS

CLOCK_SKEW = "clock_skew_s"  # saved by the sync client: this wall clock minus the server's

# Reason codes that are not about an answer the enumerator can correct.
_NOT_AN_ANSWER = {"parent", "conflicting-id", "internal", "text", "out-of-scope",
                  "unknown-form", "too-large"}  # fmt: skip


@dataclass(frozen=True)
class AttentionItem:
    record_id: str
    title: str
    reason: str
    what_to_do: str


def what_to_do(codes: set[str]) -> str:
    """The enumerator's next step for a refusal with these reason codes."""
    if "out-of-scope" in codes:
        return _("Check the district and site of this record; if they are right, ask your "
                 "supervisor to enroll the tablet for that place.")  # fmt: skip
    if "unknown-form" in codes:
        return _("This form version is not on the server: tell your supervisor.")
    if "text" in codes:
        return _("Retype the answers with unusual characters, then save again.")
    if codes & {"parent", "conflicting-id", "internal"}:
        return _("The server could not take this record as it is: tell your supervisor. "
                 "It stays safe on this tablet.")  # fmt: skip
    return _("Open the record, correct the answers shown and save it again.")


def attention_items(store: Any) -> list[AttentionItem]:
    """Refused revisions, one per record (the latest refusal), oldest first."""
    titles = {row.record_id: row.title for row in store.records(limit=1_000_000)}
    latest: dict[str, tuple[Any, list[dict]]] = {}
    for revision, reasons in store.rejected():
        latest[revision.record_id] = (revision, reasons)
    items = []
    for record_id, (_revision, reasons) in latest.items():
        codes = {str(r.get("code", "")) for r in reasons}
        text = "; ".join(
            f"{r.get('path')}: {r.get('message')}" if r.get("path") else str(r.get("message"))
            for r in reasons
        )
        items.append(
            AttentionItem(
                record_id=record_id,
                title=titles.get(record_id) or record_id[:8],
                reason=text,
                what_to_do=what_to_do(codes),
            )
        )
    return items


def clock_warning(store: Any, bound_ms: int = MAX_DRIFT_MS) -> str:
    """A warning when this tablet's clock was off the server's by more than the drift
    bound at the last sync; "" otherwise."""
    skew = store.get_setting(CLOCK_SKEW)
    if not isinstance(skew, int | float) or abs(skew) * 1000 <= bound_ms:
        return ""
    minutes = round(abs(skew) / 60)
    if skew > 0:
        return _("This tablet's clock is {minutes} min ahead of the server's. Set the date "
                 "and time in the tablet's settings.").format(minutes=minutes)  # fmt: skip
    return _("This tablet's clock is {minutes} min behind the server's. Set the date and "
             "time in the tablet's settings.").format(minutes=minutes)  # fmt: skip
