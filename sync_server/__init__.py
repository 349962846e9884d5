"""The district sync server: merges uploads from offline tablets, flags conflicts, forwards.

    from sync_server import create_app
    app = create_app("sync-data")          # or: sync-server serve --data-dir sync-data

Layer 2 (docs/architecture.md): imports `sync_core` and `forms`, never `fieldapp`.

Modules: `app` (create_app: the app factory), `routes/` (one thin router per area),
`problems` (the one error type and its code catalogue), `ingest` (upload checks),
`ownership` (a record's stored scope, lineage and form: which revisions may join its
history), `guards` (JSON bodies only; the enroll throttle), `records`
(storing batches, merged records, pulls, conflicts), `db` (schema and the single writer),
`auth` (enrollment codes, tokens, scope), `catalog` (published forms, sites), `validation`
(the worker processes), `forward` (to the national server), `cli` (the `sync-server`
command), `testing` (a real server process for tests and benchmarks), `workspace` (the
coordinator's web pages at `/`).

`create_app` is imported on first use, so `sync-server` commands that don't serve HTTP
start without loading FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync_server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from sync_server.app import create_app

        return create_app
    raise AttributeError(f"module 'sync_server' has no attribute {name!r}")
