"""POST /api/v1/enroll: a one-time code becomes a device's token."""

import asyncio
import logging

from fastapi import APIRouter

from sync_core.protocol import API_PREFIX, EnrollRequest, EnrollResponse
from sync_server import auth
from sync_server.routes.deps import Context

log = logging.getLogger("sync_server")

router = APIRouter(prefix=API_PREFIX, tags=["enrollment"])


@router.post("/enroll", response_model=EnrollResponse)
async def enroll(body: EnrollRequest, ctx: Context) -> EnrollResponse:
    """Trade a one-time enrollment code for a long-lived token bound to this device."""
    token, who = await asyncio.wrap_future(
        ctx.db.submit(lambda conn: auth.redeem_code(conn, body.code, body.device_id))
    )
    log.info("enrolled %s account %s", who.role, who.account_id)
    return EnrollResponse(
        token=token,
        device_id=who.account_id,
        role=who.role,
        district=who.district,
        sites=list(who.sites),
        server_id=ctx.db.server_id,
    )
