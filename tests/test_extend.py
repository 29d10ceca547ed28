"""Identity certificate extension: `extend` and `extend-verify` over real mutual TLS.

The reference is docs/real-controller-behavior.md §1 (ordered checks §1.2 and §1.5, certificate profile §1.3,
stored state §1.4, the swap moment §1.6), §2.1-§2.2 (request-extend flags) and §5.1 (cert login), plus
edge-api-reference.md §3.6-§3.8. Every test runs on SQLite and on PostgreSQL (see conftest).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from conftest import LoggedIn, error_of, make_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from controller.client import ControllerError, extend_identity
from controller.client.enroll import fetch_ca_bundle
from controller.client.http import Connection
from controller.client.identity_file import IdentityFile
from controller.testing.harness import ControllerHarness, EnrolledIdentity

CLIENT, MANAGEMENT, ROOT = "/edge/client/v1", "/edge/management/v1", ""
PREFIXES = [pytest.param(CLIENT, id="client"), pytest.param(MANAGEMENT, id="management"), pytest.param(ROOT, id="root")]
AUTHENTICATORS = "/edge/management/v1/authenticators"


# --- helpers --------------------------------------------------------------------------------------------

def extend_path(prefix: str, authenticator_id: str) -> str:
    return f"{prefix}/current-identity/authenticators/{authenticator_id}/extend"


def verify_path(prefix: str, authenticator_id: str) -> str:
    return f"{prefix}/current-identity/authenticators/{authenticator_id}/extend-verify"


def extend(conn: Connection, authenticator_id: str, csr: str, prefix: str = CLIENT) -> dict[str, Any]:
    return conn.data("POST", extend_path(prefix, authenticator_id), json_body={"clientCertCsr": csr})


def verify(conn: Connection, authenticator_id: str, client_cert: str, prefix: str = CLIENT) -> dict[str, Any]:
    return conn.data("POST", verify_path(prefix, authenticator_id), json_body={"clientCert": client_cert})


def key_pem(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def load_key(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode(), None)


def certs_of(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def sha1_of(cert: x509.Certificate) -> str:
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def login_with(ctl: ControllerHarness, cert_pem: str, key: str) -> dict[str, Any]:
    """A cert login on a brand-new TLS connection presenting exactly this certificate (chain) and key."""
    with ctl.connect(cert_pem=cert_pem, key_pem=key) as conn:
        return conn.login_cert()


def login_fails(ctl: ControllerHarness, cert_pem: str, key: str) -> tuple[int, str]:
    with pytest.raises(ControllerError) as excinfo:
        login_with(ctl, cert_pem, key)
    return error_of(excinfo)


def authenticator(ctl: ControllerHarness, authenticator_id: str) -> dict[str, Any]:
    return ctl.admin.data("GET", f"{AUTHENTICATORS}/{authenticator_id}")


def cert_authenticator_id(ctl: ControllerHarness, identity_id: str) -> str:
    rows = ctl.admin.data("GET", f"/edge/management/v1/identities/{identity_id}/authenticators")
    return next(a["id"] for a in rows if a["method"] == "cert")


def add_updb(ctl: ControllerHarness, identity_id: str, username: str) -> str:
    return ctl.admin.data("POST", AUTHENTICATORS, json_body={
        "method": "updb", "identityId": identity_id, "username": username, "password": "s3cret-pass"})["id"]


def expires_in(ctl: ControllerHarness, delta: timedelta = timedelta(days=1)) -> str:
    return (ctl.clock.now() + delta).isoformat()


# --- CSRs the controller must refuse (400 COULD_NOT_PROCESS_CSR) -----------------------------------------

def _csr_pem(key: Any, algorithm: Any = "sha256") -> str:
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bad-csr")])).sign(key, hashes.SHA256() if algorithm == "sha256" else algorithm)
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _corrupted_signature_csr() -> str:
    pem, _ = make_csr()
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x55  # inside the ECDSA signature value: the structure still parses
    corrupted = x509.load_der_x509_csr(bytes(der))
    assert not corrupted.is_signature_valid
    return corrupted.public_bytes(serialization.Encoding.PEM).decode()


def _certificate_instead_of_csr(world: World) -> str:
    return certs_of(world.alice.identity.identity.cert)[0].public_bytes(serialization.Encoding.PEM).decode()


@functools.cache
def _static_bad_csr(name: str) -> str:
    """Key generation (DSA especially) is slow: each of these inputs is built once per run."""
    return {
        "dsa-key": lambda: _csr_pem(dsa.generate_private_key(2048)),
        "ed25519-key": lambda: _csr_pem(ed25519.Ed25519PrivateKey.generate(), None),
        "rsa-1024": lambda: _csr_pem(rsa.generate_private_key(65537, 1024)),
        "ec-secp256k1": lambda: _csr_pem(ec.generate_private_key(ec.SECP256K1())),
        "corrupted-signature": _corrupted_signature_csr,
        "truncated-pem": lambda: make_csr()[0][:120],
        "second-pem-block-after-csr": lambda: make_csr()[0] + make_csr()[0],
    }[name]()


BAD_CSRS: dict[str, Callable[[World], str]] = {
    "garbage": lambda w: "this is not a certificate signing request",
    "empty-string": lambda w: "",
    "certificate-not-csr": _certificate_instead_of_csr,
    **{name: (lambda w, name=name: _static_bad_csr(name)) for name in (
        "truncated-pem", "second-pem-block-after-csr", "dsa-key", "ed25519-key", "rsa-1024", "ec-secp256k1", "corrupted-signature")},
}


# --- the world the table cases run in ---------------------------------------------------------------------

EXTEND_WORLD, VERIFY_WORLD = "test-extend-world", "test-extend-verify-world"


@dataclass
class World:
    """Built once per backend and kept as two snapshots; every table test restores one of them, which is much
    cheaper than enrolling identities again. It holds:

    - alice, logged in by certificate (her session is part of the snapshot), and a updb authenticator of hers;
    - bob, enrolled and logged in;
    - Y, whose cert authenticator the admin created with X's network-issued leaf (X's authenticator was
      re-enrolled first, which frees the fingerprint): it is not issued by the network;
    - in the verify snapshot only: a pending extension for alice and one for bob.
    """

    ctl: ControllerHarness
    alice: LoggedIn
    alice_updb_id: str
    bob: EnrolledIdentity
    bob_authenticator_id: str
    bob_conn: Connection
    foreign_conn: Connection
    foreign_id: str
    x_cert: str
    x_key: str
    pending: dict[str, Any] = field(default_factory=dict)
    bob_pending: dict[str, Any] = field(default_factory=dict)
    _conns: list[Connection] = field(default_factory=list)

    @property
    def alice_id(self) -> str:
        return self.alice.authenticator_id

    @property
    def token(self) -> str:
        assert self.alice.conn.session_token
        return self.alice.conn.session_token

    def csr(self) -> str:
        return make_csr()[0]

    def conn(self, conn: Connection) -> Connection:
        self._conns.append(conn)
        return conn

    def close_test_connections(self) -> None:
        while self._conns:
            self._conns.pop().close()

    def no_session_conn(self) -> Connection:
        """Alice's certificate on the TLS connection, but no zt-session."""
        return self.conn(self.alice.identity.connect())

    def certless_conn(self) -> Connection:
        """Alice's valid session token, sent on a TLS connection that presents no client certificate."""
        conn = self.conn(self.alice.identity.connect(present_cert=False))
        conn.session_token = self.token
        return conn

    def alice_token_on_bobs_tls(self) -> Connection:
        """Alice's session, but the TLS connection presents bob's certificate."""
        conn = self.conn(self.bob.connect())
        conn.session_token = self.token
        return conn

    def alice_token_on_a_ca_cert_tls(self) -> Connection:
        """Alice's session, but the TLS connection presents a CA certificate (the edge signer's) as its leaf."""
        signer = self.ctl.runtime.pki.signer
        conn = self.conn(self.ctl.connect(cert_pem=signer.cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem=key_pem(signer.key)))
        conn.session_token = self.token
        return conn

    def foreign_token_on_alices_tls(self) -> Connection:
        """Y's session, but the TLS connection presents alice's certificate."""
        conn = self.conn(self.alice.identity.connect())
        conn.session_token = self.foreign_conn.session_token
        return conn


