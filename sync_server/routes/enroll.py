"""POST /api/v1/enroll: a one-time code becomes a device's token.

Failed attempts drain the enroll throttle (per client address and in total, `429` with
`Retry-After` while it is spent) and are written to the audit table with a keyed hash of
the address, never the address, the code tried or a name.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at import time.
import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Request, Security
from fastapi.security import HTTPAuthorizationCredentials

from sync_core.protocol import API_PREFIX, EnrollRequest, EnrollResponse, ErrorBody
from sync_server import auth, guards
from sync_server.problems import Problem
from sync_server.routes.deps import Context, bearer

log = logging.getLogger("sync_server")

router = APIRouter(prefix=API_PREFIX, tags=["enrollment"])


@router.post(
    "/enroll",
    response_model=EnrollResponse,
    responses={429: {"model": ErrorBody, "description": "too many failed attempts"}},
)
async def enroll(
    body: EnrollRequest,
    request: Request,
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Any:
    """Trade a one-time enrollment code for a long-lived token bound to this device.

    A tablet already enrolled here sends its current token too: that proves the device
    id is its own, and a new code then re-enrolls it (another district or enumerator).
    """
    address = request.client.host if request.client else "unknown"
    wait = ctx.enroll_throttle.retry_after(address)
    if wait:
        return Problem(
            "rate-limited",
            f"Too many failed enrollment attempts; try again in {wait} s. Check the code "
            "with your supervisor.",
        ).response(headers={"Retry-After": str(wait)})
    current = credentials.credentials if credentials else None
    try:
        token, who = await asyncio.wrap_future(
            ctx.db.submit(lambda conn: auth.redeem_code(conn, body.code, body.device_id, current))
        )
    except auth.EnrollmentError as error:
        ctx.enroll_throttle.failed(address)
        source = guards.address_tag(ctx.audit_secret, address)
        code = error.code
        await asyncio.wrap_future(
            ctx.db.submit(
                lambda conn: conn.execute(
                    "INSERT INTO audit_log (at, action, target, outcome)"
                    " VALUES (?, 'enroll.failed', ?, ?)",
                    (auth.iso(auth.now_utc()), source, code),
                )
            )
        )
        log.warning("enrollment refused (%s) from source %s", code, source)
        raise
    log.info("enrolled %s account %s", who.role, who.account_id)
    return EnrollResponse(
        token=token,
        device_id=who.account_id,
        role=who.role,
        district=who.district,
        sites=list(who.sites),
        server_id=ctx.db.server_id,
    )
