"""Edge routers: management CRUD and re-enroll, erott enrollment with two CSRs, and POST /enroll/extend/router
over mTLS with the router's current client certificate."""

from __future__ import annotations

import ipaddress
import json
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from conftest import error_of, make_csr
from controller.client.enroll import verify_jwt_signature
from controller.client.errors import ControllerError
from controller.pki.certs import fingerprint, load_certs_pem
from controller.pki.jwt import decode_unverified

MGMT = "/edge/management/v1"
SERVER_SANS = [x509.DNSName("localhost"), x509.DNSName("er1.example.test"),
               x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]


def _key_pem(key) -> str:  # noqa: ANN001
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _csr(common_name: str, sans: list[x509.GeneralName] | None = None, key=None) -> tuple[str, object]:  # noqa: ANN001
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenZiti"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode(), key


@dataclass
class Router:
    id: str
    token: str
    jwt: str
    cert: str = ""
    key: object = None
    server_cert: str = ""

    def connect(self, ctl):  # noqa: ANN001
        return ctl.connect(cert_pem=self.cert, key_pem=_key_pem(self.key))


def _create(ctl, name: str = "er-1") -> Router:
    router_id = ctl.admin.data("POST", f"{MGMT}/edge-routers", json_body={"name": name})["id"]
    detail = ctl.admin.data("GET", f"{MGMT}/edge-routers/{router_id}")
    return Router(router_id, detail["enrollmentToken"], detail["enrollmentJwt"])


def _enroll(ctl, anon, name: str = "er-1") -> tuple[Router, dict]:
    router = _create(ctl, name)
    cert_csr, router.key = _csr(router.id, SERVER_SANS)  # a router sends its edge.csr.sans in both CSRs
    server_csr, _ = _csr(router.id, SERVER_SANS)
    data = anon.data("POST", f"/edge/client/v1/enroll?method=erott&token={router.token}",
                     json_body={"certCsr": cert_csr, "serverCertCsr": server_csr})
    router.cert, router.server_cert = data["cert"], data["serverCert"]
    return router, data


def _roots(ctl) -> list[x509.Certificate]:
    return [c for c in load_certs_pem(ctl.ca_bundle.read_text()) if c.issuer == c.subject]


def _eku(cert: x509.Certificate) -> list:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def _extend(conn, router_id: str, sans=None):  # noqa: ANN001
    cert_csr, key = _csr(router_id, SERVER_SANS)
    server_csr, _ = _csr(router_id, sans or SERVER_SANS)
    return conn.data("POST", "/edge/client/v1/enroll/extend/router", json_body={"certCsr": cert_csr, "serverCertCsr": server_csr}), key


def test_create_detail_and_the_enrollment_jwt(ctl):
    status, _, body = ctl.admin.raw("POST", f"{MGMT}/edge-routers", body=json.dumps(
        {"name": "er-1", "roleAttributes": ["public"], "tags": {"env": "test"}, "isTunnelerEnabled": True}).encode(),
        headers={"Content-Type": "application/json"})
    assert status == 201
    router_id = json.loads(body)["data"]["id"]
    detail = ctl.admin.data("GET", f"{MGMT}/edge-routers/{router_id}")
    assert detail["name"] == "er-1" and detail["roleAttributes"] == ["public"] and detail["tags"] == {"env": "test"}
    assert detail["isVerified"] is False and detail["isOnline"] is False and detail["isTunnelerEnabled"] is True
    assert detail["fingerprint"] is None and detail["certPem"] is None
    header, claims = decode_unverified(detail["enrollmentJwt"])
    assert claims["em"] == "erott" and claims["sub"] == router_id and claims["jti"] == detail["enrollmentToken"]
    assert claims["iss"] == ctl.url and claims["aud"] == [""]
    parts = urlsplit(ctl.url)
    server = x509.load_pem_x509_certificate(ssl.get_server_certificate((parts.hostname, parts.port)).encode())
    assert header["kid"] == fingerprint(server)
    verify_jwt_signature(detail["enrollmentJwt"], server)
    assert detail["enrollmentExpiresAt"] and detail["enrollmentCreatedAt"]
    enrollments = ctl.admin.data("GET", f"{MGMT}/enrollments?filter=method=\"erott\"")
    assert [(e["edgeRouterId"], e["jwt"], e["identityId"]) for e in enrollments] == [(router_id, detail["enrollmentJwt"], None)]
    assert [r["id"] for r in ctl.admin.data("GET", f"{MGMT}/edge-routers")] == [router_id]


