"""Exports: a form's merged records out, in the formats the response uses.

    from sync_server.exports import ExportOptions, export
    export(db, ExportOptions("household_registration", format="csvzip"), Path("out.zip"))

- `options`: what is asked (`ExportOptions`) and the errors (`ExportError` tree);
- `tables`: the ODK Central layout of tables and columns, a record's rows (pure);
- `writers`: CSV zip, XLSX, GeoJSON and HXL-tagged CSV, row by row (pure);
- `query`: the SQL, inside one read transaction (a consistent snapshot);
- `run`: one export from start to end: check, snapshot, temporary file, rename, audit;
  `prepare()` does the checks and opens the snapshot for a caller that streams;
- `stream`: a prepared export written by a worker thread into an HTTP response;
- `testing`: seeds a database fast for tests and benchmarks.

The CLI (`sync-server export`) and the HTTP endpoint (`GET /api/v1/exports/{form_id}`,
sync_server/routes/exports.py) are thin layers over `export()`.
"""

from sync_server.exports.options import (
    FILE_SUFFIX,
    FORMATS,
    MEDIA_TYPE,
    STATUSES,
    BadOptions,
    ExportError,
    ExportOptions,
    ExportSummary,
    OutOfScope,
    UnknownForm,
    UnknownFormat,
    parse_date,
)
from sync_server.exports.run import Prepared, check_scope, default_file_name, export, prepare

__all__ = [
    "FILE_SUFFIX",
    "FORMATS",
    "MEDIA_TYPE",
    "STATUSES",
    "BadOptions",
    "ExportError",
    "ExportOptions",
    "ExportSummary",
    "OutOfScope",
    "Prepared",
    "UnknownForm",
    "UnknownFormat",
    "check_scope",
    "default_file_name",
    "export",
    "parse_date",
    "prepare",
]