def _build_world(ctl: ControllerHarness) -> World:
    ctl.reset()
    alice = ctl.enroll_identity("alice")
    alice_conn = alice.connect()
    alice_session = LoggedIn(alice, alice_conn, alice_conn.login_cert())
    bob = ctl.enroll_identity("bob")
    bob_conn = bob.connect()
    bob_conn.login_cert()

    x = ctl.enroll_identity("x-original-owner")
    ctl.admin.data("POST", f"{AUTHENTICATORS}/{cert_authenticator_id(ctl, x.id)}/re-enroll", json_body={"expiresAt": expires_in(ctl)})
    y_id = ctl.admin.data("POST", "/edge/management/v1/identities", json_body={"name": "y-third-party", "type": "Default", "isAdmin": False})["id"]
    x_leaf = certs_of(x.identity.cert)[0].public_bytes(serialization.Encoding.PEM).decode()
    y_auth = ctl.admin.data("POST", AUTHENTICATORS, json_body={"method": "cert", "identityId": y_id, "certPem": x_leaf})["id"]
    foreign_conn = ctl.connect(cert_pem=x.identity.cert, key_pem=x.identity.key)
    y_session = foreign_conn.login_cert()
    assert (y_session["identityId"], y_session["authenticatorId"], y_session["isCertExtendable"]) == (y_id, y_auth, False)
    assert authenticator(ctl, y_auth)["isIssuedByNetwork"] is False

    world = World(ctl, alice_session, add_updb(ctl, alice.id, "alice-login"), bob, cert_authenticator_id(ctl, bob.id), bob_conn,
                  foreign_conn, y_auth, x.identity.cert, x.identity.key)
    ctl.snapshot(EXTEND_WORLD)
    world.pending = extend(alice_conn, world.alice_id, make_csr()[0])
    world.bob_pending = extend(bob_conn, world.bob_authenticator_id, make_csr()[0])
    ctl.snapshot(VERIFY_WORLD)
    return world


@pytest.fixture(scope="module")
def world_base(ziti_controller_session: ControllerHarness) -> Iterator[World]:
    """One world per backend (the session controller is parametrized on SQLite and PostgreSQL)."""
    world = _build_world(ziti_controller_session)
    yield world
    for conn in (world.alice.conn, world.bob_conn, world.foreign_conn):
        conn.close()


@pytest.fixture
def world(world_base: World) -> Iterator[World]:
    world_base.ctl.restore(EXTEND_WORLD)
    yield world_base
    world_base.close_test_connections()


@pytest.fixture
def vworld(world_base: World) -> Iterator[World]:
    world_base.ctl.restore(VERIFY_WORLD)
    yield world_base
    world_base.close_test_connections()


@dataclass(frozen=True)
class Case:
    """Build (connection, authenticator id, JSON body) in the world; expect (status, code)."""

    build: Callable[[World], tuple[Connection, str, dict[str, Any]]]
    status: int
    code: str


def cases(table: dict[str, Case]) -> list[Any]:
    return [pytest.param(case, id=name) for name, case in table.items()]


def assert_alice_unchanged(world: World, *, fingerprint: str) -> None:
    """A refused request changed nothing: alice's authenticator keeps its certificate, which still logs in."""
    assert authenticator(world.ctl, world.alice_id)["fingerprint"] == fingerprint
    session = login_with(world.ctl, world.alice.identity.identity.cert, world.alice.identity.identity.key)
    assert session["authenticatorId"] == world.alice_id


