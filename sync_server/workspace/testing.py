"""Helpers for the workspace's tests, benchmark and screenshots: build revisions of the
bundled forms and sign a client in. Never imported by the server itself."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from forms import FORMS_DIR
from forms.samples import sample_diaspora_interview, sample_household, sample_site_check


def _bundled_version(form_id: str) -> str:
    """The version in a bundled workbook's settings sheet, read without loading the form: a
    revision of another version is refused, so tests follow the workbook."""
    import openpyxl

    workbook = openpyxl.load_workbook(FORMS_DIR / f"{form_id}.xlsx", read_only=True)
    try:
        rows = workbook["settings"].iter_rows(max_row=2, values_only=True)
        header, values = next(rows), next(rows)
    finally:
        workbook.close()
    return str(dict(zip(header, values, strict=False))["version"])


FORM_VERSIONS = {
    form_id: _bundled_version(form_id)
    for form_id in ("household_registration", "site_check", "diaspora_mapping")
}
FORM_VERSION = FORM_VERSIONS["household_registration"]


def revision(
    device_id: str,
    answers: dict[str, Any],
    *,
    form_id: str = "household_registration",
    record_id: str | None = None,
    parent: str | None = None,
    hlc_ms: int | None = None,
    form_version: str | None = None,
) -> dict[str, Any]:
    """A revision as a tablet sends it (of the bundled form's version unless told)."""
    ms = hlc_ms if hlc_ms is not None else int(time.time() * 1000)
    return {
        "revision_id": str(uuid.uuid4()),
        "record_id": record_id or str(uuid.uuid4()),
        "parent_revision_id": parent,
        "form_id": form_id,
        "form_version": form_version or FORM_VERSIONS[form_id],
        "device_id": device_id,
        "hlc": f"{ms:015d}-00000-{device_id}",
        "created_at": "2026-11-20T09:30:00Z",
        "answers": answers,
    }


def household(seed: int, *, site_id: str = "MOZ-ZAM-0001", **changes: Any) -> dict[str, Any]:
    answers = sample_household(seed, site_id=site_id)
    answers.update(changes)
    return answers


def site_check(seed: int, *, site_id: str, latrines: int, individuals: int = 480) -> dict:
    return sample_site_check(seed, latrines=latrines, individuals=individuals, site_id=site_id)


def diaspora(seed: int, **changes: Any) -> dict[str, Any]:
    answers = sample_diaspora_interview(seed)
    answers.update(changes)
    return answers


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if not found:
        raise AssertionError("no CSRF token on the page")
    return found.group(1)


def sign_in(client: Any, username: str, password: str) -> Any:
    """Sign an httpx/requests-like client in through the real form; returns the answer."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": password,
              "next": "/"},
        follow_redirects=False,
    )  # fmt: skip
