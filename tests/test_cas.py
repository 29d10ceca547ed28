"""Third-party CAs over real mTLS, on SQLite and PostgreSQL: /cas CRUD, verify and its codes, the CA JWT,
ottca and CA auto-enrollment with the external certificate in the handshake, login by fingerprint and by
externalIdClaim, extension refused, re-enroll to ottca, and a CA's changes applying at once."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import error_of, make_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from controller.client import ControllerError
from controller.client.http import Connection
from controller.pki.certs import cert_pem, fingerprint, load_certs_pem
from controller.pki.throwaway import create_external_ca, issue_external_cert, verification_cert
from controller.testing.external_ca import RegisteredExternalCa
from controller.testing.harness import ControllerHarness

CAS = "/edge/management/v1/cas"
CLIENT = "/edge/client/v1"


def ca_body(ca_cert: x509.Certificate, **fields) -> dict:
    return {"name": "corp", "certPem": cert_pem(ca_cert), "isAuthEnabled": True, "isAutoCaEnrollmentEnabled": True,
            "isOttCaEnrollmentEnabled": True, "identityRoles": ["corp"], **fields}


def post_verify(ctl: ControllerHarness, ca_id: str, body: bytes):
    return ctl.admin.request("POST", f"{CAS}/{ca_id}/verify", body=body, content_type="text/plain")


def jwt_parts(token: str) -> tuple[dict, dict]:
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    header, claims, _ = token.split(".")
    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(claims)))


@pytest.fixture
def external(tmp_path: Path):
    return create_external_ca(tmp_path / "external", intermediate=True)


@pytest.fixture
def corp(ctl: ControllerHarness, tmp_path: Path) -> RegisteredExternalCa:
    return RegisteredExternalCa.register(ctl, tmp_path / "corp", name="corp", identityRoles=["corp", "vpn"])


# --- management -------------------------------------------------------------------------------------------

def test_create_detail_list_update_patch_delete(ctl: ControllerHarness, external):
    created = ctl.admin.data("POST", CAS, json_body=ca_body(external.root.cert, tags={"team": "x"}))
    detail = ctl.admin.data("GET", f"{CAS}/{created['id']}")
    assert detail["name"] == "corp" and detail["fingerprint"] == fingerprint(external.root.cert)
    assert load_certs_pem(detail["certPem"])[0] == external.root.cert
    assert detail["isVerified"] is False and len(detail["verificationToken"]) >= 16
    assert detail["identityNameFormat"] == "[caName]-[commonName]" and detail["identityRoles"] == ["corp"]
    assert detail["externalIdClaim"] is None and detail["tags"] == {"team": "x"}
    assert detail["_links"]["self"]["href"] == f"./cas/{created['id']}"
    # The list pages and filters like the other lists.
    other = create_external_ca(external.directory.parent / "other")
    ctl.admin.data("POST", CAS, json_body=ca_body(other.root.cert, name="other", isAuthEnabled=False))
    page, _ = ctl.admin.request("GET", f"{CAS}?limit=1&offset=0")
    assert len(page["data"]) == 1 and page["meta"]["pagination"]["totalCount"] == 2
    only = ctl.admin.data("GET", f"{CAS}?filter={quote('isAuthEnabled = false')}")
    assert [c["name"] for c in only] == ["other"]
    # PUT replaces every field but certPem/isVerified/verificationToken, which it cannot touch.
    claim = {"location": "COMMON_NAME", "matcher": "ALL", "matcherCriteria": None, "parser": "NONE",
             "parserCriteria": None, "index": 0}
    ctl.admin.data("PUT", f"{CAS}/{created['id']}", json_body={
        "name": "corp2", "isAutoCaEnrollmentEnabled": False, "isOttCaEnrollmentEnabled": True, "isAuthEnabled": False,
        "identityRoles": [], "identityNameFormat": "[commonName]", "externalIdClaim": claim, "isVerified": True,
        "verificationToken": "mine"})
    updated = ctl.admin.data("GET", f"{CAS}/{created['id']}")
    assert (updated["name"], updated["isAutoCaEnrollmentEnabled"], updated["isAuthEnabled"]) == ("corp2", False, False)
    assert updated["identityNameFormat"] == "[commonName]" and updated["externalIdClaim"] == claim
    assert updated["isVerified"] is False and updated["verificationToken"] == detail["verificationToken"]
    # PATCH changes only what it sends (also inside externalIdClaim); isVerified is ignored.
    ctl.admin.data("PATCH", f"{CAS}/{created['id']}", json_body={"isAuthEnabled": True, "isVerified": True,
                                                                   "externalIdClaim": {"index": 1}})
    patched = ctl.admin.data("GET", f"{CAS}/{created['id']}")
    assert patched["isAuthEnabled"] is True and patched["name"] == "corp2" and patched["isVerified"] is False
    assert patched["externalIdClaim"] == {**claim, "index": 1}
    ctl.admin.data("DELETE", f"{CAS}/{created['id']}")
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("GET", f"{CAS}/{created['id']}")
    assert error_of(excinfo) == (404, "NOT_FOUND")
    assert ctl.journal.events(kind="ca-create")[0]["detail"]["caId"] == created["id"]


def test_only_a_ca_certificate_and_only_once(ctl: ControllerHarness, external):
    leaf = issue_external_cert(external, "not-a-ca")
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", CAS, json_body=ca_body(leaf.cert))
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE") and excinfo.value.cause["field"] == "certPem"
    ctl.admin.data("POST", CAS, json_body=ca_body(external.root.cert))
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", CAS, json_body=ca_body(external.root.cert, name="again"))
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")
    for bad in ({"certPem": "garbage"}, {"externalIdClaim": {"location": "NOWHERE", "matcher": "ALL", "matcherCriteria": None,
                                                             "parser": "NONE", "parserCriteria": None, "index": 0}}):
        with pytest.raises(ControllerError) as excinfo:
            ctl.admin.data("POST", CAS, json_body={**ca_body(external.root.cert, name="x"), **bad})
        assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")
    assert len(ctl.admin.data("GET", CAS)) == 1


def test_cas_are_admin_only(ctl: ControllerHarness, alice_session):
    for method, path in (("GET", CAS), ("GET", f"{CAS}/x"), ("GET", f"{CAS}/x/jwt")):
        with pytest.raises(ControllerError) as excinfo:
            alice_session.conn.data(method, path)
        assert error_of(excinfo) == (401, "UNAUTHORIZED")


def test_verify_codes_then_success_then_already_verified(ctl: ControllerHarness, external, tmp_path: Path):
    ca_id = ctl.admin.data("POST", CAS, json_body=ca_body(external.root.cert))["id"]
    token = ctl.admin.data("GET", f"{CAS}/{ca_id}")["verificationToken"]
    stranger = create_external_ca(tmp_path / "stranger")
    csr, _ = make_csr(common_name=token)
    cases = {
        "EXPECTED_PEM_CERTIFICATE": csr.encode(),
        "COULD_NOT_PARSE_DER_BLOCK": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "INVALID_COMMON_NAME": cert_pem(verification_cert(external.root, "not-the-token")).encode(),
        "CERTIFICATE_FAILED_VALIDATION": cert_pem(verification_cert(stranger.root, token)).encode(),
    }
    for code, body in cases.items():
        with pytest.raises(ControllerError) as excinfo:
            post_verify(ctl, ca_id, body)
        assert error_of(excinfo) == (400, code)
    assert ctl.admin.data("GET", f"{CAS}/{ca_id}")["isVerified"] is False
    answer, _ = post_verify(ctl, ca_id, cert_pem(verification_cert(external.root, token)).encode())
    assert answer == {"data": {}, "meta": {}}
    assert ctl.admin.data("GET", f"{CAS}/{ca_id}")["isVerified"] is True
    with pytest.raises(ControllerError) as excinfo:
        post_verify(ctl, ca_id, cert_pem(verification_cert(external.root, token)).encode())
    assert error_of(excinfo) == (409, "CA_ALREADY_VERIFIED")
    with pytest.raises(ControllerError) as excinfo:
        post_verify(ctl, "no-such-ca", b"x")
    assert error_of(excinfo) == (404, "NOT_FOUND")
    assert [e["detail"]["caId"] for e in ctl.journal.events(kind="ca-verify", outcome="success")] == [ca_id]
    failures = [e["errorCode"] for e in ctl.journal.events(kind="ca-verify", outcome="failure")]
    assert failures[:4] == list(cases)


def test_ca_jwt(ctl: ControllerHarness, external):
    ca_id = ctl.admin.data("POST", CAS, json_body=ca_body(external.root.cert))["id"]
    status, headers, body = ctl.admin.raw("GET", f"{CAS}/{ca_id}/jwt", headers={"Accept": "application/jwt"})
    assert status == 200 and headers.get_content_type() == "application/jwt"
    token = body.decode()
    header, claims = jwt_parts(token)
    assert claims == {"iss": ctl.url + "/", "sub": ca_id, "aud": ["openziti-enroller"], "jti": ca_id, "em": "ca"}
    server_cert = x509.load_pem_x509_certificate((ctl.runtime.pki.directory / "server.cert.pem").read_bytes())
    assert header["kid"] == fingerprint(server_cert)
    signing_input, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    half = len(raw) // 2
    server_cert.public_key().verify(encode_dss_signature(int.from_bytes(raw[:half]), int.from_bytes(raw[half:])),
                                    signing_input.encode(), ec.ECDSA(hashes.SHA256()))


def test_ottca_enrollment_needs_an_existing_ca(ctl: ControllerHarness):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", "/edge/management/v1/identities", json_body={
            "name": "x", "type": "Default", "isAdmin": False, "enrollment": {"ottca": "no-such-ca"}})
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")


# --- ottca -------------------------------------------------------------------------------------------------

def test_ottca_enroll_login_extend_refused_reenroll(ctl: ControllerHarness, corp: RegisteredExternalCa):
    admin = ctl.admin
    identity_id = admin.data("POST", "/edge/management/v1/identities", json_body={
        "name": "bob", "type": "Default", "isAdmin": False, "enrollment": {"ottca": corp.id}})["id"]
    enrollment = admin.data("GET", f"/edge/management/v1/identities/{identity_id}")["enrollment"]["ottca"]
    _, claims = jwt_parts(enrollment["jwt"])
    assert claims["em"] == "ottca" and claims["jti"] == enrollment["token"] and claims["sub"] == identity_id
    assert enrollment["caId"] == corp.id
    bob = corp.issue("bob")
    # The C SDK 1.18.3 request: JSON content type, empty body, the external certificate in the handshake.
    with bob.connect() as conn:
        status, headers, body = conn.raw("POST", f"{CLIENT}/enroll?method=ottca&token={enrollment['token']}", body=b"",
                                         headers={"Content-Type": "application/json"})
    assert status == 200 and headers.get_content_type() == "application/json"
    assert json.loads(body)["data"] == {}  # nothing the SDK would save instead of its own certificate
    auths = admin.data("GET", f"/edge/management/v1/identities/{identity_id}/authenticators")
    assert len(auths) == 1 and auths[0]["fingerprint"] == fingerprint(bob.cert.cert) and auths[0]["isIssuedByNetwork"] is False
    assert admin.data("GET", f"/edge/management/v1/identities/{identity_id}")["enrollment"] == {}
    [event] = ctl.journal.events(kind="ottca-enroll", outcome="success")
    assert event["identityId"] == identity_id and event["newFingerprint"] == fingerprint(bob.cert.cert)
    with bob.connect() as conn:
        session = conn.login_cert()
        assert session["identityId"] == identity_id and session["isCertExtendable"] is False
        assert session["improperClientCertChain"] is False
        assert session["authenticatorId"] == auths[0]["id"]
        csr, _ = make_csr()
        with pytest.raises(ControllerError) as excinfo:
            conn.data("POST", f"{CLIENT}/current-identity/authenticators/{auths[0]['id']}/extend", json_body={"clientCertCsr": csr})
        assert error_of(excinfo) == (409, "CAN_NOT_UPDATE_AUTHENTICATOR")
    [refused] = ctl.journal.events(kind="extend", outcome="failure")
    assert refused["errorCode"] == "CAN_NOT_UPDATE_AUTHENTICATOR" and refused["identityId"] == identity_id
    # Re-enroll of a third-party authenticator makes an ottca enrollment with its CA (§2.3).
    created = admin.data("POST", f"/edge/management/v1/authenticators/{auths[0]['id']}/re-enroll",
                         json_body={"expiresAt": "2099-01-01T00:00:00Z"})
    again = admin.data("GET", f"/edge/management/v1/enrollments/{created['id']}")
    assert again["method"] == "ottca" and again["caId"] == corp.id and again["identityId"] == identity_id
    with bob.connect() as conn, pytest.raises(ControllerError) as excinfo:
        conn.login_cert()
    assert error_of(excinfo) == (401, "INVALID_AUTH")
    # The dedicated route redeems it too.
    with bob.connect() as conn:
        assert conn.data("POST", f"{CLIENT}/enroll/ottca", json_body={"token": again["token"]}) == {}
        assert conn.login_cert()["identityId"] == identity_id


def test_ottca_errors(ctl: ControllerHarness, corp: RegisteredExternalCa, tmp_path: Path):
    admin = ctl.admin

    def ottca_token(name: str) -> str:
        identity_id = admin.data("POST", "/edge/management/v1/identities", json_body={
            "name": name, "type": "Default", "isAdmin": False, "enrollment": {"ottca": corp.id}})["id"]
        return admin.data("GET", f"/edge/management/v1/identities/{identity_id}")["enrollment"]["ottca"]["token"]

    def enroll(conn: Connection, token: str):
        return conn.request("POST", f"{CLIENT}/enroll?method=ottca&token={token}", body=b"", content_type="application/json")

    stranger = RegisteredExternalCa.register(ctl, tmp_path / "stranger", name="stranger")
    token = ottca_token("carol")
    for conn in (ctl.connect(), stranger.issue("carol").connect()):  # no certificate; a certificate of another CA
        with conn, pytest.raises(ControllerError) as excinfo:
            enroll(conn, token)
        assert error_of(excinfo) == (400, "CERTIFICATE_FAILED_VALIDATION")
    carol = corp.issue("carol")
    with carol.connect() as conn:
        enroll(conn, token)
        with pytest.raises(ControllerError) as excinfo:  # the same certificate for a second identity
            enroll(conn, ottca_token("dave"))
        assert error_of(excinfo) == (409, "CERT_IN_USE")
        with pytest.raises(ControllerError) as excinfo:
            enroll(conn, token)  # already redeemed
        assert error_of(excinfo) == (400, "INVALID_ENROLLMENT_TOKEN")
    corp.patch(isOttCaEnrollmentEnabled=False)
    with corp.issue("erin").connect() as conn, pytest.raises(ControllerError) as excinfo:
        enroll(conn, ottca_token("erin"))
    assert error_of(excinfo) == (400, "ENROLLMENT_CA_NOT_VALID")
    codes = [e["errorCode"] for e in ctl.journal.events(kind="ottca-enroll", outcome="failure")]
    assert codes == ["CERTIFICATE_FAILED_VALIDATION"] * 2 + ["CERT_IN_USE", "INVALID_ENROLLMENT_TOKEN", "ENROLLMENT_CA_NOT_VALID"]


# --- CA auto-enrollment ------------------------------------------------------------------------------------

def test_auto_enroll_names_roles_and_login(ctl: ControllerHarness, corp: RegisteredExternalCa):
    frank = corp.issue("frank")
    with frank.connect() as conn:
        answer, _ = conn.request("POST", f"{CLIENT}/enroll?method=ca", json_body={})
        assert answer["data"] == {}
        session = conn.login_cert()
    identity = ctl.admin.data("GET", f"/edge/management/v1/identities/{session['identityId']}")
    assert identity["name"] == "corp-frank" and identity["roleAttributes"] == ["corp", "vpn"]
    assert identity["isAdmin"] is False and identity["typeId"] == "Default"
    assert identity["authenticators"]["cert"]["fingerprint"] == fingerprint(frank.cert.cert)
    assert session["isCertExtendable"] is False
    [event] = ctl.journal.events(kind="ca-enroll", outcome="success")
    assert event["identityId"] == identity["id"] and event["detail"]["caId"] == corp.id
    # Same common name again: the cumulative 6-digit counter.
    names = [corp.enroll_auto("frank").name, corp.enroll_auto("frank").name]
    assert names == ["corp-frank000001", "corp-frank000001000002"]
    # The name format's other symbols; the dedicated route.
    corp.patch(identityNameFormat="[requestedName]@[caName]/[identityId]")
    grace = corp.issue("grace")
    with grace.connect() as conn:
        assert conn.data("POST", f"{CLIENT}/enroll/ca", json_body={"name": "gr"}) == {}
        session = conn.login_cert()
    assert session["identity"]["name"] == f"gr@corp/{session['identityId']}"


def test_auto_enroll_errors(ctl: ControllerHarness, tmp_path: Path):
    external = create_external_ca(tmp_path / "x", intermediate=True)
    henry = issue_external_cert(external, "henry")

    def enroll(cert=henry) -> tuple[int, str]:
        with ctl.connect(cert_pem=cert.chain_pem if cert else None, key_pem=cert.key_pem if cert else None) as conn:
            with pytest.raises(ControllerError) as excinfo:
                conn.request("POST", f"{CLIENT}/enroll?method=ca", json_body={})
        return error_of(excinfo)

    assert enroll() == (400, "ENROLLMENT_NO_VALID_CAS")
    registered = RegisteredExternalCa(ctl, external, ctl.admin.data("POST", CAS, json_body=ca_body(external.root.cert))["id"])
    assert enroll() == (400, "CERT_FAILED_VALIDATION")  # not verified yet
    registered.verify()
    assert enroll(None) == (400, "CERT_FAILED_VALIDATION")
    registered.patch(isAutoCaEnrollmentEnabled=False)
    assert enroll() == (400, "CERT_FAILED_VALIDATION")
    registered.patch(isAutoCaEnrollmentEnabled=True)
    expired = issue_external_cert(external, "old", now=ctl.clock.now() - timedelta(days=400))
    assert enroll(expired) == (400, "CERT_FAILED_VALIDATION")  # time is checked at enrollment
    with ctl.connect(cert_pem=henry.chain_pem, key_pem=henry.key_pem) as conn:
        conn.request("POST", f"{CLIENT}/enroll?method=ca", json_body={})
    assert enroll() == (409, "CERT_IN_USE")
    registered.patch(externalIdClaim={"location": "SAN_URI", "matcher": "SCHEME", "matcherCriteria": "spiffe",
                                      "parser": "NONE", "parserCriteria": None, "index": 0})
    assert enroll(issue_external_cert(external, "no-uri")) == (400, "MISSING_CERT_CLAIM")


# --- login by externalIdClaim ------------------------------------------------------------------------------

CLAIMS = {
    "san-uri-prefix-split": ({"location": "SAN_URI", "matcher": "PREFIX", "matcherCriteria": "spiffe://corp/",
                              "parser": "SPLIT", "parserCriteria": "/", "index": 4}, "ivan"),
    "san-uri-scheme": ({"location": "SAN_URI", "matcher": "SCHEME", "matcherCriteria": "spiffe", "parser": "NONE",
                        "parserCriteria": None, "index": 0}, "spiffe://corp/user/ivan"),
    "san-email-suffix-split": ({"location": "SAN_EMAIL", "matcher": "SUFFIX", "matcherCriteria": "@corp.example",
                                "parser": "SPLIT", "parserCriteria": "@", "index": 0}, "ivan"),
    "common-name": ({"location": "COMMON_NAME", "matcher": "ALL", "matcherCriteria": None, "parser": "NONE",
                     "parserCriteria": None, "index": 0}, "ivan-cn"),
}


@pytest.mark.parametrize("case", list(CLAIMS))
def test_external_id_claim_login_and_404_on_extend(ctl: ControllerHarness, tmp_path: Path, case: str):
    claim, expected = CLAIMS[case]
    corp = RegisteredExternalCa.register(ctl, tmp_path / "corp", name="corp", externalIdClaim=claim)
    ivan = corp.enroll_auto("ivan-cn", uris=["https://corp/other", "spiffe://corp/user/ivan"], emails=["ivan@corp.example"])
    identity = ctl.admin.data("GET", f"/edge/management/v1/identities/{ivan.id}")
    assert identity["externalId"] == expected and identity["authenticators"] == {}
    with ivan.connect() as conn:
        session = conn.login_cert()
        assert session["identityId"] == ivan.id and session["authenticatorId"] == "internal"
        assert session["isCertExtendable"] is False
        csr, _ = make_csr()
        with pytest.raises(ControllerError) as excinfo:
            conn.data("POST", f"{CLIENT}/current-identity/authenticators/internal/extend", json_body={"clientCertCsr": csr})
        assert error_of(excinfo) == (404, "NOT_FOUND")
    # An admin-made identity with that externalId is found the same way; a certificate without the claim is not.
    ctl.admin.data("DELETE", f"/edge/management/v1/identities/{ivan.id}")
    made = ctl.admin.data("POST", "/edge/management/v1/identities", json_body={
        "name": "ivan-made", "type": "Default", "isAdmin": False, "externalId": expected})["id"]
    with ivan.connect() as conn:
        assert conn.login_cert()["identityId"] == made
    with corp.issue("nobody").connect() as conn, pytest.raises(ControllerError) as excinfo:
        conn.login_cert()
    assert error_of(excinfo) == (401, "INVALID_AUTH")


# --- login refusals and changes applying at once -----------------------------------------------------------

def raw_login(conn: Connection) -> tuple[int, str, dict]:
    status, headers, body = conn.raw("POST", f"{CLIENT}/authenticate?method=cert", body=b"{}",
                                     headers={"Content-Type": "application/json"})
    return status, headers.get_content_type(), json.loads(body)


def test_unknown_ca_self_signed_and_ca_as_leaf_get_invalid_auth_in_json(ctl: ControllerHarness, tmp_path: Path, alice):
    unknown = create_external_ca(tmp_path / "unknown", intermediate=True)
    leaf = issue_external_cert(unknown, "mallory")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "self")])
    now = ctl.clock.now()
    selfsigned = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                  .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
                  .sign(key, hashes.SHA256()))
    key_pem = lambda k: k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # noqa: E731
                                        serialization.NoEncryption()).decode()
    cases = {
        "unknown-ca": (leaf.chain_pem, leaf.key_pem),
        "self-signed": (cert_pem(selfsigned), key_pem(key)),
        "unknown-ca-as-leaf": (cert_pem(unknown.intermediate.cert), key_pem(unknown.intermediate.key)),
        "network-ca-as-leaf": (cert_pem(ctl.runtime.pki.signer.cert), key_pem(ctl.runtime.pki.signer.key)),
    }
    for case, (cert, key_text) in cases.items():
        with ctl.connect(cert_pem=cert, key_pem=key_text) as conn:
            status, content_type, body = raw_login(conn)
        assert (status, content_type, body["error"]["code"]) == (401, "application/json", "INVALID_AUTH"), case


def test_disabling_auth_or_deleting_the_ca_stops_its_certificates_at_once(ctl: ControllerHarness, corp: RegisteredExternalCa):
    judy = corp.enroll_ottca("judy")
    with judy.connect() as conn:
        conn.login_cert()
    corp.patch(isAuthEnabled=False)
    with judy.connect() as conn:
        assert raw_login(conn)[0] == 401
    corp.patch(isAuthEnabled=True)
    with judy.connect() as conn:
        assert raw_login(conn)[0] == 200
    ctl.admin.data("DELETE", f"{CAS}/{corp.id}")
    with judy.connect() as conn:
        status, _, body = raw_login(conn)
    assert (status, body["error"]["code"]) == (401, "INVALID_AUTH")
    assert ctl.admin.data("GET", f"/edge/management/v1/identities/{judy.id}/authenticators") == []


def test_the_plugin_fixture(ziti_external_ca):
    assert ziti_external_ca.detail()["isVerified"] is True
    kim = ziti_external_ca.enroll_ottca("kim")
    leo = ziti_external_ca.enroll_auto("leo")
    for identity in (kim, leo):
        with identity.connect() as conn:
            assert conn.login_cert()["identityId"] == identity.id


def test_expired_external_certificates_follow_the_policy_and_chains_need_their_intermediate(ctl: ControllerHarness, corp):
    pam = corp.enroll_ottca("pam")
    ctl.clock.advance("400d")  # the external certificate (1 year) is now expired
    with pam.connect() as conn:
        assert conn.login_cert()["identityId"] == pam.id  # allowExpiredCerts defaults to true, as the real policy
    ctl.admin.data("PUT", "/sim/v1/policy", json_body={"allowExpiredCerts": False})
    with pam.connect() as conn:
        assert raw_login(conn)[0] == 401
    ctl.admin.data("PUT", "/sim/v1/policy", json_body={"allowExpiredCerts": None})
    # Only the root is registered: a leaf sent without its intermediate does not chain to it.
    leaf_only = ctl.connect(cert_pem=cert_pem(pam.cert.cert), key_pem=pam.cert.key_pem)
    with leaf_only as conn:
        assert raw_login(conn)[0] == 401


def test_admin_made_authenticator_for_a_third_party_certificate_reenrolls_to_ottca(ctl: ControllerHarness, tmp_path: Path):
    # certPem holds exactly one certificate, so it must chain to a registered CA on its own: no intermediate here.
    corp = RegisteredExternalCa.register(ctl, tmp_path / "flat", name="flat", intermediate=False)
    quinn = corp.issue("quinn")
    identity_id = ctl.admin.data("POST", "/edge/management/v1/identities", json_body={
        "name": "quinn", "type": "Default", "isAdmin": False})["id"]
    auth_id = ctl.admin.data("POST", "/edge/management/v1/authenticators", json_body={
        "method": "cert", "identityId": identity_id, "certPem": cert_pem(quinn.cert.cert)})["id"]
    with quinn.connect() as conn:
        assert conn.login_cert()["isCertExtendable"] is False
    created = ctl.admin.data("POST", f"/edge/management/v1/authenticators/{auth_id}/re-enroll",
                             json_body={"expiresAt": "2099-01-01T00:00:00Z"})
    enrollment = ctl.admin.data("GET", f"/edge/management/v1/enrollments/{created['id']}")
    assert (enrollment["method"], enrollment["caId"]) == ("ottca", corp.id)


def test_snapshot_and_reset_carry_cas(ctl: ControllerHarness, corp):
    rick = corp.enroll_ottca("rick")
    ctl.snapshot("with-ca")
    ctl.reset()
    assert ctl.admin.data("GET", CAS) == []
    with rick.connect() as conn:
        assert raw_login(conn)[0] == 401
    ctl.restore("with-ca")
    assert ctl.admin.data("GET", f"{CAS}/{corp.id}")["isVerified"] is True
    with rick.connect() as conn:
        assert conn.login_cert()["identityId"] == rick.id


def test_post_enrollments_makes_an_ottca_enrollment(ctl: ControllerHarness, corp):
    identity_id = ctl.admin.data("POST", "/edge/management/v1/identities", json_body={
        "name": "sam", "type": "Default", "isAdmin": False})["id"]
    body = {"method": "ottca", "identityId": identity_id, "expiresAt": "2099-01-01T00:00:00Z"}
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", "/edge/management/v1/enrollments", json_body=body)  # no caId
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")
    created = ctl.admin.data("POST", "/edge/management/v1/enrollments", json_body={**body, "caId": corp.id})
    enrollment = ctl.admin.data("GET", f"/edge/management/v1/enrollments/{created['id']}")
    assert (enrollment["method"], enrollment["caId"]) == ("ottca", corp.id)
    sam = corp.issue("sam")
    with sam.connect() as conn:
        conn.request("POST", f"{CLIENT}/enroll?token={enrollment['token']}", body=b"", content_type="application/json")
        assert conn.login_cert()["identityId"] == identity_id