def test_world_is_what_the_tables_assume(world: World):
    alice_leaf = certs_of(world.alice.identity.identity.cert)[0]
    assert authenticator(world.ctl, world.alice_id)["fingerprint"] == sha1_of(alice_leaf)
    assert world.alice.conn.data("GET", "/edge/client/v1/current-api-session")["authenticatorId"] == world.alice_id
    assert authenticator(world.ctl, world.alice_updb_id)["method"] == "updb"
    assert authenticator(world.ctl, world.bob_authenticator_id)["identityId"] == world.bob.id
    y = authenticator(world.ctl, world.foreign_id)
    assert (y["method"], y["isIssuedByNetwork"], y["fingerprint"]) == ("cert", False, sha1_of(certs_of(world.x_cert)[0]))
    assert world.foreign_conn.data("GET", "/edge/client/v1/current-api-session")["isCertExtendable"] is False


# --- 1. extend: every check, in the real order (§1.2) ------------------------------------------------------

EXTEND_CHECKS: dict[str, Case] = {
    "0-no-session": Case(lambda w: (w.no_session_conn(), w.alice_id, {"clientCertCsr": w.csr()}), 401, "UNAUTHORIZED"),
    "0b-missing-clientCertCsr": Case(lambda w: (w.alice.conn, w.alice_id, {}), 400, "COULD_NOT_VALIDATE"),
    "0b-clientCertCsr-not-a-string": Case(lambda w: (w.alice.conn, w.alice_id, {"clientCertCsr": 42}), 400, "COULD_NOT_VALIDATE"),
    "1-no-client-cert-on-this-connection": Case(lambda w: (w.certless_conn(), w.alice_id, {"clientCertCsr": w.csr()}), 401, "UNAUTHORIZED"),
    "4-unknown-authenticator": Case(lambda w: (w.alice.conn, "no-such-authenticator", {"clientCertCsr": w.csr()}), 404, "NOT_FOUND"),
    "5-updb-authenticator": Case(lambda w: (w.alice.conn, w.alice_updb_id, {"clientCertCsr": w.csr()}), 409, "CAN_NOT_UPDATE_AUTHENTICATOR"),
    "6-another-identitys-authenticator": Case(
        lambda w: (w.alice.conn, w.bob_authenticator_id, {"clientCertCsr": w.csr()}), 401, "UNAUTHORIZED"),
    "7-not-issued-by-network": Case(lambda w: (w.foreign_conn, w.foreign_id, {"clientCertCsr": w.csr()}), 409, "CAN_NOT_UPDATE_AUTHENTICATOR"),
    "9-tls-leaf-is-not-the-authenticators-cert": Case(
        lambda w: (w.alice_token_on_bobs_tls(), w.alice_id, {"clientCertCsr": w.csr()}), 401, "UNAUTHORIZED"),
    **{
        f"11-bad-csr-{name}": Case(lambda w, make=make: (w.alice.conn, w.alice_id, {"clientCertCsr": make(w)}), 400, "COULD_NOT_PROCESS_CSR")
        for name, make in BAD_CSRS.items()
    },
}


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("case", cases(EXTEND_CHECKS))
def test_extend_check(world: World, case: Case, prefix: str):
    conn, authenticator_id, body = case.build(world)
    before = authenticator(world.ctl, world.alice_id)["fingerprint"]
    with pytest.raises(ControllerError) as excinfo:
        conn.data("POST", extend_path(prefix, authenticator_id), json_body=body)
    assert error_of(excinfo) == (case.status, case.code)
    # No pending certificate was stored: there is nothing to verify.
    with pytest.raises(ControllerError) as excinfo:
        verify(world.alice.conn, world.alice_id, world.alice.identity.identity.cert)
    assert error_of(excinfo) == (409, "CAN_NOT_UPDATE_AUTHENTICATOR")
    assert_alice_unchanged(world, fingerprint=before)


# §1.2 row 2: the real listener never verifies client certificates, so a CA certificate presented as the TLS
# leaf reaches the handler, which answers 401 (our TLS layer, controller.tls, lets it through too).
def test_extend_with_a_ca_certificate_as_the_tls_leaf(world: World):
    conn = world.alice_token_on_a_ca_cert_tls()
    with pytest.raises(ControllerError) as excinfo:
        extend(conn, world.alice_id, world.csr())
    assert error_of(excinfo) == (401, "UNAUTHORIZED")


# Two rules broken at once: the earlier row of §1.2 decides the answer.
EXTEND_ORDER: dict[str, Case] = {
    "no-session-beats-missing-csr": Case(lambda w: (w.no_session_conn(), w.alice_id, {}), 401, "UNAUTHORIZED"),
    "missing-csr-beats-no-client-cert": Case(lambda w: (w.certless_conn(), w.alice_id, {}), 400, "COULD_NOT_VALIDATE"),
    "no-client-cert-beats-unknown-id": Case(
        lambda w: (w.certless_conn(), "no-such-authenticator", {"clientCertCsr": w.csr()}), 401, "UNAUTHORIZED"),
    "unknown-id-beats-bad-csr": Case(lambda w: (w.alice.conn, "no-such-authenticator", {"clientCertCsr": "garbage"}), 404, "NOT_FOUND"),
    "updb-beats-tls-leaf-mismatch": Case(
        lambda w: (w.alice_token_on_bobs_tls(), w.alice_updb_id, {"clientCertCsr": w.csr()}), 409, "CAN_NOT_UPDATE_AUTHENTICATOR"),
    "wrong-owner-beats-not-issued-by-network": Case(lambda w: (w.alice.conn, w.foreign_id, {"clientCertCsr": w.csr()}), 401, "UNAUTHORIZED"),
    "not-issued-by-network-beats-tls-leaf-mismatch": Case(
        lambda w: (w.foreign_token_on_alices_tls(), w.foreign_id, {"clientCertCsr": w.csr()}), 409, "CAN_NOT_UPDATE_AUTHENTICATOR"),
    "wrong-owner-even-when-tls-presents-the-owners-cert": Case(
        lambda w: (w.alice_token_on_bobs_tls(), w.bob_authenticator_id, {"clientCertCsr": w.csr()}), 401, "UNAUTHORIZED"),
    "wrong-owner-beats-bad-csr": Case(lambda w: (w.alice.conn, w.bob_authenticator_id, {"clientCertCsr": "garbage"}), 401, "UNAUTHORIZED"),
    "tls-leaf-mismatch-beats-bad-csr": Case(lambda w: (w.alice_token_on_bobs_tls(), w.alice_id, {"clientCertCsr": ""}), 401, "UNAUTHORIZED"),
    "not-issued-by-network-beats-bad-csr": Case(
        lambda w: (w.foreign_conn, w.foreign_id, {"clientCertCsr": "garbage"}), 409, "CAN_NOT_UPDATE_AUTHENTICATOR"),
}


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("case", cases(EXTEND_ORDER))
def test_extend_check_order(world: World, case: Case, prefix: str):
    conn, authenticator_id, body = case.build(world)
    before = authenticator(world.ctl, world.alice_id)["fingerprint"]
    with pytest.raises(ControllerError) as excinfo:
        conn.data("POST", extend_path(prefix, authenticator_id), json_body=body)
    assert error_of(excinfo) == (case.status, case.code)
    assert_alice_unchanged(world, fingerprint=before)


