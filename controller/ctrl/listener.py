"""The control-channel listener: one asyncio protocol per router connection (control-channel.md §2, §3, §6).

The hello is read within 5 s and judged after the TLS handshake (a refusal closes without a word); a
successful result carries the connection id, controller id, version (4) and capabilities. Heartbeats: every
header 5 is echoed at once in header 6; the controller sends its own header 5 every send interval and closes a
channel that has not echoed one for `ctrl_heartbeat_timeout`, after a grace period of twice that at connect.
Frames of one connection are handled one after another; database work runs on worker threads."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
import time
from datetime import timedelta
from typing import Any

from controller import __version__
from controller.ctrl import framing, handlers
from controller.tls import tls_protocol_factory
from controller.ctrl.framing import Frame
from controller.core.clock import wall_clock

log = logging.getLogger("controller.ctrl")

HELLO_TIMEOUT = 5.0
HANDSHAKE_TIMEOUT = 5.0
ALPN = "ziti-ctrl"  # a client offering only other protocols fails the handshake; one offering none is accepted
CAPABILITIES = b"\x0e"  # bits 1-3; bit 4 (router data model) off: no data model is simulated
CONTROLLER_VERSION = f"v{__version__}|simulated|2026-11-30|linux|amd64"


def _reply_copy(request: Frame) -> dict[int, bytes]:
    """Replies carry header 1 and copy the request's headers 128-255 (channel v4)."""
    return {k: v for k, v in request.headers.items() if 128 <= k <= 255}


class CtrlListener:
    def __init__(self, runtime: Any, sock: socket.socket):
        self.runtime, self.sock = runtime, sock
        settings = runtime.settings
        self.address = settings.ctrl_url or ""
        self.timeout = settings.ctrl_heartbeat_timeout.total_seconds()
        self.send_interval = min(10.0, self.timeout / 3)
        self.check_interval = min(1.0, self.timeout / 10)
        self.alive_for = timedelta(seconds=max(3 * self.send_interval, 3.0))
        self.channels: dict[str, RouterChannel] = {}  # router id -> admitted channel
        self._all: set[RouterChannel] = set()
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.AbstractServer | None = None
        self._ticker: asyncio.Task | None = None
        self.sim_offset = 0.0  # simulated minus wall time, seconds (refreshed every check)
        self.controller_id = runtime.pki.server_cert.subject.rfc4514_string()
        cn = [a.value for a in runtime.pki.server_cert.subject if a.oid.dotted_string == "2.5.4.3"]
        self.controller_id = str(cn[0]) if cn else self.controller_id
        self.api_addresses = json.dumps({
            name: [{"url": f"{settings.api_url}{path}", "version": "v1"}]
            for name, path in (("edge-client", "/edge/client/v1"), ("edge-management", "/edge/management/v1"))
        }).encode()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self.refresh_clock()
        # A client certificate is required but not judged at the handshake (Go's RequireAnyClientCert): its
        # issuer, time and fingerprint are judged after the hello, and a refusal is a silent close.
        config = self.runtime.tls_server_config(alpn=(ALPN,), client_cert="required")
        factory = tls_protocol_factory(config, lambda: RouterChannel(self), handshake_timeout=HANDSHAKE_TIMEOUT)
        self._server = await loop.create_server(factory, sock=self.sock)
        self._ticker = loop.create_task(self._tick())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._server is not None:
            self._server.close()
        for channel in list(self._all):
            channel.close("controller shutting down", abort=True)
        while self._tasks:  # the workers and the disconnect records they leave behind
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def sim_now_ns(self) -> int:
        return int((time.time() + self.sim_offset) * 1e9)

    async def refresh_clock(self) -> None:
        sim = await asyncio.to_thread(handlers.sim_now, self.runtime.sessions)
        self.sim_offset = (sim - wall_clock()).total_seconds()

    async def _tick(self) -> None:
        last_refresh = 0.0
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                now = time.monotonic()
                for channel in list(self._all):
                    channel.check_heartbeats(now)
                if self._all:
                    await self.refresh_clock()
                if self.channels and now - last_refresh >= self.send_interval:
                    last_refresh = now
                    owned = {rid: ch.connection_id for rid, ch in self.channels.items()}
                    lost = await asyncio.to_thread(handlers.keep_alive, self.runtime.sessions, owned, alive_for=self.alive_for)
                    for rid in lost:
                        channel = self.channels.get(rid)
                        if channel is not None and channel.connection_id == owned[rid]:
                            channel.close("connection no longer registered (reset, deleted or replaced)", record=False)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep serving; a database hiccup must not stop heartbeats
                log.exception("control channel check failed")


