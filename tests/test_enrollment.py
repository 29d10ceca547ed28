"""Enrollment: the JWT, the OTT and updb flows, token rules, CSR refusals, response headers."""

from __future__ import annotations

import base64
import json
import ssl
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from conftest import error_of, make_csr
from controller.client.enroll import verify_jwt_signature
from controller.client.errors import ControllerError
from controller.pki.certs import fingerprint, load_certs_pem
from controller.pki.jwt import decode_unverified


def _ott(ctl, name="carol"):
    identity_id, jwt = ctl.create_identity(name)
    return identity_id, jwt, decode_unverified(jwt)[1]["jti"]


def _server_cert(ctl) -> x509.Certificate:
    parts = urlsplit(ctl.url)
    return x509.load_pem_x509_certificate(ssl.get_server_certificate((parts.hostname, parts.port)).encode())


def test_enrollment_jwt_claims_and_signature_by_the_tls_server_key(ctl):
    identity_id, jwt, token = _ott(ctl)
    header, claims = decode_unverified(jwt)
    server = _server_cert(ctl)
    assert header == {"alg": "ES256", "kid": fingerprint(server), "typ": "JWT"}
    assert claims["iss"] == ctl.url and claims["sub"] == identity_id and claims["aud"] == [""]
    assert claims["em"] == "ott" and claims["jti"] == token and "iat" not in claims and "nbf" not in claims
    detail = ctl.admin.data("GET", f"/edge/management/v1/identities/{identity_id}")["enrollment"]["ott"]
    assert detail["token"] == token and detail["jwt"] == jwt
    expires = datetime.fromisoformat(detail["expiresAt"].replace("Z", "+00:00"))
    assert claims["exp"] == int(expires.timestamp())
    # Verify the ES256 signature by hand with the certificate the server presents.
    signing_input, _, signature = jwt.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    server.public_key().verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    verify_jwt_signature(jwt, server)


