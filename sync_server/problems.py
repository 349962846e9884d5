"""One problem type for every error the server answers with, and its code catalogue.

Like ODK Central's `Problem`: the code says what kind of failure it is, the catalogue says
which HTTP status each code has, and `install()` turns every problem into the same JSON body
in one place. Domain modules (`auth`, `records`, `ingest`) raise `Problem`s too, so no other
module decides an HTTP status.

    Problem                 a request the server refuses: code, status, message, problems
    ├── auth.EnrollmentError   an enrollment code that can't be used
    ├── records.ResolveError   a conflict decision that can't be applied
    └── duplicates.DecisionError  a duplicate-pair decision that can't be applied

Every body is `{"error": code, "message": ..., "problems": [...]}` (`ErrorBody`). The
catalogue below is the table in docs/sync-protocol.md ("Errors"); a test keeps them equal.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from forms.paths import format_path
from sync_core.protocol import ErrorBody

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

# FastAPI is imported inside the functions that answer requests: `auth` and `records` raise
# problems, and the `sync-server` commands that use them start without loading the web stack.

__all__ = ["CATALOGUE", "Problem", "install", "problems_from_pydantic"]

log = logging.getLogger("sync_server")

# (status, code): when. A code may appear with two statuses ("revoked": a token, or an
# enrollment code); then whoever raises it says which.
CATALOGUE: dict[tuple[int, str], str] = {
    (400, "bad-json"): "the body isn't JSON",
    (400, "bad-gzip"): "the body isn't valid gzip",
    (400, "disconnected"): "the upload was cut off",
    (401, "auth"): "no or unknown token",
    (401, "revoked"): "a revoked device",
    (403, "out-of-scope"): "outside the account's district or sites",
    (403, "wrong-device"): "a batch in another device's name",
    (403, "forbidden"): "a role that may not",
    (403, "expired"): "enrollment refused: the code expired",
    (403, "unknown-code"): "enrollment refused: no such code",
    (403, "revoked"): "enrollment refused: the code was revoked",
    (404, "not-found"): "nothing there in your scope",
    (404, "unknown-form"): "that form version is not published",
    (404, "unknown-attachment"): "the form has no attachment of that name",
    (405, "method-not-allowed"): "that method is not offered at that address",
    (409, "used"): "the code enrolled another tablet",
    (409, "device-id-taken"): "another account already has that device id",
    (409, "already-resolved"): "the conflict is decided",
    (409, "already-decided"): "the duplicate pair is decided; reopen it first",
    (409, "not-decided"): "the duplicate pair is open already",
    (409, "offset"): "a media chunk that doesn't start where the server's copy ends "
    "(`problems[0].message` is the server's offset)",
    (413, "too-large"): "over the size limits",
    (415, "encoding"): "a Content-Encoding other than gzip",
    (415, "content-type"): "a body that isn't `application/json` (a media chunk: "
    "`application/octet-stream`)",
    (415, "media-type"): "a record file of a type the server doesn't accept",
    (422, "invalid"): "the request doesn't match the protocol (`problems[].where` points at "
    "the field)",
    (422, "checksum"): "a media chunk or file that doesn't match its sha256",
    (422, "not-a-side"): "the chosen revision is not one side of the conflict",
    (422, "wrong-fields"): "a field-by-field decision that doesn't name exactly the "
    "conflict's fields",
    (429, "rate-limited"): "too many failed enrollments; wait `Retry-After` seconds",
    (422, "unknown-format"): "an export format other than csvzip, xlsx, geojson, hxl",
    (422, "bad-options"): "export options that can't be met (a date range ending before it "
    "starts, a full export without a purpose)",
    (500, "internal"): "the server failed; nothing was stored from the request",
}
_STATUSES: dict[str, list[int]] = {}
for _status, _code in CATALOGUE:
    _STATUSES.setdefault(_code, []).append(_status)


class Problem(Exception):
    """A request the server refuses: becomes an `ErrorBody` with the catalogue's status.

    `status` is needed only for a code listed with two statuses. `problems` point at what
    to fix (`{"where": ..., "message": ...}` or `{"revision_id": ..., "message": ...}`).
    """

    def __init__(
        self,
        code: str,
        message: str,
        problems: list[dict[str, Any]] | None = None,
        *,
        status: int | None = None,
    ):
        statuses = _STATUSES.get(code)
        if statuses is None:
            raise ValueError(f"error code {code!r} is not in the catalogue (sync_server.problems)")
        if status is None:
            if len(statuses) > 1:
                raise ValueError(f"error code {code!r} needs a status: one of {statuses}")
            status = statuses[0]
        elif status not in statuses:
            raise ValueError(f"error code {code!r} has status {statuses}, not {status}")
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.problems = problems or []

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        from fastapi.responses import JSONResponse

        body = ErrorBody(error=self.code, message=self.message, problems=self.problems)
        headers = dict(headers or {})
        if self.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(body.model_dump(), status_code=self.status, headers=headers or None)


def problems_from_pydantic(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as {where, message}; never the input value (it may be personal)."""
    return [
        {
            "where": format_path(part for part in error.get("loc", ()) if part != "body"),
            "message": error.get("msg", "invalid"),
        }
        for error in errors
    ]


# Statuses the framework itself answers with (routing), coded for clients.
_FRAMEWORK_CODES = {404: "not-found", 405: "method-not-allowed"}


def install(app: FastAPI) -> None:
    """Make every error of `app` an `ErrorBody`: problems, bad requests, routing, crashes."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(Problem)
    async def problem(request: Request, error: Problem) -> JSONResponse:
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return Problem(
                "bad-json", "The request body is not valid JSON.", problems_from_pydantic(errors)
            ).response()
        return Problem(
            "invalid", "The request does not match the protocol.", problems_from_pydantic(errors)
        ).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _FRAMEWORK_CODES.get(error.status_code, "http")
        body = ErrorBody(error=code, message=str(error.detail))
        headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
        return JSONResponse(body.model_dump(), status_code=error.status_code, headers=headers)

    @app.exception_handler(UnicodeEncodeError)
    async def unencodable(request: Request, error: UnicodeEncodeError) -> JSONResponse:
        # JSON may carry "\\ud800" (an unpaired surrogate): no character, can't be stored.
        return Problem(
            "invalid",
            "The request holds text that is not valid Unicode (an unpaired surrogate); "
            "nothing was stored.",
        ).response()

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # The type only: an exception's text can quote data.
        log.error("unexpected %s on %s %s", type(error).__name__, request.method, request.url.path)
        return JSONResponse(
            ErrorBody(
                error="internal",
                message="The server failed on this request; nothing was stored from it. "
                "Try again later; if it persists, give the server log to the administrator.",
            ).model_dump(),
            status_code=500,
        )
