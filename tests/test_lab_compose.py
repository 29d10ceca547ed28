"""docker-compose.yml and the Dockerfile: three lab replicas with health checks and a restart policy behind
deploy/haproxy.cfg, and a container health check that really probes readiness (run here against a live
controller). `docker compose config` validates the file when the docker client is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controller.testing.harness import ControllerHarness

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_every_replica_has_a_readiness_check_and_a_restart_policy():
    services = _services()
    controllers = sorted(name for name in services if name.startswith("controller-"))
    assert controllers == ["controller-1", "controller-2", "controller-3"]
    for name in controllers:
        service = services[name]
        assert service["command"] == ["serve", "--mode", "lab"] and service["restart"] == "unless-stopped"
        assert "/health-checks/ready" in service["healthcheck"]["test"][3]
        assert service["environment"]["ZITI_SIM_LOG_FORMAT"] == "json"
    assert all(services[name].get("restart") == "unless-stopped" for name in ("postgres", "balancer"))
    haproxy = (ROOT / "deploy" / "haproxy.cfg").read_text()
    for name in controllers:
        assert f"{name}:1280" in haproxy
    assert "uri /health-checks" in haproxy and "check-ssl" in haproxy


def test_the_comments_do_not_send_users_to_a_host_directory_that_never_exists():
    text = COMPOSE.read_text()
    assert "./ziti-data" not in text and "docker compose cp controller-1:/data/pki/ca-bundle.pem" in text


def test_the_container_health_check_probes_readiness(tmp_path):
    harness = ControllerHarness.start(workdir=tmp_path)
    try:
        port = harness.url.rsplit(":", 1)[1]
        code = _services()["controller-1"]["healthcheck"]["test"][3]
        code = code.replace("/data/pki/ca-bundle.pem", str(harness.ca_bundle)).replace("127.0.0.1:1280", f"127.0.0.1:{port}")
        assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode == 0
        harness._server.server.config.app.state.lifecycle.stopping = True
        assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode != 0
    finally:
        harness.stop()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile and "/health-checks/ready" in dockerfile


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker client is not installed")
def test_docker_compose_config_validates():
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"the docker client has no compose plugin ({(probe.stderr or probe.stdout).strip()[:80]})")
    result = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=ROOT, capture_output=True, text=True,
                            env={"ZITI_SIM_ADMIN_PASSWORD": "a-long-enough-password", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert result.returncode == 0, result.stderr
