"""Bad input gets the same 4xx on both databases, never a 500: time and duration bounds, NUL characters and
lone surrogates, huge integers, over-long ids, request body size, and the Allow header on 405 (issue 7,
items 4-7)."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from pydantic import ValidationError

from controller.client.errors import ControllerError
from controller.settings import Settings

M = "/edge/management/v1"


def _post(conn, path: str, raw_json: str, method: str = "POST"):
    status, headers, payload = conn.raw(method, path, body=raw_json.encode(), headers={"Content-Type": "application/json"})
    return status, json.loads(payload) if payload else None


def _error(excinfo) -> tuple[int, str, dict]:
    return excinfo.value.status, excinfo.value.code, excinfo.value.cause or {}


# --- time and duration bounds (item 4) -----------------------------------------------------------------------

def test_a_clock_past_what_certificates_can_hold_is_refused_and_the_api_stays_usable(ctl):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("PUT", "/sim/v1/clock", json_body={"now": "9999-12-31T23:59:00Z"})
    status, code, cause = _error(excinfo)
    assert (status, code, cause["field"]) == (400, "COULD_NOT_VALIDATE", "now")
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("PUT", "/sim/v1/clock", json_body={"now": "1900-01-01T00:00:00Z"})
    assert _error(excinfo)[:2] == (400, "COULD_NOT_VALIDATE")
    # The latest time allowed still leaves room for the longest lifetime: logins and enrollment work there.
    ctl.admin.data("PUT", "/sim/v1/policy", json_body={"identityCertLifetime": "100y"})
    ctl.admin.data("PUT", "/sim/v1/clock", json_body={"now": "9898-12-31T00:00:00Z", "frozen": True})
    with ctl.connect() as conn:
        conn.login_password(ctl.admin_username, ctl.admin_password)
        assert conn.data("GET", f"{M}/current-api-session")["identity"]
    enrolled = ctl.enroll_identity("far-future")  # a certificate dated 9898 + 100y is issued
    not_after = x509.load_pem_x509_certificate(enrolled.identity.cert.encode()).not_valid_after_utc
    assert not_after.year == 9998
    ctl.admin.data("POST", "/sim/v1/clock/reset")


@pytest.mark.parametrize("by", [1e300, "9000y", -1e300, "99999999999999999999999y"])
def test_clock_advance_beyond_bounds_is_refused(ctl, by):
    before = ctl.admin.data("GET", "/sim/v1/clock")["offsetSeconds"]
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", "/sim/v1/clock/advance", json_body={"by": by})
    status, code, cause = _error(excinfo)
    assert (status, code, cause["field"]) == (400, "COULD_NOT_VALIDATE", "by")
    assert ctl.admin.data("GET", "/sim/v1/clock")["offsetSeconds"] == pytest.approx(before, abs=5)


def test_clock_advance_that_would_leave_the_range_is_refused_and_rolled_back(ctl):
    ctl.admin.data("PUT", "/sim/v1/clock", json_body={"now": "9890-01-01T00:00:00Z", "frozen": True})
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("POST", "/sim/v1/clock/advance", json_body={"by": "20y"})
    assert _error(excinfo)[:2] == (400, "COULD_NOT_VALIDATE")
    assert ctl.admin.data("GET", "/sim/v1/clock")["now"].startswith("9890-01-01")
    ctl.admin.data("POST", "/sim/v1/clock/reset")


def test_policy_lifetime_beyond_bounds_is_refused(ctl):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("PUT", "/sim/v1/policy", json_body={"identityCertLifetime": "99999y"})
    status, code, cause = _error(excinfo)
    assert (status, code, cause["field"]) == (400, "COULD_NOT_VALIDATE", "identityCertLifetime")
    ctl.enroll_identity("after-refused-policy")


@pytest.mark.parametrize("value", ["-5s", "0", "101y", "1e400"])
def test_settings_refuse_lifetimes_that_cannot_issue_a_valid_certificate(value):
    with pytest.raises(ValidationError, match="identity_cert_lifetime"):
        Settings(identity_cert_lifetime=value)


# --- NUL characters and lone surrogates (items 5 and 6) ------------------------------------------------------

def test_nul_in_a_password_login_username_is_a_validation_error(anon):
    status, body = _post(anon, f"{M}/authenticate?method=password", json.dumps({"username": "ad\x00min", "password": "x" * 12}))
    assert status == 400 and body["error"]["code"] == "COULD_NOT_VALIDATE"
    assert body["error"]["cause"]["field"] == "username"


@pytest.mark.parametrize("text", ["bad\x00name", "bad\ud800name"])
def test_nul_or_lone_surrogate_in_an_identity_name_is_a_validation_error(ctl, text):
    status, body = _post(ctl.admin, f"{M}/identities", json.dumps({"name": text, "type": "Default", "isAdmin": False}))
    assert status == 400 and body["error"]["code"] == "COULD_NOT_VALIDATE", body
    assert body["error"]["cause"]["field"] == "name"


@pytest.mark.parametrize("field, text", [("username", "user\x00name"), ("password", "pass\ud800word-long")])
def test_nul_or_lone_surrogate_in_updb_credentials_is_a_validation_error(ctl, field, text):
    identity_id, _ = ctl.create_identity("updb-target")
    document = {"method": "updb", "identityId": identity_id, "username": "someone", "password": "a-long-password", field: text}
    status, body = _post(ctl.admin, f"{M}/authenticators", json.dumps(document))
    assert status == 400 and body["error"]["code"] == "COULD_NOT_VALIDATE", body
    assert body["error"]["cause"]["field"] == field


def test_a_lone_surrogate_in_a_field_that_fails_validation_is_answered_not_a_500(anon):
    status, body = _post(anon, f"{M}/authenticate?method=password", '{"username": 5, "password": "\\udfff"}')
    assert status == 400 and body["error"]["code"] == "COULD_NOT_VALIDATE"


def test_nul_in_a_filter_value_is_a_validation_error(ctl):
    status, _, payload = ctl.admin.raw("GET", f'{M}/identities?filter=name%3D%22a%00b%22')
    body = json.loads(payload)
    assert status == 400 and body["error"]["code"] == "COULD_NOT_VALIDATE"
    assert body["error"]["cause"]["field"] == "filter"


def test_nul_in_a_path_id_is_refused(ctl):
    status, _, payload = ctl.admin.raw("GET", f"{M}/identities/abc%00def")
    assert status in (400, 404) and json.loads(payload)["error"]["code"] in ("COULD_NOT_VALIDATE", "NOT_FOUND")


# --- over-long ids (item 5) ----------------------------------------------------------------------------------

def test_overlong_authenticator_ids_are_not_found_on_extend_verify_and_request_extend(ctl, alice_session):
    long_id = "x" * 41
    conn = alice_session.conn
    for path, document in [
        (f"/edge/client/v1/current-identity/authenticators/{long_id}/extend", {"clientCertCsr": "x"}),
        (f"/edge/client/v1/current-identity/authenticators/{long_id}/extend-verify", {"clientCert": "x"}),
    ]:
        status, body = _post(conn, path, json.dumps(document))
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), path
    status, body = _post(ctl.admin, f"{M}/authenticators/{long_id}/request-extend", json.dumps({"rollKeys": True}))
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


# --- huge integers (item 6) ----------------------------------------------------------------------------------

def test_huge_offset_is_invalid_pagination(ctl):
    status, _, payload = ctl.admin.raw("GET", f"{M}/identities?offset=1180591620717411303424")
    assert (status, json.loads(payload)["error"]["code"]) == (400, "INVALID_PAGINATION")
    status, _, payload = ctl.admin.raw("GET", f"{M}/identities?offset=9223372036854775807")
    assert status == 200 and json.loads(payload)["data"] == []


def test_huge_after_seq_is_a_validation_error(ctl):
    status, _, payload = ctl.admin.raw("GET", f"/sim/v1/events?afterSeq={2**70}")
    assert (status, json.loads(payload)["error"]["code"]) == (400, "COULD_NOT_VALIDATE")


# --- request body limit (item 7) -----------------------------------------------------------------------------

def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(anon):
    big = b'{"username":"' + b"a" * (2 * 1024 * 1024) + b'","password":"x"}'
    status, _, payload = anon.raw("POST", f"{M}/authenticate?method=password", body=big, headers={"Content-Type": "application/json"})
    body = json.loads(payload)
    assert status == 413 and body["error"]["code"] == "REQUEST_BODY_TOO_LARGE"
    assert body["meta"]["apiVersion"]


def test_a_streamed_body_over_the_limit_is_refused_with_413(anon):
    chunk = b"a" * 65536
    conn = anon._connection()
    conn.putrequest("POST", f"{M}/authenticate?method=password")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for _ in range(40):  # 2.5 MiB in chunks, no Content-Length
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the whole body is sent
    response = conn.getresponse()
    body = json.loads(response.read())
    anon.close()
    assert response.status == 413 and body["error"]["code"] == "REQUEST_BODY_TOO_LARGE"


def test_a_body_under_the_limit_still_works(ctl):
    with ctl.connect() as conn:
        padding = "p" * (512 * 1024)
        session = conn.data("POST", f"{M}/authenticate?method=password",
                            json_body={"username": ctl.admin_username, "password": ctl.admin_password, "configTypes": [padding]})
        assert session["token"]


# --- 405 names what is allowed -------------------------------------------------------------------------------

def test_method_not_allowed_carries_an_allow_header_with_every_method(ctl):
    status, headers, payload = ctl.admin.raw("DELETE", f"{M}/identities")
    assert (status, json.loads(payload)["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert set(headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


# --- strings and integers the database columns cannot hold (found by probing; PostgreSQL answered 500) -------

@pytest.mark.parametrize("path, document", [
    ("/sim/v1/faults", {"path": "/nothing", "status": 500, "seed": 2**70}),
    ("/sim/v1/faults", {"path": "/nothing", "status": 500, "times": 2**70}),
    ("/sim/v1/faults", {"path": "x" * 300, "status": 500}),
    ("/sim/v1/faults", {"path": "/n", "status": 500, "code": "c" * 100}),
    (f"{M}/identities", {"name": "ext", "type": "Default", "isAdmin": False, "externalId": "e" * 300}),
    (f"{M}/identities", {"name": "ap", "type": "Default", "isAdmin": False, "authPolicyId": "p" * 60}),
    (f"{M}/authenticators", {"method": "updb", "identityId": "IDENTITY", "username": "u" * 300, "password": "p" * 20}),
    (f"{M}/enrollments", {"method": "updb", "identityId": "IDENTITY", "expiresAt": "2100-01-01T00:00:00Z", "username": "u" * 300}),
], ids=["fault-seed", "fault-times", "fault-path", "fault-code", "external-id", "auth-policy-id", "updb-username",
        "enrollment-username"])
def test_values_too_large_for_their_column_are_validation_errors(ctl, path, document):
    if document.get("identityId") == "IDENTITY":
        document = {**document, "identityId": ctl.create_identity("column-bounds")[0]}
    status, body = _post(ctl.admin, path, json.dumps(document))
    assert (status, body["error"]["code"]) == (400, "COULD_NOT_VALIDATE"), body
    assert ctl.admin.data("GET", "/sim/v1/faults") == []


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-01:00", "9999-12-31T23:00:00Z"])
def test_enrollment_expiry_beyond_what_can_be_dated_is_a_validation_error(ctl, expires_at):
    identity_id, _ = ctl.create_identity("far-expiry")
    status, body = _post(ctl.admin, f"{M}/enrollments", json.dumps(
        {"method": "updb", "identityId": identity_id, "expiresAt": expires_at, "username": "far-expiry-user"}))
    assert (status, body["error"]["code"], body["error"]["cause"]["field"]) == (400, "COULD_NOT_VALIDATE", "expiresAt"), body
    authenticator_id = ctl.admin.data("GET", f"{M}/identities/{identity_id}/authenticators")
    assert authenticator_id == []
