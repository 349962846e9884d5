"""GET /health: liveness, no token needed."""

from fastapi import APIRouter

from sync_core.protocol import PROTOCOL_VERSION, Health
from sync_server.routes.deps import Context

router = APIRouter(tags=["server"])


@router.get("/health", response_model=Health)
def health(ctx: Context) -> Health:
    """Liveness; no token needed."""
    return Health(status="ok", server_id=ctx.db.server_id, protocol=PROTOCOL_VERSION)
