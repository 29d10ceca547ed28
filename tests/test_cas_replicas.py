"""Two replicas on one database: a third-party CA registered and verified through one is trusted by the
other at once (enrollment and login), and disabling it through one stops its certificates on the other."""

from __future__ import annotations


import pytest
from conftest import error_of

from controller.client import ControllerError
from controller.testing.external_ca import RegisteredExternalCa



def test_a_ca_registered_through_a_logs_in_through_b(replicas, tmp_path):
    a, b = replicas
    corp = RegisteredExternalCa.register(a, tmp_path / "corp", name="corp")
    on_b = RegisteredExternalCa(b, corp.ca, corp.id)
    nina = on_b.enroll_ottca("nina")  # the identity and its enrollment made through B, redeemed on B
    with nina.connect() as conn:
        assert conn.login_cert()["identityId"] == nina.id
    olga = on_b.enroll_auto("olga")
    assert b.admin.data("GET", f"/edge/management/v1/identities/{olga.id}")["name"] == "corp-olga"
    corp.patch(isAuthEnabled=False)  # through A
    for identity in (nina, olga):
        with identity.connect() as conn, pytest.raises(ControllerError) as excinfo:
            conn.login_cert()
        assert error_of(excinfo) == (401, "INVALID_AUTH")
