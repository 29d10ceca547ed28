"""POST /authenticate (password and certificate), GET/DELETE current-api-session, admin-only routes."""

from __future__ import annotations

from datetime import datetime

import pytest

from conftest import error_of
from controller.client.errors import ControllerError

PREFIXES = ["", "/edge/client/v1", "/edge/management/v1"]
SESSION_FIELDS = {
    "id", "token", "expiresAt", "expirationSeconds", "authenticatorId", "identity", "identityId", "isCertExtendable",
    "isCertExtendRequested", "isCertKeyRollRequested", "improperClientCertChain", "isMfaRequired", "isMfaComplete",
    "authQueries", "configTypes", "ipAddress", "lastActivityAt", "cachedLastActivityAt", "createdAt", "updatedAt", "_links", "tags",
}


def _rfc3339(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_password_login_returns_the_session_detail_and_header(ctl, anon, prefix):
    payload, headers = anon.request("POST", f"{prefix}/authenticate?method=password",
                                    json_body={"username": ctl.admin_username, "password": ctl.admin_password})
    session = payload["data"]
    assert payload["meta"] == {}
    assert SESSION_FIELDS <= session.keys()
    assert headers["zt-session"] == session["token"]
    assert session["expirationSeconds"] == 1800
    assert (_rfc3339(session["expiresAt"]) - _rfc3339(session["lastActivityAt"])).total_seconds() == 1800
    assert session["isCertExtendable"] is False and session["identity"]["name"] == "Default Admin"


@pytest.mark.parametrize("body, expected", [
    ({"username": "admin", "password": "wrong-password"}, (401, "INVALID_AUTH")),
    ({"username": "nobody", "password": "whatever1"}, (401, "INVALID_AUTH")),
    ({"username": "admin"}, (400, "COULD_NOT_VALIDATE")),
    ({}, (400, "COULD_NOT_VALIDATE")),
], ids=["wrong-password", "unknown-user", "no-password", "empty"])
def test_password_login_failures(anon, body, expected):
    with pytest.raises(ControllerError) as excinfo:
        anon.data("POST", "/edge/management/v1/authenticate?method=password", json_body=body)
    assert error_of(excinfo) == expected


@pytest.mark.parametrize("method, expected", [("ext-jwt", (400, "INVALID_AUTH_METHOD")), ("updb", (400, "COULD_NOT_VALIDATE"))])
def test_unsupported_auth_methods(anon, method, expected):
    with pytest.raises(ControllerError) as excinfo:
        anon.data("POST", f"/authenticate?method={method}", json_body={})
    assert error_of(excinfo) == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_cert_login_maps_the_certificate_to_its_identity(alice, prefix):
    with alice.connect() as conn:
        payload, headers = conn.request("POST", f"{prefix}/authenticate?method=cert", json_body={"sdkInfo": {"type": "test"}})
    session = payload["data"]
    assert session["identityId"] == alice.id
    assert session["isCertExtendable"] is True
    assert session["isCertExtendRequested"] is False and session["improperClientCertChain"] is False
    assert headers["zt-session"] == session["token"]
    assert "ziti-authenticator-extend-requested" not in headers


def test_cert_login_without_a_certificate_is_invalid_auth(anon):
    with pytest.raises(ControllerError) as excinfo:
        anon.data("POST", "/authenticate?method=cert")
    assert error_of(excinfo) == (401, "INVALID_AUTH")


def test_cert_login_of_an_unknown_certificate_is_invalid_auth(ctl, alice):
    # Free alice's certificate: re-enroll deletes her authenticator, the certificate still chains.
    auth_id = ctl.admin.data("GET", f"/edge/management/v1/identities/{alice.id}")["authenticators"]["cert"]["id"]
    ctl.admin.data("POST", f"/edge/management/v1/authenticators/{auth_id}/re-enroll", json_body={"expiresAt": "2099-01-01T00:00:00Z"})
    with alice.connect() as conn, pytest.raises(ControllerError) as excinfo:
        conn.login_cert()
    assert error_of(excinfo) == (401, "INVALID_AUTH")


def test_current_api_session_on_both_apis_and_logout(alice):
    with alice.connect() as conn:
        token = conn.login_cert()["token"]
        for prefix in PREFIXES:
            assert conn.data("GET", f"{prefix}/current-api-session")["token"] == token
        assert conn.data("DELETE", "/current-api-session") == {}
        with pytest.raises(ControllerError) as excinfo:
            conn.data("GET", "/edge/client/v1/current-api-session")
        assert error_of(excinfo) == (401, "UNAUTHORIZED")


@pytest.mark.parametrize("token", [None, "", "not-a-token", "6b0b3c5e-1111-4111-8111-111111111111"])
def test_missing_or_unknown_session_is_unauthorized(anon, token):
    headers = {"zt-session": token} if token is not None else {}
    status, _, body = anon.raw("GET", "/edge/client/v1/current-identity", headers=headers)
    assert status == 401 and b'"UNAUTHORIZED"' in body


def test_current_identity_on_both_apis(alice):
    with alice.connect() as conn:
        conn.login_cert()
        for prefix in PREFIXES:
            identity = conn.data("GET", f"{prefix}/current-identity")
            assert (identity["id"], identity["name"]) == (alice.id, "alice")
            assert identity["authenticators"]["cert"]["fingerprint"]
            assert identity["enrollment"] == {}


@pytest.mark.parametrize("method, path", [
    ("GET", "/edge/management/v1/identities"),
    ("POST", "/edge/management/v1/identities"),
    ("GET", "/edge/management/v1/authenticators"),
    ("GET", "/edge/management/v1/enrollments"),
    ("GET", "/sim/v1/clock"),
])
def test_admin_routes_refuse_non_admins_with_unauthorized(alice, method, path):
    with alice.connect() as conn:
        conn.login_cert()
        with pytest.raises(ControllerError) as excinfo:
            conn.data(method, path, json_body={} if method == "POST" else None)
    assert error_of(excinfo) == (401, "UNAUTHORIZED")


def test_sessions_slide_and_expire_on_the_simulated_clock(ctl, alice):
    with alice.connect() as conn:
        conn.login_cert()
        ctl.clock.advance("20m")
        first = conn.data("GET", "/current-api-session")
        ctl.clock.advance("20m")  # 40 minutes after login, 20 after the last activity
        second = conn.data("GET", "/current-api-session")
        assert _rfc3339(second["expiresAt"]) > _rfc3339(first["expiresAt"])
        ctl.clock.advance("31m")
        with pytest.raises(ControllerError) as excinfo:
            conn.data("GET", "/current-api-session")
        assert error_of(excinfo) == (401, "UNAUTHORIZED")


def test_sdk_sequence_after_login_answers_valid_data(ctl, alice):
    ctl.admin.data("POST", "/edge/management/v1/services", json_body={"name": "echo", "encryptionRequired": True})
    ctl.admin.data("POST", "/edge/management/v1/service-policies", json_body={
        "name": "all-dial", "type": "Dial", "semantic": "AllOf", "identityRoles": ["#all"], "serviceRoles": ["#all"]})
    with alice.connect() as conn:
        conn.login_cert()
        routers, _ = conn.request("GET", "/edge/client/v1/current-identity/edge-routers?limit=25&offset=0")
        assert routers["meta"]["pagination"] == {"limit": 25, "offset": 0, "totalCount": 0}
        updates = conn.data("GET", "/edge/client/v1/current-api-session/service-updates")
        assert _rfc3339(updates["lastChangeAt"])
        services, _ = conn.request("GET", "/edge/client/v1/services?configTypes=all&limit=25&offset=0")
        (service,) = services["data"]
        assert service["name"] == "echo" and service["permissions"] == ["Dial"]
        assert {"id", "encryptionRequired", "config", "postureQueries", "updatedAt"} <= service.keys()
        assert services["meta"]["pagination"]["totalCount"] == 1


def test_service_updates_move_when_a_service_appears_or_disappears(ctl, alice):
    """The C SDK fetches /services again only when lastChangeAt changes: it must stand still while nothing
    changes, and move forward on every creation and deletion."""
    updates = "/edge/client/v1/current-api-session/service-updates"
    with alice.connect() as conn:
        conn.login_cert()
        empty = conn.data("GET", updates)["lastChangeAt"]
        ctl.clock.advance("1s")
        assert conn.data("GET", updates)["lastChangeAt"] == empty
        ctl.admin.data("POST", "/edge/management/v1/services", json_body={"name": "stays", "encryptionRequired": True})
        first = conn.data("GET", updates)["lastChangeAt"]
        ctl.clock.advance("1s")
        second_id = ctl.admin.data("POST", "/edge/management/v1/services", json_body={"name": "goes", "encryptionRequired": True})["id"]
        second = conn.data("GET", updates)["lastChangeAt"]
        ctl.clock.advance("1s")
        assert conn.data("GET", updates)["lastChangeAt"] == second
        ctl.admin.data("DELETE", f"/edge/management/v1/services/{second_id}")
        deleted = conn.data("GET", updates)["lastChangeAt"]
    assert _rfc3339(empty) < _rfc3339(first) < _rfc3339(second) < _rfc3339(deleted)