def test_refused_third_party_extension_leaves_y_logging_in(world: World):
    with pytest.raises(ControllerError) as excinfo:
        extend(world.foreign_conn, world.foreign_id, world.csr())
    assert error_of(excinfo) == (409, "CAN_NOT_UPDATE_AUTHENTICATOR")
    session = login_with(world.ctl, world.x_cert, world.x_key)
    assert (session["authenticatorId"], session["isCertExtendable"]) == (world.foreign_id, False)


# --- 2. extend-verify: every check, in the real order (§1.5) -----------------------------------------------

def _reversed_chain(w: World) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in reversed(certs_of(w.pending["clientCert"])))


@dataclass(frozen=True)
class VerifyCase(Case):
    pending: bool = True  # alice has a pending extension when the request is sent


VERIFY_CHECKS: dict[str, VerifyCase] = {
    "no-session": VerifyCase(lambda w: (w.no_session_conn(), w.alice_id, {"clientCert": w.pending["clientCert"]}), 401, "UNAUTHORIZED"),
    "missing-clientCert": VerifyCase(lambda w: (w.alice.conn, w.alice_id, {}), 400, "COULD_NOT_VALIDATE"),
    "clientCert-not-a-string": VerifyCase(lambda w: (w.alice.conn, w.alice_id, {"clientCert": ["x"]}), 400, "COULD_NOT_VALIDATE"),
    "1-unknown-authenticator": VerifyCase(
        lambda w: (w.alice.conn, "no-such-authenticator", {"clientCert": w.pending["clientCert"]}), 404, "NOT_FOUND"),
    "2-updb-authenticator": VerifyCase(
        lambda w: (w.alice.conn, w.alice_updb_id, {"clientCert": w.pending["clientCert"]}), 409, "CAN_NOT_UPDATE_AUTHENTICATOR"),
    "3-another-identitys-authenticator": VerifyCase(
        lambda w: (w.alice.conn, w.bob_authenticator_id, {"clientCert": w.bob_pending["clientCert"]}), 401, "UNAUTHORIZED"),
    "5-nothing-pending": VerifyCase(
        lambda w: (w.alice.conn, w.alice_id, {"clientCert": w.alice.identity.identity.cert}), 409, "CAN_NOT_UPDATE_AUTHENTICATOR", pending=False),
    "5-nothing-pending-even-with-a-previously-issued-cert": VerifyCase(
        lambda w: (w.alice.conn, w.alice_id, {"clientCert": w.pending["clientCert"]}), 409, "CAN_NOT_UPDATE_AUTHENTICATOR", pending=False),
    "6-unparseable-clientCert": VerifyCase(lambda w: (w.alice.conn, w.alice_id, {"clientCert": "not a certificate"}), 400, "INVALID_CLIENT_CERT"),
    "6-empty-clientCert": VerifyCase(lambda w: (w.alice.conn, w.alice_id, {"clientCert": ""}), 400, "INVALID_CLIENT_CERT"),
    "6-mangled-clientCert": VerifyCase(
        lambda w: (w.alice.conn, w.alice_id, {"clientCert": w.pending["clientCert"].replace("MII", "MIX", 1)}), 400, "INVALID_CLIENT_CERT"),
    "7-the-old-certificate": VerifyCase(
        lambda w: (w.alice.conn, w.alice_id, {"clientCert": w.alice.identity.identity.cert}), 400, "INVALID_CLIENT_CERT"),
    "7-another-identitys-pending-certificate": VerifyCase(
        lambda w: (w.alice.conn, w.alice_id, {"clientCert": w.bob_pending["clientCert"]}), 400, "INVALID_CLIENT_CERT"),
    "7-chain-with-the-leaf-last": VerifyCase(lambda w: (w.alice.conn, w.alice_id, {"clientCert": _reversed_chain(w)}), 400, "INVALID_CLIENT_CERT"),
    # Two rules at once: the earlier one decides.
    "order-wrong-owner-beats-unparseable": VerifyCase(
        lambda w: (w.alice.conn, w.bob_authenticator_id, {"clientCert": "garbage"}), 401, "UNAUTHORIZED"),
    "order-wrong-owner-beats-nothing-pending": VerifyCase(
        lambda w: (w.alice.conn, w.bob_authenticator_id, {"clientCert": w.bob_pending["clientCert"]}), 401, "UNAUTHORIZED", pending=False),
    "order-updb-beats-unparseable": VerifyCase(
        lambda w: (w.alice.conn, w.alice_updb_id, {"clientCert": "garbage"}), 409, "CAN_NOT_UPDATE_AUTHENTICATOR"),
    "order-nothing-pending-beats-unparseable": VerifyCase(
        lambda w: (w.alice.conn, w.alice_id, {"clientCert": "garbage"}), 409, "CAN_NOT_UPDATE_AUTHENTICATOR", pending=False),
}


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("case", cases(VERIFY_CHECKS))
def test_extend_verify_check(vworld: World, case: VerifyCase, prefix: str):
    if not case.pending:
        vworld.ctl.restore(EXTEND_WORLD)  # same identities and sessions, no extension pending
    conn, authenticator_id, body = case.build(vworld)
    before = authenticator(vworld.ctl, vworld.alice_id)["fingerprint"]
    with pytest.raises(ControllerError) as excinfo:
        conn.data("POST", verify_path(prefix, authenticator_id), json_body=body)
    assert error_of(excinfo) == (case.status, case.code)
    assert_alice_unchanged(vworld, fingerprint=before)
    if case.pending:  # the refused verify left the pending certificate in place: it still verifies
        assert verify(vworld.alice.conn, vworld.alice_id, vworld.pending["clientCert"]) == {}


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("send", ["whole-chain", "leaf-only", "chain-on-a-connection-without-client-cert"])
def test_extend_verify_accepts(vworld: World, prefix: str, send: str):
    chain = vworld.pending["clientCert"]
    assert len(certs_of(chain)) >= 2  # leaf + intermediates
    conn = vworld.alice.conn
    if send == "leaf-only":
        chain = certs_of(chain)[0].public_bytes(serialization.Encoding.PEM).decode()
    elif send.endswith("without-client-cert"):
        conn = vworld.certless_conn()  # verify does not look at the TLS certificate (§1.5)
    assert conn.data("POST", verify_path(prefix, vworld.alice_id), json_body={"clientCert": chain}) == {}
    assert authenticator(vworld.ctl, vworld.alice_id)["fingerprint"] == sha1_of(certs_of(chain)[0])


