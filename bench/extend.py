#!/usr/bin/env python
"""Benchmark of certificate extension: extend + extend-verify cycles over keep-alive mTLS, against the CPU
floor of a bare `cryptography` CSR-verify + sign, and against Debian's `cfssl serve` (with and without a
SQLite row per certificate).

    bash bench/setup.sh            # once: installs cfssl (golang-cfssl)
    python bench/extend.py         # SQLite and PostgreSQL (throw-away database), 200 identities, c = 1,8,32, 5 s per phase
    python bench/extend.py --compare-with main   # the same for another revision too, alternating, in one run
    python bench/extend.py --backends sqlite --json  # one database; machine-readable output on stdout

It ends with the table of issue 11 (ratios to cfssl + SQLite and to the floor, p50/p99 at the top concurrency),
one column per database (and revision).

All CPU figures are CPU time (user + system) of the serving process, read from /proc/<pid>/stat around
each phase and divided by the number of requests of that phase: steadier than rates on a shared machine.
Only 127.0.0.1 is contacted; every loop is bounded by time and by count.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common
from _common import BenchIdentity, cpu_seconds, log, percentile

EXTEND_PATH = "/edge/client/v1/current-identity/authenticators/{id}/extend"
VERIFY_PATH = "/edge/client/v1/current-identity/authenticators/{id}/extend-verify"


# --- results ---------------------------------------------------------------------------------------------

@dataclass
class Phase:
    name: str
    concurrency: int
    seconds: float = 0.0
    requests: int = 0  # HTTP requests sent (successful or not)
    units: int = 0  # completed cycles (or requests, for one-request phases)
    errors: dict[str, int] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    db_cpu_s: float | None = None  # PostgreSQL backends serving the benchmark's database
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def units_per_s(self) -> float:
        return self.units / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s * 1e6 / self.requests if self.requests else float("nan")

    @property
    def cpu_us_per_unit(self) -> float:
        return self.server_cpu_s * 1e6 / self.units if self.units else float("nan")

    @property
    def db_us_per_request(self) -> float | None:
        return None if self.db_cpu_s is None or not self.requests else self.db_cpu_s * 1e6 / self.requests

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(unitsPerSecond=self.units_per_s, serverCpuUsPerRequest=self.cpu_us_per_request,
                    serverCpuUsPerUnit=self.cpu_us_per_unit, dbCpuUsPerRequest=self.db_us_per_request)
        return data


class Recorder:
    """Per-thread latency lists and error counts, merged at the end of a phase."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.errors: Counter[str] = Counter()
        self.requests = 0
        self.units = 0

    def merge(self, latencies: dict[str, list[float]], errors: Counter[str], requests: int, units: int) -> None:
        with self.lock:
            for key, values in latencies.items():
                self.latencies.setdefault(key, []).extend(values)
            self.errors.update(errors)
            self.requests += requests
            self.units += units

    def summary(self) -> dict[str, dict[str, float]]:
        return {k: {"p50": percentile(v, 50) * 1e3, "p99": percentile(v, 99) * 1e3, "n": len(v)} for k, v in self.latencies.items()}


def error_key(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:160]


# --- CPU meters ------------------------------------------------------------------------------------------

