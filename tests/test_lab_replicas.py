"""The lab deployment of docker-compose.yml, run on loopback without containers: PostgreSQL (a fresh
database), three `serve --mode lab` replicas on that database and one data directory, and HAProxy running
deploy/haproxy.cfg itself (addresses rewritten to loopback ports): TLS passthrough, health checks on
/health-checks.

Through the balancer, clients enroll, log in, extend and verify identities while one replica is killed
(SIGKILL) and restarted. A client retries an operation whose connection broke (the requests in flight on the
killed replica); no operation may fail beyond that, and every identity ends with exactly one working
certificate. Skipped when `haproxy` is not installed (.ci/run installs it) or PostgreSQL is unreachable.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import pytest

from conftest import REQUIRE_POSTGRES, _postgres_database, make_csr
from controller.client.enroll import enroll_ott
from controller.client.errors import ControllerError
from controller.client.http import Connection, tls_context
from controller.pki.certs import fingerprint, load_certs_pem
from test_cli import clean_env, free_port

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None,
                                reason="haproxy is not installed (apt-get install -y haproxy; .ci/run does)")

ROOT = Path(__file__).resolve().parent.parent
MGMT = "/edge/management/v1"
REPLICAS, IDENTITIES, ROUNDS = 3, 4, 5
TEST_TIMEOUT = 240.0
TRANSIENT = (OSError, ssl.SSLError, http.client.HTTPException)


@pytest.fixture
def lab_database(worker_id: str):
    if not REQUIRE_POSTGRES and os.environ.get("ZITI_SIM_TEST_POSTGRES_URL", "").startswith("sqlite"):
        pytest.skip("the lab runs on PostgreSQL")
    yield from _postgres_database(f"{worker_id}_lab")


@dataclass
class Replica:
    index: int
    port: int
    log: Path
    proc: subprocess.Popen | None = None


@dataclass
class Lab:
    tmp: Path
    database_url: str
    password: str
    lb_port: int
    replicas: list[Replica] = field(default_factory=list)
    haproxy: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.tmp / "data"

    @property
    def ca_bundle(self) -> Path:
        return self.data_dir / "pki" / "ca-bundle.pem"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.lb_port}"

    def env(self) -> dict[str, str]:
        return clean_env(ZITI_SIM_ADMIN_PASSWORD=self.password, ZITI_SIM_LOG_FORMAT="json", ZITI_SIM_LOG_LEVEL="info",
                         ZITI_SIM_MAX_REQUESTS_IN_FLIGHT="4", ZITI_SIM_PASSWORD_HASH_COST="10")

    def start(self, replica: Replica) -> None:
        with replica.log.open("a") as log:
            replica.proc = subprocess.Popen(
                [sys.executable, "-m", "controller", "serve", "--mode", "lab", "--data-dir", str(self.data_dir),
                 "--database-url", self.database_url, "--address", f"127.0.0.1:{self.lb_port}",
                 "--bind", f"127.0.0.1:{replica.port}"],
                cwd=self.tmp, env=self.env(), stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, replica: Replica, timeout: float = 90.0) -> str:
        """Poll the replica's own /health-checks/ready; return its instance id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert replica.proc is not None and replica.proc.poll() is None, \
                f"replica {replica.index} exited: {replica.log.read_text()[-3000:]}"
            if self.ca_bundle.exists():
                try:
                    with Connection(f"https://127.0.0.1:{replica.port}", tls_context(ca_file=self.ca_bundle), timeout=5) as conn:
                        status, _headers, body = conn.raw("GET", "/health-checks/ready")
                    if status == 200:
                        return self._instance_id(replica)
                except TRANSIENT:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"replica {replica.index} not ready in {timeout}s: {replica.log.read_text()[-3000:]}")

    def _instance_id(self, replica: Replica) -> str:
        with Connection(f"https://127.0.0.1:{replica.port}", tls_context(ca_file=self.ca_bundle), timeout=5) as conn:
            return conn.data("GET", "/health-checks/live")["instanceId"]

    def start_haproxy(self) -> None:
        config = (ROOT / "deploy" / "haproxy.cfg").read_text()
        assert "bind :1280" in config
        config = config.replace("bind :1280", f"bind 127.0.0.1:{self.lb_port}")
        for replica in self.replicas:
            assert f"controller-{replica.index}:1280" in config
            config = config.replace(f"controller-{replica.index}:1280", f"127.0.0.1:{replica.port}")
        path = self.tmp / "haproxy.cfg"
        path.write_text(config)
        log = (self.tmp / "haproxy.log").open("w")
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(path)], stdout=log, stderr=subprocess.STDOUT)

    def connect(self, **tls: Any) -> Connection:
        return Connection(self.url, tls_context(ca_file=self.ca_bundle, **tls), timeout=20)

    def stop(self) -> None:
        for proc in [self.haproxy, *(r.proc for r in self.replicas)]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)


