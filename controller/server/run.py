"""Starting uvicorn with our TLS context and protocol, in the foreground or on a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import uvicorn

from controller.runtime import Runtime
from controller.server.protocol import http_protocol, https_protocol


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before starting, so that port 0 gives an ephemeral port we can advertise."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def make_server(runtime: Runtime, app: Any) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        # TLS is ours (controller.tls), not uvicorn's: it lets every client certificate reach the app.
        http=https_protocol(runtime.tls_server_config(), http_protocol(runtime.settings.http)),
        lifespan="off",
        log_level=runtime.settings.log_level,
        access_log=False,
        server_header=False,
        ws="none",  # no WebSocket routes: spares importing a WebSocket library at start
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    if hasattr(getattr(app, "state", None), "lifecycle"):
        app.state.lifecycle.attach(server)  # readiness follows the server: starting, serving, stopping
    return server


def event_loop_factory(choice: str = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """The loop for settings.event_loop. uvloop (libuv) when installed: the sync routes and transactions run on
    worker threads, and each one's end wakes the loop; asyncio's self-pipe wake-up was the largest single cost
    of a request in the profile (bench/README.md, issue 11), libuv's is a cheap eventfd write."""
    if choice == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":  # settings refuse this at start; kept for callers that pass a name
            raise
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run_on_loop(main: Coroutine[Any, Any, Any], choice: str = "auto") -> Any:
    """`asyncio.run(main)` on the chosen event loop."""
    with asyncio.Runner(loop_factory=event_loop_factory(choice)) as runner:
        return runner.run(main)


async def serve_with_ctrl(server: uvicorn.Server, sock: socket.socket, runtime: Runtime, ctrl_sock: socket.socket | None) -> None:
    """The API and, when configured, the router control channel, on one event loop; started and stopped together."""
    listener = None
    if ctrl_sock is not None:
        from controller.ctrl.listener import CtrlListener

        listener = CtrlListener(runtime, ctrl_sock)
        await listener.start()
    try:
        await server.serve(sockets=[sock])
    finally:
        if listener is not None:
            await listener.stop()


def bind_ctrl_socket(runtime_settings: Any) -> tuple[Any, socket.socket | None]:
    """Bind the control channel (if enabled); an ephemeral port is written back into the settings' ctrl_address."""
    from controller.settings import format_host

    if not runtime_settings.ctrl_enabled:
        return runtime_settings, None
    host, port = runtime_settings.ctrl_host_port
    sock = bind_socket(host, port)
    if port == 0:
        runtime_settings = runtime_settings.model_copy(update={"ctrl_address": f"{format_host(host)}:{sock.getsockname()[1]}"})
    return runtime_settings, sock


class BackgroundServer:
    """A controller serving on its own thread and event loop: what the pytest plugin and tests use."""

    def __init__(self, runtime: Runtime, app: Any, sock: socket.socket, ctrl_sock: socket.socket | None = None):
        self.runtime, self.sock, self.ctrl_sock = runtime, sock, ctrl_sock
        self.server = make_server(runtime, app)
        self.thread = threading.Thread(target=self._run, name="ziti-controller-sim", daemon=True)
        self._error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the serving loop, once started

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=event_loop_factory(self.runtime.settings.event_loop)) as runner:
                self.loop = runner.get_loop()
                runner.run(serve_with_ctrl(self.server, self.sock, self.runtime, self.ctrl_sock))
        except BaseException as exc:  # pragma: no cover - surfaced by start()
            self._error = exc

    def start(self, timeout: float = 10.0) -> "BackgroundServer":
        self.thread.start()
        deadline = timeout
        while not self.server.started:
            if self._error is not None or not self.thread.is_alive():
                raise RuntimeError(f"controller failed to start: {self._error!r}")
            self.thread.join(0.002)
            deadline -= 0.002
            if deadline <= 0:
                raise TimeoutError("controller did not start in time")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
        if self.ctrl_sock is not None:
            self.ctrl_sock.close()