class PgBackendMeter:
    """CPU of the PostgreSQL backends connected to one database, found by their process title
    ('postgres: USER DBNAME HOST(PORT) ...'); sampled every 50 ms so that a backend that exits during a phase
    (pool overflow) loses at most one sample's worth of CPU."""

    def __init__(self, dbname: str):
        self.marker = f" {dbname} "
        self._stop = threading.Event()
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._thread: threading.Thread | None = None
        self.pids_seen = 0

    def _scan(self, initial: bool) -> None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                if pid not in self._last:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        title = f.read().replace(b"\0", b" ").decode(errors="replace")
                    if not title.startswith("postgres:") or self.marker not in title:
                        continue
                    self._first[pid] = cpu_seconds(pid) if initial else 0.0
                self._last[pid] = cpu_seconds(pid)
            except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
                continue

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._scan(False)

    def start(self) -> PgBackendMeter:
        self._scan(True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._scan(False)
        self.pids_seen = len(self._last)
        return sum(self._last[pid] - self._first.get(pid, 0.0) for pid in self._last)


def run_phase(name: str, concurrency: int, seconds: float, max_units: int, server_pid: int,
              worker: Callable[[int, float, threading.Event, Recorder], None], pg_db: str | None = None) -> Phase:
    """Run `concurrency` worker threads until `seconds` have passed or `max_units` are done; measure the
    server's CPU (and the PostgreSQL backends') around the phase."""
    recorder = Recorder()
    stop = threading.Event()
    meter = PgBackendMeter(pg_db).start() if pg_db else None
    cpu0, t0 = cpu_seconds(server_pid), time.perf_counter()
    deadline = t0 + seconds
    threads = [threading.Thread(target=worker, args=(i, deadline, stop, recorder), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    while time.perf_counter() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.02)
        with recorder.lock:
            if recorder.units >= max_units:
                break
    stop.set()
    for t in threads:
        t.join(60)
    elapsed, cpu1 = time.perf_counter() - t0, cpu_seconds(server_pid)
    db_cpu = meter.stop() if meter else None
    return Phase(name, concurrency, elapsed, recorder.requests, recorder.units, dict(recorder.errors), cpu1 - cpu0, db_cpu,
                 recorder.summary())


# --- the controller's extend ---------------------------------------------------------------------------

def split(identities: list[BenchIdentity], concurrency: int) -> list[list[BenchIdentity]]:
    return [identities[w::concurrency] for w in range(concurrency)]


def cycles_worker(server: common.ServerProcess, owned: list[list[BenchIdentity]], broken: set[str], max_units: int,
                  rate: float | None = None):
    """Each cycle: a new keep-alive mTLS connection presenting the identity's CURRENT certificate, extend with
    a CSR from its key, extend-verify with the returned certificate on the same connection; the identity then
    holds the new certificate, so its next cycle connects with that one. A worker rotates through its own
    identities, so no two workers ever touch the same authenticator.

    `rate` (cycles/s, all workers together) makes it open-loop: cycle k of worker i is due at
    start + (k + i / workers) * workers / rate, whatever happened before; a worker that is late starts at once.
    "cycle" latency is then measured from the due time (so a slow server is not hidden by clients that wait
    for it: no coordinated omission), extend and verify from the moment each request is sent."""
    from controller.client.http import Connection

    def work(index: int, deadline: float, stop: threading.Event, recorder: Recorder) -> None:
        latencies: dict[str, list[float]] = {"extend": [], "verify": []} | ({"cycle": []} if rate else {})
        errors: Counter[str] = Counter()
        requests = units = 0
        mine = [i for i in owned[index] if i.id not in broken]
        position = 0
        start, workers = time.perf_counter(), len(owned)
        while mine and not stop.is_set() and time.perf_counter() < deadline and recorder.units + units < max_units:
            due = None
            if rate:
                due = start + (position + index / workers) * workers / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    if stop.wait(min(wait, max(0.0, deadline - time.perf_counter()))) or time.perf_counter() >= deadline:
                        break
            ident = mine[position % len(mine)]
            position += 1
            conn = Connection(server.url, common.client_context(ident))
            conn.session_token = ident.session_token
            try:
                body = json.dumps({"clientCertCsr": ident.csr_pem}).encode()
                t0 = time.perf_counter()
                requests += 1
                status, _h, payload = conn.raw("POST", EXTEND_PATH.format(id=ident.authenticator_id), body=body,
                                               headers={"Content-Type": "application/json"})
                t1 = time.perf_counter()
                if status != 200:
                    raise RuntimeError(f"extend answered {status}: {payload[:200]!r}")
                new_cert = json.loads(payload)["data"]["clientCert"]
                body = json.dumps({"clientCert": new_cert}).encode()
                requests += 1
                t2 = time.perf_counter()
                status, _h, payload = conn.raw("POST", VERIFY_PATH.format(id=ident.authenticator_id), body=body,
                                               headers={"Content-Type": "application/json"})
                t3 = time.perf_counter()
                if status != 200:
                    raise RuntimeError(f"extend-verify answered {status}: {payload[:200]!r}")
                ident.cert_pem = new_cert  # from now on only the new certificate logs in and can extend
                latencies["extend"].append(t1 - t0)
                latencies["verify"].append(t3 - t2)
                if due is not None:
                    latencies["cycle"].append(t3 - due)
                units += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors[error_key(exc)] += 1
                broken.add(ident.id)  # its state is unknown now: leave it alone
                mine.remove(ident)
            finally:
                conn.close()
        recorder.merge(latencies, errors, requests, units)

    return work


def extend_only_worker(server: common.ServerProcess, owned: list[list[BenchIdentity]], broken: set[str], max_units: int):
    """Repeated extends of one identity per worker over one keep-alive mTLS connection (a second extend
    before verify replaces the pending certificate): the CPU of one extend request, without handshakes."""
    from controller.client.http import Connection

    def work(index: int, deadline: float, stop: threading.Event, recorder: Recorder) -> None:
        latencies: dict[str, list[float]] = {"extend": []}
        errors: Counter[str] = Counter()
        requests = units = 0
        mine = [i for i in owned[index] if i.id not in broken]
        if not mine:
            return
        ident = mine[0]
        body = json.dumps({"clientCertCsr": ident.csr_pem}).encode()
        path = EXTEND_PATH.format(id=ident.authenticator_id)
        with Connection(server.url, common.client_context(ident)) as conn:
            conn.session_token = ident.session_token
            while not stop.is_set() and time.perf_counter() < deadline and recorder.units + units < max_units:
                requests += 1
                try:
                    t0 = time.perf_counter()
                    status, _h, payload = conn.raw("POST", path, body=body, headers={"Content-Type": "application/json"})
                    elapsed = time.perf_counter() - t0
                    if status != 200:
                        raise RuntimeError(f"extend answered {status}: {payload[:200]!r}")
                    latencies["extend"].append(elapsed)
                    units += 1
                except Exception as exc:  # noqa: BLE001
                    errors[error_key(exc)] += 1
                    break
        recorder.merge(latencies, errors, requests, units)

    return work


def calibration_workers(server: common.ServerProcess, ident: BenchIdentity, max_units: int):
    """Server CPU of a bare keep-alive request (GET /version) and of a new mTLS connection + that request."""
    from controller.client.http import Connection

    context = common.client_context(ident)

    def keep_alive(index: int, deadline: float, stop: threading.Event, recorder: Recorder) -> None:
        lat: list[float] = []
        errors: Counter[str] = Counter()
        with Connection(server.url, context) as conn:
            while not stop.is_set() and time.perf_counter() < deadline and len(lat) < max_units:
                t0 = time.perf_counter()
                try:
                    status, _h, _p = conn.raw("GET", "/version")
                    assert status == 200, status
                except Exception as exc:  # noqa: BLE001
                    errors[error_key(exc)] += 1
                    break
                lat.append(time.perf_counter() - t0)
        recorder.merge({"request": lat}, errors, len(lat) + sum(errors.values()), len(lat))

    def new_connection(index: int, deadline: float, stop: threading.Event, recorder: Recorder) -> None:
        lat: list[float] = []
        errors: Counter[str] = Counter()
        while not stop.is_set() and time.perf_counter() < deadline and len(lat) < max_units:
            t0 = time.perf_counter()
            try:
                with Connection(server.url, context) as conn:
                    status, _h, _p = conn.raw("GET", "/version")
                    assert status == 200, status
            except Exception as exc:  # noqa: BLE001
                errors[error_key(exc)] += 1
                break
            lat.append(time.perf_counter() - t0)
        recorder.merge({"connection+request": lat}, errors, len(lat) + sum(errors.values()), len(lat))

    return keep_alive, new_connection


# --- the floor: bare cryptography ----------------------------------------------------------------------

def make_ca(common_name: str):
    """A self-signed EC P-256 CA (key, certificate) for the floor loop and for cfssl."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def measure_floor(csr_pems: list[str], san_source_pem: str, seconds: float, max_ops: int) -> dict[str, Any]:
    """Parse the PEM CSR, check its signature, build and sign an EC P-256 client certificate with the
    controller's identity profile (SKI, critical KeyUsage digitalSignature, AKI, critical BasicConstraints
    CA:false, EKU clientAuth, the SANs of the current certificate), PEM-encode it. CPU per op from
    time.process_time (this process, one thread)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_key, ca_cert = make_ca("bench floor signer")
    ca_public = ca_cert.public_key()
    current = x509.load_pem_x509_certificates(san_source_pem.encode())[0]
    try:
        sans = list(current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        sans = []
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                          key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    encoded = [p.encode() for p in csr_pems]

    def one(pem: bytes) -> bytes:
        csr = x509.load_pem_x509_csr(pem)
        if not csr.is_signature_valid:
            raise ValueError("bad CSR signature")
        public_key = csr.public_key()
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
                .not_valid_after(now + timedelta(days=365))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
                .add_extension(usage, critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(eku, critical=False)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .sign(ca_key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM)

    for pem in encoded[:20]:  # warm-up
        one(pem)
    ops, cpu0, t0 = 0, time.process_time(), time.perf_counter()
    while ops < max_ops and time.perf_counter() - t0 < seconds:
        one(encoded[ops % len(encoded)])
        ops += 1
    cpu = time.process_time() - cpu0
    return {"ops": ops, "cpuUsPerOp": cpu * 1e6 / ops, "wallUsPerOp": (time.perf_counter() - t0) * 1e6 / ops}


# --- SQLite row helper -----------------------------------------------------------------------------------

SQLITE_SCHEMA = ("CREATE TABLE IF NOT EXISTS certificates (id INTEGER PRIMARY KEY, issued_at TEXT NOT NULL, "
                 "fingerprint TEXT NOT NULL, pem TEXT NOT NULL)")
SQLITE_INSERT = "INSERT INTO certificates (issued_at, fingerprint, pem) VALUES (?, ?, ?)"


def sqlite_connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # as the controller's own SQLite engine
    db.execute(SQLITE_SCHEMA)
    return db


def sqlite_record(db: sqlite3.Connection, pem: str) -> None:
    db.execute("BEGIN IMMEDIATE")
    db.execute(SQLITE_INSERT, (datetime.now(UTC).isoformat(), os.urandom(20).hex(), pem))
    db.execute("COMMIT")


def measure_sqlite_row(directory: Path, sample_pem: str, seconds: float, max_ops: int) -> dict[str, Any]:
    """CPU of inserting one certificate row and committing it (WAL, synchronous=NORMAL, a transaction per
    row), in this process, from time.process_time."""
    db = sqlite_connect(directory / "row-cost.sqlite")
    for _ in range(50):
        sqlite_record(db, sample_pem)
    ops, cpu0, t0 = 0, time.process_time(), time.perf_counter()
    while ops < max_ops and time.perf_counter() - t0 < seconds:
        sqlite_record(db, sample_pem)
        ops += 1
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - t0
    db.close()
    return {"ops": ops, "cpuUsPerRow": cpu * 1e6 / ops, "wallUsPerRow": wall * 1e6 / ops}


# --- cfssl -------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cfssl:
    def __init__(self, binary: str, directory: Path):
        from cryptography.hazmat.primitives import serialization

        key, cert = make_ca("bench cfssl CA")
        (directory / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path = directory / "ca-key.pem"
        key_path.touch(0o600)
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()))
        profile = {"expiry": "8760h", "usages": ["digital signature", "client auth"]}
        (directory / "config.json").write_text(json.dumps({"signing": {"default": profile, "profiles": {"client": profile}}}))
        self.port = free_port()
        self.log_path = directory / "cfssl.log"
        with open(self.log_path, "wb") as log_file:
            self.proc = subprocess.Popen(
                [binary, "serve", "-address", "127.0.0.1", "-port", str(self.port), "-ca", str(directory / "ca.pem"),
                 "-ca-key", str(key_path), "-config", str(directory / "config.json"), "-loglevel", "2"],
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"cfssl serve did not start: {self.log_path.read_text(errors='replace')[-1000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def sign(self, conn: http.client.HTTPConnection, csr_pem: str) -> str:
        body = json.dumps({"certificate_request": csr_pem, "profile": "client"})
        conn.request("POST", "/api/v1/cfssl/sign", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"cfssl answered {response.status}: {payload[:200]!r}")
        result = json.loads(payload)
        if not result.get("success"):
            raise RuntimeError(f"cfssl refused: {result.get('errors')}")
        return result["result"]["certificate"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def cfssl_worker(cfssl: Cfssl, csrs: list[str], max_units: int, sqlite_path: Path | None):
    def work(index: int, deadline: float, stop: threading.Event, recorder: Recorder) -> None:
        lat: list[float] = []
        errors: Counter[str] = Counter()
        requests = 0
        db = sqlite_connect(sqlite_path) if sqlite_path else None
        conn = http.client.HTTPConnection("127.0.0.1", cfssl.port, timeout=30)
        position = index
        while not stop.is_set() and time.perf_counter() < deadline and recorder.units + len(lat) < max_units:
            requests += 1
            try:
                t0 = time.perf_counter()
                pem = cfssl.sign(conn, csrs[position % len(csrs)])
                lat.append(time.perf_counter() - t0)
                if db is not None:
                    sqlite_record(db, pem)
            except Exception as exc:  # noqa: BLE001
                errors[error_key(exc)] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", cfssl.port, timeout=30)
                if sum(errors.values()) > 20:
                    break
            position += 1
        conn.close()
        if db is not None:
            db.close()
        recorder.merge({"sign": lat}, errors, requests, len(lat))

    return work


# --- the run ---------------------------------------------------------------------------------------------

def pg_database_name(url: str | None) -> str | None:
    if not url or not url.startswith("postgresql"):
        return None
    from sqlalchemy.engine import make_url

    return make_url(url).database


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def measure_controller(args: argparse.Namespace, levels: list[int], seconds: float, *, database_url: str | None,
                       repo: Path | None, workdir: Path) -> tuple[dict[str, Any], list[BenchIdentity]]:
    """One controller (this checkout, or `repo` for --compare-with) on one database: enrollment, calibration,
    the cycles and extend-only phases at every concurrency level."""
    pg_db = pg_database_name(database_url)
    out: dict[str, Any] = {"database": "postgresql" if pg_db else "sqlite", "loadavgBefore": common.loadavg()}
    env, cache = None, None
    if repo is not None:
        cache = Path(tempfile.mkdtemp(prefix="ziti-bench-cache-"))
        env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(repo)}
    server = None
    try:
        log(f"starting the controller (serve --mode fixture, {out['database']}, {repo or 'this checkout'}) ...")
        server = common.start_server(database_url=database_url, stderr_path=workdir / f"controller-{os.urandom(3).hex()}.log",
                                     env=env, cwd=repo)
        log(f"  ready at {server.url} (pid {server.pid}) in {server.ready_at - server.spawned_at:.2f} s")
        t0 = time.perf_counter()
        identities = common.enroll_many(server, args.identities)
        enroll_s = time.perf_counter() - t0
        out["enrollment"] = {"count": len(identities), "seconds": enroll_s, "perSecond": len(identities) / enroll_s}
        log(f"  enrolled {len(identities)} identities in {enroll_s:.1f} s")
        log("calibrating: bare keep-alive request and new mTLS connection ...")
        keep_alive, new_conn = calibration_workers(server, identities[0], args.max_requests)
        calib_s = min(seconds, 2.0)
        out["calibration"] = {
            "keepAliveVersion": run_phase("GET /version keep-alive", 1, calib_s, args.max_requests, server.pid, keep_alive, pg_db).as_dict(),
            "newConnectionVersion": run_phase("new mTLS connection + GET /version", 1, calib_s, args.max_requests, server.pid, new_conn, pg_db).as_dict(),
        }
        broken: set[str] = set()
        # warm-up: every identity extends once (first use of its authenticator, caches, pools)
        warm = run_phase("warm-up", min(8, max(levels)), 30.0, len(identities), server.pid,
                         cycles_worker(server, split(identities, min(8, max(levels))), broken, len(identities)), pg_db)
        log(f"  warm-up: {warm.units} cycles, errors {warm.errors or 'none'}")
        out["levels"] = []
        for level in levels:
            owned = split(identities, level)
            log(f"concurrency {level}: extend + verify cycles for {seconds:g} s ...")
            cycles = run_phase("cycles", level, seconds, args.max_requests, server.pid,
                               cycles_worker(server, owned, broken, args.max_requests), pg_db)
            log(f"concurrency {level}: extend only (keep-alive) for {seconds:g} s ...")
            extend_only = run_phase("extend-only", level, seconds, args.max_requests, server.pid,
                                    extend_only_worker(server, owned, broken, args.max_requests), pg_db)
            out["levels"].append({"concurrency": level, "cycles": cycles.as_dict(), "extendOnly": extend_only.as_dict()})
        if args.paced_fraction > 0:
            # The latency goal is "p99 at >= 60 % of the CPU-bound rate": the saturated rate of the top
            # level, offered open-loop at that fraction (closed-loop clients at saturation only measure queueing:
            # latency = clients / rate).
            top = max(levels)
            saturated = next(lv for lv in out["levels"] if lv["concurrency"] == top)["cycles"]["unitsPerSecond"]
            target = saturated * args.paced_fraction
            if target > 0:
                log(f"concurrency {top}: paced cycles at {target:.1f}/s ({args.paced_fraction:.0%} of {saturated:.1f}/s) for {seconds:g} s ...")
                paced = run_phase("paced", top, seconds, args.max_requests, server.pid,
                                  cycles_worker(server, split(identities, top), broken, args.max_requests, rate=target), pg_db)
                out["paced"] = {"fraction": args.paced_fraction, "saturatedPerSecond": saturated, "targetPerSecond": target,
                                "phase": paced.as_dict()}
        out["brokenIdentities"] = len(broken)
        out["serverMaxRssKiB"] = common.status_kib(server.pid, "VmHWM")
        out["loadavgAfter"] = common.loadavg()
        return out, identities
    finally:
        if server is not None:
            server.stop()
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def measure_cfssl(args: argparse.Namespace, levels: list[int], seconds: float, csrs: list[str], workdir: Path) -> dict[str, Any]:
    cfssl_bin = shutil.which("cfssl")
    if args.no_cfssl:
        return {"skipped": "--no-cfssl"}
    if not cfssl_bin:
        log("cfssl not found on PATH: skipping the cfssl comparison (run `bash bench/setup.sh` first)")
        return {"skipped": "cfssl not found on PATH: run `bash bench/setup.sh` (installs golang-cfssl)"}
    version = subprocess.run([cfssl_bin, "version"], check=False, capture_output=True, text=True, timeout=10).stdout.split("\n")[0]
    cfssl_dir = workdir / "cfssl"
    cfssl_dir.mkdir()
    cfssl = Cfssl(cfssl_bin, cfssl_dir)
    try:
        warm = run_phase("cfssl warm-up", 2, 1.0, 200, cfssl.pid, cfssl_worker(cfssl, csrs, 200, None))
        cfssl_levels = []
        for level in levels:
            log(f"cfssl: concurrency {level}, sign for {seconds:g} s, then sign + SQLite row for {seconds:g} s ...")
            plain = run_phase("cfssl sign", level, seconds, args.max_requests, cfssl.pid,
                              cfssl_worker(cfssl, csrs, args.max_requests, None))
            with_row = run_phase("cfssl sign + SQLite row", level, seconds, args.max_requests, cfssl.pid,
                                 cfssl_worker(cfssl, csrs, args.max_requests, cfssl_dir / f"certs-{level}.sqlite"))
            cfssl_levels.append({"concurrency": level, "sign": plain.as_dict(), "signSqlite": with_row.as_dict()})
        return {"version": version, "levels": cfssl_levels, "warmupErrors": warm.errors}
    finally:
        cfssl.stop()


class PgScratch:
    """A throw-away PostgreSQL database on --postgres-url's server, dropped afterwards."""

    def __init__(self, admin_url: str):
        from sqlalchemy import create_engine

        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"ziti_bench_extend_{os.urandom(4).hex()}"
        self.url = admin_url.rsplit("/", 1)[0] + f"/{self.name}"

    def __enter__(self) -> str:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self.url

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text

        try:
            with self.engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            self.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--identities", type=int, default=200, help="identities to enroll (default 200)")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated client concurrency levels (default 1,8,32)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measured phase (default 5, max 120)")
    parser.add_argument("--max-requests", type=int, default=100_000, help="upper bound of units per phase (default 100000)")
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="databases to run the controller on, in one run (default sqlite,postgresql)")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server (any database on it): a throw-away database is created there and dropped")
    parser.add_argument("--database-url", help="run only on this SQLAlchemy URL (instead of --backends)")
    parser.add_argument("--compare-with", metavar="REV",
                        help="also measure this git revision of the project, alternating with this checkout per database")
    parser.add_argument("--paced-fraction", type=float, default=0.6,
                        help="after the levels, offer cycles open-loop at this fraction of the top level's saturated rate "
                             "and report p50/p99 (default 0.6, the issue's goal; 0 skips it)")
    parser.add_argument("--floor-seconds", type=float, default=2.0, help="duration of the cryptography floor loop (default 2)")
    parser.add_argument("--no-cfssl", action="store_true", help="skip the cfssl comparison")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout (progress goes to stderr)")
    parser.add_argument("--report", metavar="FILE", help="print the table of a saved --json output and exit")
    args = parser.parse_args(argv)
    if args.report:
        print_report(json.loads(Path(args.report).read_text()))
        return 0
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    seconds = max(0.5, min(args.seconds, 120.0))
    if not levels or min(levels) < 1 or max(levels) > 256:
        parser.error("--concurrency levels must be between 1 and 256")
    if not 0 <= args.paced_fraction <= 1:
        parser.error("--paced-fraction must be between 0 and 1")
    if not 1 <= args.identities <= 5000:
        parser.error("--identities must be between 1 and 5000")
    if args.identities < max(levels):
        parser.error(f"--identities ({args.identities}) must be at least the highest concurrency ({max(levels)})")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.database_url:
        backends = ["url"]
    elif not backends or set(backends) - {"sqlite", "postgresql"}:
        parser.error("--backends takes sqlite and/or postgresql")

    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "host": platform.node(),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "identities": args.identities, "concurrency": levels, "secondsPerPhase": seconds,
        "loadavgBefore": common.loadavg(), "runs": [],
    }
    workdir = Path(tempfile.mkdtemp(prefix="ziti-bench-extend-"))
    other = None
    try:
        if args.compare_with:
            other = common.checkout(args.compare_with)
        revisions = [("this checkout", None)] + ([(args.compare_with, other)] if other else [])
        identities: list[BenchIdentity] = []
        for index, backend in enumerate(backends):
            # alternate which revision goes first, so that a drift in the machine's load favours neither
            order = revisions if index % 2 == 0 else list(reversed(revisions))
            for label, repo in order:
                if backend == "postgresql":
                    with PgScratch(args.postgres_url) as url:
                        run, identities = measure_controller(args, levels, seconds, database_url=url, repo=repo, workdir=workdir)
                else:
                    url = args.database_url if backend == "url" else None
                    run, identities = measure_controller(args, levels, seconds, database_url=url, repo=repo, workdir=workdir)
                run["revision"] = label
                results["runs"].append(run)
        log("measuring the cryptography floor and the SQLite row ...")
        results["floor"] = measure_floor([i.csr_pem for i in identities], identities[0].cert_pem, args.floor_seconds, 20_000)
        results["sqliteRow"] = measure_sqlite_row(workdir, identities[0].cert_pem, min(args.floor_seconds, 1.0), 5_000)
        results["cfssl"] = measure_cfssl(args, levels, seconds, [i.csr_pem for i in identities], workdir)
        for run in results["runs"]:
            run["ratios"] = ratios(results, run)
        results["loadavgAfter"] = common.loadavg()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if other is not None:
            shutil.rmtree(other, ignore_errors=True)

    if args.json:
        print(json.dumps(common.json_safe(results), indent=2, default=str))
    else:
        print_report(results)
    return 0


