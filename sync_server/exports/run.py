"""One export from start to finish: check, snapshot, write to a temporary file, rename,
audit. The CLI and the HTTP endpoint both call `export()`."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from shapely.geometry import mapping

from forms import Form, load_form
from forms.geo import Gazetteer, default_gazetteer
from forms.standards import Thresholds, assess, load_thresholds
from sync_server.auth import Principal, iso, now_utc
from sync_server.db import Database
from sync_server.exports import query
from sync_server.exports.options import (
    BadOptions,
    ExportOptions,
    ExportSummary,
    OutOfScope,
    UnknownForm,
)
from sync_server.exports.query import Snapshot, effective_district
from sync_server.exports.tables import (
    HOUSEHOLD_ID,
    Layout,
    Pseudonymiser,
    RecordContext,
    build_layout,
    parse_point,
    record_rows,
)
from sync_server.exports.writers import WRITERS, TooManyRows

log = logging.getLogger("sync_server.exports")

Progress = Callable[[int, int], None]
SUMMARY_TABLE = "summary_by_site"


class Prepared:
    """An export that passed its checks, with its snapshot open: `write()` it once to a
    sink, or `close()` it. Everything a person can get wrong was refused before this
    exists, so a download's status line is decided before its first byte."""

    def __init__(
        self,
        db: Database,
        options: ExportOptions,
        principal: Principal | None,
        gazetteer: Gazetteer,
        thresholds: Thresholds | None,
    ):
        self.db = db
        self.options = options
        self.principal = principal
        self.gazetteer = gazetteer
        self.thresholds = thresholds
        self.snapshot = Snapshot(db.path)
        try:
            forms = _forms(self.snapshot, db.data_dir, options.form_id)
            self.layout = build_layout(
                forms,
                labels=options.labels,
                language=options.language,
                shareable=options.shareable,
                threshold=options.threshold,
                every_revision=options.every_revision,
                codes_for_code_tags=options.format == "hxl",
            )
            self.pseudonym = Pseudonymiser(self.snapshot.secret() if options.shareable else None)
            self.total = self.snapshot.count(options, principal)
        except BaseException:
            self.snapshot.close()
            raise

    def write(
        self, sink: BinaryIO, spool_dir: Path, progress: Progress | None = None
    ) -> ExportSummary:
        """Write the whole export to `sink` (any binary stream, seekable or not), then
        close the snapshot. Temporary tables go to `spool_dir` and are removed."""
        options = self.options
        summary = ExportSummary("", options.format, options.form_id, shareable=options.shareable)
        writer = WRITERS[options.format](sink, spool_dir, self.layout)
        try:
            _write_records(
                self.snapshot, writer, self.layout, options, self.principal, self.pseudonym,
                self.gazetteer, summary, self.total, progress,
            )  # fmt: skip
            if not options.every_revision and options.format in ("csvzip", "xlsx"):
                headers, rows = _site_summary(summary.site_counts, self.layout, options)
                writer.add_table(SUMMARY_TABLE, headers, rows)
            if options.format == "geojson":
                writer.add_features(
                    _site_features(
                        self.snapshot, options, self.principal, self.gazetteer, self.thresholds
                    )
                )
            writer.close()
        except BaseException as error:
            writer.abort()
            if isinstance(error, TooManyRows):
                raise BadOptions(str(error), where="format") from None
            raise
        finally:
            self.snapshot.close()
        return summary

    def close(self) -> None:
        self.snapshot.close()

    def audit(self, summary: ExportSummary | None, outcome: str = "ok") -> None:
        _audit(self.db, self.options, self.principal, summary, outcome)


def prepare(
    db: Database,
    options: ExportOptions,
    *,
    principal: Principal | None = None,
    gazetteer: Gazetteer | None = None,
    thresholds: Thresholds | None = None,
) -> Prepared:
    """Check the request and open its snapshot; an ExportError when it is wrong."""
    options.check()
    check_scope(options, principal)
    return Prepared(db, options, principal, gazetteer or default_gazetteer(), thresholds)


