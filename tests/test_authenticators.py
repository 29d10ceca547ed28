"""Authenticators: self-service (current-identity) and management CRUD, request-extend and re-enroll.

The reference is docs/edge-api-reference.md §3.2-§3.5 and §4.1, and docs/real-controller-behavior.md §2.1-§2.4.
Every test runs on SQLite and on PostgreSQL (see conftest).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import LoggedIn, error_of
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from controller.client import ControllerError
from controller.client.enroll import enroll_ott
from controller.client.http import Connection
from controller.testing.harness import ControllerHarness, EnrolledIdentity

CLIENT, MANAGEMENT, ROOT = "/edge/client/v1", "/edge/management/v1", ""
PREFIXES = [pytest.param(CLIENT, id="client"), pytest.param(MANAGEMENT, id="management"), pytest.param(ROOT, id="root")]
AUTHENTICATORS = f"{MANAGEMENT}/authenticators"
PASSWORD, NEW_PASSWORD = "first-Passw0rd", "second-Passw0rd"


# --- helpers --------------------------------------------------------------------------------------------

def leaf_of(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pem.encode())[0]


def leaf_pem(pem: str) -> str:
    return leaf_of(pem).public_bytes(serialization.Encoding.PEM).decode()


def sha1_hex(cert: x509.Certificate) -> str:
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def expires_in(ctl: ControllerHarness, delta: timedelta = timedelta(days=1)) -> str:
    return (ctl.clock.now() + delta).isoformat()


def fails(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ControllerError) as excinfo:
        call()
    return error_of(excinfo)


def cert_authenticator_id(ctl: ControllerHarness, identity_id: str) -> str:
    rows = ctl.admin.data("GET", f"{MANAGEMENT}/identities/{identity_id}/authenticators")
    return next(a["id"] for a in rows if a["method"] == "cert")


def password_login(ctl: ControllerHarness, username: str, password: str) -> dict[str, Any]:
    with ctl.connect() as conn:
        return conn.login_password(username, password, prefix=CLIENT)


def cert_login(ctl: ControllerHarness, cert_pem: str, key_pem: str) -> dict[str, Any]:
    with ctl.connect(cert_pem=cert_pem, key_pem=key_pem) as conn:
        return conn.login_cert()


def new_identity(ctl: ControllerHarness, name: str, **enrollment: Any) -> str:
    body: dict[str, Any] = {"name": name, "type": "Default", "isAdmin": False}
    if enrollment:
        body["enrollment"] = enrollment
    return ctl.admin.data("POST", f"{MANAGEMENT}/identities", json_body=body)["id"]


class UpdbUser:
    """An identity enrolled by username and password (enrollment {"updb": username}, then /enroll/updb)."""

    def __init__(self, ctl: ControllerHarness, name: str = "updb-user", username: str = "user1", password: str = PASSWORD):
        self.ctl, self.username, self.password = ctl, username, password
        self.id = new_identity(ctl, name, updb=username)
        token = ctl.admin.data("GET", f"{MANAGEMENT}/identities/{self.id}")["enrollment"]["updb"]["token"]
        with ctl.connect() as anon:
            anon.data("POST", f"{CLIENT}/enroll/updb?token={token}", json_body={"password": password})
        self.conn = ctl.connect()
        self.session = self.conn.login_password(username, password, prefix=CLIENT)
        self.authenticator_id = self.session["authenticatorId"]

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def user(ctl: ControllerHarness) -> Iterator[UpdbUser]:
    u = UpdbUser(ctl)
    yield u
    u.close()


@pytest.fixture
def alice_conn(alice_session: LoggedIn) -> Connection:
    return alice_session.conn


def cert_authenticator_id_via_cert_login(identity: EnrolledIdentity) -> str:
    with identity.connect() as conn:
        return conn.login_cert()["authenticatorId"]


# --- self service: list and detail (§3.2, §3.3) --------------------------------------------------------------

@pytest.mark.parametrize("prefix", PREFIXES)
def test_list_own_authenticators_only_and_paginated(ctl: ControllerHarness, alice_session: LoggedIn, bob: EnrolledIdentity, prefix: str):
    alice_id = alice_session.identity.id
    updb_id = ctl.admin.data("POST", AUTHENTICATORS, json_body={"method": "updb", "identityId": alice_id, "username": "alice-login", "password": PASSWORD})["id"]
    path = f"{prefix}/current-identity/authenticators"

    body, _ = alice_session.conn.request("GET", path)
    assert {a["id"] for a in body["data"]} == {alice_session.authenticator_id, updb_id}
    assert {a["identityId"] for a in body["data"]} == {alice_id}
    assert body["meta"]["pagination"] == {"limit": 10, "offset": 0, "totalCount": 2}

    first, _ = alice_session.conn.request("GET", f"{path}?limit=1&offset=0")
    second, _ = alice_session.conn.request("GET", f"{path}?limit=1&offset=1")
    assert first["meta"]["pagination"] == {"limit": 1, "offset": 0, "totalCount": 2}
    assert second["meta"]["pagination"] == {"limit": 1, "offset": 1, "totalCount": 2}
    assert len(first["data"]) == len(second["data"]) == 1
    assert {first["data"][0]["id"], second["data"][0]["id"]} == {alice_session.authenticator_id, updb_id}

    # bob sees only his own one.
    with bob.connect() as conn:
        conn.login_cert()
        assert [a["identityId"] for a in conn.data("GET", path)] == [bob.id]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_self_service_needs_a_session(alice: EnrolledIdentity, prefix: str):
    auth_id = cert_authenticator_id_via_cert_login(alice)
    with alice.connect() as conn:  # the certificate alone is no session
        assert fails(lambda: conn.data("GET", f"{prefix}/current-identity/authenticators")) == (401, "UNAUTHORIZED")
        assert fails(lambda: conn.data("GET", f"{prefix}/current-identity/authenticators/{auth_id}")) == (401, "UNAUTHORIZED")
        assert fails(lambda: conn.data("PATCH", f"{prefix}/current-identity/authenticators/{auth_id}",
                                       json_body={"password": NEW_PASSWORD, "currentPassword": PASSWORD})) == (401, "UNAUTHORIZED")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_detail_own_cert_authenticator(ctl: ControllerHarness, alice_session: LoggedIn, prefix: str):
    alice = alice_session.identity
    auth_id = alice_session.authenticator_id
    detail = alice_session.conn.data("GET", f"{prefix}/current-identity/authenticators/{auth_id}")

    leaf = leaf_of(alice.identity.cert)
    assert detail["id"] == auth_id
    assert detail["method"] == "cert"
    assert detail["identityId"] == alice.id
    assert (detail["identity"]["id"], detail["identity"]["name"], detail["identity"]["entity"]) == (alice.id, "alice", "identities")
    assert leaf_of(detail["certPem"]) == leaf
    assert detail["fingerprint"] == sha1_hex(leaf)
    assert detail["fingerprint"] == detail["fingerprint"].lower() and len(detail["fingerprint"]) == 40
    assert detail["isIssuedByNetwork"] is True
    assert (detail["isExtendRequested"], detail["isKeyRollRequested"], detail["extendRequestedAt"]) == (False, False, None)
    assert detail["lastAuthResolvedToRoot"] is True  # she presented her intermediates at login
    assert detail["lastExtendRolledKeys"] is False
    assert detail["_links"]["self"]["href"] == f"./authenticators/{auth_id}"
    assert detail["_links"]["identity"]["href"] == f"./identities/{alice.id}"
    assert {"createdAt", "updatedAt", "tags"} <= set(detail)
    # The management detail shows the same authenticator the same way.
    assert ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}") == detail


@pytest.mark.parametrize("prefix", PREFIXES)
def test_detail_of_another_identitys_or_unknown_authenticator_is_not_found(ctl: ControllerHarness, alice_conn: Connection, bob: EnrolledIdentity, prefix: str):
    bobs = cert_authenticator_id(ctl, bob.id)
    assert fails(lambda: alice_conn.data("GET", f"{prefix}/current-identity/authenticators/{bobs}")) == (404, "NOT_FOUND")
    assert fails(lambda: alice_conn.data("GET", f"{prefix}/current-identity/authenticators/no-such-id")) == (404, "NOT_FOUND")


def test_detail_of_a_updb_authenticator(user: UpdbUser):
    detail = user.conn.data("GET", f"{CLIENT}/current-identity/authenticators/{user.authenticator_id}")
    assert (detail["method"], detail["username"], detail["identityId"]) == ("updb", "user1", user.id)
    assert "certPem" not in detail and "fingerprint" not in detail
    assert "password" not in detail and "passwordHash" not in detail


# --- self service: password change (§3.4, §3.5, real-controller-behavior §2.4) --------------------------------

@pytest.mark.parametrize("verb,prefix", [
    pytest.param("PATCH", CLIENT, id="PATCH-client"), pytest.param("PATCH", MANAGEMENT, id="PATCH-management"),
    pytest.param("PATCH", ROOT, id="PATCH-root"), pytest.param("PUT", CLIENT, id="PUT-client"),
])
def test_change_own_password(ctl: ControllerHarness, user: UpdbUser, verb: str, prefix: str):
    body: dict[str, Any] = {"password": NEW_PASSWORD, "currentPassword": PASSWORD}
    if verb == "PUT":
        body["username"] = "user1"
    assert user.conn.data(verb, f"{prefix}/current-identity/authenticators/{user.authenticator_id}", json_body=body) == {}
    assert password_login(ctl, "user1", NEW_PASSWORD)["identityId"] == user.id
    assert fails(lambda: password_login(ctl, "user1", PASSWORD)) == (401, "INVALID_AUTH")


def test_change_own_username_with_put(ctl: ControllerHarness, user: UpdbUser):
    body = {"username": "renamed-user", "password": NEW_PASSWORD, "currentPassword": PASSWORD}
    user.conn.data("PUT", f"{CLIENT}/current-identity/authenticators/{user.authenticator_id}", json_body=body)
    assert password_login(ctl, "renamed-user", NEW_PASSWORD)["identityId"] == user.id
    assert fails(lambda: password_login(ctl, "user1", NEW_PASSWORD)) == (401, "INVALID_AUTH")


@pytest.mark.parametrize("verb", ["PUT", "PATCH"])
def test_wrong_current_password_is_unauthorized_and_changes_nothing(ctl: ControllerHarness, user: UpdbUser, verb: str):
    body: dict[str, Any] = {"password": NEW_PASSWORD, "currentPassword": "not-the-password"}
    if verb == "PUT":
        body["username"] = "user1"
    path = f"{CLIENT}/current-identity/authenticators/{user.authenticator_id}"
    assert fails(lambda: user.conn.data(verb, path, json_body=body)) == (401, "UNAUTHORIZED")
    assert password_login(ctl, "user1", PASSWORD)["identityId"] == user.id
    assert fails(lambda: password_login(ctl, "user1", NEW_PASSWORD)) == (401, "INVALID_AUTH")


SELF_UPDATE_ERRORS = {
    # name: (whose authenticator, body, status, code)
    "cert-authenticator": ("alice-cert", {"password": NEW_PASSWORD, "currentPassword": PASSWORD}, 409, "CAN_NOT_UPDATE_AUTHENTICATOR"),
    "cert-authenticator-and-wrong-password": ("alice-cert", {"password": NEW_PASSWORD, "currentPassword": "wrong-pass"}, 409, "CAN_NOT_UPDATE_AUTHENTICATOR"),
    "another-identitys-updb": ("user-updb", {"password": NEW_PASSWORD, "currentPassword": PASSWORD}, 404, "NOT_FOUND"),
    "unknown-authenticator": ("unknown", {"password": NEW_PASSWORD, "currentPassword": PASSWORD}, 404, "NOT_FOUND"),
    "missing-currentPassword": ("alice-updb", {"password": NEW_PASSWORD}, 400, "COULD_NOT_VALIDATE"),
    "password-too-short": ("alice-updb", {"password": "abc", "currentPassword": PASSWORD}, 400, "COULD_NOT_VALIDATE"),
}


@pytest.mark.parametrize("verb", ["PUT", "PATCH"])
@pytest.mark.parametrize("case", list(SELF_UPDATE_ERRORS.values()), ids=list(SELF_UPDATE_ERRORS))
def test_self_update_refusals(ctl: ControllerHarness, alice_session: LoggedIn, case: tuple, verb: str):
    whose, body, status, code = case
    login: tuple[str, str] | None = None  # a updb login that must still work afterwards
    if whose == "alice-cert":
        target = alice_session.authenticator_id
    elif whose == "alice-updb":
        target = ctl.admin.data("POST", AUTHENTICATORS, json_body={
            "method": "updb", "identityId": alice_session.identity.id, "username": "alice-login", "password": PASSWORD})["id"]
        login = ("alice-login", alice_session.identity.id)
    elif whose == "user-updb":
        other = UpdbUser(ctl)
        other.close()
        target, login = other.authenticator_id, ("user1", other.id)
    else:
        target = "no-such-id"
    if verb == "PUT":
        body = {"username": "some-username", **body}
    path = f"{CLIENT}/current-identity/authenticators/{target}"
    assert fails(lambda: alice_session.conn.data(verb, path, json_body=body)) == (status, code)
    if login is not None:  # nothing changed: the updb login still works with its first password
        assert password_login(ctl, login[0], PASSWORD)["identityId"] == login[1]
    else:
        detail = ctl.admin.data("GET", f"{AUTHENTICATORS}/{alice_session.authenticator_id}")
        assert detail["fingerprint"] == sha1_hex(leaf_of(alice_session.identity.identity.cert))


# --- management: admin only (§4.1) -------------------------------------------------------------------------

def _management_calls(auth_id: str, identity_id: str) -> dict[str, tuple[str, str, Any]]:
    return {
        "list": ("GET", AUTHENTICATORS, None),
        "detail": ("GET", f"{AUTHENTICATORS}/{auth_id}", None),
        "create": ("POST", AUTHENTICATORS, {"method": "updb", "identityId": identity_id, "username": "sneaky", "password": PASSWORD}),
        "update": ("PUT", f"{AUTHENTICATORS}/{auth_id}", {"username": "sneaky", "password": PASSWORD}),
        "patch": ("PATCH", f"{AUTHENTICATORS}/{auth_id}", {"password": PASSWORD}),
        "delete": ("DELETE", f"{AUTHENTICATORS}/{auth_id}", None),
        "request-extend": ("POST", f"{AUTHENTICATORS}/{auth_id}/request-extend", {"rollKeys": True}),
        "re-enroll": ("POST", f"{AUTHENTICATORS}/{auth_id}/re-enroll", {"expiresAt": "2099-01-01T00:00:00Z"}),
    }


MANAGEMENT_OPERATIONS = list(_management_calls("x", "y"))


@pytest.mark.parametrize("operation", MANAGEMENT_OPERATIONS)
def test_management_is_admin_only(ctl: ControllerHarness, alice_session: LoggedIn, operation: str):
    """A non-admin session, and a connection with no session at all, both get 401 UNAUTHORIZED."""
    auth_id, alice_id = alice_session.authenticator_id, alice_session.identity.id
    method, path, body = _management_calls(auth_id, alice_id)[operation]
    assert fails(lambda: alice_session.conn.data(method, path, json_body=body)) == (401, "UNAUTHORIZED")
    with alice_session.identity.connect() as no_session:
        assert fails(lambda: no_session.data(method, path, json_body=body)) == (401, "UNAUTHORIZED")
    # Nothing happened: the authenticator is unchanged and still logs alice in; no authenticator was added.
    detail = ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}")
    assert (detail["isExtendRequested"], detail["fingerprint"]) == (False, sha1_hex(leaf_of(alice_session.identity.identity.cert)))
    assert [a["id"] for a in ctl.admin.data("GET", f"{MANAGEMENT}/identities/{alice_id}/authenticators")] == [auth_id]
    assert cert_login(ctl, alice_session.identity.identity.cert, alice_session.identity.identity.key)["authenticatorId"] == auth_id


def test_management_list_and_detail(ctl: ControllerHarness, alice: EnrolledIdentity, bob: EnrolledIdentity):
    body, _ = ctl.admin.request("GET", AUTHENTICATORS)
    rows = body["data"]
    by_identity = {r["identityId"]: r for r in rows if r["method"] == "cert"}
    assert set(by_identity) == {alice.id, bob.id}
    assert any(r["method"] == "updb" and r["username"] == ctl.admin_username for r in rows)  # the default admin's login
    assert body["meta"]["pagination"] == {"limit": 10, "offset": 0, "totalCount": len(rows)} and len(rows) == 3

    page, _ = ctl.admin.request("GET", f"{AUTHENTICATORS}?limit=2&offset=2")
    assert page["meta"]["pagination"] == {"limit": 2, "offset": 2, "totalCount": 3} and len(page["data"]) == 1

    only_alice = ctl.admin.data("GET", f'{AUTHENTICATORS}?filter=identity="{alice.id}"')
    assert [r["id"] for r in only_alice] == [by_identity[alice.id]["id"]]

    detail = ctl.admin.data("GET", f"{AUTHENTICATORS}/{by_identity[alice.id]['id']}")
    assert detail == by_identity[alice.id]
    assert detail["fingerprint"] == sha1_hex(leaf_of(alice.identity.cert))
    assert fails(lambda: ctl.admin.data("GET", f"{AUTHENTICATORS}/no-such-id")) == (404, "NOT_FOUND")


# --- management: create (§2.4) ----------------------------------------------------------------------------

def test_create_updb_authenticator(ctl: ControllerHarness, alice: EnrolledIdentity):
    body, _ = ctl.admin.request("POST", AUTHENTICATORS, json_body={
        "method": "updb", "identityId": alice.id, "username": "alice-login", "password": PASSWORD, "tags": {"team": "a"}})
    created = body["data"]
    assert set(created) == {"id", "_links"} and created["_links"]["self"]["href"] == f"./authenticators/{created['id']}"
    detail = ctl.admin.data("GET", f"{AUTHENTICATORS}/{created['id']}")
    assert (detail["method"], detail["username"], detail["identityId"], detail["tags"]) == ("updb", "alice-login", alice.id, {"team": "a"})
    assert password_login(ctl, "alice-login", PASSWORD)["identityId"] == alice.id


def test_create_returns_201(ctl: ControllerHarness, alice: EnrolledIdentity):
    status, headers, payload = ctl.admin.raw("POST", AUTHENTICATORS, body=json.dumps({
        "method": "updb", "identityId": alice.id, "username": "alice-login", "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})
    assert status == 201 and headers.get_content_type() == "application/json"
    assert json.loads(payload)["meta"] == {}


@pytest.fixture
def lone_identity(ctl: ControllerHarness) -> str:
    """An identity with no authenticator and no enrollment."""
    return new_identity(ctl, "lone")


def free_network_cert(ctl: ControllerHarness) -> EnrolledIdentity:
    """A network-issued certificate whose authenticator was re-enrolled away, so it maps to nobody."""
    x = ctl.enroll_identity("x-original-owner")
    ctl.admin.data("POST", f"{AUTHENTICATORS}/{cert_authenticator_id(ctl, x.id)}/re-enroll", json_body={"expiresAt": expires_in(ctl)})
    return x


@pytest.fixture
def freed_network_cert(ctl: ControllerHarness) -> EnrolledIdentity:
    return free_network_cert(ctl)


def test_admin_created_cert_authenticator_is_not_issued_by_network(ctl: ControllerHarness, lone_identity: str, freed_network_cert: EnrolledIdentity):
    x = freed_network_cert
    body, _ = ctl.admin.request("POST", AUTHENTICATORS, json_body={"method": "cert", "identityId": lone_identity, "certPem": leaf_pem(x.identity.cert)})
    auth_id = body["data"]["id"]
    detail = ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}")
    assert (detail["method"], detail["identityId"], detail["isIssuedByNetwork"]) == ("cert", lone_identity, False)
    assert detail["fingerprint"] == sha1_hex(leaf_of(x.identity.cert))
    assert leaf_of(detail["certPem"]) == leaf_of(x.identity.cert)
    session = cert_login(ctl, x.identity.cert, x.identity.key)
    assert (session["identityId"], session["authenticatorId"], session["isCertExtendable"]) == (lone_identity, auth_id, False)


class CreateWorld:
    def __init__(self, ctl: ControllerHarness, alice: EnrolledIdentity):
        self.ctl, self.alice = ctl, alice.id
        self._lone: str | None = None
        self._free: EnrolledIdentity | None = None

    @property
    def lone(self) -> str:
        self._lone = self._lone or new_identity(self.ctl, "lone")
        return self._lone

    @property
    def free(self) -> EnrolledIdentity:
        self._free = self._free or free_network_cert(self.ctl)
        return self._free

    def alice_updb(self) -> str:
        self.ctl.admin.data("POST", AUTHENTICATORS, json_body={"method": "updb", "identityId": self.alice, "username": "alice-login", "password": PASSWORD})
        return self.alice


CREATE_ERRORS: dict[str, tuple[Callable[[CreateWorld], dict[str, Any]], int, str]] = {
    "second-updb-for-the-same-identity": (
        lambda w: {"method": "updb", "identityId": w.alice_updb(), "username": "second-login", "password": PASSWORD},
        409, "MAX_AUTHENTICATOR_METHODS_REACHED"),
    "second-cert-for-the-same-identity": (
        lambda w: {"method": "cert", "identityId": w.alice, "certPem": leaf_pem(w.free.identity.cert)}, 409, "MAX_AUTHENTICATOR_METHODS_REACHED"),
    "certPem-with-no-certificate": (
        lambda w: {"method": "cert", "identityId": w.lone, "certPem": "not a pem block"}, 400, "COULD_NOT_PARSE_PEM_BLOCK"),
    "certPem-empty": (lambda w: {"method": "cert", "identityId": w.lone, "certPem": ""}, 400, "COULD_NOT_PARSE_PEM_BLOCK"),
    "certPem-missing": (lambda w: {"method": "cert", "identityId": w.lone}, 400, "COULD_NOT_PARSE_PEM_BLOCK"),
    "certPem-with-two-certificates": (
        lambda w: {"method": "cert", "identityId": w.lone, "certPem": leaf_pem(w.free.identity.cert) * 2}, 400, "COULD_NOT_PARSE_PEM_BLOCK"),
    "certPem-with-a-whole-chain": (
        lambda w: {"method": "cert", "identityId": w.lone, "certPem": w.free.identity.cert}, 400, "COULD_NOT_PARSE_PEM_BLOCK"),
    "unknown-method": (lambda w: {"method": "ottca", "identityId": w.lone}, 400, "COULD_NOT_VALIDATE"),
    "missing-identityId": (lambda w: {"method": "updb", "username": "nobody", "password": PASSWORD}, 400, "COULD_NOT_VALIDATE"),
}


@pytest.mark.parametrize("case", list(CREATE_ERRORS.values()), ids=list(CREATE_ERRORS))
def test_create_refusals(ctl: ControllerHarness, alice: EnrolledIdentity, case: tuple):
    build, status, code = case
    body = build(CreateWorld(ctl, alice))
    before = {a["id"] for a in ctl.admin.data("GET", f"{AUTHENTICATORS}?limit=100")}
    assert fails(lambda: ctl.admin.data("POST", AUTHENTICATORS, json_body=body)) == (status, code)
    assert {a["id"] for a in ctl.admin.data("GET", f"{AUTHENTICATORS}?limit=100")} == before


# --- management: update, patch, delete (§2.4) ---------------------------------------------------------------

@pytest.fixture
def alice_updb(ctl: ControllerHarness, alice: EnrolledIdentity) -> str:
    return ctl.admin.data("POST", AUTHENTICATORS, json_body={"method": "updb", "identityId": alice.id, "username": "alice-login", "password": PASSWORD})["id"]


def test_admin_update_changes_username_and_password(ctl: ControllerHarness, alice: EnrolledIdentity, alice_updb: str):
    assert ctl.admin.data("PUT", f"{AUTHENTICATORS}/{alice_updb}", json_body={"username": "alice-renamed", "password": NEW_PASSWORD}) == {}
    assert password_login(ctl, "alice-renamed", NEW_PASSWORD)["identityId"] == alice.id
    assert fails(lambda: password_login(ctl, "alice-login", PASSWORD)) == (401, "INVALID_AUTH")
    assert ctl.admin.data("GET", f"{AUTHENTICATORS}/{alice_updb}")["username"] == "alice-renamed"


def test_admin_patch_changes_only_what_is_sent(ctl: ControllerHarness, alice: EnrolledIdentity, alice_updb: str):
    assert ctl.admin.data("PATCH", f"{AUTHENTICATORS}/{alice_updb}", json_body={"password": NEW_PASSWORD}) == {}
    assert password_login(ctl, "alice-login", NEW_PASSWORD)["identityId"] == alice.id
    assert fails(lambda: password_login(ctl, "alice-login", PASSWORD)) == (401, "INVALID_AUTH")


def test_admin_update_never_changes_method_or_identity(ctl: ControllerHarness, alice: EnrolledIdentity, bob: EnrolledIdentity, alice_updb: str):
    ctl.admin.data("PATCH", f"{AUTHENTICATORS}/{alice_updb}", json_body={"method": "cert", "identityId": bob.id, "password": NEW_PASSWORD})
    detail = ctl.admin.data("GET", f"{AUTHENTICATORS}/{alice_updb}")
    assert (detail["method"], detail["identityId"]) == ("updb", alice.id)
    assert password_login(ctl, "alice-login", NEW_PASSWORD)["identityId"] == alice.id


def test_admin_update_of_a_cert_authenticator_keeps_its_certificate(ctl: ControllerHarness, alice: EnrolledIdentity):
    auth_id = cert_authenticator_id(ctl, alice.id)
    before = ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}")
    ctl.admin.data("PATCH", f"{AUTHENTICATORS}/{auth_id}", json_body={"tags": {"k": "v"}})
    after = ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}")
    assert (after["certPem"], after["fingerprint"], after["method"], after["tags"]) == (before["certPem"], before["fingerprint"], "cert", {"k": "v"})
    assert cert_login(ctl, alice.identity.cert, alice.identity.key)["authenticatorId"] == auth_id


@pytest.mark.parametrize("verb,body,status,code", [
    pytest.param("PUT", {"username": "alice-login"}, 400, "COULD_NOT_VALIDATE", id="put-without-password"),
    pytest.param("PUT", {"username": "abc", "password": NEW_PASSWORD}, 400, "COULD_NOT_VALIDATE", id="put-username-too-short"),
    pytest.param("PATCH", {"password": "abc"}, 400, "COULD_NOT_VALIDATE", id="patch-password-too-short"),
])
def test_admin_update_validation(ctl: ControllerHarness, alice_updb: str, verb: str, body: dict, status: int, code: str):
    assert fails(lambda: ctl.admin.data(verb, f"{AUTHENTICATORS}/{alice_updb}", json_body=body)) == (status, code)
    assert password_login(ctl, "alice-login", PASSWORD)


@pytest.mark.parametrize("verb,body", [
    pytest.param("PUT", {"username": "someone", "password": NEW_PASSWORD}, id="put"),
    pytest.param("PATCH", {"password": NEW_PASSWORD}, id="patch"),
    pytest.param("DELETE", None, id="delete"),
])
def test_admin_write_to_unknown_authenticator_is_not_found(ctl: ControllerHarness, verb: str, body: Any):
    assert fails(lambda: ctl.admin.data(verb, f"{AUTHENTICATORS}/no-such-id", json_body=body)) == (404, "NOT_FOUND")


def test_admin_delete_cert_authenticator(ctl: ControllerHarness, alice: EnrolledIdentity):
    auth_id = cert_authenticator_id(ctl, alice.id)
    assert ctl.admin.data("DELETE", f"{AUTHENTICATORS}/{auth_id}") == {}
    assert fails(lambda: ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}")) == (404, "NOT_FOUND")
    assert fails(lambda: cert_login(ctl, alice.identity.cert, alice.identity.key)) == (401, "INVALID_AUTH")
    assert fails(lambda: ctl.admin.data("DELETE", f"{AUTHENTICATORS}/{auth_id}")) == (404, "NOT_FOUND")


def test_admin_delete_updb_authenticator(ctl: ControllerHarness, alice_updb: str):
    assert ctl.admin.data("DELETE", f"{AUTHENTICATORS}/{alice_updb}") == {}
    assert fails(lambda: password_login(ctl, "alice-login", PASSWORD)) == (401, "INVALID_AUTH")


# --- management: request-extend (§2.1) ----------------------------------------------------------------------

def test_request_extend(ctl: ControllerHarness, alice: EnrolledIdentity):
    auth_id = cert_authenticator_id(ctl, alice.id)
    before = ctl.clock.now()
    body, _ = ctl.admin.request("POST", f"{AUTHENTICATORS}/{auth_id}/request-extend", json_body={"rollKeys": False})
    assert body == {"data": {}, "meta": {}}
    detail = ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}")
    assert (detail["isExtendRequested"], detail["isKeyRollRequested"]) == (True, False)
    assert detail["extendRequestedAt"] is not None
    at = datetime.fromisoformat(detail["extendRequestedAt"])
    assert before - timedelta(seconds=5) <= at <= ctl.clock.now() + timedelta(seconds=5)

    ctl.admin.data("POST", f"{AUTHENTICATORS}/{auth_id}/request-extend", json_body={"rollKeys": True})
    detail = ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}")
    assert (detail["isExtendRequested"], detail["isKeyRollRequested"]) == (True, True)
    # The body's rollKeys is optional: it defaults to false.
    ctl.admin.data("POST", f"{AUTHENTICATORS}/{auth_id}/request-extend", json_body={})
    detail = ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}")
    assert (detail["isExtendRequested"], detail["isKeyRollRequested"]) == (True, False)


def test_request_extend_does_not_check_is_issued_by_network(ctl: ControllerHarness, lone_identity: str, freed_network_cert: EnrolledIdentity):
    auth_id = ctl.admin.data("POST", AUTHENTICATORS, json_body={
        "method": "cert", "identityId": lone_identity, "certPem": leaf_pem(freed_network_cert.identity.cert)})["id"]
    assert ctl.admin.data("POST", f"{AUTHENTICATORS}/{auth_id}/request-extend", json_body={"rollKeys": True}) == {}
    assert ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}")["isExtendRequested"] is True


def test_request_extend_refusals(ctl: ControllerHarness, alice_updb: str):
    assert fails(lambda: ctl.admin.data("POST", f"{AUTHENTICATORS}/no-such-id/request-extend", json_body={"rollKeys": True})) == (404, "NOT_FOUND")
    # The real controller answers 401 (its spec says 403) for a non-certificate authenticator.
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", f"{AUTHENTICATORS}/{alice_updb}/request-extend", json_body={"rollKeys": True})
    assert error_of(excinfo) == (401, "UNAUTHORIZED")
    assert "not a certificate authenticator" in (excinfo.value.cause or {}).get("message", "")


# --- management: re-enroll (§2.3) ---------------------------------------------------------------------------

def test_re_enroll_cert_authenticator(ctl: ControllerHarness, alice: EnrolledIdentity):
    auth_id = cert_authenticator_id(ctl, alice.id)
    body, _ = ctl.admin.request("POST", f"{AUTHENTICATORS}/{auth_id}/re-enroll", json_body={"expiresAt": expires_in(ctl)})
    created = body["data"]
    assert created["_links"]["self"]["href"] == f"./enrollments/{created['id']}"

    # The authenticator is gone and the certificate no longer logs in.
    assert fails(lambda: ctl.admin.data("GET", f"{AUTHENTICATORS}/{auth_id}")) == (404, "NOT_FOUND")
    assert fails(lambda: cert_login(ctl, alice.identity.cert, alice.identity.key)) == (401, "INVALID_AUTH")

    enrollment = ctl.admin.data("GET", f"{MANAGEMENT}/enrollments/{created['id']}")
    assert (enrollment["method"], enrollment["identityId"]) == ("ott", alice.id)
    identity = ctl.admin.data("GET", f"{MANAGEMENT}/identities/{alice.id}")
    assert identity["enrollment"]["ott"]["id"] == created["id"]
    assert identity["enrollment"]["ott"]["jwt"] == enrollment["jwt"]

    # The new enrollment's JWT enrolls again, as an SDK would: the same identity, a new certificate.
    enrolled = enroll_ott(enrollment["jwt"])
    session = cert_login(ctl, enrolled.cert, enrolled.key)
    assert session["identityId"] == alice.id and session["authenticatorId"] != auth_id
    assert session["isCertExtendable"] is True
    assert fails(lambda: cert_login(ctl, alice.identity.cert, alice.identity.key)) == (401, "INVALID_AUTH")
    # The enrollment was used up.
    assert fails(lambda: ctl.admin.data("GET", f"{MANAGEMENT}/enrollments/{created['id']}")) == (404, "NOT_FOUND")


def test_re_enroll_returns_201(ctl: ControllerHarness, alice: EnrolledIdentity):
    auth_id = cert_authenticator_id(ctl, alice.id)
    status, _, payload = ctl.admin.raw("POST", f"{AUTHENTICATORS}/{auth_id}/re-enroll", body=json.dumps({"expiresAt": expires_in(ctl)}).encode(),
                                       headers={"Content-Type": "application/json"})
    assert status == 201
    data = json.loads(payload)
    assert set(data) == {"data", "meta"} and set(data["data"]) == {"id", "_links"}


def test_re_enroll_updb_authenticator_keeps_the_username(ctl: ControllerHarness, user: UpdbUser):
    created = ctl.admin.data("POST", f"{AUTHENTICATORS}/{user.authenticator_id}/re-enroll", json_body={"expiresAt": expires_in(ctl)})
    enrollment = ctl.admin.data("GET", f"{MANAGEMENT}/enrollments/{created['id']}")
    assert (enrollment["method"], enrollment["username"], enrollment["identityId"]) == ("updb", "user1", user.id)
    assert fails(lambda: password_login(ctl, "user1", PASSWORD)) == (401, "INVALID_AUTH")
    with ctl.connect() as anon:
        anon.data("POST", f"{CLIENT}/enroll/updb?token={enrollment['token']}", json_body={"password": NEW_PASSWORD})
    assert password_login(ctl, "user1", NEW_PASSWORD)["identityId"] == user.id


@pytest.mark.parametrize("target,body,status,code", [
    pytest.param("unknown", {"expiresAt": "2099-01-01T00:00:00Z"}, 404, "NOT_FOUND", id="unknown-authenticator"),
    pytest.param("alice", {}, 400, "COULD_NOT_VALIDATE", id="missing-expiresAt"),
    pytest.param("alice", {"expiresAt": "tomorrow"}, 400, "COULD_NOT_VALIDATE", id="expiresAt-not-a-date"),
])
def test_re_enroll_refusals(ctl: ControllerHarness, alice: EnrolledIdentity, target: str, body: dict, status: int, code: str):
    auth_id = cert_authenticator_id(ctl, alice.id) if target == "alice" else "no-such-id"
    assert fails(lambda: ctl.admin.data("POST", f"{AUTHENTICATORS}/{auth_id}/re-enroll", json_body=body)) == (status, code)
    assert cert_login(ctl, alice.identity.cert, alice.identity.key)["identityId"] == alice.id
