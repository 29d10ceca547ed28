"""Shared helpers for the benchmarks: a controller in a subprocess, CPU and memory from /proc, enrollment,
percentiles. Only 127.0.0.1 is ever contacted."""

from __future__ import annotations

import json
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- /proc -----------------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all its threads, live or exited) in seconds, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of the man page


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


# --- statistics ------------------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return percentile(values, 50)


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def checkout(rev: str) -> Path:
    """The project at `rev`, exported to a temporary directory (the code only: the venv is this one's).
    The caller removes it."""
    import tempfile

    target = Path(tempfile.mkdtemp(prefix="bench-rev-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    # `python -m controller` imports the package from the working directory; the migrations ship inside it.
    shutil.copytree(target / "migrations", target / "controller" / "_migrations", dirs_exist_ok=True)
    return target


def json_safe(value: Any) -> Any:
    """NaN (an empty phase) is not JSON: write null instead."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# --- the controller in a subprocess ----------------------------------------------------------------------

@dataclass
class ServerProcess:
    proc: subprocess.Popen
    ready: dict[str, Any]
    spawned_at: float  # time.perf_counter() just before Popen
    ready_at: float  # time.perf_counter() when the ready line was read
    stderr_path: Path | None = None
    _admin: Any = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return self.ready["url"]

    @property
    def ca_bundle(self) -> str:
        return self.ready["caBundle"]

    def admin(self):
        """A keep-alive admin connection (logged in); one per process, for the main thread."""
        if self._admin is None:
            from controller.client.http import Connection, tls_context

            self._admin = Connection(self.url, tls_context(ca_file=self.ca_bundle))
            self._admin.login_password(self.ready["admin"]["username"], self.ready["admin"]["password"])
        return self._admin

    def stop(self, timeout: float = 15.0) -> None:
        if self._admin is not None:
            self._admin.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        # The fixture removes its ephemeral data directory on a clean shutdown; not when it was interrupted
        # before serving (or killed), so make sure nothing of ours is left in the temp directory.
        data_dir = Path(self.ready.get("dataDir", ""))
        if data_dir.name.startswith("ziti-sim-fixture-") and data_dir.is_dir():
            shutil.rmtree(data_dir, ignore_errors=True)


def start_server(*, database_url: str | None = None, log_level: str = "warning", timeout: float = 60.0,
                 env: dict[str, str] | None = None, stderr_path: Path | None = None, cwd: Path | None = None) -> ServerProcess:
    """`python -m controller serve --mode fixture` on an ephemeral 127.0.0.1 port; returns once the JSON ready
    line is printed. The child's stderr goes to `stderr_path` (or is discarded)."""
    cmd = [sys.executable, "-m", "controller", "serve", "--mode", "fixture", "--log-level", log_level]
    if database_url:
        cmd += ["--database-url", database_url]
    child_env = dict(env if env is not None else os.environ)  # `env` is the child's whole environment
    child_env.pop("ZITI_SIM_ADDRESS", None)
    with open(stderr_path or os.devnull, "wb") as stderr:
        spawned = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=child_env, cwd=cwd or REPO)
    deadline = time.monotonic() + timeout
    buffer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            proc.kill()
            detail = Path(stderr_path).read_text(errors="replace")[-2000:] if stderr_path else ""
            raise RuntimeError(f"controller did not become ready (exit {proc.poll()}): {detail}")
        readable, _, _ = select.select([proc.stdout], [], [], min(remaining, 0.5))
        if not readable:
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("event") == "ready":
                return ServerProcess(proc, message, spawned, time.perf_counter(), stderr_path)


# --- identities ------------------------------------------------------------------------------------------

@dataclass
class BenchIdentity:
    """One enrolled identity as the benchmark drives it: the certificate it currently holds, its key, a
    CSR from that key (reused for every extension), its cert authenticator and a session token."""

    id: str
    name: str
    cert_pem: str  # leaf + intermediates, as the controller returned it
    key_pem: str
    ca_pem: str
    csr_pem: str = ""
    authenticator_id: str = ""
    session_token: str = ""


def make_csr_pem(key_pem: str, common_name: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(key_pem.encode(), None)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenZiti"),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def enroll_many(server: ServerProcess, count: int, *, prefix: str = "bench", threads: int = 4,
                login: bool = True) -> list[BenchIdentity]:
    """Create `count` identities with OTT enrollments and enroll each as an SDK would (ec-p256 key), then log
    each in with its certificate to learn its cert authenticator and get a session."""
    from controller.client.enroll import enroll_ott
    from controller.client.http import Connection, tls_context

    ready = server.ready
    admin_tls = tls_context(ca_file=server.ca_bundle)

    def one(index: int) -> BenchIdentity:
        with Connection(server.url, admin_tls) as admin:
            admin.login_password(ready["admin"]["username"], ready["admin"]["password"])
            name = f"{prefix}-{index:04d}-{os.urandom(3).hex()}"
            created = admin.data("POST", "/edge/management/v1/identities",
                                 json_body={"name": name, "type": "Default", "isAdmin": False, "enrollment": {"ott": True}})
            detail = admin.data("GET", f"/edge/management/v1/identities/{created['id']}")
        identity_file = enroll_ott(detail["enrollment"]["ott"]["jwt"], key_type="ec-p256")
        ident = BenchIdentity(created["id"], name, identity_file.cert, identity_file.key, identity_file.ca)
        ident.csr_pem = make_csr_pem(ident.key_pem, ident.id)
        if login:
            with Connection(server.url, client_context(ident)) as conn:
                session = conn.login_cert()
                ident.session_token = session["token"]
                ident.authenticator_id = session.get("authenticatorId") or next(
                    a["id"] for a in conn.data("GET", "/edge/client/v1/current-identity/authenticators") if a["method"] == "cert")
        return ident

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def client_context(ident: BenchIdentity):
    from controller.client.http import tls_context

    return tls_context(ca_pem=ident.ca_pem, cert_pem=ident.cert_pem, key_pem=ident.key_pem)