def ratios(results: dict[str, Any], run: dict[str, Any]) -> list[dict[str, Any]]:
    floor = results["floor"]["cpuUsPerOp"]
    row = results["sqliteRow"]["cpuUsPerRow"]
    cfssl_levels = {c["concurrency"]: c for c in results.get("cfssl", {}).get("levels", [])}
    out = []
    for level in run["levels"]:
        ext = level["extendOnly"]
        ours = ext["serverCpuUsPerRequest"]
        ours_total = ours + (ext["dbCpuUsPerRequest"] or 0.0)
        entry: dict[str, Any] = {"concurrency": level["concurrency"], "extendCpuUs": ours, "extendCpuWithDbUs": ours_total,
                                 "vsFloor": ours_total / floor}
        c = cfssl_levels.get(level["concurrency"])
        if c:
            sign = c["sign"]["serverCpuUsPerRequest"]
            sign_row = c["signSqlite"]["serverCpuUsPerRequest"] + row
            entry.update(cfsslUs=sign, cfsslSqliteUs=sign_row, vsCfssl=ours_total / sign, vsCfsslSqlite=ours_total / sign_row,
                         goalUs=1.5 * sign_row, goalMet=ours_total <= 1.5 * sign_row)
        out.append(entry)
    return out


def print_report(r: dict[str, Any]) -> None:
    p = print
    p(f"ziti-controller-sim extend benchmark  {r['date']}  {r['cpus']} CPUs  Python {r['python']}  "
      f"load avg {' '.join(r['loadavgBefore'])} -> {' '.join(r.get('loadavgAfter', ['?']))}")
    p(f"{r['identities']} identities per controller; {r['secondsPerPhase']:g} s per phase")
    p("")
    f, row = r["floor"], r["sqliteRow"]
    p(f"floor: cryptography CSR parse + signature check + EC P-256 client cert sign + PEM, 1 thread: "
      f"{f['cpuUsPerOp']:.0f} µs CPU/op ({f['ops']} ops)")
    p(f"SQLite row: INSERT + COMMIT per row, WAL, synchronous=NORMAL, in-process: {row['cpuUsPerRow']:.0f} µs CPU/row "
      f"({row['ops']} rows)")
    p("")
    cf = r.get("cfssl", {})
    if "skipped" in cf:
        p(f"cfssl comparison skipped: {cf['skipped']}")
    else:
        p(f"cfssl serve ({cf['version']}), plain HTTP keep-alive, POST /api/v1/cfssl/sign with the same CSRs; cfssl CPU from /proc.")
        p("'+ SQLite' = the same load with the client recording each certificate in SQLite; its per-request figure is cfssl's")
        p(f"CPU in that run + the in-process SQLite row cost above ({row['cpuUsPerRow']:.0f} µs), as the signer's baseline.")
        p(f"{'conc':>4} {'signs/s':>8} {'p50/p99 ms':>12} {'cfssl µs/req':>12} | {'signs/s':>8} {'cfssl µs':>8} {'+ row µs':>8} {'= total':>7}  errors")
        for c in cf["levels"]:
            s, w = c["sign"], c["signSqlite"]
            lat = s["latency_ms"].get("sign", {})
            p(f"{c['concurrency']:>4} {s['unitsPerSecond']:>8.0f} {fmt(lat.get('p50'), 2) + '/' + fmt(lat.get('p99'), 2):>12} "
              f"{fmt(s['serverCpuUsPerRequest']):>12} | {w['unitsPerSecond']:>8.0f} {fmt(w['serverCpuUsPerRequest']):>8} "
              f"{row['cpuUsPerRow']:>8.0f} {fmt(w['serverCpuUsPerRequest'] + row['cpuUsPerRow']):>7}  "
              f"{(sum(s['errors'].values()) + sum(w['errors'].values())) or '-'}")
    for run in r["runs"]:
        p("")
        print_run(run)
    p("")
    print_summary(r)