# --- 3. the response shape and the new certificate (§1.3, §1.4) ---------------------------------------------

@pytest.mark.parametrize("prefix", PREFIXES)
def test_extend_response_and_certificate_profile(ctl: ControllerHarness, alice_session: LoggedIn, prefix: str):
    conn, auth_id = alice_session.conn, alice_session.authenticator_id
    old_leaf = certs_of(alice_session.identity.identity.cert)[0]
    # A random CN is kept; the CSR's own SANs are ignored (SANs come from the current certificate).
    key = ec.generate_private_key(ec.SECP384R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenZiti"), x509.NameAttribute(NameOID.COMMON_NAME, "a-random-cn-the-controller-keeps"),
    ])).add_extension(x509.SubjectAlternativeName([x509.DNSName("ignored.example")]), critical=False).sign(key, hashes.SHA384())
    csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    now = ctl.clock.now()

    status, headers, payload = conn.raw("POST", extend_path(prefix, auth_id), body=json.dumps({"clientCertCsr": csr_pem}).encode(),
                                        headers={"Content-Type": "application/json"})
    assert status == 200
    assert headers.get_all("content-type") == ["application/json"]
    body = json.loads(payload)
    assert set(body) == {"data", "meta"} and body["meta"] == {}
    assert set(body["data"]) == {"clientCert", "ca"}

    chain, bundle = certs_of(body["data"]["clientCert"]), certs_of(body["data"]["ca"])
    roots = [c for c in bundle if c.subject == c.issuer]
    assert roots, "the CA bundle holds the root"
    leaf, intermediates = chain[0], chain[1:]
    # leaf + intermediates, never the root.
    assert intermediates and all(c.subject != c.issuer for c in chain)
    assert {sha1_of(c) for c in intermediates} <= {sha1_of(c) for c in bundle}
    with ctl.connect() as anon:  # the same CA certificates /.well-known/est/cacerts serves
        assert {sha1_of(c) for c in bundle} == {sha1_of(c) for c in fetch_ca_bundle(anon)}
    verified = PolicyBuilder().store(Store(roots)).time(now).build_client_verifier().verify(leaf, intermediates)
    assert sha1_of(verified.chain[0]) == sha1_of(leaf)
    assert sha1_of(verified.chain[-1]) in {sha1_of(r) for r in roots}

    assert leaf.subject == csr.subject
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san == old_leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    [uri] = san.get_values_for_type(x509.UniformResourceIdentifier)
    assert re.fullmatch(rf"spiffe://[^/]+/identity/{re.escape(alice_session.identity.id)}", uri)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert leaf.public_key().public_bytes(serialization.Encoding.DER, spki) == key.public_key().public_bytes(serialization.Encoding.DER, spki)
    assert leaf.issuer == intermediates[0].subject
    assert abs(leaf.not_valid_before_utc - (now - timedelta(minutes=1))) <= timedelta(seconds=5)
    # NotAfter = now + the configured default (365 days), NotBefore = now - 1 minute.
    assert ctl.runtime.settings.identity_cert_lifetime == timedelta(days=365)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(days=365, minutes=1)
    assert leaf.serial_number > 0 and leaf.serial_number.bit_length() <= 159

    # extend-verify answers exactly {"data": {}, "meta": {}}.
    status, headers, payload = conn.raw("POST", verify_path(prefix, auth_id), body=json.dumps({"clientCert": body["data"]["clientCert"]}).encode(),
                                        headers={"Content-Type": "application/json"})
    assert (status, headers.get_all("content-type"), json.loads(payload)) == (200, ["application/json"], {"data": {}, "meta": {}})


