"""`ziti-controller-sim serve`: start-up, the banner (or the fixture's JSON ready line), shutdown."""

from __future__ import annotations

import errno
import json
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.atomic import forget_throwaway_directory, throwaway_directory
from controller.cli.errors import CliError
from controller.settings import Mode, Settings, format_host

if TYPE_CHECKING:
    from controller.runtime import Runtime


def serve(settings: Settings) -> int:
    from controller import logs

    logs.configure(level=settings.log_level, fmt=settings.log_format, instance_id="")
    if settings.mode is Mode.fixture and "address" not in settings.model_fields_set:
        settings = settings.model_copy(update={"address": "127.0.0.1:0"})  # an ephemeral port unless one was asked for
    if settings.mode is Mode.fixture and "ctrl_address" not in settings.model_fields_set:
        settings = settings.model_copy(update={"ctrl_address": "127.0.0.1:0"})  # the control channel too
    sock = _listen(settings)  # first: when the port is taken, nothing has been created yet
    try:
        settings, ctrl_sock = _listen_ctrl(settings)
    except CliError:
        sock.close()
        raise
    ephemeral_dir = None
    # SIGTERM never kills the process where it stands (the clean-up below must run: a fixture's ephemeral data
    # directory would be left behind), and uvicorn re-raises it after its graceful shutdown.
    stop = _StopRequest()
    signal.signal(signal.SIGTERM, stop)
    runtime = None
    try:
        if settings.mode is Mode.fixture:
            ephemeral_dir = Path(tempfile.mkdtemp(prefix="ziti-sim-fixture-"))
            throwaway_directory(ephemeral_dir)  # removed below: its files need no fsync
            settings = settings.model_copy(update={"data_dir": ephemeral_dir})
        else:
            if settings.mode is Mode.lab:
                from controller.runtime import refuse_weak_lab_password

                refuse_weak_lab_password(settings)  # before the data directory is created
            _check_data_dir(settings.data_dir)
        runtime = _start(settings, sock, ctrl_sock)
        stop.server = runtime.server
        if stop.requested:
            return 0
        from controller.server.run import run_on_loop, serve_with_ctrl

        run_on_loop(serve_with_ctrl(runtime.server, runtime.socket, runtime.runtime, runtime.ctrl_socket), settings.event_loop)
    except KeyboardInterrupt:
        pass  # Ctrl-C before uvicorn took over the signals: a normal stop
    finally:
        if runtime is not None:
            runtime.runtime.close()
        sock.close()
        if ctrl_sock is not None:
            ctrl_sock.close()
        if ephemeral_dir is not None:
            shutil.rmtree(ephemeral_dir, ignore_errors=True)
            forget_throwaway_directory(ephemeral_dir)
    return 0


@dataclass
class _Serving:
    runtime: Runtime
    server: Any
    socket: Any
    ctrl_socket: Any = None


def _listen(settings: Settings) -> socket.socket:
    from controller.server.run import bind_socket

    host, port = settings.bind_address
    try:
        return bind_socket(host, port)
    except OSError as error:
        address = f"{format_host(host)}:{port}"
        option = "--bind" if settings.bind else "--address"
        if error.errno == errno.EADDRINUSE:
            raise CliError(f"cannot listen on {address}: the address is already in use; stop what uses it or pass "
                           f"another {option}") from None
        raise CliError(f"cannot listen on {address}: {error.strerror or error}; pass another {option}") from None


def _listen_ctrl(settings: Settings) -> tuple[Settings, socket.socket | None]:
    """Bind the router control channel (unless off); an ephemeral port is written back into the settings."""
    from controller.server.run import bind_ctrl_socket

    try:
        return bind_ctrl_socket(settings)
    except OSError as error:
        reason = "the address is already in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error))
        raise CliError(f"cannot listen for routers on {settings.ctrl_address}: {reason}; pass another --ctrl-address "
                       "(or off)") from None


def _check_data_dir(directory: Path) -> None:
    """A directory the controller can write, or one line saying why not (before anything is written in it)."""
    if directory.exists() and not directory.is_dir():
        raise CliError(f"the data directory {directory} is not a directory; pass --data-dir a directory (it is created if missing)")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        reason = "read-only file system" if error.errno == errno.EROFS else (error.strerror or str(error))
        raise CliError(f"cannot use the data directory {directory}: {reason}; pass --data-dir a writable directory") from None


def _start(settings: Settings, sock: socket.socket, ctrl_sock: socket.socket | None = None) -> _Serving:
    from controller.api.app import create_app
    from controller.runtime import Runtime
    from controller.server.run import make_server

    host, port = settings.bind_address
    if port == 0 or settings.advertised_port == 0:
        actual = sock.getsockname()[1]
        settings = settings.model_copy(update={"address": f"{format_host(settings.advertised_host)}:{actual}"})
    runtime = Runtime.start(settings)
    server = make_server(runtime, create_app(runtime))
    from controller import logs  # again: uvicorn's Config set up its own loggers; the replica id is known now

    logs.configure(level=settings.log_level, fmt=settings.log_format, instance_id=runtime.instance_id)
    _announce(runtime)
    return _Serving(runtime, server, sock, ctrl_sock)


class _StopRequest:
    """The SIGTERM handler. It never raises: an exception from a signal handler lands wherever the main thread
    happens to be (once inside a weakref callback, which swallowed it, and the process hung instead of
    stopping). Before the server runs it only takes note, and start-up stops serving once it is done; after
    that it asks uvicorn to stop (uvicorn installs its own handler while serving, this one sees the rest)."""

    def __init__(self) -> None:
        self.requested = False
        self.server: Any = None

    def __call__(self, _signum: int, _frame: object) -> None:
        self.requested = True
        if self.server is not None:
            self.server.should_exit = True


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