def export(
    db: Database,
    options: ExportOptions,
    out: Path,
    *,
    principal: Principal | None = None,
    progress: Progress | None = None,
    gazetteer: Gazetteer | None = None,
    thresholds: Thresholds | None = None,
) -> ExportSummary:
    """Write the export asked for by `options` to `out` and record it in the audit log.

    `principal` is the account asking (None: the server's administrator at the command
    line, who may export any district). A full export (`shareable=False`) needs a
    coordinator account. `progress(done, total)` is called after every page of records.
    Raises an ExportError before anything is written when the request is wrong; on any
    failure `out` is left as it was (the export is written to a temporary file and renamed).
    """
    options.check()
    check_scope(options, principal)
    out = Path(out)
    if not out.parent.is_dir():
        raise BadOptions(f"The folder {out.parent} does not exist.", where="out")
    prepared = prepare(db, options, principal=principal, gazetteer=gazetteer, thresholds=thresholds)
    part = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        with open(part, "wb") as sink:
            summary = prepared.write(sink, out.parent, progress)
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    summary.path = str(out)
    prepared.audit(summary)
    log.info(
        "export %s of %s: %d record(s), %s",
        options.format,
        options.form_id,
        summary.records,
        "shareable" if options.shareable else "full",
    )
    return summary


def check_scope(options: ExportOptions, principal: Principal | None) -> None:
    """403-class errors: who may export what."""
    if principal is None:
        if not options.shareable:
            raise OutOfScope(
                "A full export (with personal data) needs a coordinator account: give its "
                "token (sync-server coordinator makes one).",
                where="token",
            )
        return
    if principal.role != "coordinator":
        raise OutOfScope("Only coordinator accounts can export records.", where="token")
    if principal.is_national:
        return
    if options.district and options.district != principal.district:
        raise OutOfScope(
            f"District {options.district} is outside your scope (district "
            f"{principal.district}): export your own district, or ask that district's "
            "coordinator.",
            where="district",
        )
    if options.site_id and principal.sites and options.site_id not in principal.sites:
        raise OutOfScope(f"Site {options.site_id} is outside your scope.", where="site")


@functools.lru_cache(maxsize=32)
def _load(path: str) -> Form:
    return load_form(path)


def _forms(snapshot: Snapshot, data_dir: Path, form_id: str) -> list[Form]:
    files = snapshot.form_files(form_id)
    if not files:
        known = ", ".join(snapshot.form_ids()) or "none"
        raise UnknownForm(
            f"Form {form_id!r} is not published on this server (published: {known}).",
            where="form",
        )
    return [_load(str(data_dir / "forms" / file_name)) for _, file_name in files]


def _write_records(
    snapshot: Snapshot,
    writer: Any,
    layout: Layout,
    options: ExportOptions,
    principal: Principal | None,
    pseudonym: Pseudonymiser,
    gazetteer: Gazetteer,
    summary: ExportSummary,
    total: int,
    progress: Progress | None,
) -> None:
    centres = {site_id: (site.centre.y, site.centre.x) for site_id, site in gazetteer.sites.items()}
    rows_per_table = {table.name: 0 for table in layout.tables}
    site_counts: dict[tuple[str, str], list[float]] = {}
    done = 0
    if progress:
        progress(0, total)
    for row in snapshot.records(options, principal):
        answers = row.answers()
        record_key = pseudonym("record", row["record_id"])
        context = RecordContext(
            key=record_key,
            form_version=row["form_version"],
            submission_date=row["received_at"],
            status=row.status,
            edits=max(0, row["revision_count"] - 1),
            submitter=row["submitter"] or "",
            device_id=row["device_id"],
            site_centre=centres.get(row["site_id"] or ""),
        )
        if layout.households:
            own = answers.get(HOUSEHOLD_ID)
            household_id = row["linked_household"] or (own if own and isinstance(own, str)
                                                        else row["record_id"])  # fmt: skip
            context.household_id = pseudonym("record", household_id)
        if options.every_revision:
            context.record_key = record_key
            context.key = pseudonym("revision", row["revision_id"])
            parent = row["parent_revision_id"]
            context.parent_revision_key = pseudonym("revision", parent) if parent else ""
            context.revision_origin = row["origin"]
            context.revision_created_at = row["revision_created_at"]
        rows = list(record_rows(layout, answers, context))
        for table, _ in rows:
            rows_per_table[table.name] += 1
        writer.add_record(rows, _point(layout, answers, context))
        counts = site_counts.setdefault(
            (row["district"] or "", row["site_id"] or ""), [0] * (1 + len(layout.count_questions))
        )
        counts[0] += 1
        for index, name in enumerate(layout.count_questions, start=1):
            value = answers.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                counts[index] += value
        done += 1
        if progress and done % query.PAGE_SIZE == 0:  # once a page
            progress(done, total)
    if progress:
        progress(done, total)
    summary.records = done
    summary.rows = rows_per_table
    summary.site_counts = site_counts


