"""The HTTP API, one thin router per area; `create_app` includes them all.

    health    GET  /health                              liveness, server id
    enroll    POST /api/v1/enroll                       one-time code + device id -> token
    sync      POST /api/v1/push                         a gzip batch of revisions -> status of each
              POST /api/v1/push/status                  which of these revision ids do you hold?
              GET  /api/v1/pull?cursor=&limit=          others' revisions in my scope, forms, sites
              POST /api/v1/state                        is my copy in sync, or must I resync?
    forms     GET  /api/v1/forms                        published forms and versions
              GET  /api/v1/forms/{form_id}/{version}    the form file
    review    GET  /api/v1/records/{record_id}          a record's merged state
              GET  /api/v1/conflicts                    conflicts for review (coordinators)
              POST /api/v1/conflicts/{id}/resolve       a coordinator's decision (coordinators)
    duplicates GET  /api/v1/duplicates                  probable duplicate households (coordinators)
              POST /api/v1/duplicates/{id}/confirm|dismiss|reopen   a coordinator's decision
              GET  /api/v1/duplicates/{id}/audit        the decisions on a pair (ids only)
    devices   POST /api/v1/device-report                a tablet's app version, outbox, clock
    exports   GET  /api/v1/exports/{form_id}?format=    an export file (coordinators)
    media     GET  /api/v1/media/{record_id}/{name}/status  bytes of a record's file held
              PUT  /api/v1/media/{record_id}/{name}     one chunk (octet-stream), resumable
              GET  /api/v1/media/{record_id}/{name}     the file, within your scope

A router reads the request, calls the domain modules (`auth`, `records`, `catalog`,
`ingest`) and shapes the answer; it decides no HTTP status itself beyond raising a
`Problem` (`sync_server.problems`).
"""

from sync_server.routes import (
    devices,
    duplicates,
    enroll,
    exports,
    forms,
    health,
    media,
    review,
    sync,
)

ROUTERS = [
    health.router,
    enroll.router,
    sync.router,
    forms.router,
    review.router,
    duplicates.router,
    devices.router,
    exports.router,
    media.router,
]

__all__ = ["ROUTERS"]
