"""Layer 1: what the tablet (`fieldapp`) and the server (`sync_server`) must agree on.

- `protocol`   the wire models and limits, one definition used by both sides
- `hlc`        the hybrid logical clock that orders edits across devices
- `merge`      the three-way merge of concurrent edits (pure functions)
- `transport`  the retrying HTTP transport and the sync exception tree
- `sqlite`     the SQLite migration runner
- `dedup`      probable-duplicate households: one engine for the server, tablet and CLI
- `throttle`   a throttling TCP proxy (a 2G link) for tests and benchmarks only
- `arguments`  the command-line parser of both programs: an error is one sentence

`sync_core` imports only `forms` (layer 0) and libraries; never `fieldapp` or `sync_server`.
See docs/architecture.md.
"""
