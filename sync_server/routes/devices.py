"""What a tablet says about itself after a sync (shown in the coordinator workspace).

    POST /api/v1/device-report    app version, outbox size, device clock -> clock offset

The server keeps the last report per device; the clock offset is measured against the
server's clock, network delay included (a few seconds at worst, plenty to spot a tablet
set to the wrong day).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at import time.
import asyncio
import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from sync_core.protocol import API_PREFIX
from sync_server import auth
from sync_server.problems import Problem
from sync_server.routes.deps import Caller, Context

router = APIRouter(tags=["sync"])


class DeviceReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_version: str = Field(max_length=40, pattern=r"^[A-Za-z0-9._+-]*$")
    outbox: int = Field(ge=0, le=10_000_000, description="revisions not yet acknowledged")
    device_time: dt.datetime = Field(description="the tablet's clock, ISO 8601 with offset")


class DeviceReportAnswer(BaseModel):
    clock_offset_s: float = Field(description="device clock minus server clock, seconds")


def _save(conn, account_id: str, body: DeviceReport, offset: float, moment: str) -> None:
    conn.execute(
        "INSERT INTO device_reports (account_id, app_version, outbox, clock_offset_s, "
        "reported_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET "
        "app_version = excluded.app_version, outbox = excluded.outbox, "
        "clock_offset_s = excluded.clock_offset_s, reported_at = excluded.reported_at",
        (account_id, body.app_version, body.outbox, offset, moment),
    )


@router.post(f"{API_PREFIX}/device-report", response_model=DeviceReportAnswer)
async def device_report(body: DeviceReport, who: Caller, ctx: Context) -> DeviceReportAnswer:
    """What a tablet reports about itself after a sync: app version, outbox, clock."""
    if who.role != "device":
        raise Problem("forbidden", "Only tablets report their state.")
    moment = auth.now_utc()
    device_time = body.device_time
    if device_time.tzinfo is None:
        device_time = device_time.replace(tzinfo=dt.UTC)
    offset = round((device_time - moment).total_seconds(), 1)
    await asyncio.wrap_future(
        ctx.db.submit(lambda conn: _save(conn, who.account_id, body, offset, auth.iso(moment)))
    )
    return DeviceReportAnswer(clock_offset_s=offset)