def test_enrollment_lifetime_defaults_to_180_minutes(ctl):
    identity_id, _, _ = _ott(ctl)
    detail = ctl.admin.data("GET", f"/edge/management/v1/identities/{identity_id}")
    created = datetime.fromisoformat(detail["createdAt"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(detail["enrollment"]["ott"]["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=179) < expires - created <= timedelta(minutes=180)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-pem-file", "application/pkcs10"])
def test_legacy_enroll_with_a_raw_pem_body(ctl, anon, content_type):
    identity_id, _, token = _ott(ctl)
    csr, key = make_csr(common_name=identity_id)
    status, headers, body = anon.raw("POST", f"/edge/client/v1/enroll?method=ott&token={token}", body=csr.encode(),
                                     headers={"Content-Type": content_type})
    assert status == 200
    assert headers.get_all("content-type") == ["application/json"]  # the Go SDK needs exactly this, once
    chain = load_certs_pem(json.loads(body)["data"]["cert"])
    leaf = chain[0]
    ca = load_certs_pem(ctl.ca_bundle.read_text())
    roots = [c for c in ca if c.issuer == c.subject]
    verified = PolicyBuilder().store(Store(roots)).build_client_verifier().verify(leaf, chain[1:])
    assert verified.chain[-1] in roots and roots[0] not in chain  # no root in the returned chain
    assert leaf.public_key() == key.public_key()
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(u) for u in sans.get_values_for_type(x509.UniformResourceIdentifier)] == [f"spiffe://{ctl.runtime.pki.trust_domain}/identity/{identity_id}"]
    assert len(list(sans)) == 1
    assert leaf.subject == x509.load_pem_x509_csr(csr.encode()).subject  # the subject comes from the CSR
    assert timedelta(days=364) < leaf.not_valid_after_utc - leaf.not_valid_before_utc <= timedelta(days=365, minutes=1)


@pytest.mark.parametrize("path", ["/enroll?method=ott&token={token}", "/enroll?token={token}"])
def test_enroll_at_the_root_path_without_or_with_method(ctl, anon, path):
    _, _, token = _ott(ctl)
    csr, _ = make_csr()
    data = anon.data("POST", path.format(token=token), body=csr.encode(), content_type="text/plain")
    assert data["cert"].startswith("-----BEGIN CERTIFICATE-----")


def test_enroll_ott_json_endpoint_and_the_enrollment_becomes_an_authenticator(ctl, anon):
    identity_id, _, token = _ott(ctl)
    csr, _ = make_csr()
    data = anon.data("POST", "/edge/client/v1/enroll/ott", json_body={"token": token, "clientCsr": csr})
    detail = ctl.admin.data("GET", f"/edge/management/v1/identities/{identity_id}")
    assert detail["enrollment"] == {}
    assert detail["authenticators"]["cert"]["fingerprint"] == fingerprint(load_certs_pem(data["cert"])[0])
    authenticator = ctl.admin.data("GET", f"/edge/management/v1/authenticators/{detail['authenticators']['cert']['id']}")
    assert authenticator["isIssuedByNetwork"] is True and authenticator["method"] == "cert"
    assert [e["kind"] for e in ctl.journal.events(kind="enroll")] == ["enroll"]


def test_a_token_is_single_use(ctl, anon):
    _, _, token = _ott(ctl)
    csr, _ = make_csr()
    anon.data("POST", f"/enroll?method=ott&token={token}", body=csr.encode(), content_type="text/plain")
    with pytest.raises(ControllerError) as excinfo:
        anon.data("POST", f"/enroll?method=ott&token={token}", body=csr.encode(), content_type="text/plain")
    assert error_of(excinfo) == (400, "INVALID_ENROLLMENT_TOKEN")


@pytest.mark.parametrize("case, expected", [
    ("unknown-token", (400, "INVALID_ENROLLMENT_TOKEN")),
    ("no-token", (400, "INVALID_ENROLLMENT_TOKEN")),
    ("wrong-method", (400, "INVALID_ENROLL_METHOD")),
    ("unknown-method", (400, "INVALID_ENROLL_METHOD")),
    ("ca-method", (400, "ENROLLMENT_NO_VALID_CAS")),
    ("bad-csr", (400, "COULD_NOT_PROCESS_CSR")),
    ("empty-body", (400, "COULD_NOT_PROCESS_CSR")),
    ("accept-excludes-json", (415, "UNSUPPORTED_MEDIA")),
    ("bad-json", (400, "COULD_NOT_PARSE_BODY")),
])
def test_enroll_failures(ctl, anon, case, expected):
    _, _, token = _ott(ctl)
    csr, _ = make_csr()
    query, body, headers = f"method=ott&token={token}", csr.encode(), {"Content-Type": "text/plain"}
    if case == "unknown-token":
        query = "method=ott&token=6b0b3c5e-1111-4111-8111-111111111111"
    elif case == "no-token":
        query = "method=ott"
    elif case == "wrong-method":
        query = f"method=updb&token={token}"
        body, headers = b'{"password": "secret-1"}', {"Content-Type": "application/json"}
    elif case == "unknown-method":
        query = f"method=bogus&token={token}"
    elif case == "ca-method":
        query = "method=ca"
    elif case == "bad-csr":
        body = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    elif case == "empty-body":
        body = b""
    elif case == "accept-excludes-json":
        headers["Accept"] = "application/x-pem-file"
    elif case == "bad-json":
        body, headers = b"{nope", {"Content-Type": "application/json"}
    status, _, answer = anon.raw("POST", f"/edge/client/v1/enroll?{query}", body=body, headers=headers)
    assert (status, json.loads(answer)["error"]["code"]) == expected


def test_an_expired_enrollment_is_refused_on_the_simulated_clock(ctl, anon):
    _, _, token = _ott(ctl)
    ctl.clock.advance("181m")
    csr, _ = make_csr()
    with pytest.raises(ControllerError) as excinfo:
        anon.data("POST", f"/enroll?method=ott&token={token}", body=csr.encode(), content_type="text/plain")
    assert error_of(excinfo) == (400, "ENROLLMENT_EXPIRED")
    assert ctl.journal.events(kind="enroll", outcome="failure")[0]["errorCode"] == "ENROLLMENT_EXPIRED"


@pytest.mark.parametrize("key_type", ["ec-p384", "rsa-2048"])
def test_sdk_style_enrollment_with_other_key_types_logs_in(ctl, key_type):
    identity = ctl.enroll_identity(f"key-{key_type}", key=key_type)
    with identity.connect() as conn:
        assert conn.login_cert()["identityId"] == identity.id


def test_updb_enrollment_then_password_login(ctl, anon):
    created = ctl.admin.data("POST", "/edge/management/v1/identities",
                             json_body={"name": "dave", "type": "User", "isAdmin": False, "enrollment": {"updb": "dave"}})
    enrollment = ctl.admin.data("GET", f"/edge/management/v1/identities/{created['id']}")["enrollment"]["updb"]
    assert decode_unverified(enrollment["jwt"])[1]["em"] == "updb"
    assert anon.data("POST", f"/edge/client/v1/enroll/updb?token={enrollment['token']}", json_body={"password": "dave-secret"}) == {"username": "dave"}
    session = anon.login_password("dave", "dave-secret", prefix="/edge/client/v1")
    assert session["identityId"] == created["id"]
    with pytest.raises(ControllerError) as excinfo:
        anon.data("POST", f"/edge/client/v1/enroll/updb?token={enrollment['token']}", json_body={"password": "dave-secret"})
    assert error_of(excinfo) == (400, "INVALID_ENROLLMENT_TOKEN")


def test_concurrent_use_of_one_token_enrolls_exactly_once(ctl):
    from concurrent.futures import ThreadPoolExecutor

    _, _, token = _ott(ctl)

    def attempt(_):
        with ctl.connect() as conn:
            csr, _ = make_csr()
            try:
                conn.data("POST", f"/enroll?method=ott&token={token}", body=csr.encode(), content_type="text/plain")
                return "ok"
            except ControllerError as error:
                return error.code

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, range(6)))
    assert sorted(results) == ["INVALID_ENROLLMENT_TOKEN"] * 5 + ["ok"]
