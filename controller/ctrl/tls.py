"""The control channel's TLS server side, behind the shape the project's pyOpenSSL layer will offer
(`peer_certificates` as a list of x509 certificates, leaf first, unverified).

Interim, stdlib `ssl`: a client certificate is required and must chain to the edge CA bundle at the TLS
layer (time not checked), so a certificate from an unknown CA fails with a TLS alert instead of a silent close
after the hello; only the leaf is visible (the presented intermediates are not). Everything else (expiry on the
simulated clock, fingerprint, disabled) is judged after the hello, as real."""

from __future__ import annotations

import ssl
from typing import Any

from cryptography import x509

ALPN = "ziti-ctrl"
_NO_CHECK_TIME = 0x200000


def server_context(runtime: Any) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    directory = runtime.pki.directory
    context.load_cert_chain(directory / "server.cert.pem", directory / "server.key.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= _NO_CHECK_TIME
    context.load_verify_locations(cafile=str(runtime.pki.ca_bundle_path))
    context.set_alpn_protocols([ALPN])
    return context


def peer_certificates(transport: Any) -> list[x509.Certificate]:
    certs = transport.get_extra_info("peer_certificates")
    if certs is not None:
        return list(certs)
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return [x509.load_der_x509_certificate(der)] if der else []


def alpn_protocol(transport: Any) -> str | None:
    value = transport.get_extra_info("alpn_protocol")
    if value is not None:
        return value
    ssl_object = transport.get_extra_info("ssl_object")
    return ssl_object.selected_alpn_protocol() if ssl_object is not None else None
