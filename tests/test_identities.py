"""Management identities, enrollments and services: CRUD, pagination, filters, the enrollment rules."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from conftest import error_of
from controller.client.errors import ControllerError
from controller.pki.jwt import decode_unverified

API = "/edge/management/v1"


def _create(ctl, name, **extra):
    return ctl.admin.data("POST", f"{API}/identities", json_body={"name": name, "type": "Default", "isAdmin": False, **extra})["id"]


def test_create_answers_201_with_id_and_link(ctl):
    payload, _ = ctl.admin.request("POST", f"{API}/identities", json_body={"name": "eve", "type": "User", "isAdmin": False})
    assert payload["data"]["_links"]["self"]["href"] == f"./identities/{payload['data']['id']}"
    detail = ctl.admin.data("GET", f"{API}/identities/{payload['data']['id']}")
    assert detail["name"] == "eve" and detail["typeId"] == "User" and detail["enrollment"] == {} and detail["authenticators"] == {}
    assert detail["externalId"] is None and detail["authPolicyId"] == "default" and detail["isAdmin"] is False


def test_create_with_ott_shows_the_enrollment_on_the_identity(ctl):
    identity_id = _create(ctl, "frank", enrollment={"ott": True})
    ott = ctl.admin.data("GET", f"{API}/identities/{identity_id}")["enrollment"]["ott"]
    assert {"id", "jwt", "token", "expiresAt"} <= ott.keys()
    assert decode_unverified(ott["jwt"])[1]["sub"] == identity_id


@pytest.mark.parametrize("body, field", [
    ({"type": "Default", "isAdmin": False}, "name"),
    ({"name": "x", "isAdmin": False}, "type"),
    ({"name": "x", "type": "Robot", "isAdmin": False}, "type"),
    ({"name": "x", "type": "Default"}, "isAdmin"),
], ids=["no-name", "no-type", "bad-type", "no-isAdmin"])
def test_create_validation_errors(ctl, body, field):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", f"{API}/identities", json_body=body)
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")
    assert excinfo.value.cause["field"] == field


def test_names_are_unique(ctl):
    _create(ctl, "grace")
    with pytest.raises(ControllerError) as excinfo:
        _create(ctl, "grace")
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE") and excinfo.value.cause["field"] == "name"


def test_update_patch_and_delete(ctl):
    identity_id = _create(ctl, "heidi")
    ctl.admin.data("PATCH", f"{API}/identities/{identity_id}", json_body={"roleAttributes": ["a"]})
    detail = ctl.admin.data("GET", f"{API}/identities/{identity_id}")
    assert detail["name"] == "heidi" and detail["roleAttributes"] == ["a"]
    ctl.admin.data("PUT", f"{API}/identities/{identity_id}", json_body={"name": "heidi2", "type": "Device", "isAdmin": True})
    detail = ctl.admin.data("GET", f"{API}/identities/{identity_id}")
    assert (detail["name"], detail["typeId"], detail["isAdmin"], detail["roleAttributes"]) == ("heidi2", "Device", True, [])
    assert ctl.admin.data("DELETE", f"{API}/identities/{identity_id}") == {}
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("GET", f"{API}/identities/{identity_id}")
    assert error_of(excinfo) == (404, "NOT_FOUND")


def test_deleting_an_identity_ends_its_sessions_and_authenticators(ctl, alice):
    with alice.connect() as conn:
        conn.login_cert()
        ctl.admin.data("DELETE", f"{API}/identities/{alice.id}")
        with pytest.raises(ControllerError) as excinfo:
            conn.data("GET", "/edge/client/v1/current-identity")
        assert error_of(excinfo) == (401, "UNAUTHORIZED")
    assert ctl.admin.data("GET", f"{API}/authenticators?filter=" + quote(f'identity="{alice.id}"')) == []


def test_the_default_admin_cannot_be_deleted(ctl):
    admin_id = ctl.admin.data("GET", f"{API}/current-identity")["id"]
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("DELETE", f"{API}/identities/{admin_id}")
    assert error_of(excinfo) == (409, "CAN_NOT_DELETE_REFERENCED_ENTITY")


@pytest.mark.parametrize("method, path", [("GET", "x"), ("PUT", "x"), ("PATCH", "x"), ("DELETE", "x")])
def test_unknown_identity_is_not_found(ctl, method, path):
    body = {"name": "n", "type": "Default", "isAdmin": False} if method in ("PUT", "PATCH") else None
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data(method, f"{API}/identities/nope", json_body=body)
    assert error_of(excinfo) == (404, "NOT_FOUND")


def test_pagination_and_filters(ctl):
    for i in range(12):
        _create(ctl, f"page-{i:02d}")
    first, _ = ctl.admin.request("GET", f"{API}/identities")
    assert first["meta"]["pagination"] == {"limit": 10, "offset": 0, "totalCount": 13}  # with the default admin
    second, _ = ctl.admin.request("GET", f"{API}/identities?limit=5&offset=10")
    assert [i["name"] for i in second["data"]] == ["page-09", "page-10", "page-11"]
    capped, _ = ctl.admin.request("GET", f"{API}/identities?limit=100000")
    assert capped["meta"]["pagination"]["limit"] == 500
    named = ctl.admin.data("GET", f"{API}/identities?filter=" + quote('name="page-03"'))
    assert [i["name"] for i in named] == ["page-03"]
    assert len(ctl.admin.data("GET", f"{API}/identities?limit=50&filter=" + quote('name contains "page-1"'))) == 2
    assert [i["name"] for i in ctl.admin.data("GET", f"{API}/identities?filter=isAdmin=true")] == ["Default Admin"]


@pytest.mark.parametrize("query, expected", [
    ("limit=ten", (400, "INVALID_PAGINATION")),
    ("offset=-1", (400, "INVALID_PAGINATION")),
    ("filter=" + quote("bogus("), (400, "INVALID_FILTER")),
    ("filter=" + quote('password="x"'), (400, "INVALID_FILTER")),
])
def test_bad_list_parameters(ctl, query, expected):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("GET", f"{API}/identities?{query}")
    assert error_of(excinfo) == expected


def test_enrollment_crud_refresh_and_rules(ctl):
    identity_id = _create(ctl, "ivan")
    created, _ = ctl.admin.request("POST", f"{API}/enrollments",
                                   json_body={"method": "ott", "identityId": identity_id, "expiresAt": "2099-01-01T00:00:00Z"})
    enrollment_id = created["data"]["id"]
    detail = ctl.admin.data("GET", f"{API}/enrollments/{enrollment_id}")
    assert (detail["method"], detail["identityId"], detail["expiresAt"]) == ("ott", identity_id, "2099-01-01T00:00:00.000Z")
    assert decode_unverified(detail["jwt"])[1]["jti"] == detail["token"]
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", f"{API}/enrollments", json_body={"method": "ott", "identityId": identity_id, "expiresAt": "2099-01-01T00:00:00Z"})
    assert error_of(excinfo) == (409, "ENROLLMENT_EXISTS")
    refreshed, _ = ctl.admin.request("POST", f"{API}/enrollments/{enrollment_id}/refresh", json_body={"expiresAt": "2098-01-01T00:00:00Z"})
    assert refreshed["data"]["id"] == enrollment_id
    after = ctl.admin.data("GET", f"{API}/enrollments/{enrollment_id}")
    assert after["token"] != detail["token"] and after["jwt"] != detail["jwt"] and after["expiresAt"].startswith("2098")
    assert [e["id"] for e in ctl.admin.data("GET", f"{API}/identities/{identity_id}/enrollments")] == [enrollment_id]
    assert ctl.admin.data("DELETE", f"{API}/enrollments/{enrollment_id}") == {}
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("GET", f"{API}/enrollments/{enrollment_id}")
    assert error_of(excinfo) == (404, "NOT_FOUND")


@pytest.mark.parametrize("body, expected", [
    ({"method": "ott", "identityId": "nope", "expiresAt": "2099-01-01T00:00:00Z"}, (400, "COULD_NOT_VALIDATE")),
    ({"method": "ott", "identityId": "{id}", "expiresAt": "2001-01-01T00:00:00Z"}, (400, "COULD_NOT_VALIDATE")),
    ({"method": "ott", "identityId": "{id}", "expiresAt": "2099-01-01T00:00:00"}, (400, "COULD_NOT_VALIDATE")),
    ({"method": "erott", "identityId": "{id}", "expiresAt": "2099-01-01T00:00:00Z"}, (400, "COULD_NOT_VALIDATE")),
    ({"method": "updb", "identityId": "{id}", "expiresAt": "2099-01-01T00:00:00Z"}, (400, "COULD_NOT_VALIDATE")),
    ({"method": "ott", "identityId": "{id}"}, (400, "COULD_NOT_VALIDATE")),
], ids=["unknown-identity", "past-expiry", "naive-time", "router-method", "updb-without-username", "no-expiry"])
def test_enrollment_create_refusals(ctl, body, expected):
    identity_id = _create(ctl, "judy")
    body = {k: (v.format(id=identity_id) if isinstance(v, str) else v) for k, v in body.items()}
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", f"{API}/enrollments", json_body=body)
    assert error_of(excinfo) == expected


def test_services_appear_to_sdks(ctl, alice):
    service_id = ctl.admin.data("POST", f"{API}/services", json_body={"name": "web", "encryptionRequired": True})["id"]
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", f"{API}/services", json_body={"name": "web", "encryptionRequired": True})
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")
    ctl.admin.data("POST", f"{API}/service-policies", json_body={
        "name": "all-dial", "type": "Dial", "semantic": "AllOf", "identityRoles": ["#all"], "serviceRoles": ["#all"]})
    with alice.connect() as conn:
        conn.login_cert()
        assert conn.data("GET", f"/edge/client/v1/services/{service_id}")["permissions"] == ["Dial"]
    assert ctl.admin.data("DELETE", f"{API}/services/{service_id}") == {}
    assert ctl.admin.data("GET", f"{API}/services") == []
