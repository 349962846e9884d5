"""Upload checks: from the bytes of a push to revisions ready for the single writer.

`read_body` refuses what is too big before reading it all (and gzip bombs while inflating),
`parse_json` refuses what isn't a JSON object, and `check_batch` validates each revision
against its exact form version (in the validation worker processes) and checks it is inside
the caller's scope. Every refusal is a `Problem` with a code from the catalogue; a revision
that fails validation is not refused but carries its reasons (`records.Incoming.reasons`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import zlib
from typing import Any

from starlette.requests import ClientDisconnect, Request

from forms.validation import rejection_reason
from sync_core.protocol import PushRequest
from sync_server import ownership, records, sites, validation
from sync_server.auth import Principal
from sync_server.catalog import form_files, published_forms
from sync_server.context import ServerContext
from sync_server.problems import Problem

__all__ = ["check_batch", "language", "parse_json", "read_body"]

log = logging.getLogger("sync_server")


async def read_body(request: Request, max_body: int, max_json: int) -> bytes:
    """The request body, decompressed, refusing anything too big before reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body:
        raise _too_large(f"The body is {int(declared)} bytes; the limit is {max_body}.")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("gzip", "identity", ""):
        raise Problem("encoding", f"Content-Encoding {encoding!r} is not supported; use gzip.")
    inflater = zlib.decompressobj(wbits=31) if encoding == "gzip" else None
    received = 0
    out = bytearray()
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body:
                raise _too_large(f"The body is over the limit of {max_body} bytes.")
            if inflater is None:
                out += chunk
            else:
                # max_length bounds the memory a small bomb can claim in one step.
                out += inflater.decompress(chunk, max_json - len(out) + 1)
                if len(out) > max_json or inflater.unconsumed_tail:
                    raise _too_large(
                        f"The body decompresses to more than {max_json} bytes; send smaller "
                        "batches."
                    )
    except zlib.error:
        raise Problem("bad-gzip", "The body is not valid gzip data.") from None
    except ClientDisconnect:
        raise Problem("disconnected", "The upload was cut off; nothing was stored.") from None
    if inflater is not None:
        try:
            out += inflater.flush()
        except zlib.error:
            raise Problem("bad-gzip", "The gzip data is truncated.") from None
        if not inflater.eof:
            raise Problem("bad-gzip", "The gzip data is truncated; nothing was stored.")
    if len(out) > max_json:
        raise _too_large(f"The body is over the limit of {max_json} bytes.")
    return bytes(out)


def _too_large(message: str) -> Problem:
    return Problem("too-large", message + " Nothing was stored.")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def parse_json(raw: bytes) -> Any:
    """The body as a JSON object; NaN and Infinity are refused like any other bad JSON."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise Problem(
            "bad-json", f"The request body is not valid JSON ({error}); nothing was stored."
        ) from None
    if not isinstance(data, dict):
        raise Problem("bad-json", "The request body must be a JSON object.")
    return data


def language(header: str | None) -> str | None:
    """The first language of an Accept-Language header ("pt-MZ,pt;q=0.9" -> "pt"), for
    the messages of rejection reasons; None: the form's default language."""
    if not header:
        return None
    code = header.split(",")[0].split(";")[0].split("-")[0].strip().lower()
    return code if code.isalpha() and len(code) <= 3 else None


