"""uvicorn does not hand the client certificate to the app. This protocol reads it once per connection (from
our TLS layer, `controller.tls`) and adds it to every request's scope under the ASGI TLS extension
(`scope["extensions"]["tls"]`).

`client_cert_chain` holds PEM strings, leaf first: the whole chain the client sent, unverified. Besides the
standard keys we add the parsed certificates (`ziti.peer_certs`), `ziti.chain_complete` (always true: the
list is the whole chain as sent, so a missing intermediate is the client's), and `ziti.abort`, which the
fault injector uses to drop the connection.
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from uvicorn.protocols.http import h11_impl
from uvicorn.protocols.http.h11_impl import H11Protocol

from controller.tls import TlsServerConfig, tls_protocol_factory

try:  # httptools is a dependency, but h11 (always there with uvicorn) still works without it.
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


def tls_extension(transport: Any) -> dict[str, Any] | None:
    if transport.get_extra_info("sslcontext") is None:
        return None
    certs = list(transport.get_extra_info("peer_certificates") or [])
    return {
        "server_cert": None,
        "client_cert_chain": [c.public_bytes(Encoding.PEM).decode() for c in certs],
        "client_cert_name": certs[0].subject.rfc4514_string() if certs else None,
        "client_cert_error": None,
        "tls_version": transport.get_extra_info("tls_version"),
        "cipher_suite": transport.get_extra_info("cipher"),
        "ziti.peer_certs": certs,
        "ziti.chain_complete": True,
    }


class _PeerCertMixin:
    app: Any

    def connection_made(self, transport: Any) -> None:  # noqa: D401 - asyncio protocol hook
        super().connection_made(transport)  # type: ignore[misc]
        tls = tls_extension(transport)
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


def http_protocol(choice: str = "auto") -> type:
    """uvicorn's HTTP protocol for settings.http: httptools (a C parser; less CPU per request than the pure
    Python h11) when installed, else h11."""
    if choice == "h11" or (choice == "auto" and HttpToolsProtocol is None):
        return PeerCertH11Protocol
    if HttpToolsProtocol is None:  # named explicitly but missing (settings refuse this at start)
        raise RuntimeError("httptools is not installed")
    return PeerCertHttpToolsProtocol


def https_protocol(tls: TlsServerConfig, protocol: type | None = None) -> Any:
    """What uvicorn's `http=` takes: a callable uvicorn calls with its keyword arguments once per connection.
    It returns our TLS protocol, which creates uvicorn's HTTP protocol after the handshake."""

    protocol = protocol or http_protocol()

    def create(**uvicorn_kwargs: Any) -> Any:
        return tls_protocol_factory(tls, functools.partial(protocol, **uvicorn_kwargs))()

    return create
