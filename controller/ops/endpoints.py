"""Routes of the health-checks API (served at the root, outside the client API alias, in every mode)."""

from __future__ import annotations

from fastapi import Request

from controller.api.deps import AdminSession, DbSession, ListPage, Now
from controller.api.envelope import JsonResponse, listing
from controller.api.routing import deferred_router
from controller.durations import parse_duration
from controller.errors import CouldNotValidate
from controller.ops import expiry

router = deferred_router()


def _answer(data: dict, healthy: bool) -> JsonResponse:
    return JsonResponse({"data": data, "meta": {}}, status_code=200 if healthy else 503)


@router.get("/health-checks", operation_id="healthChecks", summary="Every check of this replica; 503 when one fails")
def health_checks(request: Request):
    report = request.app.state.health.run()
    return _answer(report, report["healthy"])


@router.get("/health-checks/live", operation_id="healthLive", summary="The process answers (no dependency checked)")
async def live(request: Request):
    return _answer({"live": True, "instanceId": request.app.state.runtime.instance_id}, True)


@router.get("/health-checks/ready", operation_id="healthReady",
            summary="Serving, migrated and the database answers; 503 while starting or stopping")
def ready(request: Request):
    phase = request.app.state.lifecycle.phase
    report = request.app.state.health.run() if phase == "serving" else {"healthy": False, "checks": []}
    is_ready = phase == "serving" and report["healthy"]
    return _answer({"ready": is_ready, "phase": phase, "checks": report["checks"]}, is_ready)

# --- /ops/v1 (admin session): certificates expiring soon; no Edge API has this list (README "Running a lab")

management = deferred_router()


@management.get("/expiring-certificates", operation_id="listExpiringCertificates",
                summary="Identity and router certificates whose NotAfter is within `within` (default 30d) of now")
def list_expiring_certificates(db: DbSession, now: Now, page: ListPage, _admin: AdminSession,
                               within: str = "30d", type: str | None = None):  # noqa: A002 - the wire name
    try:
        window = parse_duration(within)
    except (ValueError, TypeError):
        raise CouldNotValidate.for_field("within", "expected a duration such as 7d, 12h or 3600", within) from None
    if type not in (None, "identity", "router"):
        raise CouldNotValidate.for_field("type", "expected identity or router", type)
    found = expiry.expiring(db, now=now, within=window, kind=type)
    items = [c.to_wire(now) for c in found[page.offset: page.offset + page.limit]]
    return listing(items, limit=page.limit, offset=page.offset, total=len(found))
