"""TLS between asyncio's TCP transport and an application protocol (uvicorn's HTTP protocol, the control
channel), with OpenSSL driven through memory BIOs, the way asyncio's own `sslproto` drives the stdlib.

    socket <-> TlsServerProtocol (ciphertext) <-> SSL.Connection <-> TlsTransport <-> application protocol

The application protocol is created only once the handshake has completed, so it never sees a connection
whose peer has not proven its key. It reads what it needs through `transport.get_extra_info`:
`peer_certificates` (the chain exactly as the client sent it, leaf first, unverified), `alpn_protocol`,
`tls_version`, `cipher`, and the usual `peername`/`sockname`/`socket`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from cryptography import x509
from OpenSSL import SSL

from controller.tls.config import TlsServerConfig

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_SECONDS = 10.0
# One TLS record carries at most 16 KiB of plaintext. Buffers stay well under glibc's mmap threshold, so a read
# costs no mmap/munmap pair (pyOpenSSL allocates a fresh buffer of this size on every call).
_PLAINTEXT_READ = 16 * 1024
_CIPHERTEXT_READ = 64 * 1024


def tls_protocol_factory(config: TlsServerConfig, app_protocol_factory: Callable[[], asyncio.Protocol],
                         *, handshake_timeout: float = HANDSHAKE_TIMEOUT_SECONDS) -> Callable[[], asyncio.Protocol]:
    """A protocol factory for `loop.create_server` (which then gets no `ssl=` argument)."""
    context = config.context()

    def factory() -> asyncio.Protocol:
        return TlsServerProtocol(config, context, app_protocol_factory, handshake_timeout)

    return factory


def peer_chain(conn: SSL.Connection) -> list[x509.Certificate]:
    """The certificates the client sent, leaf first. OpenSSL's server-side peer chain leaves the leaf out."""
    leaf = conn.get_peer_certificate(as_cryptography=True)
    if leaf is None:
        return []
    rest = conn.get_peer_cert_chain(as_cryptography=True) or []
    if rest and rest[0] == leaf:
        rest = rest[1:]
    return [leaf, *rest]


class TlsServerProtocol(asyncio.Protocol):
    """The TCP side of one connection."""

    def __init__(self, config: TlsServerConfig, context: SSL.Context,
                 app_protocol_factory: Callable[[], asyncio.Protocol], handshake_timeout: float):
        self._config = config
        self._conn = SSL.Connection(context, None)
        self._conn.set_accept_state()
        self._app_protocol_factory = app_protocol_factory
        self._handshake_timeout = handshake_timeout
        self._raw: asyncio.Transport | None = None
        self._app: asyncio.Protocol | None = None
        self._app_transport: TlsTransport | None = None
        self._timeout: asyncio.TimerHandle | None = None
        self._closed = False

    # -- asyncio.Protocol (ciphertext side) ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Small records leave at once; with Nagle on, a second record waits for the peer's delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._timeout = asyncio.get_running_loop().call_later(self._handshake_timeout, self._abort)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        self._conn.bio_write(data)
        if self._app is None and not self._handshake():
            return
        self._deliver_plaintext()

    def eof_received(self) -> bool | None:
        if self._app is not None:
            return self._app.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._timeout is not None:
            self._timeout.cancel()
        if self._app is not None:
            app, self._app = self._app, None
            app.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._app is not None:
            self._app.pause_writing()

    def resume_writing(self) -> None:
        if self._app is not None:
            self._app.resume_writing()

    # -- TLS ---------------------------------------------------------------------------------------------------
    def _handshake(self) -> bool:
        """Advance the handshake with what has arrived; True once it is complete and the application runs."""
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            self._flush()
            return False
        except SSL.Error as exc:
            # The alert OpenSSL queued (if any) goes out before the connection closes.
            log.debug("TLS handshake failed: %s", exc)
            self._flush()
            self._close_raw()
            return False
        self._flush()
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None
        self._app_transport = TlsTransport(self, self._raw, self._config, peer_chain(self._conn),
                                           self._alpn(), self._conn.get_protocol_version_name(),
                                           self._conn.get_cipher_name())
        self._app = self._app_protocol_factory()
        self._app.connection_made(self._app_transport)
        return True

    def _alpn(self) -> str | None:
        negotiated = self._conn.get_alpn_proto_negotiated()
        return negotiated.decode() if negotiated else None

    def _deliver_plaintext(self) -> None:
        while self._app is not None and not self._closed:
            try:
                chunk = self._conn.recv(_PLAINTEXT_READ)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:  # close_notify from the peer
                self._flush()
                if self._app is not None and not self._app.eof_received():
                    self._close_raw()
                break
            except SSL.Error as exc:
                log.debug("TLS record error: %s", exc)
                self._flush()
                self._abort()
                break
            self._app.data_received(chunk)
        self._flush()  # reading can produce output (TLS 1.3 key updates, alerts)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed or self._raw is None:
            return
        try:
            self._conn.sendall(bytes(data))
        except SSL.Error as exc:
            log.debug("TLS write error: %s", exc)
            self._abort()
            return
        self._flush()

    def _flush(self) -> None:
        if self._raw is None or self._raw.is_closing():
            return
        out = []
        while True:
            try:
                out.append(self._conn.bio_read(_CIPHERTEXT_READ))
            except SSL.WantReadError:
                break
        if out:
            self._raw.write(b"".join(out))

    def close(self) -> None:
        """A graceful close: close_notify, then the TCP connection once what is buffered has left."""
        if self._closed:
            return
        try:
            self._conn.shutdown()
        except SSL.Error:
            pass
        self._flush()
        self._close_raw()

    def _close_raw(self) -> None:
        self._closed = True
        if self._raw is not None:
            self._raw.close()

    def _abort(self) -> None:
        self._closed = True
        if self._raw is not None:
            self._raw.abort()

    def is_closing(self) -> bool:
        return self._closed or self._raw is None or self._raw.is_closing()


class TlsTransport(asyncio.Transport):
    """What the application protocol sees: a transport carrying plaintext."""

    def __init__(self, tls: TlsServerProtocol, raw: asyncio.Transport | None, config: TlsServerConfig,
                 peer_certificates: list[x509.Certificate], alpn: str | None, version: str, cipher: str | None):
        super().__init__()
        self._tls, self._raw = tls, raw
        self._extra: dict[str, Any] = {
            "peer_certificates": peer_certificates,
            "alpn_protocol": alpn,
            "tls_version": version,
            "cipher": cipher,
            # uvicorn decides the scheme (https) by the presence of this key.
            "sslcontext": config,
        }

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in self._extra:
            return self._extra[name]
        return self._raw.get_extra_info(name, default) if self._raw is not None else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._tls.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._tls.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def close(self) -> None:
        self._tls.close()

    def abort(self) -> None:
        self._tls._abort()

    def is_closing(self) -> bool:
        return self._tls.is_closing()

    def pause_reading(self) -> None:
        if self._raw is not None and not self._raw.is_closing():
            self._raw.pause_reading()

    def resume_reading(self) -> None:
        if self._raw is not None and not self._raw.is_closing():
            self._raw.resume_reading()

    def is_reading(self) -> bool:
        return self._raw.is_reading() if self._raw is not None else False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if self._raw is not None:
            self._raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size() if self._raw is not None else 0

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._tls._app = protocol  # type: ignore[assignment]

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._tls._app  # type: ignore[return-value]
