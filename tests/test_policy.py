"""Run-time policy overrides through /sim/v1/policy: short lifetimes and the expired-certificate rule
without restarting the controller; reset goes back to the settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import error_of
from controller.client.errors import ControllerError
from controller.pki.certs import load_certs_pem


def test_defaults_are_the_settings(ctl):
    policy = ctl.admin.data("GET", "/sim/v1/policy")
    assert policy == {"identityCertLifetimeSeconds": 365 * 86400, "routerCertLifetimeSeconds": 365 * 86400,
                      "enrollmentLifetimeSeconds": 180 * 60,
                      "sessionTimeoutSeconds": 1800, "allowExpiredCerts": True, "overridden": []}


def test_ten_second_certificates_and_strict_expiry_without_a_restart(ctl):
    ctl.admin.data("PUT", "/sim/v1/policy", json_body={"identityCertLifetime": "10s", "allowExpiredCerts": False})
    identity = ctl.enroll_identity("short-lived")
    leaf = load_certs_pem(identity.identity.cert)[0]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(seconds=70)  # 10 s + the 1 min backdate
    with identity.connect() as conn:
        conn.login_cert()
    ctl.clock.advance("11s")
    with identity.connect() as conn, pytest.raises(ControllerError) as excinfo:
        conn.login_cert()
    assert error_of(excinfo) == (401, "INVALID_AUTH")
    ctl.admin.data("PUT", "/sim/v1/policy", json_body={"allowExpiredCerts": True})
    with identity.connect() as conn:
        conn.login_cert()


def test_short_enrollment_and_session_lifetimes(ctl):
    ctl.admin.data("PUT", "/sim/v1/policy", json_body={"enrollmentLifetime": 30, "sessionTimeout": "2m"})
    identity_id, _ = ctl.create_identity("quick")
    expires = ctl.admin.data("GET", f"/edge/management/v1/identities/{identity_id}")["enrollment"]["ott"]["expiresAt"]
    created = ctl.admin.data("GET", f"/edge/management/v1/identities/{identity_id}")["createdAt"]
    from datetime import datetime

    parse = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00"))  # noqa: E731
    assert parse(expires) - parse(created) == timedelta(seconds=30)
    identity = ctl.enroll_identity("session-holder")
    with identity.connect() as conn:
        assert conn.login_cert()["expirationSeconds"] == 120
        ctl.clock.advance("121s")
        with pytest.raises(ControllerError) as excinfo:
            conn.data("GET", "/current-api-session")
        assert error_of(excinfo) == (401, "UNAUTHORIZED")


def test_reset_and_null_restore_the_settings(ctl):
    ctl.admin.data("PUT", "/sim/v1/policy", json_body={"identityCertLifetime": "1h", "sessionTimeout": "5m"})
    assert ctl.admin.data("PUT", "/sim/v1/policy", json_body={"sessionTimeout": None})["overridden"] == ["identityCertLifetime"]
    ctl.reset()
    assert ctl.admin.data("GET", "/sim/v1/policy")["overridden"] == []


@pytest.mark.parametrize("body", [{"identityCertLifetime": "0s"}, {"sessionTimeout": "soon"}, {"bogus": 1}])
def test_invalid_policy_updates(ctl, body):
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("PUT", "/sim/v1/policy", json_body=body)
    assert error_of(excinfo) == (400, "COULD_NOT_VALIDATE")
