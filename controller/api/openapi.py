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
        documents[name] = get_openapi(title=title, version=__version__, routes=routes,
                                      servers=[{"url": "https://127.0.0.1:1280"}])
    return documents


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
