"""The TLS layer lets every client certificate that proves its key reach the application, which judges it
(real-controller-behavior §1.2, §5.1): no certificate is refused at the handshake for its issuer, its
purpose or its time, and the application sees the whole chain the client sent."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.client.http import Connection, ControllerError, tls_context
from controller.testing.harness import ControllerHarness, EnrolledIdentity
from controller.tls import TlsServerConfig, tls_protocol_factory
from tests.conftest import error_of

NOW = datetime.now(timezone.utc)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _certificate(subject: str, *, ca: bool, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
                 not_after: datetime | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(issuer_cert.subject if issuer_cert else name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=2)).not_valid_after(not_after or NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256()), key


def _login_with(ctl: ControllerHarness, chain: list[x509.Certificate], key: ec.EllipticCurvePrivateKey) -> dict:
    conn = ctl.connect(cert_pem="".join(_pem(c) for c in chain), key_pem=_key_pem(key))
    try:
        return conn.login_cert()
    finally:
        conn.close()


@pytest.mark.parametrize("kind", ["self-signed", "unknown-ca", "ca-as-leaf", "expired-unknown-ca"])
def test_a_certificate_outside_the_network_gets_401_invalid_auth_in_json(ctl: ControllerHarness, kind: str):
    if kind == "self-signed":
        cert, key = _certificate("stranger", ca=False)
        chain = [cert]
    elif kind == "ca-as-leaf":
        cert, key = _certificate("some root", ca=True)
        chain = [cert]
    else:
        root = _certificate("foreign root", ca=True)
        cert, key = _certificate("stranger", ca=False, issuer=root,
                                 not_after=NOW - timedelta(days=1) if kind.startswith("expired") else None)
        chain = [cert, root[0]]
    with pytest.raises(ControllerError) as excinfo:
        _login_with(ctl, chain, key)
    assert error_of(excinfo) == (401, "INVALID_AUTH")


def test_the_network_ca_certificate_presented_as_the_leaf_gets_401(ctl: ControllerHarness):
    """The edge signer's own certificate, presented with a key that is not its own, fails the handshake's
    proof of possession; with its own key it would be a CA, which logs nobody in. Here: a fresh CA certificate
    named like the signer but not issued by the network."""
    signer = ctl.runtime.pki.ca_certs[-1]
    impostor, key = _certificate(signer.subject.rfc4514_string(), ca=True)
    with pytest.raises(ControllerError) as excinfo:
        _login_with(ctl, [impostor], key)
    assert error_of(excinfo) == (401, "INVALID_AUTH")


def _identity_chain(identity: EnrolledIdentity) -> tuple[list[x509.Certificate], ec.EllipticCurvePrivateKey]:
    chain = x509.load_pem_x509_certificates(identity.identity.cert.encode())
    key = serialization.load_pem_private_key(identity.identity.key.encode(), password=None)
    return chain, key  # type: ignore[return-value]


def test_the_whole_presented_chain_reaches_the_app_so_improper_chains_are_reported(ctl: ControllerHarness,
                                                                                     alice: EnrolledIdentity):
    chain, key = _identity_chain(alice)
    assert len(chain) > 1, "enrollment hands out the leaf with its intermediates"
    assert _login_with(ctl, chain, key)["improperClientCertChain"] is False
    # The leaf alone verifies only against the full pool: the client left out its intermediates. (A client
    # whose trust store holds the CAs would complete its chain by itself, so this one trusts nothing.)
    conn = Connection(ctl.url, tls_context(verify=False, cert_pem=_pem(chain[0]), key_pem=_key_pem(key)))
    try:
        assert conn.login_cert()["improperClientCertChain"] is True
    finally:
        conn.close()


def test_an_expired_network_certificate_completes_the_handshake(ctl: ControllerHarness, alice: EnrolledIdentity):
    """Time is the controller's decision (its clock and auth policy), never the handshake's."""
    ctl.clock.advance("400d")
    chain, key = _identity_chain(alice)
    session = _login_with(ctl, chain, key)  # the default policy lets expired certificates log in
    assert session["identityId"] == alice.id


# -- the TLS layer on its own (what the control channel uses) -----------------------------------------------


class _Echo(asyncio.Protocol):
    seen: list[dict] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        _Echo.seen.append({"certs": transport.get_extra_info("peer_certificates"),
                           "alpn": transport.get_extra_info("alpn_protocol")})

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)
        if data == b"bye":
            self.transport.close()


@pytest.fixture(scope="module")
def server_identity() -> tuple[bytes, bytes, x509.Certificate]:
    root = _certificate("echo root", ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(root[0].subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(root[1], hashes.SHA256())
    )
    return _pem(cert).encode() + _pem(root[0]).encode(), _key_pem(key).encode(), root[0]


def _serve(config: TlsServerConfig) -> Iterator[int]:
    loop = asyncio.new_event_loop()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    server = loop.run_until_complete(loop.create_server(tls_protocol_factory(config, _Echo), sock=sock))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.fixture(scope="module")
def echo_port(server_identity) -> Iterator[int]:  # noqa: ANN001
    chain, key, _ = server_identity
    yield from _serve(TlsServerConfig(cert_chain_pem=chain, key_pem=key, alpn=("ziti-ctrl",), client_cert="required"))


def _client(server_identity, *, cert: tuple[list[x509.Certificate], ec.EllipticCurvePrivateKey] | None,  # noqa: ANN001
            alpn: list[str] | None = None) -> ssl.SSLContext:
    _, _, root = server_identity
    chain_pem = "".join(_pem(c) for c in cert[0]) if cert else None
    context = tls_context(ca_pem=_pem(root), cert_pem=chain_pem, key_pem=_key_pem(cert[1]) if cert else None)
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def _talk(port: int, context: ssl.SSLContext, message: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(message)
            received = b""
            while len(received) < len(message):
                chunk = tls.recv(65536)
                if not chunk:
                    break
                received += chunk
            return received


def test_required_client_certificate_of_any_issuer_reaches_the_protocol_with_its_chain(server_identity, echo_port):  # noqa: ANN001
    root = _certificate("router root", ca=True)
    leaf, key = _certificate("router", ca=False, issuer=root, not_after=NOW - timedelta(days=1))
    _Echo.seen.clear()
    assert _talk(echo_port, _client(server_identity, cert=([leaf, root[0]], key), alpn=["ziti-ctrl"]), b"hello") == b"hello"
    assert _Echo.seen[-1]["certs"] == [leaf, root[0]]
    assert _Echo.seen[-1]["alpn"] == "ziti-ctrl"


def test_no_alpn_is_accepted_and_large_messages_cross_intact(server_identity, echo_port):  # noqa: ANN001
    leaf, key = _certificate("router", ca=False)
    _Echo.seen.clear()
    message = bytes(range(256)) * 4096  # 1 MiB: many TLS records each way
    assert _talk(echo_port, _client(server_identity, cert=([leaf], key)), message) == message
    assert _Echo.seen[-1]["alpn"] is None


def test_required_mode_refuses_a_client_without_certificate(server_identity, echo_port):  # noqa: ANN001
    _Echo.seen.clear()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        # TLS 1.3: the refusal arrives after the client's Finished, at its first read.
        _talk(echo_port, _client(server_identity, cert=None), b"hello")
    assert _Echo.seen == []


def test_a_client_that_never_finishes_the_handshake_is_dropped(server_identity):  # noqa: ANN001
    chain, key, _ = server_identity
    config = TlsServerConfig(cert_chain_pem=chain, key_pem=key)
    loop = asyncio.new_event_loop()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    def factory() -> asyncio.Protocol:
        return tls_protocol_factory(config, _Echo, handshake_timeout=0.2)()

    server = loop.run_until_complete(loop.create_server(factory, sock=sock))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(sock.getsockname(), timeout=5) as raw:
            raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
            assert raw.recv(100) == b""  # closed by the server after the timeout
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
