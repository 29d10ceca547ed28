"""The simulated router's certificate life on the movable clock, over real mTLS, SQLite and PostgreSQL:
renewed six days before expiry (not eight), refused after expiry, re-enrolled; timeouts and faults; replicas."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from controller.pki.certs import fingerprint, load_certs_pem
from controller.router_agent.agent import Timeouts
from controller.testing.harness import ControllerHarness, wait_until
from ctrlwire import Wire

FAST = Timeouts(extend=1.5, verify=1.5, redial=0.2, hello=5.0, heartbeat=0.2)


def leaf_fp(path) -> str:
    return fingerprint(load_certs_pem(path.read_bytes())[0])


def refused_silently(ctl, files, router_id) -> bool:
    w = Wire(ctl.ctrl_address, cert=str(files.cert_path), key=str(files.key_path), ca=str(files.ca_path))
    w.hello(router_id)
    try:
        return w.closed_without_data()
    finally:
        w.close()


def accepted(ctl, cert, key, ca, router_id) -> bool:
    w = Wire(ctl.ctrl_address, cert=str(cert), key=str(key), ca=str(ca))
    w.hello(router_id)
    try:
        return w.recv().ct == 2
    finally:
        w.close()


def test_enrolled_files_are_private(ctl):
    router = ctl.make_router("private", run=False)
    for path in router.directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert router.files.config()["ctrl"] == ctl.ctrl_address
    assert router.detail()["isVerified"] is True


def test_renewed_six_days_before_expiry_not_eight(ctl, tmp_path):
    router = ctl.make_router("lifecycle", timeouts=FAST)
    old_cert = tmp_path / "old.pem"
    old_cert.write_bytes(router.files.cert_path.read_bytes())
    old_server_fp, old_fp = leaf_fp(router.files.server_cert_path), leaf_fp(router.files.cert_path)
    assert router.detail()["isOnline"] is True
    not_after = load_certs_pem(router.files.cert_path.read_bytes())[0].not_valid_after_utc

    ctl.clock.set(not_after - timedelta(days=8))
    time.sleep(1.5)  # several heartbeats: the router has heard the new time
    assert router.agent_events("extend-requested") == []
    assert leaf_fp(router.files.cert_path) == old_fp

    ctl.clock.advance("2d")
    extended = router.wait_for_agent("extended", timeout=15)
    new_fp = leaf_fp(router.files.cert_path)
    assert new_fp == extended["newFingerprint"] != old_fp
    assert leaf_fp(router.files.server_cert_path) != old_server_fp
    assert router.detail()["fingerprint"] == new_fp
    kinds = [(e["kind"], e["outcome"]) for e in router.events() if e["kind"].startswith("router-extend")]
    assert kinds == [("router-extend", "success"), ("router-extend-verify", "success")]
    # The old client certificate is refused on the next connect; the new one (same key: keys are reused) is accepted.
    key = router.files.key_path
    assert refused_silently(ctl, _with_cert(tmp_path, router, old_cert), router.id)
    assert accepted(ctl, router.files.cert_path, key, router.files.ca_path, router.id)
    # The agent itself reconnects with its new certificate.
    router.reconnect()
    connects = router.wait_for_agent("connected", count=2, timeout=10)
    assert connects["fingerprint"] == new_fp
    router.stop()


def _with_cert(tmp_path, router, cert):
    """A copy of the router's files with another client certificate."""
    from controller.router_agent.files import RouterFiles

    copy = RouterFiles(tmp_path / "copy")
    copy.directory.mkdir(exist_ok=True)
    for name in ("client.key.pem", "ca.pem", "config.json", "server.cert.pem", "server.key.pem"):
        (copy.directory / name).write_bytes((router.directory / name).read_bytes())
    copy.cert_path.write_bytes(cert.read_bytes())
    return copy


def test_extend_flag_extends_at_once(ctl):
    router = ctl.make_router("forced", timeouts=FAST, extend_now=True)
    router.wait_for_agent("extended")
    assert router.detail()["fingerprint"] == leaf_fp(router.files.cert_path)
    router.stop()


def test_expired_while_stopped_needs_re_enrollment(ctl):
    router = ctl.make_router("sleeper", timeouts=FAST)
    router.stop()
    assert wait_until(lambda: not router.detail()["isOnline"])
    ctl.clock.advance("366d")
    router.start()
    router.wait_for_agent("re-enrollment-needed")
    assert wait_until(lambda: not router.running)
    assert router.re_enrollment_needed and "re-enrollment is needed" in str(router.error)
    # The controller refuses the expired certificate silently, and says why in the journal only.
    assert refused_silently(ctl, router.files, router.id)
    assert "leaf certificate not trusted" in router.events("router-refused")[-1]["detail"]["reason"]
    # Admin re-enroll + `router enroll` again: it runs again.
    router.re_enroll()
    router.start()
    router.wait_for_agent("connected")
    assert router.detail()["fingerprint"] == leaf_fp(router.files.cert_path)
    router.stop()