@dataclass
class Tally:
    operations: int = 0
    retried: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, retried: bool) -> None:
        with self.lock:
            self.operations += 1
            self.retried += retried


def with_retry(tally: Tally, op: Callable[[], Any], *, settle: Callable[[ControllerError], Any] | None = None) -> Any:
    """Run `op`; when its connection breaks (a request in flight on the killed replica), retry on a new one.
    If the retry is refused because the first attempt had in fact been applied, `settle` decides from the
    controller's state whether the operation succeeded (returning its result) or re-raises."""
    broke = False
    for attempt in range(6):
        try:
            result = op()
            tally.count(broke)
            return result
        except TRANSIENT:
            broke = True
            time.sleep(0.2 * (attempt + 1))
        except ControllerError as error:
            if broke and settle is not None:
                result = settle(error)
                tally.count(True)
                return result
            if broke and error.status in (502, 503):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise
    raise AssertionError("still failing after 6 attempts")


@dataclass
class Worker:
    lab: Lab
    tally: Tally
    name: str
    identity_id: str = ""
    cert: str = ""
    key: str = ""
    old_certs: list[tuple[str, str]] = field(default_factory=list)

    def admin(self) -> Connection:
        conn = self.lab.connect()
        conn.login_password("admin", self.lab.password)
        return conn

    def enroll(self) -> None:
        with self.admin() as admin:
            self.identity_id = with_retry(self.tally, lambda: admin.data("POST", f"{MGMT}/identities", json_body={
                "name": self.name, "type": "Default", "isAdmin": False, "enrollment": {"ott": True}})["id"])
            jwt = with_retry(self.tally, lambda: admin.data("GET", f"{MGMT}/identities/{self.identity_id}")["enrollment"]["ott"]["jwt"])
        identity = with_retry(self.tally, lambda: enroll_ott(jwt))  # a token used by a lost answer fails loudly
        self.cert, self.key = identity.cert, identity.key

    def extend_once(self) -> None:
        conn = self.lab.connect(cert_pem=self.cert, key_pem=self.key)
        try:
            session = with_retry(self.tally, conn.login_cert)
            auth_id = session["authenticatorId"]
            csr, key = make_csr(common_name=self.name)
            base = f"/edge/client/v1/current-identity/authenticators/{auth_id}"
            extended = with_retry(self.tally, lambda: conn.data("POST", f"{base}/extend", json_body={"clientCertCsr": csr}))
            new_cert = extended["clientCert"]

            def verified_already(error: ControllerError) -> None:
                # The first extend-verify was applied, its answer lost: the new certificate is the current one.
                current = self._admin_fingerprint(auth_id)
                if current != fingerprint(load_certs_pem(new_cert)[0]):
                    raise error

            with_retry(self.tally, lambda: conn.data("POST", f"{base}/extend-verify", json_body={"clientCert": new_cert}),
                       settle=verified_already)
        finally:
            conn.close()
        from cryptography.hazmat.primitives import serialization

        self.old_certs.append((self.cert, self.key))
        self.cert = new_cert
        self.key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()

    def _admin_fingerprint(self, auth_id: str) -> str:
        with self.admin() as admin:
            return admin.data("GET", f"{MGMT}/authenticators/{auth_id}")["fingerprint"]

    def run(self, rounds: int, restarted: threading.Event) -> None:
        """Enroll, extend `rounds` times, keep extending until the killed replica is back, then twice more."""
        try:
            self.enroll()
            for _ in range(rounds):
                self.extend_once()
            while not restarted.wait(0.05):
                self.extend_once()
            for _ in range(2):
                self.extend_once()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            with self.tally.lock:
                self.tally.failures.append(f"{self.name}: {type(exc).__name__}: {exc}")