def print_run(r: dict[str, Any]) -> None:
    pg = r["database"] == "postgresql"
    p = print
    p(f"=== {r['database']}, {r['revision']}  (load avg {' '.join(r['loadavgBefore'])} -> {' '.join(r['loadavgAfter'])})")
    e = r["enrollment"]
    p(f"enrolled {e['count']} identities in {e['seconds']:.1f} s ({e['perSecond']:.0f}/s)")
    ka, nc = r["calibration"]["keepAliveVersion"], r["calibration"]["newConnectionVersion"]
    p(f"server, bare request: GET /version keep-alive {ka['serverCpuUsPerRequest']:.0f} µs CPU/req; "
      f"new mTLS connection + GET /version {nc['serverCpuUsPerRequest']:.0f} µs CPU/conn "
      f"(≈ {nc['serverCpuUsPerRequest'] - ka['serverCpuUsPerRequest']:.0f} µs per handshake)")
    p("Extend + verify cycles: per cycle a new mTLS connection with the identity's current certificate, extend, verify.")
    head = f"{'conc':>4} {'cycles':>7} {'cycles/s':>8} {'extend p50/p99 ms':>18} {'verify p50/p99 ms':>18} {'µs/req':>7} {'µs/cycle':>8}"
    p(head + (f" {'pg µs/req':>9}" if pg else "") + "  errors")
    for level in r["levels"]:
        c = level["cycles"]
        lat = c["latency_ms"]
        ext = f"{fmt(lat.get('extend', {}).get('p50'), 1)}/{fmt(lat.get('extend', {}).get('p99'), 1)}"
        ver = f"{fmt(lat.get('verify', {}).get('p50'), 1)}/{fmt(lat.get('verify', {}).get('p99'), 1)}"
        line = (f"{c['concurrency']:>4} {c['units']:>7} {c['unitsPerSecond']:>8.1f} {ext:>18} {ver:>18} "
                f"{fmt(c['serverCpuUsPerRequest']):>7} {fmt(c['serverCpuUsPerUnit']):>8}")
        p(line + (f" {fmt(c['dbCpuUsPerRequest']):>9}" if pg else "") + f"  {sum(c['errors'].values()) or '-'}")
    paced = r.get("paced")
    if paced:
        ph, lat = paced["phase"], paced["phase"]["latency_ms"]
        p(f"Paced (open loop) at c={ph['concurrency']}: {paced['targetPerSecond']:.1f} cycles/s offered "
          f"({paced['fraction']:.0%} of {paced['saturatedPerSecond']:.1f}/s), {ph['unitsPerSecond']:.1f}/s done; "
          f"extend p50/p99 {fmt(lat.get('extend', {}).get('p50'), 1)}/{fmt(lat.get('extend', {}).get('p99'), 1)} ms, "
          f"verify {fmt(lat.get('verify', {}).get('p50'), 1)}/{fmt(lat.get('verify', {}).get('p99'), 1)} ms, "
          f"whole cycle from its due time {fmt(lat.get('cycle', {}).get('p50'), 1)}/{fmt(lat.get('cycle', {}).get('p99'), 1)} ms; "
          f"errors {sum(ph['errors'].values()) or '-'}")
    p("Extend only: repeated extends over one keep-alive mTLS connection per worker (no handshake, no verify).")
    p(f"{'conc':>4} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'srv µs/req':>10}" + (f" {'pg µs/req':>9}" if pg else "")
      + f" {'verify≈ µs':>10}  errors")
    handshake = nc["serverCpuUsPerRequest"]
    for level in r["levels"]:
        x, c = level["extendOnly"], level["cycles"]
        lat = x["latency_ms"].get("extend", {})
        # what is left of a cycle once the extend and a new connection (+ a bare request) are taken out,
        # plus the bare request back: an estimate of one verify request's CPU
        verify = c["serverCpuUsPerUnit"] - x["serverCpuUsPerRequest"] - handshake + ka["serverCpuUsPerRequest"]
        line = (f"{x['concurrency']:>4} {x['units']:>8} {x['unitsPerSecond']:>7.1f} {fmt(lat.get('p50'), 1):>7} "
                f"{fmt(lat.get('p99'), 1):>7} {fmt(x['serverCpuUsPerRequest']):>10}")
        p(line + (f" {fmt(x['dbCpuUsPerRequest']):>9}" if pg else "") + f" {fmt(verify):>10}  {sum(x['errors'].values()) or '-'}")
    errors: Counter[str] = Counter()
    for level in r["levels"]:
        errors.update(level["cycles"]["errors"])
        errors.update(level["extendOnly"]["errors"])
    for text, count in errors.most_common(5):
        p(f"  error x{count}: {text}")
    p("Ratios: one extend request's CPU (extend-only phase" + (", controller + PostgreSQL backends" if pg else "") + ")")
    p(f"{'conc':>4} {'extend µs':>9} {'× floor':>8} {'× cfssl':>8} {'× cfssl+SQLite':>14} {'goal ≤1.5× (µs)':>15}  met")
    for x in r["ratios"]:
        p(f"{x['concurrency']:>4} {fmt(x['extendCpuWithDbUs']):>9} {x['vsFloor']:>8.2f} {fmt(x.get('vsCfssl'), 2):>8} "
          f"{fmt(x.get('vsCfsslSqlite'), 2):>14} {fmt(x.get('goalUs')):>15}  "
          f"{'-' if 'goalMet' not in x else ('yes' if x['goalMet'] else 'NO')}")
    p(f"controller max RSS (VmHWM) at the end: {r['serverMaxRssKiB'] / 1024:.0f} MiB")