class RouterChannel(asyncio.Protocol):
    def __init__(self, listener: CtrlListener):
        self.listener = listener
        self.transport: Any = None
        self.reader = framing.FrameReader()
        self.queue: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.sequence = 0
        self.router_id: str | None = None
        self.connection_id = secrets.token_urlsafe(6)
        self.fingerprint: str | None = None
        self.peer: list = []
        self.remote = ""
        self.admitted = False
        self.closed = False
        self.last_response = 0.0
        self.last_heartbeat_sent = 0.0
        self._worker: asyncio.Task | None = None

    # --- transport events -------------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote = f"{peer[0]}:{peer[1]}" if peer else ""
        self.peer = list(transport.get_extra_info("peer_certificates") or [])
        self.listener._all.add(self)
        self._worker = self.listener.spawn(self._run())

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
        except framing.BadMagic:
            self.transport.write(framing.UNKNOWN_VERSION_RESPONSE)
            self.close("bad magic")
            return
        except framing.FrameError as error:
            self.close(f"framing error: {error}", abort=True)
            return
        for frame in frames:
            if self.admitted:
                self._heartbeat_headers(frame)
            self.queue.put_nowait(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close("connection lost", already_lost=True)

    # --- sending ----------------------------------------------------------------------------------
    def send(self, content_type: int, headers: dict[int, bytes] | None = None, body: bytes = b"", *,
             sequence: int | None = None) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            return
        if sequence is None:
            self.sequence = (self.sequence + 1) & 0xFFFFFFFF
            sequence = self.sequence - (1 << 32) if self.sequence >= 1 << 31 else self.sequence
        all_headers = dict(headers or {})
        all_headers[framing.SIM_NOW] = framing.u64(self.listener.sim_now_ns())
        now = time.monotonic()
        if self.admitted and content_type != framing.HEARTBEAT and now - self.last_heartbeat_sent >= self.listener.send_interval:
            all_headers[framing.HEARTBEAT_REQ] = framing.u64(time.time_ns())
            self.last_heartbeat_sent = now
        self.transport.write(Frame(content_type, sequence, all_headers, body).encode())

    def _heartbeat_headers(self, frame: Frame) -> None:
        if frame.u64(framing.HEARTBEAT_RESP) is not None or framing.HEARTBEAT_RESP in frame.headers:
            self.last_response = time.monotonic()
        value = frame.headers.get(framing.HEARTBEAT_REQ)
        if value is not None and len(value) == 8:
            self.send(framing.HEARTBEAT, {framing.HEARTBEAT_RESP: value})

    def check_heartbeats(self, now: float) -> None:
        if not self.admitted or self.closed:
            return
        if now - self.last_response > self.listener.timeout:
            self.close("heartbeat not received in time, closing control channel connection")
            return
        if now - self.last_heartbeat_sent >= self.listener.send_interval:
            self.last_heartbeat_sent = now
            self.send(framing.HEARTBEAT, {framing.HEARTBEAT_REQ: framing.u64(time.time_ns())})

    def close(self, reason: str, *, abort: bool = False, record: bool = True, already_lost: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.queue.put_nowait(None)
        self.listener._all.discard(self)
        if self.transport is not None and not already_lost:
            self.transport.abort() if abort else self.transport.close()
        if self.admitted and self.router_id is not None:
            if self.listener.channels.get(self.router_id) is self:
                del self.listener.channels[self.router_id]
            if record:
                log.info("router %s disconnected: %s", self.router_id, reason)
                self.listener.spawn(asyncio.to_thread(handlers.disconnected, self.listener.runtime.sessions,
                                                      self.router_id, self.connection_id, reason))

    # --- the conversation -------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            try:
                hello = await asyncio.wait_for(self.queue.get(), HELLO_TIMEOUT)
            except asyncio.TimeoutError:
                self.close("no hello in time")
                return
            if hello is None:
                return
            if not await self._hello(hello):
                return
            while not self.closed:
                frame = await self.queue.get()
                if frame is None:
                    return
                await self._dispatch(frame)
        except Exception:  # noqa: BLE001
            log.exception("control channel of router %s failed", self.router_id)
            self.close("internal error", abort=True)

    async def _fault(self, content_type: int):
        assert self.router_id is not None
        fault = await asyncio.to_thread(handlers.fault_for, self.listener.runtime.sessions, self.router_id, content_type)
        if fault is not None and fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        return fault

    async def _hello(self, frame: Frame) -> bool:
        if frame.content_type != framing.HELLO:
            self.close("first frame is not a hello")
            return False
        try:
            self.router_id = frame.body.decode()
        except UnicodeDecodeError:
            self.close("hello body is not a router id")
            return False
        fault = await self._fault(framing.HELLO)
        if fault is not None and fault.drop_message:
            return True  # the hello goes unanswered; the connection stays until the router gives up
        version = frame.headers.get(framing.VERSION)
        hello = handlers.Hello(
            router_id=self.router_id, version=version.decode(errors="replace") if version is not None else None,
            peer_certs=self.peer, connection_id=self.connection_id, replica_id=self.listener.runtime.instance_id,
            ctrl_address=self.listener.address, remote_address=self.remote,
        )
        try:
            admitted = await asyncio.to_thread(handlers.admit, self.listener.runtime.sessions, self.listener.runtime.pki, hello,
                                               alive_for=self.listener.alive_for)
        except handlers.Refused as refused:
            log.info("connection handler error for [%s] (%s)", self.remote, refused)
            if isinstance(refused, handlers.RefusedAfterResult):
                self._send_result(frame)  # the real listener answers, then its bind step drops the channel
            self.close(str(refused), record=False)
            return False
        self.fingerprint = admitted.fingerprint
        self.listener.sim_offset = (admitted.sim_now - wall_clock()).total_seconds()  # fresh for the result's header
        previous = self.listener.channels.get(self.router_id)
        if previous is not None and previous is not self:
            previous.close("replaced by a new connection", record=False)
        self.listener.channels[self.router_id] = self
        self.admitted = True
        self.last_response = time.monotonic() + 2 * self.listener.timeout  # the grace period at connect
        self.last_heartbeat_sent = time.monotonic()
        self._send_result(frame)
        if fault is not None and fault.drop_connection:
            self.close("fault: close after hello")
            return False
        return True

    def _send_result(self, hello: Frame) -> None:
        headers = {
            framing.REPLY_FOR: framing.i32(framing.HELLO_SEQUENCE), framing.RESULT_SUCCESS: b"\x01",
            framing.CONNECTION_ID: self.connection_id.encode(), framing.ID: self.listener.controller_id.encode(),
            framing.VERSION: CONTROLLER_VERSION.encode(), framing.CAPABILITIES: CAPABILITIES,
            framing.API_ADDRESSES: self.listener.api_addresses,
        }
        if hello.headers.get(framing.LISTENERS):
            headers[framing.LISTENERS] = hello.headers[framing.LISTENERS]
        self.send(framing.RESULT, headers, b"", sequence=framing.HELLO_SEQUENCE)

    async def _dispatch(self, frame: Frame) -> None:
        if frame.content_type == framing.PING:
            fault = await self._fault(framing.PING)
            if fault is not None and fault.drop_connection:
                self.close("fault: close at ping")
                return
            if fault is not None and fault.drop_message:
                return
            self.send(framing.RESULT, {**_reply_copy(frame), framing.REPLY_FOR: framing.i32(frame.sequence),
                                       framing.RESULT_SUCCESS: b"\x01"}, b"ok")
        elif frame.content_type == framing.ENROLLMENT_EXTEND_REQUEST:
            await self._extend(frame)
        elif frame.content_type == framing.ENROLLMENT_EXTEND_VERIFY:
            await self._verify(frame)
        # anything else (heartbeats, metrics, -33, client hellos, ...) is ignored; the channel stays open

    async def _extend(self, frame: Frame) -> None:
        fault = await self._fault(framing.ENROLLMENT_EXTEND_REQUEST)
        if fault is not None and fault.drop_connection:
            self.close("fault: close at 20302")
            return
        if fault is not None and fault.drop_message:
            return
        runtime = self.listener.runtime
        try:
            response = await asyncio.to_thread(handlers.extend, runtime.sessions, runtime.settings, runtime.pki,
                                               router_id=self.router_id, connection_fingerprint=self.fingerprint, body=frame.body)
        except handlers.ExtendFailed as failed:
            log.info("router %s: %s", self.router_id, failed)
            return  # as real: nothing is sent, the router times out and retries
        fault = await self._fault(framing.ENROLLMENT_CERTS_RESPONSE)
        if fault is not None and fault.drop_connection:
            self.close("fault: close at 20301")
            return
        if fault is not None and fault.drop_message:
            return
        self.send(framing.ENROLLMENT_CERTS_RESPONSE, {}, response.encode())

    async def _verify(self, frame: Frame) -> None:
        fault = await self._fault(framing.ENROLLMENT_EXTEND_VERIFY)
        if fault is not None and fault.drop_connection:
            self.close("fault: close at 20303")
            return
        if fault is not None and fault.drop_message:
            return
        forced = fault if fault is not None and fault.code else None
        error = await asyncio.to_thread(handlers.verify, self.listener.runtime.sessions, router_id=self.router_id,
                                        body=frame.body, forced=forced)
        self.send(framing.ERROR, {**_reply_copy(frame), framing.REPLY_FOR: framing.i32(frame.sequence)}, error.encode())
