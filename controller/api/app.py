"""The FastAPI application: the client API under /edge/client/v1 and again at the root (the real controller
maps every path outside /edge, /fabric and /.well-known onto the client API, and SDKs rely on it), the
management API under /edge/management/v1, and the simulation API under /sim/v1 when the mode allows it."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, FastAPI

from controller import __version__
from controller.api.deps import known_path_ids
from controller.api.envelope import install_exception_handlers
from controller.api.guard import RequestGuardMiddleware
from controller.api.middleware import InFlightLimitMiddleware, InstanceIdMiddleware, RequestLimiter, RootAliasMiddleware
from controller.authenticators import endpoints as authenticators
from controller.cas import endpoints as cas
from controller.configs import endpoints as configs
from controller.enrollments import endpoints as enrollments
from controller.identities import endpoints as identities
from controller.logs.middleware import AccessMiddleware, route_resolver
from controller.ops import endpoints as ops
from controller.ops.health import Lifecycle, default_registry
from controller.policies import endpoints as policies
from controller.routers import endpoints as routers
from controller.runtime import Runtime
from controller.service_sessions import endpoints as service_sessions
from controller.services import endpoints as services
from controller.sessions import endpoints as sessions
from controller.sim import endpoints as sim
from controller.sim.faults import FaultInjectionMiddleware
from controller.version import endpoints as version

CLIENT_PREFIX = "/edge/client/v1"
MANAGEMENT_PREFIX = "/edge/management/v1"
SIM_PREFIX = "/sim/v1"
OPS_PREFIX = "/ops/v1"  # our operators' API (admin session): lists no Edge API has, e.g. expiring certificates
OPS_PATHS = ("/health-checks", "/metrics", f"{OPS_PREFIX}/")  # served at the root in every mode, not aliased


def _shared() -> list[APIRouter]:
    """Routes both APIs serve."""
    return [version.router, sessions.router, identities.current, authenticators.current, services.public]


def client_api() -> list[APIRouter]:
    return [*_shared(), enrollments.client, routers.client, services.client, cas.client, service_sessions.client]


def management_api() -> list[APIRouter]:
    return [*_shared(), identities.management, authenticators.management, enrollments.management, routers.management,
            services.management, cas.management, configs.management, policies.management, service_sessions.management]


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="ziti-controller-sim",
        version=__version__,
        description="A simulated OpenZiti controller: the Edge client and management APIs for enrollment, "
        "authentication and certificate extension, plus a simulation API for tests.",
        # Our documents are exported per API (openapi/*.json); the root alias leaves no path free to serve them.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_exception_handlers(app)
    # Each domain router is included directly (not through an API-level router): every level of nesting
    # is one more round of route matching on every request.
    guards = [Depends(known_path_ids)]
    for part in client_api():
        app.include_router(part, prefix=CLIENT_PREFIX, tags=["client"], dependencies=guards)
    for part in management_api():
        app.include_router(part, prefix=MANAGEMENT_PREFIX, tags=["management"], dependencies=guards)
    # Middleware, innermost first (each add_middleware wraps the ones before it).
    # The in-flight limit sits inside fault injection, which takes a slot only for its own database decision:
    # a request sleeping in a delay fault holds no thread and no lock. See RequestLimiter for the deadlock
    # the limit prevents.
    limiter = RequestLimiter(runtime.settings.max_requests_in_flight)
    app.add_middleware(InFlightLimitMiddleware, limiter=limiter, exempt=("/events/wait",))
    if runtime.settings.sim_enabled:
        app.include_router(sim.router, prefix=SIM_PREFIX, tags=["simulation"], dependencies=guards)
        app.add_middleware(FaultInjectionMiddleware, runtime=runtime, limiter=limiter)
    _install_ops(app, runtime)
    app.add_middleware(RootAliasMiddleware, prefix=CLIENT_PREFIX, passthrough=("/edge/", f"{SIM_PREFIX}/", *OPS_PATHS))
    app.add_middleware(RequestGuardMiddleware, max_body_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(InstanceIdMiddleware, instance_id=runtime.instance_id)
    return app


def _install_ops(app: FastAPI, runtime: Runtime) -> None:
    """Health checks, metrics (when enabled) and the access middleware (request id, access log, metrics)."""
    app.state.lifecycle = Lifecycle()
    app.state.health = default_registry(runtime)
    app.state.health.add("server.accepting", lambda: None if app.state.lifecycle.phase != "stopping" else "shutting down")
    app.include_router(ops.router, tags=["health-checks"])
    app.include_router(ops.management, prefix=OPS_PREFIX, tags=["ops"])
    metrics = None
    if runtime.settings.metrics_enabled:
        from controller.metrics import Metrics
        from controller.metrics.endpoints import router as metrics_router

        metrics = app.state.metrics = Metrics(runtime)
        app.include_router(metrics_router, tags=["metrics"])
    access_level = logging.INFO if runtime.settings.log_format == "json" else logging.DEBUG
    mounted = [(CLIENT_PREFIX, client_api()), (MANAGEMENT_PREFIX, management_api())]
    if runtime.settings.sim_enabled:
        mounted.append((SIM_PREFIX, [sim.router]))
    app.add_middleware(AccessMiddleware, metrics=metrics, level=access_level, resolve=route_resolver(mounted))
