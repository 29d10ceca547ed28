"""Public discovery endpoints: /version, the EST CA bundle, envelopes and headers every answer shares."""

from __future__ import annotations

import base64
import ssl
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from controller.pki.certs import is_ca, load_certs_pem

PREFIXES = ["", "/edge/client/v1", "/edge/management/v1"]


@pytest.mark.parametrize("path", ["/version", "/", "/edge/client/v1/version", "/edge/management/v1/version"])
def test_version_tells_sdks_their_path_prefix_and_capabilities(anon, path):
    status, headers, _ = anon.raw("GET", path)
    assert status == 200
    assert headers["content-type"] == "application/json"
    data = anon.data("GET", path)
    assert data["apiVersions"]["edge"]["v1"]["path"] == "/edge/client/v1"
    assert data["apiVersions"]["edge-management"]["v1"]["path"] == "/edge/management/v1"
    assert isinstance(data["capabilities"], list) and "OIDC_AUTH" not in data["capabilities"]
    assert {"version", "revision", "buildDate"} <= data.keys()


def test_every_answer_carries_the_instance_id(anon):
    ids = {anon.raw("GET", p)[1]["ziti-instance-id"] for p in ("/version", "/nope", "/edge/management/v1/identities")}
    assert len(ids) == 1 and ids.pop()


@pytest.mark.parametrize("prefix", PREFIXES)
def test_cacerts_is_the_real_layout_byte_for_byte(ctl, anon, prefix):
    status, headers, body = anon.raw("GET", f"{prefix}/.well-known/est/cacerts", headers={"Accept": "application/pkcs7-mime"})
    assert status == 200
    assert headers["content-type"] == "application/pkcs7-mime"
    assert headers["content-transfer-encoding"] == "base64"
    bundle = load_certs_pem(ctl.ca_bundle.read_text())
    der = pkcs7.serialize_certificates(bundle, serialization.Encoding.DER)
    text = base64.b64encode(der)
    expected = b"\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    assert body == expected
    assert b"\n" in body and not body.endswith(b"\n")
    assert all(len(line) == 64 for line in body.split(b"\n")[:-1])


def test_cacerts_holds_only_cas_including_the_tls_server_chain(ctl, anon):
    _, _, body = anon.raw("GET", "/.well-known/est/cacerts")
    certs = pkcs7.load_der_pkcs7_certificates(base64.b64decode(body))
    assert certs and all(is_ca(c) for c in certs)
    parts = urlsplit(ctl.url)
    server = x509.load_pem_x509_certificate(ssl.get_server_certificate((parts.hostname, parts.port)).encode())
    assert server.issuer in {c.subject for c in certs}


def test_unknown_paths_answer_the_error_envelope(anon):
    status, headers, _ = anon.raw("GET", "/edge/management/v1/no-such-thing")
    assert status == 404
    with pytest.raises(Exception) as excinfo:
        anon.data("GET", "/edge/client/v1/no-such-thing")
    assert (excinfo.value.status, excinfo.value.code) == (404, "NOT_FOUND")


def test_error_envelope_shape(anon):
    import json

    status, headers, body = anon.raw("GET", "/edge/client/v1/current-identity")
    assert status == 401 and headers["content-type"] == "application/json"
    envelope = json.loads(body)
    assert envelope["meta"] == {"apiEnrollmentVersion": "0.0.1", "apiVersion": "0.0.1"}
    assert envelope["error"]["code"] == "UNAUTHORIZED"
    assert envelope["error"]["message"] and len(envelope["error"]["requestId"]) == 36


def test_wrong_http_verb_is_method_not_allowed(anon):
    status, _, body = anon.raw("PUT", "/edge/client/v1/version")
    assert status == 405 and b"METHOD_NOT_ALLOWED" in body


def test_external_jwt_signers_list_needs_no_session(anon):
    payload, _ = anon.request("GET", "/edge/client/v1/external-jwt-signers?limit=25&offset=0")
    assert payload == {"data": [], "meta": {"pagination": {"limit": 25, "offset": 0, "totalCount": 0}}}


def test_server_certificate_matches_what_sdks_check(ctl):
    """SDKs connect to https://127.0.0.1:PORT with only the cacerts bundle as trust and an IP SAN check."""
    parts = urlsplit(ctl.url)
    context = ssl.create_default_context(cafile=str(ctl.ca_bundle))
    with ssl.create_connection((parts.hostname, parts.port)) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with ssl.create_connection(("localhost", parts.port)) as raw, context.wrap_socket(raw, server_hostname="localhost"):
        pass


def test_unexpected_failures_answer_unhandled_without_internals(ctl, anon, monkeypatch):
    from controller.version import endpoints

    def broken(_runtime):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(endpoints, "_version", broken)
    status, headers, body = anon.raw("GET", "/edge/client/v1/version")
    assert status == 500 and headers["content-type"] == "application/json"
    assert b'"UNHANDLED"' in body and b"secret internal detail" not in body and b"RuntimeError" not in body
    monkeypatch.undo()
    assert anon.raw("GET", "/version")[0] == 200  # the server keeps serving