def test_erott_enrollment_signs_both_certificates(ctl, anon):
    router, data = _enroll(ctl, anon)
    assert set(data) == {"ca", "cert", "serverCert"} and data["ca"] == ctl.ca_bundle.read_text()
    roots = _roots(ctl)
    verifier = PolicyBuilder().store(Store(roots)).build_client_verifier()
    client_chain, server_chain = load_certs_pem(data["cert"]), load_certs_pem(data["serverCert"])
    assert not set(roots) & set(client_chain + server_chain)  # no root in either chain
    verifier.verify(client_chain[0], client_chain[1:])
    assert client_chain[0].public_key() == router.key.public_key()
    assert client_chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == router.id
    assert _eku(client_chain[0]) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert list(client_chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == SERVER_SANS
    server = server_chain[0]
    assert _eku(server) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert list(server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == SERVER_SANS
    PolicyBuilder().store(Store(roots)).build_server_verifier(x509.DNSName("er1.example.test")).verify(server, server_chain[1:])
    for cert in (client_chain[0], server):
        assert timedelta(days=364) < cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=365, minutes=1)
    detail = ctl.admin.data("GET", f"{MGMT}/edge-routers/{router.id}")
    assert detail["isVerified"] is True and detail["fingerprint"] == fingerprint(client_chain[0])
    assert detail["certPem"] == data["cert"] and detail["enrollmentJwt"] is None and detail["enrollmentToken"] is None
    assert ctl.admin.data("GET", f"{MGMT}/enrollments?filter=method=\"erott\"") == []
    [event] = ctl.journal.events(kind="router-enroll")
    assert event["outcome"] == "success" and event["newFingerprint"] == detail["fingerprint"]
    assert event["detail"]["edgeRouterId"] == router.id
    # The token is single use.
    cert_csr, _ = _csr(router.id)
    with pytest.raises(ControllerError) as excinfo:
        anon.data("POST", f"/edge/client/v1/enroll?method=erott&token={router.token}", json_body={"certCsr": cert_csr, "serverCertCsr": cert_csr})
    assert error_of(excinfo) == (400, "INVALID_ENROLLMENT_TOKEN")


@pytest.mark.parametrize("case, expected", [
    ("cn-mismatch", (400, "COULD_NOT_PROCESS_CSR")),
    ("missing-server-csr", (400, "MISSING_OR_INVALID_CSR")),
    ("empty-cert-csr", (400, "MISSING_OR_INVALID_CSR")),
    ("bad-server-csr", (400, "COULD_NOT_PROCESS_CSR")),
    ("wrong-method", (400, "INVALID_ENROLL_METHOD")),
])
def test_erott_failures(ctl, anon, case, expected):
    router = _create(ctl)
    cert_csr, _ = _csr(router.id)
    body = {"certCsr": cert_csr, "serverCertCsr": _csr(router.id, SERVER_SANS)[0]}
    method = "erott"
    if case == "cn-mismatch":
        body["certCsr"] = make_csr(common_name="not-the-router-id")[0]
    elif case == "missing-server-csr":
        del body["serverCertCsr"]
    elif case == "empty-cert-csr":
        body["certCsr"] = ""
    elif case == "bad-server-csr":
        body["serverCertCsr"] = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    elif case == "wrong-method":
        method = "ott"
    with pytest.raises(ControllerError) as excinfo:
        anon.data("POST", f"/edge/client/v1/enroll?method={method}&token={router.token}", json_body=body)
    assert error_of(excinfo) == expected
    if case == "cn-mismatch":
        assert excinfo.value.cause["code"] == "EDGE_ROUTER_ENROLL_COMMON_NAME_INVALID"
    detail = ctl.admin.data("GET", f"{MGMT}/edge-routers/{router.id}")
    assert detail["isVerified"] is False and detail["enrollmentToken"] == router.token  # nothing changed


def test_extend_router_replaces_both_certificates_at_once(ctl, anon):
    router, _ = _enroll(ctl, anon)
    old_fp = fingerprint(load_certs_pem(router.cert)[0])
    with router.connect(ctl) as conn:
        data, new_key = _extend(conn, router.id, [x509.DNSName("er1-new.example.test")])
    assert set(data) == {"cert", "serverCert"}  # no ca
    roots = _roots(ctl)
    chain, server_chain = load_certs_pem(data["cert"]), load_certs_pem(data["serverCert"])
    assert not set(roots) & set(chain + server_chain)
    PolicyBuilder().store(Store(roots)).build_client_verifier().verify(chain[0], chain[1:])
    assert chain[0].public_key() == new_key.public_key() and _eku(chain[0]) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert _eku(server_chain[0]) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert list(server_chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [x509.DNSName("er1-new.example.test")]
    new_fp = fingerprint(chain[0])
    assert ctl.admin.data("GET", f"{MGMT}/edge-routers/{router.id}")["fingerprint"] == new_fp
    [event] = ctl.journal.events(kind="router-extend")
    assert (event["oldFingerprint"], event["newFingerprint"], event["outcome"]) == (old_fp, new_fp, "success")
    # The old certificate is invalid at once; the new one works.
    with router.connect(ctl) as conn, pytest.raises(ControllerError) as excinfo:
        _extend(conn, router.id)
    assert error_of(excinfo) == (401, "UNAUTHORIZED")
    router.cert, router.key = data["cert"], new_key
    with router.connect(ctl) as conn:
        assert fingerprint(load_certs_pem(_extend(conn, router.id)[0]["cert"])[0]) != new_fp
    assert [e["outcome"] for e in ctl.journal.events(kind="router-extend")] == ["success", "failure", "success"]


def test_extend_router_refusals(ctl, anon, alice):
    router, _ = _enroll(ctl, anon)
    with pytest.raises(ControllerError) as excinfo:  # no client certificate
        _extend(anon, router.id)
    assert error_of(excinfo) == (401, "UNAUTHORIZED")
    with alice.connect() as conn, pytest.raises(ControllerError) as excinfo:  # an identity's certificate
        _extend(conn, router.id)
    assert error_of(excinfo) == (401, "UNAUTHORIZED")
    with router.connect(ctl) as conn:
        with pytest.raises(ControllerError) as excinfo:  # CN is not the router id
            conn.data("POST", "/edge/client/v1/enroll/extend/router",
                      json_body={"certCsr": make_csr(common_name="other")[0], "serverCertCsr": _csr(router.id)[0]})
        assert error_of(excinfo) == (400, "COULD_NOT_PROCESS_CSR")
        assert excinfo.value.cause["code"] == "EDGE_ROUTER_ENROLL_COMMON_NAME_INVALID"
        with pytest.raises(ControllerError) as excinfo:  # both CSRs are required
            conn.data("POST", "/edge/client/v1/enroll/extend/router", json_body={"certCsr": _csr(router.id)[0]})
        assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")
    assert ctl.admin.data("GET", f"{MGMT}/edge-routers/{router.id}")["fingerprint"] == fingerprint(load_certs_pem(router.cert)[0])


def test_router_cert_lifetime_setting_and_policy(ctl, anon):
    policy = ctl.admin.data("PUT", "/sim/v1/policy", json_body={"routerCertLifetime": "1h"})
    assert policy["routerCertLifetimeSeconds"] == 3600 and policy["overridden"] == ["routerCertLifetime"]
    router, data = _enroll(ctl, anon)
    for pem in (data["cert"], data["serverCert"]):
        leaf = load_certs_pem(pem)[0]
        assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(hours=1, minutes=1)
    ctl.clock.freeze()
    ctl.clock.set("2030-01-01T00:00:00Z")  # long after the router's certificates expired: extend still works
    with router.connect(ctl) as conn:
        extended, _ = _extend(conn, router.id)
    for pem in (extended["cert"], extended["serverCert"]):
        leaf = load_certs_pem(pem)[0]  # signed on the simulated clock
        assert (leaf.not_valid_before_utc, leaf.not_valid_after_utc) == (datetime(2029, 12, 31, 23, 59, tzinfo=timezone.utc),
                                                                         datetime(2030, 1, 1, 1, 0, tzinfo=timezone.utc))
    assert ctl.runtime.settings.router_cert_lifetime == timedelta(days=365)


def test_re_enroll_update_and_delete(ctl, anon):
    router, _ = _enroll(ctl, anon)
    old_fp = fingerprint(load_certs_pem(router.cert)[0])
    assert ctl.admin.data("POST", f"{MGMT}/edge-routers/{router.id}/re-enroll") == {}
    detail = ctl.admin.data("GET", f"{MGMT}/edge-routers/{router.id}")
    assert detail["isVerified"] is False and detail["fingerprint"] is None and detail["certPem"] is None
    assert detail["enrollmentToken"] and detail["enrollmentToken"] != router.token
    assert decode_unverified(detail["enrollmentJwt"])[1]["sub"] == router.id
    assert ctl.journal.events(kind="router-re-enroll")[0]["oldFingerprint"] == old_fp
    with router.connect(ctl) as conn, pytest.raises(ControllerError) as excinfo:  # the old certificate is gone
        _extend(conn, router.id)
    assert error_of(excinfo) == (401, "UNAUTHORIZED")
    # Re-enroll again while the enrollment is outstanding: it is replaced.
    ctl.admin.data("POST", f"{MGMT}/edge-routers/{router.id}/re-enroll")
    again = ctl.admin.data("GET", f"{MGMT}/edge-routers/{router.id}")
    assert again["enrollmentToken"] != detail["enrollmentToken"]
    assert len(ctl.admin.data("GET", f"{MGMT}/enrollments?filter=method=\"erott\"")) == 1
    cert_csr, _ = _csr(router.id)
    anon.data("POST", f"/edge/client/v1/enroll?token={again['enrollmentToken']}",
              json_body={"certCsr": cert_csr, "serverCertCsr": _csr(router.id, SERVER_SANS)[0]})
    assert ctl.admin.data("GET", f"{MGMT}/edge-routers/{router.id}")["isVerified"] is True
    # Update, patch, delete.
    ctl.admin.data("PUT", f"{MGMT}/edge-routers/{router.id}", json_body={"name": "er-renamed", "roleAttributes": ["a"]})
    ctl.admin.data("PATCH", f"{MGMT}/edge-routers/{router.id}", json_body={"tags": {"x": "y"}})
    detail = ctl.admin.data("GET", f"{MGMT}/edge-routers/{router.id}")
    assert (detail["name"], detail["roleAttributes"], detail["tags"], detail["isVerified"]) == ("er-renamed", ["a"], {"x": "y"}, True)
    other = _create(ctl, "er-2")
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("PATCH", f"{MGMT}/edge-routers/{other.id}", json_body={"name": "er-renamed"})
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")
    assert ctl.admin.data("DELETE", f"{MGMT}/edge-routers/{other.id}") == {}
    assert ctl.admin.data("GET", f"{MGMT}/enrollments?filter=method=\"erott\"") == []  # its enrollment went with it
    for method, path in (("GET", f"{MGMT}/edge-routers/{other.id}"), ("POST", f"{MGMT}/edge-routers/{other.id}/re-enroll")):
        with pytest.raises(ControllerError) as excinfo:
            ctl.admin.data(method, path)
        assert error_of(excinfo) == (404, "NOT_FOUND")


def test_management_is_admin_only(ctl, alice):
    router = _create(ctl)
    with alice.connect() as conn:
        conn.login_cert(prefix=MGMT)
        for method, path, body in (("GET", "/edge-routers", None), ("POST", "/edge-routers", {"name": "x"}),
                                   ("GET", f"/edge-routers/{router.id}", None), ("DELETE", f"/edge-routers/{router.id}", None),
                                   ("POST", f"/edge-routers/{router.id}/re-enroll", None)):
            with pytest.raises(ControllerError) as excinfo:
                conn.data(method, f"{MGMT}{path}", json_body=body)
            assert error_of(excinfo) == (401, "UNAUTHORIZED")


def test_reset_and_snapshots_cover_routers(ctl, anon):
    router, _ = _enroll(ctl, anon)
    pending = _create(ctl, "er-pending")
    ctl.snapshot("routers")
    ctl.reset()
    assert ctl.admin.data("GET", f"{MGMT}/edge-routers") == []
    assert ctl.admin.data("GET", f"{MGMT}/enrollments?filter=method=\"erott\"") == []
    ctl.restore("routers")
    assert {r["id"] for r in ctl.admin.data("GET", f"{MGMT}/edge-routers")} == {router.id, pending.id}
    with router.connect(ctl) as conn:
        _extend(conn, router.id)
