"""Pure ASGI middleware: the request id (taken from `X-Request-Id` when the client sends a sane one, else
made up, and returned in `X-Request-Id`), one access-log line per request, and the request metrics.

It sits inside the root alias, so it sees the rewritten path and, once routing is done, the matched route's
template (`scope["route"]`, or the route it would have reached when a fault answered first): metrics are labelled by template, never by raw path, to bound cardinality.
The identity id comes from the request's state (set where the API session is resolved) and the error code
from the error envelope of the answer (bodies of error answers are small and parsed only then).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

access_log = logging.getLogger("controller.access")

HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
APIS = (("/edge/client/v1", "edge-client"), ("/edge/management/v1", "edge-management"), ("/sim/v1", "sim"), ("/ops/v1", "ops"),
        ("/health-checks", "health-checks"), ("/metrics", "metrics"), ("/.well-known", "edge-client"))


def api_of(path: str) -> str:
    return next((name for prefix, name in APIS if path.startswith(prefix)), "other")


class AccessMiddleware:
    def __init__(self, app: Any, metrics: Any = None, level: int = logging.INFO, resolve: Any = None):
        # resolve(scope) -> template or None: the route a request answered before routing (by a fault rule)
        # would have reached
        self.app, self.metrics, self.level, self.resolve = app, metrics, level, resolve

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = next((v for k, v in scope["headers"] if k == HEADER), None)
        request_id = given.decode() if given is not None and _SANE_ID.fullmatch(given) else str(uuid.uuid4())
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status, error_body = 500, bytearray()

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            elif message["type"] == "http.response.body" and status >= 400 and len(error_body) < 8192:
                error_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or (self.resolve(scope) if self.resolve else None) or "unmatched"
            api = api_of(scope["path"])
            if self.metrics is not None:
                self.metrics.observe_request(api, scope["method"], template, status, elapsed)
            if access_log.isEnabledFor(self.level):
                access_log.log(self.level, "%s %s %d", scope["method"], template, status, extra={
                    "requestId": request_id, "method": scope["method"], "route": template, "api": api, "status": status,
                    "durationMs": round(elapsed * 1000, 3), "identityId": state.get("identity_id"),
                    "errorCode": _error_code(error_body) if status >= 400 else None,
                })


def route_resolver(mounted: list[tuple[str, list[Any]]]) -> Any:
    """A `resolve` for AccessMiddleware over (prefix, routers): the template of the route that fully matches."""
    from starlette.routing import Match

    def resolve(scope: dict[str, Any]) -> str | None:
        for prefix, routers in mounted:
            if scope["path"].startswith(prefix + "/"):
                inner = {**scope, "path": scope["path"][len(prefix):], "root_path": ""}
                for router in routers:
                    for route in router.routes:
                        if route.matches(inner)[0] is Match.FULL:
                            return getattr(route, "path", None)
        return None

    return resolve


def _error_code(body: bytearray) -> str | None:
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
