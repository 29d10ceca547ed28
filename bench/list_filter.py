#!/usr/bin/env python
"""Filtered list pages at 100k identities, on SQLite and PostgreSQL (issue 10, "Lists stay fast").

    python bench/list_filter.py                       # both databases, 100000 identities, 5 timed calls each
    python bench/list_filter.py --backend sqlite --identities 20000 --repeat 3

The identities (and one updb authenticator each) are inserted directly in bulk (multi-row INSERTs of 2000 rows) into a fresh controller's
database; then each filter is fetched through the management API over mTLS, as a client would, and the
wall time per call is printed (min / median): the first page, a deep offset, and `totalCount`. The
PostgreSQL leg creates a throw-away database on --postgres-url's server and drops it afterwards. Only
127.0.0.1 is contacted; nothing is asserted.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from controller.store.models import Authenticator, Identity  # noqa: E402
from controller.testing.harness import ControllerHarness  # noqa: E402

API = "/edge/management/v1/identities"
QUERIES = [  # (label, query string)
    ("no filter, first page", "limit=10"),
    ("no filter, offset 99990", "limit=10&offset=99990"),
    ("name =", "filter=" + quote('name = "id-054321"')),
    ("(id or name) and tag present", "filter=" + quote('(id="nope" or name="id-054321") and tags.app != null')),
    ("tag =, first page", "filter=" + quote('tags.app = "web"')),
    ("tag =, offset 40000", "limit=10&offset=40000&filter=" + quote('tags.app = "web"')),
    ("hyphen tag =", "filter=" + quote('tags.app-role = "instance" and tags.tier > 2')),
    ("anyOf(roleAttributes) =", "filter=" + quote('anyOf(roleAttributes) = "r7"')),
    ("name contains, sort by createdAt desc", "filter=" + quote('name contains "99" sort by createdAt desc')),
    ("not icontains, skip 50000 limit 25", "filter=" + quote('name not icontains "ID-05" skip 50000 limit 25')),
    ("count(roleAttributes) >= 2 limit 500", "filter=" + quote("count(roleAttributes) >= 2 limit 500")),
]

AUTHENTICATORS = "/edge/management/v1/authenticators"
AUTHENTICATOR_QUERIES = [  # one updb authenticator per identity; the default order is createdAt, id (issue 11)
    ("authenticators, limit 25", "limit=25"),
    ("authenticators, limit 25 offset half", "limit=25&offset={half}"),
]


def insert_identities(url: str, count: int) -> float:
    engine = create_engine(url)
    start = time.perf_counter()
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        for chunk in range(0, count, 10_000):
            rows, authenticators = [], []
            for i in range(chunk, min(chunk + 10_000, count)):
                tags = {"app": "web" if i % 2 else "db", "app-role": "instance" if i % 3 == 0 else "worker", "tier": i % 5}
                rows.append({
                    "id": secrets.token_hex(5), "name": f"id-{i:06d}", "type_id": "Default", "is_admin": False,
                    "is_default_admin": False, "disabled": False, "external_id": None, "auth_policy_id": "default",
                    "default_hosting_cost": 0, "role_attributes": [f"r{i % 10}", f"g{i % 3}"] if i % 4 else [f"r{i % 10}"],
                    "tags": tags, "app_data": {}, "sdk_info": {}, "env_info": {},
                    "created_at": base + timedelta(seconds=i), "updated_at": base + timedelta(seconds=i),
                })
                authenticators.append({
                    "id": secrets.token_hex(5), "identity_id": rows[-1]["id"], "method": "updb", "username": f"user-{i:06d}",
                    "password_hash": "x", "tags": {}, "is_issued_by_network": False, "is_extend_requested": False,
                    "is_key_roll_requested": False, "last_auth_resolved_to_root": False, "last_extend_rolled_keys": False,
                    "created_at": base + timedelta(seconds=i), "updated_at": base + timedelta(seconds=i),
                })
            # multi-row VALUES statements of 2000 rows (under PostgreSQL's 65535 parameters), not executemany:
            # psycopg sends an executemany as one statement per row, and on PostgreSQL every statement on a
            # listed table also fires the row-count trigger (migration 0011_list_paging)
            for start in range(0, len(rows), 2000):
                conn.execute(insert(Identity).values(rows[start:start + 2000]))
                conn.execute(insert(Authenticator).values(authenticators[start:start + 2000]))
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE identities"))
            conn.execute(text("ANALYZE authenticators"))
    engine.dispose()
    return time.perf_counter() - start


def run(backend: str, url: str | None, identities: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ziti-bench-") as workdir:
        harness = ControllerHarness.start(database_url=url, workdir=Path(workdir))
        try:
            db_url = harness.runtime.settings.resolved_database_url()
            print(f"\n== {backend}: inserting {identities} identities ...", flush=True)
            print(f"   inserted in {insert_identities(db_url, identities):.1f} s")
            print(f"   {'query':<42} {'min ms':>8} {'median ms':>10} {'rows':>5} {'totalCount':>10}")
            cases = [(label, API, query) for label, query in QUERIES]
            cases += [(label, AUTHENTICATORS, query.format(half=identities // 2)) for label, query in AUTHENTICATOR_QUERIES]
            for label, path, query in cases:
                timings, body = [], {}
                for _ in range(repeat):
                    start = time.perf_counter()
                    body, _ = harness.admin.request("GET", f"{path}?{query}")
                    timings.append((time.perf_counter() - start) * 1000)
                total = body["meta"]["pagination"]["totalCount"]
                print(f"   {label:<42} {min(timings):8.1f} {statistics.median(timings):10.1f} {len(body['data']):5d} {total:10d}")
        finally:
            harness.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--identities", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if args.identities > 1_000_000 or args.repeat > 50:
        parser.error("at most 1000000 identities and 50 repetitions")
    if args.backend in ("sqlite", "both"):
        run("sqlite", None, args.identities, args.repeat)
    if args.backend in ("postgresql", "both"):
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        name = f"ziti_bench_list_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run("postgresql", args.postgres_url.rsplit("/", 1)[0] + f"/{name}", args.identities, args.repeat)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
