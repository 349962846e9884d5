"""The dependencies routers declare: the server context and who is calling."""

# No `from __future__ import annotations`: FastAPI reads these annotations at import time.
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sync_server import auth
from sync_server.auth import Principal
from sync_server.context import ServerContext
from sync_server.problems import Problem

bearer = HTTPBearer(
    auto_error=False,
    description="The token from POST /api/v1/enroll (devices) or `sync-server "
    "coordinator` (coordinators).",
)


def context(request: Request) -> ServerContext:
    return request.app.state.context


Context = Annotated[ServerContext, Depends(context)]


def principal(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Problem(
            "auth",
            "Missing 'Authorization: Bearer <token>' header. Enroll this device with a "
            "code from your supervisor first.",
        )
    with ctx.db.read() as conn:
        found = auth.principal_for_token(conn, credentials.credentials)
    if found == "revoked":
        raise Problem(
            "revoked",
            "This device's access was revoked. Ask your supervisor for a new enrollment "
            "code; records saved on the tablet are kept.",
            status=401,
        )
    if not isinstance(found, Principal):
        raise Problem(
            "auth",
            "Unknown token. Enroll this device again with a new code from your supervisor.",
        )
    return found


Caller = Annotated[Principal, Depends(principal)]


def coordinator(who: Caller) -> Principal:
    if who.role != "coordinator":
        raise Problem("forbidden", "Only coordinator accounts can review conflicts.")
    return who


Coordinator = Annotated[Principal, Depends(coordinator)]
