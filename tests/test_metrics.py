"""GET /metrics, scraped with prometheus_client's own text parser: request counts and latency by api, route
template and status; operation outcomes by error code; sessions; database latency; certificate expiry."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import make_csr
from controller.client.errors import ControllerError
from controller.pki.certs import load_certs_pem
from controller.testing.harness import ControllerHarness

EXTEND = "/current-identity/authenticators/{id}/extend"


def scrape(harness: ControllerHarness) -> dict[str, list]:
    with harness.connect() as conn:  # no session: like a Prometheus server
        status, headers, body = conn.raw("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


@pytest.fixture
def metered(isolated_database_url, tmp_path) -> Iterator[ControllerHarness]:
    harness = ControllerHarness.start(database_url=isolated_database_url, workdir=tmp_path, metrics=True)
    yield harness
    harness.stop()


def test_metrics_count_requests_operations_sessions_and_database_calls(metered):
    alice = metered.enroll_identity("alice")
    with alice.connect() as conn:
        auth_id = conn.login_cert()["authenticatorId"]
        with pytest.raises(ControllerError):
            conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{auth_id}/extend", json_body={"clientCertCsr": "junk"})
        csr, _key = make_csr()
        extended = conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{auth_id}/extend", json_body={"clientCertCsr": csr})
        conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{auth_id}/extend-verify",
                  json_body={"clientCert": extended["clientCert"]})
    with pytest.raises(ControllerError):
        metered.connect().login_password("admin", "wrong-password")
    metered.admin.data("POST", f"/edge/management/v1/authenticators/{auth_id}/request-extend", json_body={"rollKeys": False})

    samples = scrape(metered)
    assert value(samples, "ziti_sim_http_requests_total", api="edge-client", method="POST", route=EXTEND, status="200") == 1
    assert value(samples, "ziti_sim_http_requests_total", api="edge-client", method="POST", route=EXTEND, status="400") == 1
    assert value(samples, "ziti_sim_http_request_duration_seconds_count", api="edge-client", method="POST", route=EXTEND, status="200") == 1
    assert value(samples, "ziti_sim_http_request_duration_seconds_bucket", api="edge-client", method="POST", route=EXTEND,
                 status="200", le="+Inf") == 1
    # Route templates, never raw paths: no authenticator id in any label.
    assert not any(auth_id in str(s.labels) for family in samples.values() for s in family)
    ops = "ziti_sim_operations_total"
    assert value(samples, ops, kind="enroll", outcome="success", error_code="") == 1
    assert value(samples, ops, kind="extend", outcome="success", error_code="") == 1
    assert value(samples, ops, kind="extend", outcome="failure", error_code="COULD_NOT_PROCESS_CSR") == 1
    assert value(samples, ops, kind="extend-verify", outcome="success", error_code="") == 1
    assert value(samples, ops, kind="request-extend", outcome="success", error_code="") == 1
    assert value(samples, ops, kind="authenticate", outcome="failure", error_code="INVALID_AUTH") == 1
    assert value(samples, "ziti_sim_api_sessions_alive") >= 2  # the admin's and alice's
    assert value(samples, "ziti_sim_db_statement_duration_seconds_count", statement="SELECT") > 0
    assert value(samples, "ziti_sim_db_statement_duration_seconds_count", statement="UPDATE") > 0


def test_expiry_gauges_follow_the_certificates_and_the_simulated_clock(metered):
    alice = metered.enroll_identity("alice")
    not_after = load_certs_pem(alice.identity.cert)[0].not_valid_after_utc
    samples = scrape(metered)
    earliest = "ziti_sim_certificate_earliest_not_after_timestamp_seconds"
    assert value(samples, earliest, kind="identity") == not_after.timestamp()
    ca = min(c.not_valid_after_utc for c in metered.runtime.pki.ca_certs)
    assert value(samples, earliest, kind="ca") == ca.timestamp()
    assert value(samples, "ziti_sim_certificates_expiring", kind="identity", within="30d") == 0
    metered.clock.advance("340d")  # 365-day certificates: now within 30 days of expiry, not yet within 7
    samples = scrape(metered)
    assert value(samples, "ziti_sim_certificates_expiring", kind="identity", within="30d") == 1
    assert value(samples, "ziti_sim_certificates_expiring", kind="identity", within="7d") == 0
    metered.clock.advance("30d")
    assert value(scrape(metered), "ziti_sim_certificates_expiring", kind="identity", within="7d") == 1


def test_router_certificates_count_too(metered):
    from test_routers import _enroll

    with metered.connect() as anon:
        _enroll(metered, anon, "er-metrics")
    samples = scrape(metered)
    assert "kind" in samples["ziti_sim_certificate_earliest_not_after_timestamp_seconds"][0].labels
    assert value(samples, "ziti_sim_edge_routers_verified") == 1
    assert value(samples, "ziti_sim_certificate_earliest_not_after_timestamp_seconds", kind="router") > 0
    assert value(samples, "ziti_sim_routers_online") == 0


def test_routers_online_counts_open_control_channels(metered):
    router = metered.make_router("metrics-online")
    router.wait_for_agent("connected")
    assert value(scrape(metered), "ziti_sim_routers_online") == 1
    router.stop()


def test_metrics_are_off_by_default_outside_lab_mode(ctl, anon):
    assert not ctl.runtime.settings.metrics_enabled
    assert anon.raw("GET", "/metrics")[0] == 404


def test_lab_mode_serves_metrics_by_default_and_in_multiprocess_mode(tmp_path):
    """A lab `serve` has /metrics on without any setting; with PROMETHEUS_MULTIPROC_DIR the counters go
    through the shared directory (what several workers would aggregate)."""
    from test_cli import clean_env, free_port, start_serve, stop

    from controller.client.http import Connection, tls_context

    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    port = free_port()
    env = clean_env(ZITI_SIM_ADMIN_PASSWORD="lab-" + secrets.token_urlsafe(18), PROMETHEUS_MULTIPROC_DIR=str(multiproc))
    served = start_serve(tmp_path, "--mode", "lab", "--data-dir", str(tmp_path / "data"), "--address", f"127.0.0.1:{port}",
                         "--log-level", "warning", data_dir=tmp_path / "data", url=f"https://127.0.0.1:{port}", env=env)
    try:
        with Connection(served.url, tls_context(ca_file=served.ca_bundle)) as conn:
            assert conn.raw("GET", "/version")[0] == 200
            status, _headers, body = conn.raw("GET", "/metrics")
    finally:
        stop(served.proc)
    assert status == 200
    samples = {s.name: s for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    assert "ziti_sim_http_requests_total" in samples and "ziti_sim_api_sessions_alive" in samples
    assert any(path.suffix == ".db" for path in multiproc.iterdir())  # prometheus_client's per-process files


@pytest.mark.parametrize("mode, env, enabled", [
    ("lab", None, True), ("mock", None, False), ("fixture", None, False), ("lab", "false", False), ("mock", "true", True),
])
def test_the_metrics_setting(monkeypatch, mode, env, enabled):
    from controller.settings import Settings

    if env is not None:
        monkeypatch.setenv("ZITI_SIM_METRICS", env)
    assert Settings(mode=mode).metrics_enabled is enabled


def test_a_request_answered_by_a_fault_is_labelled_by_its_route(metered):
    # the fault middleware answers before routing: the label used to be "unmatched" for every injected fault
    alice = metered.enroll_identity("alice")
    metered.faults.add(path="*/extend", status=503, code="SERVICE_UNAVAILABLE", times=1)
    with alice.connect() as conn:
        auth_id = conn.login_cert()["authenticatorId"]
        with pytest.raises(ControllerError):
            conn.data("POST", f"/edge/client/v1/current-identity/authenticators/{auth_id}/extend", json_body={"clientCertCsr": "x"})
        with pytest.raises(ControllerError):
            conn.data("POST", f"/current-identity/authenticators/{auth_id}/extend", json_body={"clientCertCsr": "x"})  # root alias
        with pytest.raises(ControllerError):
            conn.data("GET", "/edge/client/v1/no-such-thing")
    samples = scrape(metered)
    assert value(samples, "ziti_sim_http_requests_total", api="edge-client", method="POST", route=EXTEND, status="503") == 1
    assert value(samples, "ziti_sim_http_requests_total", api="edge-client", method="POST", route=EXTEND, status="400") == 1
    assert value(samples, "ziti_sim_http_requests_total", api="edge-client", method="GET", route="unmatched", status="404") == 1


def test_cli_commands_leave_no_admin_session_behind(metered, capsys):
    # each command logs in; a lab's cron job of `certs expiring` used to pile up live admin sessions
    from controller.cli.main import main

    before = value(scrape(metered), "ziti_sim_api_sessions_alive")
    conn = ["--controller", metered.url, "--ca", str(metered.ca_bundle), f"--password={metered.admin_password}"]
    for argv in (["sim", "clock", *conn], ["certs", "expiring", "--within", "30d", *conn]):
        assert main(argv) == 0
    capsys.readouterr()
    assert value(scrape(metered), "ziti_sim_api_sessions_alive") == before
