"""ZITI_SIM_LOG_FORMAT=json on a lab-mode `serve` as an operator runs it: one JSON object per line with time,
level, replica id, request id, method, route, status, duration, identity id and error code; the request id
comes from (or is returned in) X-Request-Id; and no secret ever reaches the log."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from conftest import make_csr
from controller.client.enroll import enroll_ott
from controller.client.errors import ControllerError
from controller.client.http import Connection, tls_context
from controller.pki.jwt import decode_unverified
from test_cli import clean_env, free_port, start_serve, stop

MGMT = "/edge/management/v1"


def test_json_logs_in_lab_mode_carry_the_request_and_no_secret(tmp_path: Path):
    password = "lab-" + secrets.token_urlsafe(24)
    port = free_port()
    env = clean_env(ZITI_SIM_LOG_FORMAT="json", ZITI_SIM_ADMIN_PASSWORD=password, ZITI_SIM_LOG_LEVEL="info")
    served = start_serve(tmp_path, "--mode", "lab", "--data-dir", str(tmp_path / "data"), "--address", f"127.0.0.1:{port}",
                         data_dir=tmp_path / "data", url=f"https://127.0.0.1:{port}", env=env)
    secrets_seen: list[str] = [password]
    admin = Connection(served.url, tls_context(ca_file=served.ca_bundle))
    conn = None
    try:
        secrets_seen.append(admin.login_password("admin", password)["token"])
        created = admin.data("POST", f"{MGMT}/identities", json_body={"name": "logged", "type": "Default", "isAdmin": False, "enrollment": {"ott": True}})
        jwt = admin.data("GET", f"{MGMT}/identities/{created['id']}")["enrollment"]["ott"]["jwt"]
        secrets_seen += [jwt, decode_unverified(jwt)[1]["jti"]]
        identity = enroll_ott(jwt)
        secrets_seen.append(identity.key.split("-----")[2].strip().splitlines()[0])  # a line of the private key
        conn = Connection(served.url, tls_context(ca_file=served.ca_bundle, cert_pem=identity.cert, key_pem=identity.key))
        session = conn.login_cert()
        secrets_seen.append(session["token"])
        status, headers, _ = conn.raw("POST", f"/edge/client/v1/current-identity/authenticators/{session['authenticatorId']}/extend",
                                      body=json.dumps({"clientCertCsr": make_csr()[0]}).encode(),
                                      headers={"Content-Type": "application/json", "X-Request-Id": "lab-req-42"})
        assert status == 200 and headers["X-Request-Id"] == "lab-req-42"
        wrong = "wrong-" + secrets.token_urlsafe(12)
        secrets_seen.append(wrong)
        with pytest.raises(ControllerError):
            Connection(served.url, tls_context(ca_file=served.ca_bundle)).login_password("admin", wrong)
        status, headers, _ = conn.raw("GET", "/version")
        assert status == 200 and len(headers["X-Request-Id"]) == 36  # made up when the client sends none
        # Lab mode: metrics on by default, the simulation API off, health checks there.
        assert conn.raw("GET", "/metrics")[0] == 200 and conn.raw("GET", "/sim/v1/clock")[0] == 404
        replica = json.loads(conn.raw("GET", "/health-checks/live")[2])["data"]["instanceId"]
    finally:
        admin.close()
        if conn is not None:
            conn.close()
        stop(served.proc)
    text = served.stderr_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is one JSON object
    assert lines and all({"time", "level", "replicaId", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line.get("logger") == "controller.access"]
    assert {line["replicaId"] for line in access} == {replica}
    for line in access:
        assert {"requestId", "method", "route", "status", "durationMs"} <= set(line)
    extend = next(line for line in access if line["requestId"] == "lab-req-42")
    assert extend["route"] == "/current-identity/authenticators/{id}/extend" and extend["status"] == 200
    assert extend["identityId"] == created["id"] and extend["method"] == "POST"
    refused = [line for line in access if line.get("errorCode") == "INVALID_AUTH"]
    assert len(refused) == 1 and refused[0]["status"] == 401 and refused[0]["route"] == "/authenticate"
    for secret in secrets_seen:
        assert secret not in text, "a secret reached the log"
    assert "PRIVATE KEY" not in text and "zt-session" not in text.lower()


def test_a_request_id_is_echoed_or_made_up(ctl, anon):
    status, headers, _ = anon.raw("GET", "/version", headers={"X-Request-Id": "client-chosen.42"})
    assert status == 200 and headers["X-Request-Id"] == "client-chosen.42"
    for unusable in ("has spaces in it", "x" * 200):
        status, headers, _ = anon.raw("GET", "/version", headers={"X-Request-Id": unusable})
        assert status == 200 and headers["X-Request-Id"] != unusable and len(headers["X-Request-Id"]) == 36
