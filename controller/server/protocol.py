"""uvicorn does not hand the client certificate to the app. This protocol reads it once per connection and
adds it to every request's scope under the ASGI TLS extension (`scope["extensions"]["tls"]`).

`client_cert_chain` holds PEM strings, leaf first. Besides the standard keys we add the parsed certificates
(`ziti.peer_certs`), whether that list is the whole chain the client sent (`ziti.chain_complete`: CPython
< 3.13 exposes only the leaf), and `ziti.abort`, which the fault injector uses to drop the connection.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from uvicorn.protocols.http import h11_impl
from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # httptools is faster when installed (uvicorn[standard]); h11 is always there.
    from uvicorn.protocols.http import httptools_impl
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover
    httptools_impl = None  # type: ignore[assignment]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


# The real controller answers schema-validation failures with go-openapi's 60x codes as the HTTP status when
# ZITI_SIM_COMPAT_OPENAPI_VALIDATION_STATUS is on; uvicorn's h11 protocol knows reason phrases only below 600.
h11_impl.STATUS_PHRASES.update({code: b"" for code in range(600, 700)})
if httptools_impl is not None:
    httptools_impl.STATUS_LINE.update({code: f"HTTP/1.1 {code} \r\n".encode() for code in range(600, 700)})


def tls_extension(ssl_object: ssl.SSLObject | None) -> dict[str, Any] | None:
    if ssl_object is None:
        return None
    chain_der: list[bytes] = []
    complete = False
    unverified = getattr(ssl_object, "get_unverified_chain", None)  # CPython >= 3.13
    if unverified is not None:
        chain_der = [c if isinstance(c, bytes) else c.public_bytes() for c in (unverified() or [])]
        complete = True
    else:
        leaf = ssl_object.getpeercert(binary_form=True)
        chain_der = [leaf] if leaf else []
    certs = [x509.load_der_x509_certificate(der) for der in chain_der]
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": [c.public_bytes(Encoding.PEM).decode() for c in certs],
        "client_cert_name": certs[0].subject.rfc4514_string() if certs else None,
        "client_cert_error": None,
        "tls_version": ssl_object.version(),
        "cipher_suite": cipher[0] if cipher else None,
        "ziti.peer_certs": certs,
        "ziti.chain_complete": complete,
    }


class _PeerCertMixin:
    app: Any

    def connection_made(self, transport: Any) -> None:  # noqa: D401 - asyncio protocol hook
        super().connection_made(transport)  # type: ignore[misc]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Headers and body leave as two TLS records; with Nagle on, the second waits for the client's
            # delayed ACK (~40 ms per response).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = tls_extension(transport.get_extra_info("ssl_object"))
        inner = self.app

        async def app_with_tls(scope: dict[str, Any], receive: Any, send: Any) -> None:
            extensions = scope.setdefault("extensions", {})
            if tls is not None:
                extensions["tls"] = tls
            extensions["ziti.abort"] = transport.abort
            await inner(scope, receive, send)

        self.app = app_with_tls


class PeerCertH11Protocol(_PeerCertMixin, H11Protocol):
    pass


if HttpToolsProtocol is not None:

    class PeerCertHttpToolsProtocol(_PeerCertMixin, HttpToolsProtocol):
        pass

    DEFAULT_PROTOCOL: type = PeerCertHttpToolsProtocol
else:  # pragma: no cover
    DEFAULT_PROTOCOL = PeerCertH11Protocol
