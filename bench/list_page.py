#!/usr/bin/env python
"""List pages at any offset over 100k rows, on SQLite and PostgreSQL (issue 11, "lists").

    python bench/list_page.py                          # both databases, 100000 rows, 5 calls per page
    python bench/list_page.py --compare-with main      # the same for another revision, in the same run
    python bench/list_page.py --backend sqlite --rows 20000 --repeat 3

Per database and revision: a fresh database (SQLite file in a temp dir, or a throw-away PostgreSQL database
on --postgres-url's server, dropped afterwards), `python -m controller serve --mode fixture` on it in a
subprocess, then N identities with one updb authenticator each inserted directly in bulk (PostgreSQL:
VACUUM ANALYZE afterwards, what autovacuum does after a bulk insert). Each page of `GET /edge/management/v1/
authenticators` and `/identities` (limit 25 at offsets 0, 25k, 50k and rows-25, unfiltered and with a simple
filter that every inserted row matches) is then fetched over one keep-alive mTLS admin connection; with
--compare-with the revisions' servers run side by side and the calls alternate between them.

Printed per page: end-to-end wall ms per call (min / median, client and server on this machine), the
controller process's CPU ms per call (utime+stime from /proc; on PostgreSQL the backend's own work is not in
it, only in the wall time), and the list service alone, in-process without HTTP (bench/_list_inproc.py, run
with each revision's code): its wall ms min (on PostgreSQL including the database server's work) and its
thread's CPU ms min (on SQLite all of the database work, the steadiest figure on a loaded machine).
Only 127.0.0.1 is contacted; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
from list_filter import insert_identities  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

MGMT = "/edge/management/v1"
# (list, filter label, filter): each filter matches every inserted row, so deep offsets stay inside the answer
LISTS = [
    ("authenticators", "unfiltered", None),
    ("authenticators", 'method = "updb"', 'method = "updb"'),
    ("identities", "unfiltered", None),
    ("identities", "isAdmin = false", "isAdmin = false"),
]
LIMIT = 25


def offsets(rows: int) -> list[int]:
    return [0, rows // 4, rows // 2, rows - LIMIT]


@dataclass
class Target:
    label: str  # "this checkout" or the revision
    database: str  # its own database URL
    repo: Path | None  # None: this checkout
    server: common.ServerProcess | None = None
    cache: Path | None = None
    results: dict[tuple[str, str, int], dict[str, float]] = field(default_factory=dict)


def start(target: Target, rows: int, workdir: Path) -> None:
    env = None
    if target.repo is not None:
        target.cache = Path(tempfile.mkdtemp(prefix="ziti-bench-cache-"))
        env = {**os.environ, "XDG_CACHE_HOME": str(target.cache), "PYTHONPATH": str(target.repo)}
    common.log(f"starting the controller for {target.label} ...")
    target.server = common.start_server(database_url=target.database, env=env, cwd=target.repo,
                                        stderr_path=workdir / f"controller-{secrets.token_hex(3)}.log")
    common.log(f"  inserting {rows} identities + authenticators ...")
    common.log(f"  inserted in {insert_identities(target.database, rows):.1f} s")
    if target.database.startswith("postgresql"):
        # What autovacuum does after a bulk insert (its insert threshold), done at once: statistics for the
        # planner and the visibility map that lets an index-only scan skip the heap.
        engine = create_engine(target.database, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for table in ("identities", "authenticators"):
                conn.execute(text(f"VACUUM ANALYZE {table}"))
        engine.dispose()


def measure(targets: list[Target], rows: int, repeat: int) -> None:
    for target in targets:  # warm-up: the connection, the login, the first compile of each statement
        for entity, _, zql in LISTS:
            call(target, page_path(entity, zql, 0))
    for entity, label, zql in LISTS:
        for offset in offsets(rows):
            path = page_path(entity, zql, offset)
            samples: dict[str, list[float]] = {t.label: [] for t in targets}
            cpu: dict[str, float] = {t.label: 0.0 for t in targets}
            answer: dict[str, tuple[int, int]] = {}
            for _ in range(repeat):
                for target in targets:  # alternate the revisions call by call
                    cpu_before = common.cpu_seconds(target.server.pid)
                    start = time.perf_counter()
                    body = call(target, path)
                    samples[target.label].append((time.perf_counter() - start) * 1000)
                    cpu[target.label] += common.cpu_seconds(target.server.pid) - cpu_before
                    answer[target.label] = (len(body["data"]), body["meta"]["pagination"]["totalCount"])
            for target in targets:
                wall = samples[target.label]
                target.results[(entity, label, offset)] = {
                    "min": min(wall), "median": statistics.median(wall), "cpu": cpu[target.label] * 1000 / repeat,
                    "rows": answer[target.label][0], "total": answer[target.label][1]}


def measure_in_process(targets: list[Target], rows: int, repeat: int) -> None:
    """The same pages through the list services in-process (bench/_list_inproc.py, one subprocess per
    revision with that revision's code), revisions alternating list by list."""
    for entity, label, zql in LISTS:
        pages = [(entity, zql, offset, LIMIT) for offset in offsets(rows)]
        for target in targets:
            env = {**os.environ, "PYTHONPATH": str(target.repo or common.REPO)}
            job = json.dumps({"database": target.database, "repeat": repeat, "pages": pages})
            done = subprocess.run([sys.executable, str(Path(__file__).with_name("_list_inproc.py"))], input=job,
                                  capture_output=True, text=True, env=env, cwd=target.repo or common.REPO, check=True)
            for offset, timing in zip(offsets(rows), json.loads(done.stdout)):
                target.results[(entity, label, offset)]["inproc"] = timing


def page_path(entity: str, zql: str | None, offset: int) -> str:
    query = f"limit={LIMIT}&offset={offset}"
    if zql:
        query += "&filter=" + quote(zql)
    return f"{MGMT}/{entity}?{query}"


def call(target: Target, path: str) -> dict:
    body, _ = target.server.admin().request("GET", path)
    return body


def report(backend: str, targets: list[Target], rows: int, load_before: list[str]) -> None:
    print(f"\n== {backend}, {rows} identities + {rows} authenticators, limit {LIMIT}; load avg "
          f"{' '.join(load_before)} -> {' '.join(common.loadavg())}")
    print("   http: wall ms per call end to end, min / median; cpu: the controller process's CPU ms per call (mean)")
    print("   svc: the list service in-process (no HTTP), ms per call: wall min (PostgreSQL: incl. the server's work) /"
          " this thread's CPU min (SQLite: all the database work; PostgreSQL: the client side only)")
    header = f"   {'list':<15} {'filter':<17} {'offset':>6}"
    for target in targets:
        header += f" | {target.label[:13]:<13} {'http':>11} {'cpu':>4} {'svc':>11}"
    print(header + f" | {'rows':>4} {'totalCount':>10}")
    for entity, label, _ in LISTS:
        for offset in offsets(rows):
            line = f"   {entity:<15} {label:<17} {offset:>6}"
            for target in targets:
                r = target.results[(entity, label, offset)]
                svc = r.get("inproc", {})
                line += (f" | {'':<13} {r['min']:>5.1f}/{r['median']:<5.1f} {r['cpu']:>4.1f} "
                         f"{svc.get('wallMin', float('nan')):>5.1f}/{svc.get('cpuMin', float('nan')):<5.1f}")
            r = targets[0].results[(entity, label, offset)]
            print(line + f" | {r['rows']:>4} {r['total']:>10}")
    totals = {(t.label, k): (r["rows"], r["total"]) for t in targets for k, r in t.results.items()}
    if len(targets) > 1 and any(totals[(targets[0].label, k)] != totals[(t.label, k)] for t in targets[1:] for k in t.results):
        print("   NOTE: the revisions answered with different rows or totalCount on some page")


def run(backend: str, args: argparse.Namespace, workdir: Path) -> None:
    revisions: list[tuple[str, Path | None]] = [("this checkout", None)]
    exported: list[Path] = []
    if args.compare_with:
        exported.append(common.checkout(args.compare_with))
        revisions.append((args.compare_with, exported[-1]))
    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT") if backend == "postgresql" else None
    targets: list[Target] = []
    try:
        for label, repo in revisions:
            if admin is not None:
                name = f"ziti_bench_page_{secrets.token_hex(4)}"
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                url = args.postgres_url.rsplit("/", 1)[0] + f"/{name}"
            else:
                url = f"sqlite:///{workdir}/{secrets.token_hex(4)}.sqlite"
            targets.append(Target(label, url, repo))
            start(targets[-1], args.rows, workdir)
        load_before = common.loadavg()
        measure(targets, args.rows, args.repeat)
        measure_in_process(targets, args.rows, args.repeat)
        report(backend, targets, args.rows, load_before)
    finally:
        for target in targets:
            if target.server is not None:
                target.server.stop()
            if target.cache is not None:
                shutil.rmtree(target.cache, ignore_errors=True)
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database.rsplit("/", 1)[1]}" WITH (FORCE)'))
        if admin is not None:
            admin.dispose()
        for path in exported:
            shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rows", type=int, default=100_000, help="identities (and as many authenticators) to insert")
    parser.add_argument("--repeat", type=int, default=5, help="calls per page and revision")
    parser.add_argument("--compare-with", metavar="REV", help="measure this git revision too, side by side")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if not 100 <= args.rows <= 1_000_000 or not 1 <= args.repeat <= 50:
        parser.error("--rows between 100 and 1000000, --repeat between 1 and 50")
    print(f"ziti-controller-sim list page benchmark  {time.strftime('%Y-%m-%dT%H:%M:%S%z')}  {os.cpu_count()} CPUs  "
          f"Python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ziti-bench-") as workdir:
        for backend in (["sqlite", "postgresql"] if args.backend == "both" else [args.backend]):
            run(backend, args, Path(workdir))


if __name__ == "__main__":
    main()
