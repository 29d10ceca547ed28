"""The simulated router's run loop: connect over the control channel (hello, heartbeats), and renew both
certificates the way a real router's certificate checker does (control-channel.md §5):

- the renewal is due at min(client NotAfter, server NotAfter) - 7 days (at once with `extend_now`);
- an expired client certificate stops everything: re-enrollment is needed (`ReEnrollmentNeeded`);
- the certificate files must be writable before a request is sent;
- 20302 goes out one-way; the 20301 is awaited for 35 s, the 20303 reply for 30 s; a request counts as in
  flight until its 35 s have passed (so a failed attempt is retried after the real timeout);
- the files are rewritten (atomically) only after a successful verify; the open channel is kept, and the new
  client certificate is used from the next connect on. A dropped channel is redialled every 5 s.

The time is the controller's simulated clock: every frame the simulator sends carries it (header 1199), the
router sends a heartbeat every second to hear it often, and keeps the last offset in clock.json for its next start.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509

from controller.ctrl import framing, messages
from controller.ctrl.framing import Frame
from controller.pki.certs import fingerprint, load_certs_pem
from controller.router_agent.enroll import make_csr
from controller.atomic import write_private
from controller.router_agent.files import RouterFiles

log = logging.getLogger("controller.router_agent")

ROUTER_VERSION = "v1.6.20|simulated|2026-08-20|linux|amd64"
ROUTER_METADATA = b"\x0a\x01\x01"  # RouterMetadata{capabilities: [LinkManagement]}
RENEW_BEFORE = timedelta(days=7)


class ReEnrollmentNeeded(Exception):
    pass


class Refused(Exception):
    pass


@dataclass
class Timeouts:
    extend: float = 35.0  # waiting for the 20301 (DefaultTimeoutDuration)
    verify: float = 30.0  # waiting for the 20002 reply to 20303
    redial: float = 5.0  # between connection attempts
    hello: float = 10.0
    heartbeat: float = 1.0  # our own header 5 (a real router: 10 s); each answer tells us the simulated time


class _Channel:
    def __init__(self, agent: "RouterAgent", reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.agent, self.reader, self.writer = agent, reader, writer
        self.sequence = 0
        self.replies: dict[int, asyncio.Future[Frame]] = {}
        self.by_type: dict[int, list[asyncio.Future[Frame]]] = {}
        self.closed = asyncio.Event()

    def send(self, content_type: int, headers: dict[int, bytes] | None = None, body: bytes = b"", sequence: int | None = None) -> int:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        self.writer.write(Frame(content_type, sequence, headers or {}, body).encode())
        return sequence

    async def read_frame(self) -> Frame:
        head = await self.reader.readexactly(framing.HEAD_SIZE)
        magic, content_type, sequence, headers_len, body_len = struct.unpack("<4siiII", head)
        if magic != framing.MAGIC:
            raise framing.FrameError("bad magic from the controller")
        rest = await self.reader.readexactly(headers_len + body_len)
        frame = Frame(content_type, sequence, framing.parse_headers(rest[:headers_len]), rest[headers_len:])
        sim = frame.u64(framing.SIM_NOW)
        if sim is not None:
            self.agent._learn_time(sim)
        return frame

    async def read_loop(self) -> None:
        try:
            while True:
                frame = await self.read_frame()
                beat = frame.headers.get(framing.HEARTBEAT_REQ)
                if beat is not None and len(beat) == 8:
                    self.send(framing.HEARTBEAT, {framing.HEARTBEAT_RESP: beat})
                reply_for = frame.reply_for
                if reply_for != -1 and reply_for in self.replies:
                    self.replies.pop(reply_for).set_result(frame)
                    continue
                if frame.content_type == framing.PING:
                    self.send(framing.RESULT, {framing.REPLY_FOR: framing.i32(frame.sequence), framing.RESULT_SUCCESS: b"\x01"}, b"ok")
                    continue
                waiters = self.by_type.get(frame.content_type)
                if waiters:
                    waiters.pop(0).set_result(frame)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, framing.FrameError, ssl.SSLError):
            pass
        finally:
            self.closed.set()
            for future in [*self.replies.values(), *(f for fs in self.by_type.values() for f in fs)]:
                if not future.done():
                    future.set_exception(ConnectionError("control channel closed"))

    async def wait_type(self, content_type: int, timeout: float) -> Frame:
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self.by_type.setdefault(content_type, []).append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            if future in self.by_type.get(content_type, []):
                self.by_type[content_type].remove(future)

    async def request(self, content_type: int, body: bytes, timeout: float) -> Frame:
        self.sequence += 1
        sequence = self.sequence
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self.replies[sequence] = future
        self.send(content_type, {}, body, sequence=sequence)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.replies.pop(sequence, None)

    def close(self) -> None:
        self.writer.close()


class RouterAgent:
    def __init__(self, directory: Any, *, extend_now: bool = False, timeouts: Timeouts | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None):
        self.files = RouterFiles(directory)
        self.timeouts = timeouts or Timeouts()
        self._force = extend_now
        self._offset = self.files.clock_offset().total_seconds()
        self._saved_offset = self._offset
        self._on_event = on_event
        self.events: list[dict[str, Any]] = []
        self._stop: asyncio.Event | None = None
        self.channel: _Channel | None = None
        self._last_waiting: float | None = None

    # --- time and events --------------------------------------------------------------------------
    def sim_now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self._offset, timezone.utc)

    def _learn_time(self, sim_ns: int) -> None:
        self._offset = sim_ns / 1e9 - time.time()
        if abs(self._offset - self._saved_offset) > 1.0:
            self._saved_offset = self._offset
            self.files.save_clock(self.sim_now())

    def emit(self, event: str, **detail: Any) -> None:
        record = {"event": event, "at": self.sim_now().isoformat(), **detail}
        self.events.append(record)
        log.info("%s %s", event, detail)
        if self._on_event is not None:
            self._on_event(record)

    def _leafs(self) -> tuple[x509.Certificate, x509.Certificate]:
        return self.files.client_chain()[0], self.files.server_chain()[0]

    def _check_client_valid(self, client: x509.Certificate | None = None) -> None:
        client = client or self._leafs()[0]
        if self.sim_now() >= client.not_valid_after_utc:
            message = (f"the client certificate of router {self.files.router_id} expired at {client.not_valid_after_utc.isoformat()}: "
                       "it cannot be extended any more; re-enrollment is needed (re-enroll the router, then `router enroll` again)")
            self.emit("re-enrollment-needed", message=message)
            raise ReEnrollmentNeeded(message)

    # --- the run loop -------------------------------------------------------------------------------
    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def drop_connection(self) -> None:
        """Close the current control channel; the agent redials (with whatever certificate its files hold)."""
        if self.channel is not None:
            self.channel.close()

    async def run(self) -> None:
        self._stop = asyncio.Event()
        while not self._stop.is_set():
            self._check_client_valid()
            try:
                channel = await self._connect()
            except Refused as refused:
                self.emit("refused", reason=str(refused))
                self._check_client_valid()
                await self._sleep(self.timeouts.redial)
                continue
            except (OSError, ssl.SSLError, asyncio.TimeoutError) as error:
                self.emit("dial-failed", reason=str(error) or type(error).__name__)
                await self._sleep(self.timeouts.redial)
                continue
            try:
                await self._session(channel)
            finally:
                channel.close()
                self.channel = None
            if not self._stop.is_set():
                self.emit("disconnected")
                await self._sleep(self.timeouts.redial)

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _connect(self) -> _Channel:
        config = self.files.config()
        host, _, port = config["ctrl"].removeprefix("tls:").rpartition(":")  # tls:HOST:PORT, HOST may be [v6]
        host = host.strip("[]")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=str(self.files.ca_path))
        context.load_cert_chain(self.files.cert_path, self.files.key_path)  # the chain as the file holds it
        context.set_alpn_protocols(["ziti-ctrl"])
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port), ssl=context, server_hostname=host), self.timeouts.hello)
        channel = _Channel(self, reader, writer)
        channel.send(framing.HELLO, {framing.VERSION: ROUTER_VERSION.encode(), 11: ROUTER_METADATA},
                     self.files.router_id.encode(), sequence=framing.HELLO_SEQUENCE)
        try:
            result = await asyncio.wait_for(channel.read_frame(), self.timeouts.hello)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError) as error:
            channel.close()
            raise Refused(f"the controller closed the connection after the hello ({type(error).__name__})") from None
        if result.content_type != framing.RESULT or result.reply_for != -1:
            channel.close()
            raise Refused("channel synchronization error")
        if result.headers.get(framing.RESULT_SUCCESS) != b"\x01":
            channel.close()
            raise Refused(result.body.decode(errors="replace") or "hello refused")
        version = result.headers.get(framing.VERSION)
        if version is None or len(version.split(b"|")) != 5:
            channel.close()
            raise Refused("no version header provided")
        self.channel = channel
        self.emit("connected", fingerprint=fingerprint(self.files.client_chain()[0]),
                  connectionId=result.headers.get(framing.CONNECTION_ID, b"").decode())
        return channel

    async def _session(self, channel: _Channel) -> None:
        assert self._stop is not None
        tasks = [asyncio.create_task(channel.read_loop()), asyncio.create_task(self._heartbeats(channel)),
                 asyncio.create_task(self._checker(channel)), asyncio.create_task(self._stop.wait())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _heartbeats(self, channel: _Channel) -> None:
        while True:
            await asyncio.sleep(self.timeouts.heartbeat)
            channel.send(framing.HEARTBEAT, {framing.HEARTBEAT_REQ: framing.u64(time.time_ns())})

    async def _checker(self, channel: _Channel) -> None:
        while not channel.closed.is_set():
            client, server = self._leafs()  # read from the files once per pass
            self._check_client_valid(client)
            wait = 0.0 if self._force else (min(client.not_valid_after_utc, server.not_valid_after_utc) - RENEW_BEFORE - self.sim_now()).total_seconds()
            if wait > 0:
                if self._last_waiting is None or abs(self._last_waiting - wait) > 60:
                    self.emit("waiting", seconds=round(wait, 1))
                self._last_waiting = wait
                await asyncio.sleep(min(wait, 0.2))  # re-evaluated often: the simulated clock may jump
                continue
            self._force, self._last_waiting = False, None
            problem = self.files.writable()
            if problem is not None:
                self.emit("files-not-writable", reason=problem)
                await asyncio.sleep(1.0)
                continue
            await self._extend(channel)

    async def _extend(self, channel: _Channel) -> None:
        started = time.monotonic()
        client = self.files.client_chain()[0]
        sans = self.files.config().get("sans", [])
        request = messages.ExtendRequest(make_csr(self.files.client_key(), client.subject, sans),
                                         make_csr(self.files.server_key(), client.subject, sans), True)
        self.emit("extend-requested", fingerprint=fingerprint(client))
        channel.send(framing.ENROLLMENT_EXTEND_REQUEST, {}, request.encode())
        try:
            frame = await channel.wait_type(framing.ENROLLMENT_CERTS_RESPONSE, self.timeouts.extend)
        except asyncio.TimeoutError:
            self.emit("extend-timeout", seconds=self.timeouts.extend)
            return
        certs = messages.CertsResponse.decode(frame.body)
        if not certs.client_cert_pem or not certs.server_cert_pem:
            self.emit("extend-failed", reason="the 20301 lacks a certificate")
            return await self._rest_of_request(started)
        try:
            reply = await channel.request(framing.ENROLLMENT_EXTEND_VERIFY, messages.VerifyRequest(certs.client_cert_pem).encode(),
                                          self.timeouts.verify)
        except asyncio.TimeoutError:
            self.emit("verify-failed", code="TIMEOUT", message=f"no verify reply within {self.timeouts.verify}s")
            return await self._rest_of_request(started)
        if reply.content_type != framing.ERROR:
            self.emit("verify-failed", code="WRONG_REPLY", message=f"reply content type {reply.content_type}")
            return await self._rest_of_request(started)
        error = messages.Error.decode(reply.body)
        if error.code:
            self.emit("verify-failed", code=error.code, message=error.message)
            return await self._rest_of_request(started)
        write_private(self.files.cert_path, certs.client_cert_pem.encode())
        write_private(self.files.server_cert_path, certs.server_cert_pem.encode())
        new = load_certs_pem(certs.client_cert_pem)[0]
        self.emit("extended", newFingerprint=fingerprint(new), notAfter=new.not_valid_after_utc.isoformat())

    async def _rest_of_request(self, started: float) -> None:
        """The request stays in flight until its 35 s are up (or new certificates arrive): then the loop retries."""
        await asyncio.sleep(max(0.0, self.timeouts.extend - (time.monotonic() - started)))
