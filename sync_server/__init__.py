"""The district sync server: merges uploads from offline tablets, flags conflicts, forwards.

    from sync_server import create_app
    app = create_app("sync-data")          # or: sync-server serve --data-dir sync-data

Modules: `protocol` (wire models shared with the tablet client), `db` (schema and the single
writer), `merge` (pure three-way merge), `records` (storing batches, merged records, pulls),
`auth` (enrollment codes, tokens, scope), `catalog` (published forms, sites, record scope),
`app` (the HTTP API), `forward` (to the national server), `cli` (the `sync-server` command).
"""

from sync_server.app import create_app

__all__ = ["create_app"]
