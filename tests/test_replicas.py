"""Several replicas on one database and one PKI behave as one controller: nothing that must be shared
lives only in one process's memory (sessions, pending extensions, the clock, fault rules)."""

from __future__ import annotations


import pytest

from conftest import error_of, make_csr
from controller.client.errors import ControllerError
from controller.pki.certs import fingerprint, load_certs_pem



def test_replicas_share_pki_sessions_pending_extensions_clock_and_faults(replicas):
    a, b = replicas
    assert a.url != b.url and a.ca_bundle.read_text() == b.ca_bundle.read_text()
    identity = a.enroll_identity("shared")
    # Log in on A, use the same session token on B.
    with identity.connect() as on_a:
        token = on_a.login_cert()["token"]
        auth_id = on_a.data("GET", "/current-api-session")["authenticatorId"]
        csr, _ = make_csr()
        extended = on_a.data("POST", f"/edge/client/v1/current-identity/authenticators/{auth_id}/extend", json_body={"clientCertCsr": csr})
    with b.connect() as on_b:
        on_b.session_token = token
        on_b.data("POST", f"/edge/client/v1/current-identity/authenticators/{auth_id}/extend-verify",
                  json_body={"clientCert": extended["clientCert"]})
    new_fp = fingerprint(load_certs_pem(extended["clientCert"])[0])
    assert a.admin.data("GET", f"/edge/management/v1/authenticators/{auth_id}")["fingerprint"] == new_fp
    # The clock moved through B is the clock of A.
    b.clock.advance("3d")
    assert abs((a.clock.now() - b.clock.now()).total_seconds()) < 5
    # A fault rule created through A fires on B.
    a.faults.add("*/version", status=503, code="SERVICE_UNAVAILABLE", times=1)
    with b.connect() as anon_b, pytest.raises(ControllerError) as excinfo:
        anon_b.data("GET", "/version")
    assert error_of(excinfo) == (503, "SERVICE_UNAVAILABLE")
    with a.connect() as anon_a:
        assert anon_a.data("GET", "/version")
