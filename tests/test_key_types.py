"""The CSR key types the real controller's Go crypto takes (RSA >= 1024 bits, EC P-224/256/384/521, Ed25519)
enroll, log in and extend over real mutual TLS; the rest get 400 COULD_NOT_PROCESS_CSR (issue 7, "Key types")."""

from __future__ import annotations

import json
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from controller.client.http import Connection
from controller.pki.jwt import decode_unverified

C = "/edge/client/v1"

ACCEPTED = {
    "rsa-1024": lambda: rsa.generate_private_key(65537, 1024),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


def _csr(key, name: str = "key-type") -> str:
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _mtls(ctl, cert_pem: str, key, tmp_path) -> Connection:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # our client's OpenSSL would refuse its own 1024-bit RSA key otherwise
    context.load_verify_locations(cafile=str(ctl.ca_bundle))
    cert_path, key_path = tmp_path / f"{id(key)}.cert.pem", tmp_path / f"{id(key)}.key.pem"
    cert_path.write_text(cert_pem)
    key_path.write_text(_key_pem(key))
    context.load_cert_chain(cert_path, key_path)
    return Connection(ctl.url, context)


def _enroll(ctl, anon, key) -> tuple[str, str]:
    identity_id, jwt = ctl.create_identity(f"keys-{identity_suffix(key)}")
    token = decode_unverified(jwt)[1]["jti"]
    data, _ = anon.request("POST", f"{C}/enroll?method=ott&token={token}", body=_csr(key).encode(), content_type="text/plain")
    return identity_id, data["data"]["cert"]


def identity_suffix(key) -> str:
    return f"{type(key).__name__}-{id(key)}"


@pytest.mark.parametrize("key_type", list(ACCEPTED))
def test_each_accepted_key_type_enrolls_logs_in_and_extends(ctl, anon, key_type, tmp_path):
    key = ACCEPTED[key_type]()
    _identity_id, cert_pem = _enroll(ctl, anon, key)
    leaf = x509.load_pem_x509_certificate(cert_pem.encode())
    assert type(leaf.public_key()) is type(key.public_key())
    with _mtls(ctl, cert_pem, key, tmp_path) as conn:
        session = conn.login_cert()
        new_key = ACCEPTED[key_type]()
        extended = conn.data("POST", f"{C}/current-identity/authenticators/{session['authenticatorId']}/extend",
                             json_body={"clientCertCsr": _csr(new_key)})
        conn.data("POST", f"{C}/current-identity/authenticators/{session['authenticatorId']}/extend-verify",
                  json_body={"clientCert": extended["clientCert"]})
    with _mtls(ctl, extended["clientCert"], new_key, tmp_path) as conn:
        assert conn.login_cert()["authenticatorId"] == session["authenticatorId"]


def test_p224_is_signed_on_enroll_and_extend_though_no_tls_stack_can_log_in_with_it(ctl, anon, alice_session):
    """Go's x509 parses P-224, so the real controller signs it; neither Go's TLS nor OpenSSL's default
    signature algorithms can then use it for a handshake. We sign it too (and the same holds)."""
    _identity_id, cert_pem = _enroll(ctl, anon, ec.generate_private_key(ec.SECP224R1()))
    assert x509.load_pem_x509_certificate(cert_pem.encode()).public_key().curve.name == "secp224r1"
    extended = alice_session.conn.data("POST", f"{C}/current-identity/authenticators/{alice_session.authenticator_id}/extend",
                                       json_body={"clientCertCsr": _csr(ec.generate_private_key(ec.SECP224R1()))})
    assert x509.load_pem_x509_certificate(extended["clientCert"].encode()).public_key().curve.name == "secp224r1"


@pytest.mark.parametrize("make_key", [lambda: ec.generate_private_key(ec.SECP256K1())], ids=["secp256k1"])
def test_key_types_go_cannot_parse_are_refused(ctl, anon, make_key):
    identity_id, jwt = ctl.create_identity("keys-refused")
    token = decode_unverified(jwt)[1]["jti"]
    status, _, payload = anon.raw("POST", f"{C}/enroll?method=ott&token={token}", body=_csr(make_key()).encode(),
                                  headers={"Content-Type": "text/plain"})
    assert (status, json.loads(payload)["error"]["code"]) == (400, "COULD_NOT_PROCESS_CSR")
