"""`GET /metrics`: the Prometheus text exposition (no session, like a real exporter; nothing secret in it)."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from controller.api.routing import deferred_router
from controller.metrics import CONTENT_TYPE

router = deferred_router()


@router.get("/metrics", operation_id="metrics", summary="Prometheus text format", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
