"""`POST /api/v1/device-report`: a tablet says how it is, once per sync.

The tablet sends its app version, how many revisions wait in its outbox, and its clock;
the server keeps the last report per device (the clock offset measured against its own
clock, network delay included: a few seconds at worst, which is plenty to spot a tablet
set to the wrong day). The workspace's overview and tablets page show them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sync_server import auth
from sync_server.auth import Principal
from sync_server.db import Database
from sync_server.protocol import API_PREFIX, ErrorBody


class DeviceReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_version: str = Field(max_length=40, pattern=r"^[A-Za-z0-9._+-]*$")
    outbox: int = Field(ge=0, le=10_000_000, description="revisions not yet acknowledged")
    device_time: dt.datetime = Field(description="the tablet's clock, ISO 8601 with offset")


class DeviceReportAnswer(BaseModel):
    clock_offset_s: float = Field(description="device clock minus server clock, seconds")


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        ErrorBody(error=code, message=message).model_dump(), status_code=status, headers=headers
    )


def add_routes(router: APIRouter, db: Database) -> None:
    @router.post(
        f"{API_PREFIX}/device-report",
        response_model=DeviceReportAnswer,
        tags=["sync"],
        responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
    )
    async def device_report(
        body: DeviceReport, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        """What a tablet reports about itself after a sync: app version, outbox, clock."""
        token = (authorization or "").removeprefix("Bearer ").strip()
        with db.read() as conn:
            found = auth.principal_for_token(conn, token) if token else None
        if found == "revoked":
            return _error(401, "revoked", "This device's access was revoked.")
        if not isinstance(found, Principal):
            return _error(401, "auth", "Missing or unknown token.")
        if found.role != "device":
            return _error(403, "forbidden", "Only tablets report their state.")
        moment = auth.now_utc()
        device_time = body.device_time
        if device_time.tzinfo is None:
            device_time = device_time.replace(tzinfo=dt.UTC)
        offset = round((device_time - moment).total_seconds(), 1)
        await asyncio.wrap_future(
            db.submit(
                lambda conn: conn.execute(
                    "INSERT INTO device_reports (account_id, app_version, outbox, "
                    "clock_offset_s, reported_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (account_id) DO UPDATE SET app_version = excluded.app_version, "
                    "outbox = excluded.outbox, clock_offset_s = excluded.clock_offset_s, "
                    "reported_at = excluded.reported_at",
                    (found.account_id, body.app_version, body.outbox, offset, auth.iso(moment)),
                )
            )
        )
        return JSONResponse({"clock_offset_s": offset})
