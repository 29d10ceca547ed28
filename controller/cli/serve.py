"""`ziti-controller-sim serve`: start-up, the banner (or the fixture's JSON ready line), shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.settings import Mode, Settings, format_host

if TYPE_CHECKING:
    from controller.runtime import Runtime


def serve(settings: Settings) -> int:
    from controller.runtime import UnsafeSettings

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ephemeral_dir = None
    if settings.mode is Mode.fixture:
        ephemeral_dir = Path(tempfile.mkdtemp(prefix="ziti-sim-fixture-"))
        updates: dict = {"data_dir": ephemeral_dir}
        if "ZITI_SIM_ADDRESS" not in os.environ and settings.address == "127.0.0.1:1280":
            updates["address"] = "127.0.0.1:0"  # an ephemeral port unless one was asked for
        if "ZITI_SIM_CTRL_ADDRESS" not in os.environ and settings.ctrl_address == "127.0.0.1:6262":
            updates["ctrl_address"] = "127.0.0.1:0"
        settings = settings.model_copy(update=updates)
    # uvicorn re-raises SIGTERM after its graceful shutdown; with the default action the process would die
    # there, skipping the clean-up below (a fixture's ephemeral data directory would be left behind).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    runtime = None
    try:
        runtime = _start(settings)
        from controller.server.run import serve_with_ctrl

        asyncio.run(serve_with_ctrl(runtime.server, runtime.socket, runtime.runtime, runtime.ctrl_socket))
    except UnsafeSettings as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass  # Ctrl-C before uvicorn took over the signals: a normal stop
    finally:
        if runtime is not None:
            runtime.runtime.close()
            if runtime.ctrl_socket is not None:
                runtime.ctrl_socket.close()
        if ephemeral_dir is not None:
            shutil.rmtree(ephemeral_dir, ignore_errors=True)
    return 0


@dataclass
class _Serving:
    runtime: Runtime
    server: Any
    socket: Any
    ctrl_socket: Any = None


def _start(settings: Settings) -> _Serving:
    from controller.api.app import create_app
    from controller.runtime import Runtime
    from controller.server.run import bind_ctrl_socket, bind_socket, make_server

    host, port = settings.bind_address
    sock = bind_socket(host, port)
    if port == 0 or settings.advertised_port == 0:
        actual = sock.getsockname()[1]
        settings = settings.model_copy(update={"address": f"{format_host(settings.advertised_host)}:{actual}"})
    settings, ctrl_sock = bind_ctrl_socket(settings)
    runtime = Runtime.start(settings)
    server = make_server(runtime, create_app(runtime))
    _announce(runtime)
    return _Serving(runtime, server, sock, ctrl_sock)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _announce(runtime) -> None:  # noqa: ANN001
    settings = runtime.settings
    if settings.mode is Mode.fixture:
        print(json.dumps({
            "event": "ready", "url": settings.api_url, "caBundle": str(runtime.pki.ca_bundle_path.resolve()),
            "admin": {"username": settings.admin_username, "password": runtime.admin_password},
            "simApi": f"{settings.api_url}/sim/v1", "dataDir": str(settings.data_dir.resolve()),
            "managementApi": f"{settings.api_url}/edge/management/v1", "clientApi": f"{settings.api_url}/edge/client/v1",
            "ctrlAddress": settings.ctrl_url,
        }), flush=True)
        return
    if runtime.admin_password_generated:
        password = f"{runtime.admin_password}  (generated; kept in {settings.data_dir / 'admin-password'})"
    elif settings.admin_password is not None:
        password = "(from ZITI_SIM_ADMIN_PASSWORD)"
    else:
        password = f"(in {settings.data_dir / 'admin-password'})"
    print(
        f"ziti-controller-sim ({settings.mode.value} mode) listening on {settings.api_url}\n"
        f"  client API      {settings.api_url}/edge/client/v1\n"
        f"  management API  {settings.api_url}/edge/management/v1\n"
        + (f"  simulation API  {settings.api_url}/sim/v1\n" if settings.sim_enabled else "")
        + f"  control channel {settings.ctrl_url or 'off'}\n"
        + f"  admin login     {settings.admin_username} / {password}\n"
        f"  CA bundle       {runtime.pki.ca_bundle_path.resolve()}\n"
        f"  database        {settings.resolved_database_url().split('@')[-1]}",
        flush=True,
    )
