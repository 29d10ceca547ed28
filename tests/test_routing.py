"""DeferredRoute (controller/api/routing.py): what it sets without building must be what FastAPI's own
APIRoute computes from the same arguments, the rest must appear on first use, and importing the app must
build no route (the point of it: start-up)."""

from __future__ import annotations

import subprocess
import sys

from fastapi.routing import APIRoute

from controller.api.routing import DeferredRoute


def _all_routes() -> list[APIRoute]:
    from controller.api import app

    routers = {id(r): r for r in [*app.client_api(), *app.management_api()]}
    from controller.metrics.endpoints import router as metrics
    from controller.ops.endpoints import management as ops_management
    from controller.ops.endpoints import router as ops
    from controller.sim.endpoints import router as sim

    for extra in (sim, ops, ops_management, metrics):
        routers[id(extra)] = extra
    return [route for router in routers.values() for route in router.routes if isinstance(route, APIRoute)]


def test_every_router_of_ours_defers_except_the_session_first_one():
    routes = _all_routes()
    deferred = [r for r in routes if isinstance(r, DeferredRoute)]
    assert len(deferred) > 100
    assert {type(r).__name__ for r in routes if not isinstance(r, DeferredRoute)} <= {"SessionFirstRoute"}


def test_declared_attributes_equal_fastapis_own_and_survive_the_build():
    checked = 0
    for served in _all_routes():
        if not isinstance(served, DeferredRoute) or "declaration" not in served.__dict__:
            continue
        # Declared again: the served route may have been built by an earlier test in this process.
        path, endpoint, kwargs = served.declaration
        route = DeferredRoute(path, endpoint, **kwargs)
        eager = APIRoute(path, endpoint, **kwargs)
        before = {name: getattr(route, name) for name in DeferredRoute.DECLARED}
        for name in DeferredRoute.DECLARED:
            if name == "form_limits":
                assert type(before[name]) is type(getattr(eager, name)), (path, name)
                continue
            assert before[name] == getattr(eager, name), (path, name)
        assert not route.built  # reading declared attributes built nothing
        assert route.dependant.call is endpoint  # a built attribute: the build happens here
        assert route.built
        assert (route.response_field is None) == (eager.response_field is None), path
        assert (route.body_field is None) == (eager.body_field is None), path
        assert len(route.dependant.dependencies) == len(eager.dependant.dependencies), path
        for name in DeferredRoute.DECLARED:
            if name != "form_limits":
                assert getattr(route, name) == before[name], (path, name)
        checked += 1
    assert checked > 0


def test_importing_and_creating_the_app_builds_no_route():
    code = (
        "from types import SimpleNamespace\n"
        "from controller.api.app import create_app\n"
        "from controller.api.routing import DeferredRoute\n"
        "from controller.settings import Settings\n"
        "import controller.api.app as a\n"
        "create_app(SimpleNamespace(settings=Settings(mode='mock'), instance_id='x'))\n"
        "routes = [r for rt in [*a.client_api(), *a.management_api()] for r in rt.routes if isinstance(r, DeferredRoute)]\n"
        # a route that leaves its response model to the return annotation is built at once (nothing to gain)
        "print(len(routes), sum(r.built for r in routes if r.response_model is not None))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    total, built = map(int, done.stdout.split())
    assert total > 100 and built == 0
