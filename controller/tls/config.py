"""The server side of TLS, as the real controller does it: every client certificate that proves possession of
its key completes the handshake, whoever issued it and whenever it expires, and the application judges it.

Python's `ssl` module cannot do this (it has no verify callback: a certificate from a CA outside the trust
store, a self-signed one, or a CA certificate presented as a leaf ends in a TLS alert). pyOpenSSL's
`set_verify` takes a callback, and returning true from it accepts the chain whatever OpenSSL's verdict.
The handshake still checks the CertificateVerify signature, so the client holds the leaf's private key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from OpenSSL import SSL, crypto

ClientCertMode = Literal["none", "optional", "required"]

# Resumed sessions must belong to this server ("session id context" is required by OpenSSL whenever the
# server asks for client certificates and sessions are cached).
_SESSION_ID_CONTEXT = b"ziti-controller-sim"


def _accept_any_certificate(_conn: SSL.Connection, _cert: crypto.X509, _errno: int, _depth: int, _ok: int) -> bool:
    return True


@dataclass(frozen=True)
class TlsServerConfig:
    """What a listener presents and asks for. `cert_chain_pem` is the server certificate followed by its
    intermediates; `alpn` lists the protocols it accepts, in order of preference (empty: no ALPN check, and
    a client offering only unknown protocols still connects, as Go's server does when it has none)."""

    cert_chain_pem: bytes
    key_pem: bytes
    alpn: tuple[str, ...] = ()
    client_cert: ClientCertMode = "optional"
    _context: list[SSL.Context] = field(default_factory=list, compare=False, repr=False)

    def context(self) -> SSL.Context:
        """The OpenSSL context, built once: every connection of a listener shares it (and its session cache)."""
        if not self._context:
            self._context.append(self._build())
        return self._context[0]

    def _build(self) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
        ctx.set_options(SSL.OP_NO_RENEGOTIATION | SSL.OP_CIPHER_SERVER_PREFERENCE)
        certs = x509.load_pem_x509_certificates(self.cert_chain_pem)
        if not certs:
            raise ValueError("the TLS certificate chain holds no certificate")
        ctx.use_certificate(certs[0])
        for intermediate in certs[1:]:
            ctx.add_extra_chain_cert(intermediate)
        ctx.use_privatekey(load_pem_private_key(self.key_pem, password=None))  # type: ignore[arg-type]
        ctx.check_privatekey()
        ctx.set_session_id(_SESSION_ID_CONTEXT)
        if self.client_cert != "none":
            mode = SSL.VERIFY_PEER
            if self.client_cert == "required":
                mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
            ctx.set_verify(mode, _accept_any_certificate)
            # Accept chains of any length: the application decides what a chain is worth.
            ctx.set_verify_depth(100)
        if self.alpn:
            offered = [p.encode() for p in self.alpn]

            def select(_conn: SSL.Connection, client_protocols: list[bytes]) -> bytes:
                for protocol in offered:
                    if protocol in client_protocols:
                        return protocol
                return SSL.NO_OVERLAPPING_PROTOCOLS

            ctx.set_alpn_select_callback(select)
        return ctx