def print_summary(r: dict[str, Any]) -> None:
    """The table of issue 11, one column per database and revision."""
    runs = r["runs"]
    if not runs:
        return
    heads = [f"{run['database']} {run['revision']}" for run in runs]
    width = max(24, *(len(h) + 2 for h in heads))
    p = print
    p("Summary (issue 11): extend = one extend request's server CPU (+ PostgreSQL backends), extend-only phase")
    p(f"{'measurement':<44}" + "".join(f"{h:>{width}}" for h in heads) + "   goal")

    def row(label: str, cells: list[str], goal: str) -> None:
        p(f"{label:<44}" + "".join(f"{c:>{width}}" for c in cells) + f"   {goal}")

    def ratio_cells(key: str) -> list[str]:
        cells = []
        for run in runs:
            values = [fmt(x.get(key), 1) + "×" if x.get(key) is not None else "-" for x in run["ratios"]]
            cells.append(" / ".join(values))
        return cells

    conc = "/".join(str(c) for c in r["concurrency"])
    row(f"extend vs cfssl serve + SQLite row (c={conc})", ratio_cells("vsCfsslSqlite"), "≤ 1.5×")
    row(f"extend vs cryptography floor (c={conc})", ratio_cells("vsFloor"), "≤ 3×")
    top = max(r["concurrency"])
    cells_e, cells_v, cells_rate = [], [], []
    for run in runs:
        level = next(lv for lv in run["levels"] if lv["concurrency"] == top)
        lat = level["cycles"]["latency_ms"]
        cells_e.append(f"{fmt(lat.get('extend', {}).get('p50'), 1)} / {fmt(lat.get('extend', {}).get('p99'), 1)}")
        cells_v.append(f"{fmt(lat.get('verify', {}).get('p50'), 1)} / {fmt(lat.get('verify', {}).get('p99'), 1)}")
        cells_rate.append(f"{level['cycles']['unitsPerSecond']:.1f}")
    row(f"extend p50 / p99 ms, cycles at c={top}", cells_e, "(saturated: latency = clients / rate)")
    cells_pe, cells_pc = [], []
    for run in runs:
        paced = run.get("paced")
        lat = paced["phase"]["latency_ms"] if paced else {}
        cells_pe.append(f"{fmt(lat.get('extend', {}).get('p50'), 1)} / {fmt(lat.get('extend', {}).get('p99'), 1)}" if paced else "-")
        cells_pc.append(f"{fmt(lat.get('cycle', {}).get('p50'), 1)} / {fmt(lat.get('cycle', {}).get('p99'), 1)}" if paced else "-")
    fraction = next((run["paced"]["fraction"] for run in runs if run.get("paced")), None)
    if fraction is not None:
        row(f"extend p50 / p99 ms, paced at {fraction:.0%}, c={top}", cells_pe, "p99 < 50 (SQLite), < 100 (PostgreSQL)")
        row("cycle p50 / p99 ms from due time, paced", cells_pc, "")
    row(f"verify p50 / p99 ms, cycles at c={top}", cells_v, "")
    row(f"extend+verify cycles/s at c={top}", cells_rate, "")
    row("GET /version keep-alive, server µs/req",
        [fmt(run["calibration"]["keepAliveVersion"]["serverCpuUsPerRequest"]) for run in runs], "")
    row("errors (all phases)",
        [str(sum(sum(lv[k]["errors"].values()) for lv in run["levels"] for k in ("cycles", "extendOnly"))
             + (sum(run["paced"]["phase"]["errors"].values()) if run.get("paced") else 0)) for run in runs], "0")


if __name__ == "__main__":
    sys.exit(main())
