"""Our exported OpenAPI documents, one per API as upstream publishes them (client and management share
operations, and so operation ids), plus the simulation API: `openapi/{client,management,sim}.json`,
regenerated with `ziti-controller-sim openapi`."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi import routing
from fastapi.openapi.utils import get_openapi

from controller import __version__
from controller.api.contract import ErrorEnvelope, error_responses
from controller.settings import Settings

EXPORT_DIR = Path(__file__).resolve().parent.parent.parent / "openapi"
DOCUMENTS = {
    "client": ("/edge/client/v1", "ziti-controller-sim Edge client API"),
    "management": ("/edge/management/v1", "ziti-controller-sim Edge management API"),
    "sim": ("/sim/v1", "ziti-controller-sim simulation API (admin only; off in lab mode)"),
}


def openapi_documents() -> dict[str, dict[str, Any]]:
    """Built from the routes of a mock-mode app: no database or PKI needed."""
    from controller.api.app import create_app

    app = create_app(SimpleNamespace(settings=Settings(mode="mock"), instance_id="openapi-export"))  # type: ignore[arg-type]
    # FastAPI >= 0.165 keeps included routers as such in app.routes; iterate the effective routes instead.
    iter_contexts = getattr(routing, "iter_route_contexts", None)
    candidates = list(iter_contexts(app.routes)) if iter_contexts else list(app.routes)
    documents = {}
    for name, (prefix, title) in DOCUMENTS.items():
        routes = [r for r in candidates if (getattr(r, "path", None) or "").startswith(prefix + "/") or getattr(r, "path", None) == prefix]
        document = get_openapi(title=title, version=__version__, routes=routes, servers=[{"url": "https://127.0.0.1:1280"}])
        add_common_errors(document, routes)
        documents[name] = document
    return documents


def _walk(dependant: Any) -> list[Any]:
    found = [dependant]
    for sub in dependant.dependencies:
        found += _walk(sub)
    return found


def common_error_statuses(route: Any) -> list[int]:
    """The error statuses a route sends because of what it takes, whatever it does: 400 for any parameter or
    body (validation), 401 when it needs a session, 404 for a path parameter, 413 for a body."""
    from controller.api.deps import get_current_session

    api_route = getattr(route, "route", route)
    dependant = getattr(api_route, "dependant", None)
    if dependant is None:
        return []
    parts = _walk(dependant)
    path_params = any(d.path_params for d in parts) or "{" in (getattr(route, "path", "") or "")
    query_params = any(d.query_params for d in parts)
    statuses = set()
    has_body = any(d.body_params for d in parts) or "requestBody" in (getattr(api_route, "openapi_extra", None) or {})
    if query_params or path_params or has_body:
        statuses.add(400)
    if any(d.call is get_current_session for d in parts):
        statuses.add(401)
    if path_params:
        statuses.add(404)
    if has_body:
        statuses.add(413)
    return sorted(statuses)


def add_common_errors(document: dict[str, Any], routes: list[Any]) -> None:
    """Replace FastAPI's 422 (never sent: validation errors are 400 COULD_NOT_VALIDATE) with the error
    envelope for each route's common statuses (see common_error_statuses)."""
    error_schema = {"$ref": f"#/components/schemas/{ErrorEnvelope.__name__}"}
    for route in routes:
        path = getattr(route, "path", None)
        for method in getattr(route, "methods", None) or ():
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in common_error_statuses(route):
                if str(status) not in responses:
                    declared = error_responses(status)[status]
                    responses[str(status)] = {"description": declared["description"],
                                              "content": {"application/json": {"schema": error_schema}}}
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    if any(r.get("content", {}).get("application/json", {}).get("schema") == error_schema
           for item in document["paths"].values() for op in item.values() for r in op.get("responses", {}).values()):
        schemas.setdefault(ErrorEnvelope.__name__, ErrorEnvelope.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}", mode="serialization"))
        for name, definition in schemas[ErrorEnvelope.__name__].pop("$defs", {}).items():
            schemas.setdefault(name, definition)


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def export(directory: Path = EXPORT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in openapi_documents().items():
        path = directory / f"{name}.json"
        path.write_text(render(document))
        written.append(path)
    return written