def test_three_replicas_behind_haproxy_survive_a_killed_replica(lab_database: str, tmp_path: Path):
    started_at = time.monotonic()
    lab = Lab(tmp_path, lab_database, "lab-" + secrets.token_urlsafe(24), free_port())
    lab.replicas = [Replica(i, free_port(), tmp_path / f"replica-{i}.log") for i in range(1, REPLICAS + 1)]
    try:
        # All three at the same moment on a fresh database and data directory, as docker compose starts them.
        for replica in lab.replicas:
            lab.start(replica)
        ids_by_replica = {replica.index: lab.wait_ready(replica) for replica in lab.replicas}
        instance_ids = set(ids_by_replica.values())
        assert len(instance_ids) == REPLICAS
        lab.start_haproxy()
        _wait_balanced(lab, instance_ids)

        tally = Tally()
        workers = [Worker(lab, tally, f"lab-{i}") for i in range(IDENTITIES)]
        restarted_event = threading.Event()
        threads = [threading.Thread(target=w.run, args=(ROUNDS, restarted_event), daemon=True) for w in workers]
        for thread in threads:
            thread.start()
            time.sleep(0.1)
        # Kill replica 2 while the clients work, then restart it on the same port.
        _wait_for(lambda: tally.operations >= IDENTITIES * 6, 60, "the clients to get going")
        victim = lab.replicas[1]
        assert victim.proc is not None
        victim.proc.kill()
        victim.proc.wait(10)
        time.sleep(1.5)  # long enough for HAProxy to see it down (inter 1s, fall 2)
        lab.start(victim)
        restarted = lab.wait_ready(victim)
        restarted_event.set()
        for thread in threads:
            thread.join(max(1.0, TEST_TIMEOUT - (time.monotonic() - started_at)))
        assert not any(t.is_alive() for t in threads), "the clients did not finish in time"
        assert tally.failures == [], tally.failures
        # enroll = 3 operations (create, read JWT, enroll), each extension = 3 (login, extend, verify)
        assert tally.operations >= IDENTITIES * (3 + 3 * (ROUNDS + 2))
        # The restarted replica is back in the balancer.
        _wait_balanced(lab, (instance_ids - {ids_by_replica[victim.index]}) | {restarted})

        # HAProxy saw the replica go down and come back through its check on /health-checks.
        haproxy_log = (tmp_path / "haproxy.log").read_text()
        assert "controllers/c2 is DOWN" in haproxy_log, haproxy_log
        assert "controllers/c2 is UP, reason: Layer7 check passed, code: 200" in haproxy_log, haproxy_log

        # Every identity has exactly one working certificate: the last one.
        with lab.connect() as admin:
            admin.login_password("admin", lab.password)
            for worker in workers:
                authenticators = admin.data("GET", f"{MGMT}/authenticators?filter=" + quote(f'identity="{worker.identity_id}"'))
                certs = [a for a in authenticators if a["method"] == "cert"]
                assert len(certs) == 1 and certs[0]["fingerprint"] == fingerprint(load_certs_pem(worker.cert)[0])
                with lab.connect(cert_pem=worker.cert, key_pem=worker.key) as conn:
                    assert conn.login_cert()["identityId"] == worker.identity_id
                for old_cert, old_key in worker.old_certs[-2:]:
                    with lab.connect(cert_pem=old_cert, key_pem=old_key) as conn, pytest.raises(ControllerError) as refused:
                        conn.login_cert()
                    assert refused.value.status == 401
        print(f"lab: {tally.operations} operations, {tally.retried} retried after a broken connection, "
              f"{time.monotonic() - started_at:.1f}s")
    finally:
        lab.stop()


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _wait_balanced(lab: Lab, expected: set[str], timeout: float = 30.0) -> None:
    """New connections through HAProxy reach every expected replica (round robin over healthy servers)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while not expected <= seen:
        assert time.monotonic() < deadline, f"the balancer reached {seen}, expected {expected}"
        try:
            with lab.connect() as conn:  # a new TCP connection each time: HAProxy balances connections
                seen.add(conn.data("GET", "/health-checks/live")["instanceId"])
        except TRANSIENT:
            pass
        time.sleep(0.05)