def test_extend_keeps_the_sans_of_the_current_certificate_across_two_extensions(ctl: ControllerHarness, alice_session: LoggedIn):
    conn, auth_id = alice_session.conn, alice_session.authenticator_id
    first_csr, first_key = make_csr(common_name="first")
    first = extend(conn, auth_id, first_csr)
    verify(conn, auth_id, first["clientCert"])
    # The next extend must be sent over a connection presenting the new certificate.
    with ctl.connect(cert_pem=first["clientCert"], key_pem=key_pem(first_key)) as new_conn:
        new_conn.login_cert()
        second = extend(new_conn, auth_id, make_csr(common_name="second")[0])
    old_san = certs_of(alice_session.identity.identity.cert)[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert certs_of(second["clientCert"])[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value == old_san


# --- 4. the swap moment (§1.6), a second extend, key roll -------------------------------------------------------

def test_swap_moment_with_real_logins(ctl: ControllerHarness, alice_session: LoggedIn):
    alice = alice_session.identity
    old_cert, old_key = alice.identity.cert, alice.identity.key
    auth_id = alice_session.authenticator_id
    csr, new_key = make_csr()
    result = extend(alice_session.conn, auth_id, csr)
    new_cert = result["clientCert"]

    # After extend, before verify: the old certificate logs in; the new one is not indexed yet.
    assert login_with(ctl, old_cert, old_key)["authenticatorId"] == auth_id
    assert login_fails(ctl, new_cert, key_pem(new_key)) == (401, "INVALID_AUTH")
    # The pending certificate is nowhere in the authenticator's details (§2.2).
    for detail in (authenticator(ctl, auth_id), alice_session.conn.data("GET", f"{CLIENT}/current-identity/authenticators/{auth_id}")):
        assert detail["fingerprint"] == sha1_of(certs_of(old_cert)[0])
        assert certs_of(detail["certPem"])[0] == certs_of(old_cert)[0]
        assert not {"unverifiedCertPem", "unverifiedFingerprint"} & set(detail)

    verify(alice_session.conn, auth_id, new_cert)

    # After verify: at once, the old certificate fails and the new one logs in.
    assert login_fails(ctl, old_cert, old_key) == (401, "INVALID_AUTH")
    session = login_with(ctl, new_cert, key_pem(new_key))
    assert (session["identityId"], session["authenticatorId"]) == (alice.id, auth_id)
    detail = authenticator(ctl, auth_id)
    assert detail["fingerprint"] == sha1_of(certs_of(new_cert)[0])
    assert sha1_of(certs_of(detail["certPem"])[0]) == detail["fingerprint"]
    # An existing token-based session stays valid: tokens are not certificates.
    assert alice_session.conn.data("GET", "/edge/client/v1/current-api-session")["identityId"] == alice.id


def test_old_certificate_cannot_extend_after_the_swap(ctl: ControllerHarness, alice_session: LoggedIn):
    """The existing session still works, but its TLS leaf is no longer the authenticator's certificate (§1.2 row 9)."""
    auth_id = alice_session.authenticator_id
    verify(alice_session.conn, auth_id, extend(alice_session.conn, auth_id, make_csr()[0])["clientCert"])
    with pytest.raises(ControllerError) as excinfo:
        extend(alice_session.conn, auth_id, make_csr()[0])
    assert error_of(excinfo) == (401, "UNAUTHORIZED")


def test_second_extend_replaces_the_pending_certificate(ctl: ControllerHarness, alice_session: LoggedIn):
    conn, auth_id = alice_session.conn, alice_session.authenticator_id
    csr1, key1 = make_csr()
    csr2, key2 = make_csr()
    first = extend(conn, auth_id, csr1)["clientCert"]
    second = extend(conn, auth_id, csr2)["clientCert"]
    assert sha1_of(certs_of(first)[0]) != sha1_of(certs_of(second)[0])

    with pytest.raises(ControllerError) as excinfo:
        verify(conn, auth_id, first)
    assert error_of(excinfo) == (400, "INVALID_CLIENT_CERT")
    verify(conn, auth_id, second)

    assert login_fails(ctl, first, key_pem(key1)) == (401, "INVALID_AUTH")
    assert login_with(ctl, second, key_pem(key2))["authenticatorId"] == auth_id
    # Verified once: nothing is pending any more.
    with pytest.raises(ControllerError) as excinfo:
        verify(conn, auth_id, second)
    assert error_of(excinfo) == (409, "CAN_NOT_UPDATE_AUTHENTICATOR")


@pytest.mark.parametrize("roll", [pytest.param(True, id="new-key"), pytest.param(False, id="same-key")])
def test_key_roll_bookkeeping(ctl: ControllerHarness, alice_session: LoggedIn, roll: bool):
    conn, auth_id = alice_session.conn, alice_session.authenticator_id
    assert authenticator(ctl, auth_id)["lastExtendRolledKeys"] is False
    key = None if roll else load_key(alice_session.identity.identity.key)
    csr, key = make_csr(key=key)
    result = extend(conn, auth_id, csr)
    assert authenticator(ctl, auth_id)["lastExtendRolledKeys"] is False  # only verify does the bookkeeping
    verify(conn, auth_id, result["clientCert"])
    assert authenticator(ctl, auth_id)["lastExtendRolledKeys"] is roll
    assert login_with(ctl, result["clientCert"], key_pem(key))["authenticatorId"] == auth_id
    events = ctl.journal.events(kind="extend-verify", outcome="success")
    assert [e["detail"]["rolledKeys"] for e in events] == [roll]


# --- 5. request-extend flags (§2.1, §2.2) -----------------------------------------------------------------

@pytest.mark.parametrize("roll_keys", [pytest.param(True, id="rollKeys"), pytest.param(False, id="extend-only")])
def test_request_extend_flags_reach_the_client_and_verify_clears_them(ctl: ControllerHarness, alice: EnrolledIdentity, roll_keys: bool):
    auth_id = cert_authenticator_id(ctl, alice.id)
    assert ctl.admin.data("POST", f"{AUTHENTICATORS}/{auth_id}/request-extend", json_body={"rollKeys": roll_keys}) == {}
    detail = authenticator(ctl, auth_id)
    assert (detail["isExtendRequested"], detail["isKeyRollRequested"]) == (True, roll_keys)
    assert detail["extendRequestedAt"] is not None

    conn = alice.connect()
    try:
        session, headers = conn.request("POST", "/edge/client/v1/authenticate?method=cert", json_body={})
        conn.session_token = session["data"]["token"]
        body = session["data"]
        assert (body["isCertExtendRequested"], body["isCertKeyRollRequested"], body["isCertExtendable"]) == (True, roll_keys, True)
        # The key-roll header has the same name as the extend header: it appears twice when keys must roll.
        assert headers.get_all("ziti-authenticator-extend-requested") == ["true"] * (2 if roll_keys else 1)
        current = conn.data("GET", "/edge/client/v1/current-api-session")
        assert (current["isCertExtendRequested"], current["isCertKeyRollRequested"]) == (True, roll_keys)

        # A refused attempt does not clear the flags ...
        with pytest.raises(ControllerError) as excinfo:
            extend(conn, auth_id, "garbage")
        assert error_of(excinfo) == (400, "COULD_NOT_PROCESS_CSR")
        assert authenticator(ctl, auth_id)["isExtendRequested"] is True
        # ... neither does extend alone; only a successful verify does.
        csr, key = make_csr(key=None if roll_keys else load_key(alice.identity.key))
        result = extend(conn, auth_id, csr)
        assert authenticator(ctl, auth_id)["isExtendRequested"] is True
        verify(conn, auth_id, result["clientCert"])

        current = conn.data("GET", "/edge/client/v1/current-api-session")  # read live from the authenticator
        assert (current["isCertExtendRequested"], current["isCertKeyRollRequested"]) == (False, False)
        detail = authenticator(ctl, auth_id)
        assert (detail["isExtendRequested"], detail["isKeyRollRequested"]) == (False, False)
        assert detail["extendRequestedAt"] is not None  # written back unchanged, not reset (§1.5)
        assert detail["lastExtendRolledKeys"] is roll_keys
    finally:
        conn.close()

    with ctl.connect(cert_pem=result["clientCert"], key_pem=key_pem(key)) as new_conn:
        session, headers = new_conn.request("POST", "/edge/client/v1/authenticate?method=cert", json_body={})
    assert (session["data"]["isCertExtendRequested"], session["data"]["isCertKeyRollRequested"]) == (False, False)
    assert headers.get_all("ziti-authenticator-extend-requested") is None


def test_request_extend_is_read_live_by_an_existing_session(ctl: ControllerHarness, alice_session: LoggedIn):
    assert alice_session.session["isCertExtendRequested"] is False
    ctl.admin.data("POST", f"{AUTHENTICATORS}/{alice_session.authenticator_id}/request-extend", json_body={"rollKeys": True})
    current = alice_session.conn.data("GET", "/current-api-session")
    assert (current["isCertExtendRequested"], current["isCertKeyRollRequested"]) == (True, True)


# --- 6. expired certificates (§1.2 row 10, §5.1) -------------------------------------------------------------

def test_expired_certificate_logs_in_and_extends_under_the_default_policy(ctl: ControllerHarness, alice: EnrolledIdentity):
    old_leaf = certs_of(alice.identity.cert)[0]
    ctl.clock.advance("400d")
    now = ctl.clock.now()
    assert now > old_leaf.not_valid_after_utc
    with alice.connect() as conn:
        session = conn.login_cert()
        auth_id = session["authenticatorId"]
        csr, key = make_csr()
        result = extend(conn, auth_id, csr)
        verify(conn, auth_id, result["clientCert"])
    leaf = certs_of(result["clientCert"])[0]
    assert abs(leaf.not_valid_before_utc - (now - timedelta(minutes=1))) <= timedelta(seconds=5)
    assert leaf.not_valid_after_utc > now
    assert login_with(ctl, result["clientCert"], key_pem(key))["authenticatorId"] == auth_id
    assert login_fails(ctl, alice.identity.cert, alice.identity.key) == (401, "INVALID_AUTH")


def test_expired_certificate_is_refused_when_the_policy_forbids_it(ctl: ControllerHarness, database_url: str | None, tmp_path):
    """A second controller with allowExpiredCerts=false, on the same backend. On PostgreSQL it shares the
    session controller's database, so it keeps the same admin password and leaves the state reset."""
    harness = ControllerHarness.start(database_url=database_url, allow_expired_certs=False, workdir=tmp_path,
                                      admin_password=ctl.admin_password)
    try:
        harness.reset()
        old = harness.enroll_identity("old")
        assert login_with(harness, old.identity.cert, old.identity.key)["identityId"] == old.id
        harness.clock.advance("400d")
        assert harness.clock.now() > certs_of(old.identity.cert)[0].not_valid_after_utc
        assert login_fails(harness, old.identity.cert, old.identity.key) == (401, "INVALID_AUTH")
        # The policy refuses only what is outside its validity: a certificate issued now logs in.
        fresh = harness.enroll_identity("fresh")
        assert login_with(harness, fresh.identity.cert, fresh.identity.key)["identityId"] == fresh.id
    finally:
        harness.reset()
        harness.stop()


# --- 7. concurrency: real threads, real TLS, one authenticator ----------------------------------------------

N_THREADS = 8


@dataclass
class Attempt:
    extend_status: int | None = None
    extend_code: str | None = None
    verify_status: int | None = None
    verify_code: str | None = None
    cert: str | None = None
    key: str | None = None
    unexpected: BaseException | None = None


def _call(fn: Callable[[], Any]) -> tuple[int, str | None, Any]:
    try:
        return 200, None, fn()
    except ControllerError as exc:
        return exc.status, exc.code, None


def _race(alice: EnrolledIdentity, auth_id: str, *, phased: bool) -> list[Attempt]:
    """N threads, each with its own TLS connection and API session for alice, extend then verify.

    phased: every extend runs at once, then (barrier) every verify runs at once.
    otherwise: the first half starts at once; the second half starts as soon as one extend has returned, so
    its extends overlap the first half's verifies (an extend that read the authenticator before a verify
    committed must not be able to store a pending certificate after it).
    """
    conns = [alice.connect() for _ in range(N_THREADS)]
    for conn in conns:
        conn.login_cert()
    start, middle = threading.Barrier(N_THREADS), threading.Barrier(N_THREADS)
    first_extend_returned = threading.Event()
    attempts = [Attempt() for _ in range(N_THREADS)]

    def run(i: int) -> None:
        attempt, conn = attempts[i], conns[i]
        try:
            csr, key = make_csr(common_name=f"racer-{i}")
            start.wait(timeout=30)
            if not phased and i >= N_THREADS // 2:
                first_extend_returned.wait(timeout=30)
            attempt.extend_status, attempt.extend_code, result = _call(lambda: extend(conn, auth_id, csr))
            first_extend_returned.set()
            if phased:
                middle.wait(timeout=30)
            if result is not None:
                attempt.cert, attempt.key = result["clientCert"], key_pem(key)
                attempt.verify_status, attempt.verify_code, _ = _call(lambda: verify(conn, auth_id, result["clientCert"]))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            attempt.unexpected = exc
            first_extend_returned.set()
            middle.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for conn in conns:
        conn.close()
    assert not any(t.is_alive() for t in threads)
    assert [a.unexpected for a in attempts if a.unexpected] == []
    return attempts


def _assert_consistent(ctl: ControllerHarness, alice: EnrolledIdentity, auth_id: str, attempts: list[Attempt]) -> None:
    detail = authenticator(ctl, auth_id)
    assert detail["fingerprint"] == sha1_of(certs_of(detail["certPem"])[0]), "fingerprint and certPem disagree"
    verified = [a for a in attempts if a.verify_status == 200]
    assert len(verified) == 1, [(a.verify_status, a.verify_code) for a in attempts]
    # Exactly one certificate of all those ever issued (and the original) still logs in: the current one.
    candidates = [(alice.identity.cert, alice.identity.key)] + [(a.cert, a.key) for a in attempts if a.cert]
    logged_in = []
    for cert, key in candidates:
        try:
            login_with(ctl, cert, key)
            logged_in.append(sha1_of(certs_of(cert)[0]))
        except ControllerError as exc:
            assert (exc.status, exc.code) == (401, "INVALID_AUTH")
    assert logged_in == [detail["fingerprint"]]
    events = ctl.journal.events(kind="extend-verify", outcome="success")
    assert len(events) == len(verified)
    assert events[-1]["newFingerprint"] == detail["fingerprint"]
    assert [sha1_of(certs_of(a.cert)[0]) for a in verified] == [detail["fingerprint"]]
    # No pending certificate is left behind: the one successful verify cleared it, and no extend can succeed
    # after it (every racer presented the original certificate).
    current = next(a for a in verified)
    with ctl.connect(cert_pem=current.cert, key_pem=current.key) as conn:
        conn.login_cert()
        with pytest.raises(ControllerError) as excinfo:
            verify(conn, auth_id, current.cert)
    assert error_of(excinfo) == (409, "CAN_NOT_UPDATE_AUTHENTICATOR")


def test_concurrent_extends_then_concurrent_verifies(ctl: ControllerHarness, alice: EnrolledIdentity):
    """All extends race (each presents the still-current certificate), then all verifies race: the last
    pending certificate wins and exactly one verify succeeds."""
    auth_id = cert_authenticator_id(ctl, alice.id)
    attempts = _race(alice, auth_id, phased=True)
    assert [(a.extend_status, a.extend_code) for a in attempts] == [(200, None)] * N_THREADS
    outcomes = sorted((a.verify_status, a.verify_code) for a in attempts)
    assert all(o in {(200, None), (400, "INVALID_CLIENT_CERT"), (409, "CAN_NOT_UPDATE_AUTHENTICATOR")} for o in outcomes), outcomes
    assert outcomes.count((200, None)) == 1, outcomes
    _assert_consistent(ctl, alice, auth_id, attempts)
    events = ctl.journal.events(kind="extend", outcome="success")
    assert len(events) == N_THREADS


def test_concurrent_extend_and_verify_interleaved(ctl: ControllerHarness, alice: EnrolledIdentity):
    """Each thread extends then verifies at once, so extends race with verifies. An extend that runs after
    another thread's verify presents a certificate that is no longer the authenticator's: 401 (§1.2 row 9)."""
    auth_id = cert_authenticator_id(ctl, alice.id)
    attempts = _race(alice, auth_id, phased=False)
    allowed_extend = {(200, None), (401, "UNAUTHORIZED")}
    allowed_verify = {(200, None), (400, "INVALID_CLIENT_CERT"), (409, "CAN_NOT_UPDATE_AUTHENTICATOR")}
    for a in attempts:
        assert (a.extend_status, a.extend_code) in allowed_extend, a
        if a.extend_status == 200:
            assert (a.verify_status, a.verify_code) in allowed_verify, a
        else:
            assert a.verify_status is None
    _assert_consistent(ctl, alice, auth_id, attempts)


# --- 8. the client helper end to end ------------------------------------------------------------------------

@pytest.mark.parametrize("roll_key", [pytest.param(False, id="same-key"), pytest.param(True, id="roll-key")])
def test_extend_identity_helper(ctl: ControllerHarness, alice: EnrolledIdentity, roll_key: bool):
    old = IdentityFile.load(alice.json_path)
    result = extend_identity(alice.json_path, roll_key=roll_key)

    new = IdentityFile.load(alice.json_path)
    assert result.backup is not None and result.backup == alice.json_path.with_name(alice.json_path.name + ".bak")
    backup = IdentityFile.load(result.backup)
    assert (backup.cert, backup.key, backup.ca) == (old.cert, old.key, old.ca)
    assert new.cert != old.cert and (new.key != old.key) is roll_key and result.rolled_key is roll_key
    assert result.old_fingerprint == sha1_of(certs_of(old.cert)[0])
    assert result.new_fingerprint == sha1_of(certs_of(new.cert)[0])
    assert len(certs_of(new.cert)) >= 2  # the saved certificate is the whole chain minus the root

    session = login_with(ctl, new.cert, new.key)
    assert (session["identityId"], session["authenticatorId"]) == (alice.id, result.authenticator_id)
    assert login_fails(ctl, old.cert, old.key) == (401, "INVALID_AUTH")
    detail = authenticator(ctl, result.authenticator_id)
    assert detail["fingerprint"] == result.new_fingerprint
    assert detail["lastExtendRolledKeys"] is roll_key

    # The reloaded identity extends again (its connection now presents the new certificate).
    alice.reload()
    again = extend_identity(alice.json_path, roll_key=roll_key)
    assert again.old_fingerprint == result.new_fingerprint
    assert login_fails(ctl, new.cert, new.key) == (401, "INVALID_AUTH")