def test_a_dropped_20301_is_retried_after_the_timeout(ctl):
    router = ctl.make_router("retry", run=False, timeouts=FAST)
    ctl.faults.add_ctrl(20301, router_id=router.id, drop_message=True, times=1)
    ctl.clock.advance("360d")  # inside the final week: a failed attempt is retried (--extend would force only once)
    router.start()
    router.wait_for_agent("extend-timeout")
    router.wait_for_agent("extended", timeout=15)
    assert len(router.agent_events("extend-requested")) == 2
    router.stop()


def test_a_20303_error_writes_nothing_and_is_retried(ctl):
    router = ctl.make_router("verify-error", run=False, timeouts=FAST)
    before = router.files.cert_path.read_bytes()
    ctl.faults.add_ctrl(20303, router_id=router.id, code="INVALID_CLIENT_PEM", message="injected", times=1)
    ctl.clock.advance("360d")
    router.start()
    failed = router.wait_for_agent("verify-failed")
    assert failed["code"] == "INVALID_CLIENT_PEM" and failed["message"] == "injected"
    assert router.files.cert_path.read_bytes() == before
    router.wait_for_agent("extended", timeout=15)
    assert router.files.cert_path.read_bytes() != before
    router.stop()


def test_unwritable_files_stop_the_request_before_it_is_sent(ctl):
    router = ctl.make_router("read-only", run=False, timeouts=FAST)
    os.chmod(router.files.server_cert_path, 0o400)
    if os.access(router.files.server_cert_path, os.W_OK):  # root ignores file modes
        pytest.skip("running as root: file modes do not stop writes")
    router.start(extend_now=True)
    router.wait_for_agent("files-not-writable")
    assert router.agent_events("extend-requested") == []
    router.stop()


def test_cli_enroll_and_run(ctl, tmp_path):
    jwt = tmp_path / "router.jwt"
    cmd = [sys.executable, "-m", "controller", "router"]
    out = subprocess.run([*cmd, "create", "cli-router", "--jwt-out", str(jwt), "--controller", ctl.url, "--ca", str(ctl.ca_bundle),
                          "--password", ctl.admin_password], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(jwt.stat().st_mode) == 0o600  # the token enrolls whoever holds it
    out = subprocess.run([*cmd, "enroll", "--jwt", str(jwt), "--dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE((tmp_path / "r" / "client.key.pem").stat().st_mode) == 0o600
    # Expired: `router run` stops at once and says so.
    ctl.clock.advance("400d")
    from controller.router_agent.files import RouterFiles

    RouterFiles(tmp_path / "r").save_clock(ctl.clock.now())
    out = subprocess.run([*cmd, "run", "--dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 3 and "re-enrollment is needed" in out.stderr, (out.stdout, out.stderr)


def test_two_replicas_extend_through_a_reconnect_through_b(isolated_database_url, tmp_path):
    password = secrets.token_urlsafe(16)
    with ControllerHarness.start(database_url=isolated_database_url, workdir=tmp_path, admin_password=password) as a, \
            ControllerHarness.start(database_url=isolated_database_url, workdir=tmp_path, admin_password=password) as b:
        a.reset()
        assert a.ctrl_address != b.ctrl_address
        router = a.make_router("replicated", timeouts=FAST, extend_now=True)
        router.wait_for_agent("extended")
        [on_a] = b.router_connections()  # B sees A's connection
        assert on_a["replicaId"] == a.runtime.instance_id
        config = router.files.config()
        config["ctrl"] = b.ctrl_address
        router.files.config_path.write_text(__import__("json").dumps(config))
        router.reconnect()
        reconnected = router.wait_for_agent("connected", count=2, timeout=10)
        assert reconnected["fingerprint"] == leaf_fp(router.files.cert_path) == b.admin.data(
            "GET", f"/edge/management/v1/edge-routers/{router.id}")["fingerprint"]
        assert wait_until(lambda: [c["replicaId"] for c in a.router_connections()] == [b.runtime.instance_id])
        assert a.admin.data("GET", f"/edge/management/v1/edge-routers/{router.id}")["isOnline"] is True
        router.stop()
