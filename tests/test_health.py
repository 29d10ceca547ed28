"""The health-checks API: /health-checks (the real shape: data.healthy and data.checks), /health-checks/live
and /health-checks/ready. No session, nothing secret, served at the root (not aliased onto the client API)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from controller.ops.health import Lifecycle
from controller.testing.harness import ControllerHarness

CHECK_FIELDS = {"id", "healthy", "lastCheckTime", "lastCheckDuration", "consecutiveFailures"}


def _get(conn, path: str) -> tuple[int, dict]:  # noqa: ANN001
    status, _headers, body = conn.raw("GET", path)
    return status, json.loads(body)


def test_health_checks_need_no_session_and_report_database_and_pki(ctl, anon):
    status, body = _get(anon, "/health-checks")
    assert status == 200
    data = body["data"]
    assert data["healthy"] is True and body["meta"] == {}
    ids = {check["id"] for check in data["checks"]}
    assert {"database.roundtrip", "pki.files"} <= ids
    for check in data["checks"]:
        assert CHECK_FIELDS <= set(check) and check["healthy"] is True and check["consecutiveFailures"] == 0
    text = json.dumps(body)
    assert ctl.admin_password not in text and "postgres" not in text and str(ctl.workdir) not in text


def test_version_lists_the_health_checks_api(ctl, anon):
    api = anon.data("GET", "/version")["apiVersions"]["health-checks"]["v1"]
    assert api == {"path": "/health-checks", "apiBaseUrls": [f"{ctl.url}/health-checks"]}


def test_live_and_ready(ctl, anon):
    assert _get(anon, "/health-checks/live") == (200, {"data": {"live": True, "instanceId": ctl.runtime.instance_id}, "meta": {}})
    status, body = _get(anon, "/health-checks/ready")
    assert status == 200 and body["data"]["ready"] is True and body["data"]["phase"] == "serving"


def test_health_paths_are_not_aliased_onto_the_client_api(anon):
    # /edge/client/v1/health-checks does not exist: the root path is the health-checks API itself.
    assert anon.raw("GET", "/edge/client/v1/health-checks")[0] == 404
    assert anon.raw("GET", "/health-checks")[0] == 200


def test_a_missing_pki_file_makes_the_replica_unhealthy_until_restored(ctl, anon):
    key = ctl.runtime.pki.directory / "server.key.pem"
    moved = key.with_name("server.key.pem.moved")
    key.rename(moved)
    try:
        for failures in (1, 2):
            status, body = _get(anon, "/health-checks")
            assert status == 503 and body["data"]["healthy"] is False
            pki = next(c for c in body["data"]["checks"] if c["id"] == "pki.files")
            assert pki["healthy"] is False and pki["consecutiveFailures"] == failures
            assert pki["details"] == "missing PKI files: server.key.pem" and "timeOfFirstFailure" in pki
        assert _get(anon, "/health-checks/ready")[0] == 503
    finally:
        moved.rename(key)
    status, body = _get(anon, "/health-checks")
    assert status == 200 and next(c for c in body["data"]["checks"] if c["id"] == "pki.files")["consecutiveFailures"] == 0


def test_ready_is_503_while_stopping(tmp_path):
    harness = ControllerHarness.start(workdir=tmp_path)
    try:
        app = harness._server.server.config.app
        with harness.connect() as conn:
            assert _get(conn, "/health-checks/ready")[0] == 200
            app.state.lifecycle.stopping = True  # what a shutdown in progress looks like to a request in flight
            status, body = _get(conn, "/health-checks/ready")
            assert status == 503 and body["data"] == {"ready": False, "phase": "stopping", "checks": []}
            status, body = _get(conn, "/health-checks")
            assert status == 503 and next(c for c in body["data"]["checks"] if c["id"] == "server.accepting")["healthy"] is False
            assert _get(conn, "/health-checks/live")[0] == 200
    finally:
        harness.stop()


def test_lifecycle_phases_follow_the_server():
    lifecycle, server = Lifecycle(), SimpleNamespace(started=False, should_exit=False)
    lifecycle.attach(server)
    assert lifecycle.phase == "starting"
    server.started = True
    assert lifecycle.phase == "serving"
    server.should_exit = True
    assert lifecycle.phase == "stopping"


def test_a_new_check_is_one_line(tmp_path):
    harness = ControllerHarness.start(workdir=tmp_path)
    try:
        harness._server.server.config.app.state.health.add("control-channel.listener", lambda: "not listening")
        with harness.connect() as conn:
            status, body = _get(conn, "/health-checks")
        check = next(c for c in body["data"]["checks"] if c["id"] == "control-channel.listener")
        assert status == 503 and check["details"] == "not listening"
    finally:
        harness.stop()
