"""Public discovery endpoints: /version (and /), and the EST CA bundle."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from controller import __version__
from controller.api.contract import Wire, answers
from controller.api.deps import RuntimeDep
from controller.api.envelope import ok
from controller.api.routing import deferred_router

router = deferred_router()

BUILD_DATE = "2026-11-27T00:00:00Z"


def _version(runtime: RuntimeDep) -> dict:
    base = runtime.settings.api_url
    client = {"v1": {"path": "/edge/client/v1", "apiBaseUrls": [f"{base}/edge/client/v1"]}}
    return {
        "version": f"v{__version__}-sim",
        "revision": "ziti-controller-sim",
        "buildDate": BUILD_DATE,
        "runtimeVersion": "python",
        # Without OIDC_AUTH the SDKs use legacy zt-session authentication, the only one simulated.
        "capabilities": [],
        "apiVersions": {
            "edge": client,
            "edge-client": client,
            "edge-management": {"v1": {"path": "/edge/management/v1", "apiBaseUrls": [f"{base}/edge/management/v1"]}},
            "health-checks": {"v1": {"path": "/health-checks", "apiBaseUrls": [f"{base}/health-checks"]}},
        },
    }


class VersionInfo(Wire):
    version: str
    revision: str
    build_date: str
    runtime_version: str
    capabilities: list[str]
    api_versions: dict[str, dict[str, Any]]


@router.get("/version", operation_id="listVersion", summary="Version, API paths and capabilities", **answers(VersionInfo))
async def list_version(runtime: RuntimeDep):
    return ok(_version(runtime))


@router.get("/", operation_id="listRoot", summary="Same answer as /version", **answers(VersionInfo))
async def list_root(runtime: RuntimeDep):
    return ok(_version(runtime))


class Pkcs7Response(Response):
    media_type = "application/pkcs7-mime"


@router.get(
    "/.well-known/est/cacerts", operation_id="listWellKnownCas",
    summary="The CA bundle as base64 certs-only PKCS#7 (application/pkcs7-mime)",
    response_class=Pkcs7Response,
    responses={200: {"content": {"application/pkcs7-mime": {"schema": {"type": "string"}}}}},
)
async def list_well_known_cas(runtime: RuntimeDep):
    return Response(
        runtime.pki.cacerts_body, media_type="application/pkcs7-mime",
        headers={"Content-Transfer-Encoding": "base64"},
    )
