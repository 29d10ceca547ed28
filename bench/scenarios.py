#!/usr/bin/env python
"""End-to-end scenarios against one controller: create -> enroll -> cert login -> extend -> verify.

    python bench/scenarios.py                              # 1,000 scenarios, concurrency 8, SQLite and PostgreSQL
    python bench/scenarios.py --scenarios 200 --backends sqlite
    python bench/scenarios.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/benchdb
    python bench/scenarios.py --json > out.json; python bench/scenarios.py --report out.json

One scenario is what a test suite does for each identity it needs, over HTTPS as an SDK does it:
  create  admin POST /edge/management/v1/identities (OTT enrollment) + GET of its detail (the JWT);
  enroll  the SDK enrollment (JWT checked against the server certificate, GET /.well-known/est/cacerts,
          POST /edge/client/v1/enroll?method=ott with a CSR from a new EC P-256 key);
  login   a new mTLS connection with the enrolled certificate, POST /authenticate?method=cert;
  extend  POST .../current-identity/authenticators/{id}/extend with a CSR, on that connection;
  verify  POST .../extend-verify with the returned certificate, on that connection.

The controller is `python -m controller serve --mode fixture` in a subprocess (as bench/extend.py). Scenarios run
in batches (`--batch`, default 100: that many mTLS connections stay open between steps); within a batch each
step runs for every scenario of the batch on `--concurrency` client threads before the next step starts, so
that the controller's CPU (user + system from /proc/<pid>/stat, read around each step) is attributed to one
step. PostgreSQL backends' CPU is measured as in bench/extend.py and reported apart. Client work (key
generation, CSR signing, TLS on the client side) runs on the same machine but is not in the controller's CPU.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common
from _common import log, percentile
from extend import PgBackendMeter, PgScratch

STEPS = ("create", "enroll", "login", "extend", "verify")
GOAL_CPU_SECONDS_PER_1000 = 10.0


@dataclass
class Scenario:
    index: int
    name: str = ""
    id: str = ""
    jwt: str = ""
    cert_pem: str = ""
    key_pem: str = ""
    ca_pem: str = ""
    csr_pem: str = ""
    authenticator_id: str = ""
    new_cert: str = ""
    conn: Any = None
    failed: str | None = None


@dataclass
class StepTotals:
    wall: float = 0.0
    cpu: float = 0.0
    db_cpu: float = 0.0
    done: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


class Driver:
    """The five steps, each for one scenario; admin connections are one per client thread."""

    def __init__(self, server: common.ServerProcess):
        self.server = server
        self._local = threading.local()
        self._admins: list[Any] = []
        self._admins_lock = threading.Lock()

    def _admin(self):
        admin = getattr(self._local, "admin", None)
        if admin is None:
            from controller.client.http import Connection, tls_context

            admin = Connection(self.server.url, tls_context(ca_file=self.server.ca_bundle))
            admin.login_password(self.server.ready["admin"]["username"], self.server.ready["admin"]["password"])
            self._local.admin = admin
            with self._admins_lock:
                self._admins.append(admin)
        return admin

    def close(self) -> None:
        with self._admins_lock:
            for admin in self._admins:
                admin.close()
            self._admins.clear()

    def create(self, s: Scenario) -> None:
        admin = self._admin()
        s.name = f"scenario-{s.index:05d}-{os.urandom(3).hex()}"
        created = admin.data("POST", "/edge/management/v1/identities",
                             json_body={"name": s.name, "type": "Default", "isAdmin": False, "enrollment": {"ott": True}})
        s.id = created["id"]
        s.jwt = admin.data("GET", f"/edge/management/v1/identities/{s.id}")["enrollment"]["ott"]["jwt"]

    def enroll(self, s: Scenario) -> None:
        from controller.client.enroll import enroll_ott

        identity = enroll_ott(s.jwt, key_type="ec-p256")
        s.cert_pem, s.key_pem, s.ca_pem = identity.cert, identity.key, identity.ca
        s.csr_pem = common.make_csr_pem(s.key_pem, s.id)  # for the extension (client CPU, as the key generation)

    def login(self, s: Scenario) -> None:
        from controller.client.http import Connection, tls_context

        s.conn = Connection(self.server.url, tls_context(ca_pem=s.ca_pem, cert_pem=s.cert_pem, key_pem=s.key_pem))
        session = s.conn.login_cert()
        s.conn.session_token = session["token"]
        s.authenticator_id = session.get("authenticatorId") or next(
            a["id"] for a in s.conn.data("GET", "/edge/client/v1/current-identity/authenticators") if a["method"] == "cert")

    def extend(self, s: Scenario) -> None:
        base = f"/edge/client/v1/current-identity/authenticators/{s.authenticator_id}"
        s.new_cert = s.conn.data("POST", f"{base}/extend", json_body={"clientCertCsr": s.csr_pem})["clientCert"]

    def verify(self, s: Scenario) -> None:
        base = f"/edge/client/v1/current-identity/authenticators/{s.authenticator_id}"
        s.conn.data("POST", f"{base}/extend-verify", json_body={"clientCert": s.new_cert})
        s.conn.close()
        s.conn = None


def _error_key(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:120]


def run_scenarios(server: common.ServerProcess, count: int, concurrency: int, batch: int, pg_db: str | None) -> dict[str, Any]:
    driver = Driver(server)
    totals = {step: StepTotals() for step in STEPS}
    scenarios = [Scenario(i) for i in range(count)]
    cpu_start, wall_start = common.cpu_seconds(server.pid), time.perf_counter()
    db_total = 0.0
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            for first in range(0, count, batch):
                group = scenarios[first:first + batch]
                for step in STEPS:
                    action = getattr(driver, step)
                    t = totals[step]

                    def one(s: Scenario, action=action, t=t) -> None:  # noqa: ANN001
                        if s.failed:
                            return
                        t0 = time.perf_counter()
                        try:
                            action(s)
                        except Exception as exc:  # noqa: BLE001 - counted and reported
                            s.failed = step
                            key = _error_key(exc)
                            t.errors[key] = t.errors.get(key, 0) + 1
                            if s.conn is not None:
                                s.conn.close()
                                s.conn = None
                            return
                        t.latencies.append(time.perf_counter() - t0)
                        t.done += 1

                    meter = PgBackendMeter(pg_db).start() if pg_db else None
                    cpu0, t0 = common.cpu_seconds(server.pid), time.perf_counter()
                    list(pool.map(one, group))
                    t.wall += time.perf_counter() - t0
                    t.cpu += common.cpu_seconds(server.pid) - cpu0
                    if meter:
                        used = meter.stop()
                        t.db_cpu += used
                        db_total += used
                log(f"    {min(first + batch, count)}/{count} scenarios")
    finally:
        driver.close()
    wall, cpu = time.perf_counter() - wall_start, common.cpu_seconds(server.pid) - cpu_start
    completed = sum(1 for s in scenarios if not s.failed)
    steps = {}
    for step, t in totals.items():
        lat = t.latencies or [0.0]
        steps[step] = {"done": t.done, "wallSeconds": t.wall, "cpuSeconds": t.cpu, "dbCpuSeconds": t.db_cpu,
                       "cpuMsPerScenario": 1000 * t.cpu / max(t.done, 1), "dbCpuMsPerScenario": 1000 * t.db_cpu / max(t.done, 1),
                       "p50Ms": 1000 * percentile(lat, 50), "p99Ms": 1000 * percentile(lat, 99), "errors": t.errors}
    return {"scenarios": count, "completed": completed, "concurrency": concurrency, "batch": batch,
            "wallSeconds": wall, "cpuSeconds": cpu, "dbCpuSeconds": db_total,
            "cpuMsPerScenario": 1000 * cpu / max(completed, 1), "steps": steps,
            "cpuSecondsPer1000": cpu * 1000 / max(completed, 1)}


def measure(database: str, url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    log(f"{database}: starting the controller ...")
    server = common.start_server(database_url=url)
    try:
        at_ready = common.cpu_seconds(server.pid)
        pg_db = url.rsplit("/", 1)[1].split("?")[0] if url and url.startswith("postgresql") else None
        log(f"{database}: {args.scenarios} scenarios at concurrency {args.concurrency} ...")
        result = run_scenarios(server, args.scenarios, args.concurrency, args.batch, pg_db)
        result["database"] = database
        result["cpuAtReadySeconds"] = at_ready
        result["maxRssKiB"] = common.status_kib(server.pid, "VmHWM")
    finally:
        server.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=1000, help="scenarios per database (default 1000)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--batch", type=int, default=100, help="scenarios per batch (default 100; their connections stay open between steps)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="databases, in one run (default sqlite,postgresql)")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server (any database on it): a throw-away database is created there and dropped")
    parser.add_argument("--database-url", help="run only on this SQLAlchemy URL (instead of --backends)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout (progress goes to stderr)")
    parser.add_argument("--report", metavar="FILE", help="print the report of a saved --json output and exit")
    args = parser.parse_args(argv)
    if args.report:
        print_report(json.loads(Path(args.report).read_text()))
        return 0
    if args.scenarios < 1 or args.concurrency < 1 or args.batch < 1:
        parser.error("--scenarios, --concurrency and --batch must be at least 1")
    args.scenarios = min(args.scenarios, 100_000)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not args.database_url and (not backends or set(backends) - {"sqlite", "postgresql"}):
        parser.error("--backends takes sqlite and/or postgresql")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(), "python": platform.python_version(),
        "loadavgBefore": common.loadavg(), "runs": [],
    }
    if args.database_url:
        name = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
        results["runs"].append(measure(name, args.database_url, args))
    for backend in ([] if args.database_url else backends):
        if backend == "postgresql":
            with PgScratch(args.postgres_url) as url:
                results["runs"].append(measure("postgresql", url, args))
        else:
            results["runs"].append(measure("sqlite", None, args))
    results["loadavgAfter"] = common.loadavg()
    if args.json:
        print(json.dumps(common.json_safe(results), indent=2))
    else:
        print_report(results)
    return 0


def print_report(r: dict[str, Any]) -> None:
    p = print
    p(f"ziti-controller-sim scenarios benchmark  {r['date']}  {r['cpus']} CPUs  Python {r['python']}  "
      f"load avg {' '.join(r['loadavgBefore'])} -> {' '.join(r['loadavgAfter'])}")
    p("create -> enroll -> cert login -> extend -> verify; controller CPU = user + system of the serving process")
    for run in r["runs"]:
        pg = run["database"] == "postgresql"
        goal = run["cpuSecondsPer1000"] <= GOAL_CPU_SECONDS_PER_1000
        p("")
        p(f"{run['database']}: {run['completed']} of {run['scenarios']} scenarios, concurrency {run['concurrency']}, "
          f"batches of {run['batch']}")
        p(f"  wall {run['wallSeconds']:.1f} s   controller CPU {run['cpuSeconds']:.1f} s"
          + (f" + PostgreSQL backends {run['dbCpuSeconds']:.1f} s" if pg else "")
          + f"   {run['cpuMsPerScenario']:.1f} ms CPU per scenario   "
          f"per 1,000: {run['cpuSecondsPer1000']:.1f} s (goal < {GOAL_CPU_SECONDS_PER_1000:.0f} s: {'met' if goal else 'NOT met'})")
        p(f"  controller CPU at its ready line {run['cpuAtReadySeconds']:.2f} s (not counted above); max RSS "
          f"{run['maxRssKiB'] / 1024:.0f} MiB")
        p(f"  {'step':<8} {'done':>6} {'CPU ms/scen':>11}" + (f" {'pg ms/scen':>10}" if pg else "")
          + f" {'share':>6} {'p50 ms':>8} {'p99 ms':>8} {'wall s':>7}  errors")
        for step in STEPS:
            s = run["steps"][step]
            share = 100 * s["cpuSeconds"] / run["cpuSeconds"] if run["cpuSeconds"] else 0.0
            errors = "; ".join(f"{n}× {k}" for k, n in s["errors"].items()) or "-"
            p(f"  {step:<8} {s['done']:>6} {s['cpuMsPerScenario']:>11.2f}" + (f" {s['dbCpuMsPerScenario']:>10.2f}" if pg else "")
              + f" {share:>5.0f}% {s['p50Ms']:>8.1f} {s['p99Ms']:>8.1f} {s['wallSeconds']:>7.1f}  {errors}")


if __name__ == "__main__":
    sys.exit(main())