def _point(
    layout: Layout, answers: dict[str, Any], context: RecordContext
) -> tuple[float, float] | None:
    if layout.geopoint is None or not answers.get(layout.geopoint):
        return None
    if layout.geopoint_coarse:
        return context.site_centre
    point = parse_point(answers.get(layout.geopoint))
    return (point[0], point[1]) if point else None


def _site_summary(
    site_counts: dict[tuple[str, str], list[float]], layout: Layout, options: ExportOptions
) -> tuple[list[str], list[list[Any]]]:
    """The aggregate table: records and summed people counts per district and site; in a
    shareable export any count below the threshold is written `<5`."""
    headers = ["district", "site_id", "records", *layout.count_questions]
    rows = []
    for (district, site_id), counts in sorted(site_counts.items()):
        cells: list[Any] = []
        for value in counts:
            number = int(value) if float(value).is_integer() else value
            if options.shareable and number < options.threshold:
                cells.append(f"<{options.threshold}")
            else:
                cells.append(number)
        rows.append([district, site_id, *cells])
    return headers, rows


def _site_features(
    snapshot: Snapshot,
    options: ExportOptions,
    principal: Principal | None,
    gazetteer: Gazetteer,
    thresholds: Thresholds | None,
) -> list[dict[str, Any]]:
    """Every site in the export's district (or site) with the Sphere ratings of its latest
    site check (by assessment date)."""
    thresholds = thresholds or load_thresholds()
    district = effective_district(options, principal)
    latest: dict[str, dict[str, Any]] = {}
    for answers in snapshot.site_checks(district, options.site_id):
        site_id = answers.get("site_id")
        if not site_id:
            continue
        date = str(answers.get("assessment_date") or "")
        if site_id not in latest or date >= str(latest[site_id].get("assessment_date") or ""):
            latest[site_id] = answers
    features = []
    for site in gazetteer.sites.values():
        if district and site.district_pcode != district:
            continue
        if options.site_id and site.site_id != options.site_id:
            continue
        properties: dict[str, Any] = {
            "feature_type": "site",
            "site_id": site.site_id,
            "name": site.name,
            "site_type": site.site_type,
            "district": site.district_pcode,
            "opened": site.opened,
            "closed": site.closed,
            "standard": thresholds.title,
            "last_check_date": None,
        }
        check = latest.get(site.site_id)
        if check is not None:
            properties["last_check_date"] = check.get("assessment_date")
            for rating in assess(thresholds, "site_check", check):
                properties[rating.indicator.id] = rating.value
                properties[f"{rating.indicator.id}_rating"] = rating.colour
        features.append(
            {"type": "Feature", "geometry": mapping(site.boundary), "properties": properties}
        )
    return features


def _audit(
    db: Database,
    options: ExportOptions,
    principal: Principal | None,
    summary: ExportSummary | None,
    outcome: str = "ok",
) -> None:
    """Who, when, the options and the number of records; never a name or an answer.
    `outcome` is 'ok', or 'cut' for a download that stopped before its end."""
    details = {**options.audit_details(), "records": summary.records if summary else None}
    account_id = principal.account_id if principal is not None else "command-line"
    moment = iso(now_utc())
    action = "export.shareable" if options.shareable else "export.full"
    text = json.dumps(details, sort_keys=True, ensure_ascii=False)
    # The workspace's audit_log (migration 2): the details JSON is the entry's target.
    db.write(
        lambda conn: conn.execute(
            "INSERT INTO audit_log (at, account_id, action, target, outcome)"
            " VALUES (?, ?, ?, ?, ?)",
            (moment, account_id, action, text, outcome),
        )
    )


def default_file_name(options: ExportOptions, moment: dt.datetime | None = None) -> str:
    """A file name with no personal data in it: form, kind, time."""
    from sync_server.exports.options import FILE_SUFFIX

    stamp = (moment or now_utc()).strftime("%Y%m%dT%H%M%SZ")
    kind = "shareable" if options.shareable else "full"
    return f"{options.form_id}-{kind}-{stamp}{FILE_SUFFIX.get(options.format, '')}"
