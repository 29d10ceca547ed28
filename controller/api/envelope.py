"""The success and error envelopes, and the one place where exceptions become HTTP answers."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from controller.errors import ApiError, CouldNotValidate, InvalidPagination, MethodNotAllowed, NotFound, Unhandled

log = logging.getLogger("controller.api")

ERROR_META = {"apiEnrollmentVersion": "0.0.1", "apiVersion": "0.0.1"}


class JsonResponse(Response):
    """JSON with the exact content type `application/json` (the Go SDK takes anything else for PEM)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, separators=(",", ":"), ensure_ascii=False)
        try:
            return text.encode()
        except UnicodeEncodeError:  # a lone surrogate echoed from input: \u-escape it instead of failing
            return json.dumps(content, separators=(",", ":"), ensure_ascii=True).encode()


def ok(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"data": data, "meta": {}}, status_code=status, headers=headers)


def empty() -> JsonResponse:
    return ok({})


def created(entity_id: str, collection: str, *, status: int = 201) -> JsonResponse:
    return ok({"id": entity_id, "_links": {"self": {"href": f"./{collection}/{entity_id}"}}}, status=status)


def listing(items: list[Any], *, limit: int, offset: int, total: int) -> JsonResponse:
    return JsonResponse({"data": items, "meta": {"pagination": {"limit": limit, "offset": offset, "totalCount": total}}})


def error_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message, "requestId": str(uuid.uuid4())}
    if error.cause:
        body["cause"] = error.cause
    return {"error": body, "meta": ERROR_META}


def error_response(error: ApiError) -> JsonResponse:
    return JsonResponse(error_body(error), status_code=error.status)


def _validation_error(exc: RequestValidationError) -> ApiError:
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(location) or "(root)"
    value = first.get("input")
    if not isinstance(value, (str, int, float, bool, type(None), list, dict)):
        value = None
    reason = first.get("msg", "invalid value")
    if first.get("type") == "missing":
        reason = f"{field} is required"
        value = None
    if tuple(first.get("loc", ())) in (("query", "limit"), ("query", "offset")):
        return InvalidPagination(cause={"field": field, "reason": reason, "value": value})
    return CouldNotValidate(cause={"field": field, "reason": reason, "value": value})


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at this path (Starlette's own 405 names only the first route's)."""
    table = getattr(app.state, "route_methods", None)
    if table is None:
        from fastapi import routing
        from starlette.routing import compile_path

        contexts = routing.iter_route_contexts(app.routes)
        table = app.state.route_methods = [
            (compile_path(c.path)[0], c.methods or set()) for c in contexts if getattr(c, "path", None)
        ]
    methods = {m for regex, route_methods in table if regex.match(path) for m in route_methods}
    return sorted(methods)


# go-openapi's validation codes, which the real controller sends as the HTTP status (ZITI_SIM_COMPAT_OPENAPI_VALIDATION_STATUS).
_OPENAPI_CODES = {"missing": 602, "string_too_long": 603, "too_long": 611, "string_too_short": 604, "too_short": 612,
                  "string_pattern_mismatch": 605, "literal_error": 606, "enum": 606, "multiple_of": 607,
                  "less_than_equal": 608, "less_than": 608, "greater_than_equal": 609, "greater_than": 609}


def openapi_status(exc: RequestValidationError) -> int:
    first = exc.errors()[0] if exc.errors() else {}
    return _OPENAPI_CODES.get(first.get("type", ""), 601)


def install_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        error = _validation_error(exc)
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None and runtime.settings.compat_openapi_validation_status:
            error.status = openapi_status(exc)
        return error_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(NotFound())
        if exc.status_code == 405:
            response = error_response(MethodNotAllowed())
            response.headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
            return response
        return error_response(ApiError(str(exc.detail), status=exc.status_code))

    app.add_middleware(UnhandledErrorMiddleware)


class UnhandledErrorMiddleware:
    """Answers any unexpected exception with 500 UNHANDLED (no internals) and logs it once. Starlette's own
    handler for Exception re-raises after answering, which makes the server log every failure twice."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except DataError:
            # A value the database refuses for its column (too long, out of range): the input's fault. The
            # transaction is already rolled back. Schemas bound what they can; this keeps any gap a 400.
            if started:
                raise
            error = CouldNotValidate(cause={"field": "(body)", "reason": "a value does not fit the database", "value": None})
            await error_response(error)(scope, receive, send)
        except Exception as exc:
            # Log the type and location, never the request body: it may carry passwords or keys.
            log.error("unhandled %s on %s %s", type(exc).__name__, scope["method"], scope["path"], exc_info=exc)
            if started:
                raise
            response = error_response(Unhandled())
            await response(scope, receive, send)