def check_batch(
    ctx: ServerContext,
    who: Principal,
    batch: PushRequest,
    revisions_raw: list[dict[str, Any]],
    language: str | None,
) -> tuple[list[records.Incoming], list[dict[str, Any]]]:
    """Validate each revision against its exact form version and check its scope.

    Runs before the writer gets the batch, so the writer only does SQL. Revisions the
    server already holds skip validation: their status is decided by their hash. Returns
    the revisions to store and the ones outside the caller's scope (`out-of-scope`): by
    their answers, or by the scope the server stored for their record (`ownership`).
    Nothing about one revision fails the others: an unexpected error while checking one
    gives it the reason `internal`.
    """
    items: list[records.Incoming] = []
    forbidden: list[dict[str, Any]] = []
    jobs: list[validation.Job] = []
    to_check: list[tuple[records.Incoming, dict[str, str]]] = []
    with ctx.db.read() as conn:
        held = records.revisions_held(conn, (r.revision_id for r in batch.revisions))
        files = form_files(conn, ctx.data_dir)
        live: dict[tuple[str, str], Any] = {}
        for revision, raw in zip(batch.revisions, revisions_raw, strict=True):
            where = {"revision_id": revision.revision_id, "record_id": revision.record_id}
            item: records.Incoming | None = None
            try:
                item = records.incoming(raw)
                problem = _precheck(conn, who, revision, item, held, files)
            except Exception as error:  # one revision's failure stays its own
                log.error("checking revision %s failed: %s", revision.revision_id,
                          type(error).__name__)  # fmt: skip
                item = item or records.Incoming(raw=raw, body="", sha256="")
                item.reasons = [records.INTERNAL]
                items.append(item)
                continue
            items.append(item)
            if problem is not None:
                forbidden.append({**where, "message": problem})
            elif not item.reasons and revision.revision_id not in held:
                created = _parse_time(revision.created_at)
                # Checked against the living site list (sites.csv and positions).
                key = (revision.form_id, revision.form_version)
                if key not in live:
                    live[key] = sites.live_form_dir(ctx.data_dir, files[key], conn)
                form_path = live[key]
                # A new record's deviceid metadata must be the device that made it (an edit
                # on another device keeps the original value, as ODK does).
                device = revision.device_id if revision.parent_revision_id is None else None
                jobs.append((str(form_path), revision.answers, language, created, device))
                to_check.append((item, where))
    outcomes = _validate(ctx, jobs)
    with ctx.db.read() as conn:
        for (item, where), outcome in zip(to_check, outcomes, strict=True):
            if outcome is None:
                item.reasons = [records.INTERNAL]
                continue
            errors, district, site_id = outcome
            if errors is None:
                item.reasons = [_reason("form_version", "This form version can't be loaded.")]
                continue
            item.reasons = errors
            item.district = district or who.district
            item.site_id = site_id
            if errors:
                continue
            if not who.covers(item.district, item.site_id):
                forbidden.append(
                    {
                        **where,
                        "message": f"record is for district {item.district}"
                        + (f", site {item.site_id}" if item.site_id else ""),
                    }
                )
                continue
            # The record's scope is what the server stored for it, not what the revision
            # claims: editing another district's record is refused.
            stored = ownership.scope_problem(conn, who, item.record_id)
            if stored is not None:
                forbidden.append({**where, "message": stored})
    return items, forbidden


def _precheck(
    conn: Any,
    who: Principal,
    revision: Any,
    item: records.Incoming,
    held: set[str],
    files: dict[tuple[str, str], Any],
) -> str | None:
    """Checks before validation: a forbidden revision's message (403 for the batch), or
    None, with `item.reasons` set when the revision alone is refused."""
    if revision.merged_from is not None:
        return "only a server makes merge revisions"
    if who.role == "device" and revision.device_id != who.account_id:
        return f"made by device {revision.device_id}, not by you"
    if revision.revision_id in held or item.reasons:
        return None
    if (revision.form_id, revision.form_version) not in files:
        item.reasons = [_unknown_form(conn, revision.form_id, revision.form_version)]
    elif _parse_time(revision.created_at) is None:
        item.reasons = [_reason("created_at", "created_at is not an ISO 8601 time.")]
    return None


def _validate(ctx: ServerContext, jobs: list[validation.Job]) -> list[Any]:
    """Each job's (errors, district, site_id), or None where validating it failed.

    One batch is spread over the workers: all cores help the tablet waiting for it. A
    part that fails is validated again one job at a time, so only the revision that fails
    is refused."""
    size = max(8, -(-len(jobs) // max(1, validation.worker_count(ctx.validation_workers))))
    parts = [(jobs[i : i + size], ctx.validator.submit(validation.check, jobs[i : i + size]))
             for i in range(0, len(jobs), size)]  # fmt: skip
    outcomes: list[Any] = []
    for chunk, part in parts:
        try:
            outcomes.extend(part.result())
            continue
        except Exception as error:
            log.error("validating a batch part failed: %s", type(error).__name__)
        for job in chunk:
            try:
                outcomes.extend(ctx.validator.submit(validation.check, [job]).result())
            except Exception as error:
                log.error("validating a revision failed: %s", type(error).__name__)
                outcomes.append(None)
    return outcomes


def _unknown_form(conn: Any, form_id: str, version: str) -> dict[str, str]:
    versions = [f.version for f in published_forms(conn) if f.form_id == form_id]
    if versions:
        message = (
            f"Form {form_id!r} version {version!r} is not published on this server "
            f"(published: {', '.join(versions)}). Ask the coordinator to publish that version "
            "(sync-server publish-form)."
        )
    else:
        message = (
            f"Form {form_id!r} is not published on this server. Ask the coordinator to "
            "publish it (sync-server publish-form)."
        )
    return rejection_reason("unknown-form", message, field="form_version")


def _reason(field: str, message: str) -> dict[str, str]:
    return rejection_reason(field, message, field=field)


def _parse_time(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    # The form engine compares with naive local times, as the tablet did.
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment
