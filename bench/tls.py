"""What the TLS layer costs the server: CPU per new mTLS connection (handshake + one request) and per
keep-alive request, for this checkout and, with `--compare-with REV`, for another revision of the project
(for example the last one on the stdlib `ssl` transport) in the same run.

    python bench/tls.py --compare-with c84b1f3
    python bench/tls.py --compare-with main --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Each side runs `serve --mode fixture` in its own process; the figures are that process's CPU time
(user + system, /proc/<pid>/stat) over a bounded number of operations, divided by their count. With
`--postgres-url`, each measurement runs on a throw-away database created on that server and dropped after.
Loopback only; every loop is bounded by count and by time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

from controller.client.http import Connection, tls_context  # noqa: E402


def _checkout(rev: str) -> Path:
    """The project at `rev`, exported to a temporary directory (the code only: the venv is this one's)."""
    target = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    archive = subprocess.run(["git", "-C", str(common.REPO), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    # `python -m controller` imports the package from the working directory; the migrations ship inside it.
    shutil.copytree(target / "migrations", target / "controller" / "_migrations", dirs_exist_ok=True)
    return target


class _ScratchDatabase:
    """A throw-away PostgreSQL database on the server of `admin_url` (None: the fixture's SQLite file)."""

    def __init__(self, admin_url: str | None):
        self.admin_url = admin_url
        self.name = f"ziti_bench_tls_{os.urandom(4).hex()}"

    def __enter__(self) -> str | None:
        if self.admin_url is None:
            return None
        from sqlalchemy import create_engine, text

        self.engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self.admin_url.rsplit("/", 1)[0] + f"/{self.name}"

    def __exit__(self, *exc: object) -> None:
        if self.admin_url is None:
            return
        from sqlalchemy import text

        try:
            with self.engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            self.engine.dispose()


def _measure(label: str, repo: Path, connections: int, requests: int, seconds: float, postgres_url: str | None = None) -> dict[str, float]:
    with _ScratchDatabase(postgres_url) as database_url:
        return _measure_on(label, repo, connections, requests, seconds, database_url)


def _measure_on(label: str, repo: Path, connections: int, requests: int, seconds: float, database_url: str | None) -> dict[str, float]:
    original_repo = common.REPO
    common.REPO = repo
    cache = tempfile.mkdtemp(prefix="bench-tls-cache-")
    try:
        server = common.start_server(database_url=database_url, env={**os.environ, "XDG_CACHE_HOME": cache, "PYTHONPATH": str(repo)})
    finally:
        common.REPO = original_repo
    try:
        ident = common.enroll_many(server, 1, prefix=f"tls-{label}", threads=1)[0]
        context = tls_context(ca_pem=ident.ca_pem, cert_pem=ident.cert_pem, key_pem=ident.key_pem)
        result: dict[str, float] = {}

        # New connection each time: TCP + full TLS handshake with a client certificate + GET /version.
        deadline, done = time.monotonic() + seconds, 0
        before = common.cpu_seconds(server.pid)
        while done < connections and time.monotonic() < deadline:
            with Connection(server.url, context) as conn:
                conn.data("GET", "/edge/client/v1/version")
            done += 1
        result["handshake_ms"] = (common.cpu_seconds(server.pid) - before) / done * 1000

        # Keep-alive: one connection, many requests.
        with Connection(server.url, context) as conn:
            conn.data("GET", "/edge/client/v1/version")
            for path, key in (("/edge/client/v1/version", "version_ms"),):
                deadline, done = time.monotonic() + seconds, 0
                before = common.cpu_seconds(server.pid)
                while done < requests and time.monotonic() < deadline:
                    conn.data("GET", path)
                    done += 1
                result[key] = (common.cpu_seconds(server.pid) - before) / done * 1000
            conn.login_cert()
            deadline, done = time.monotonic() + seconds, 0
            before = common.cpu_seconds(server.pid)
            while done < requests and time.monotonic() < deadline:
                conn.data("GET", "/edge/client/v1/current-identity")
                done += 1
            result["current_identity_ms"] = (common.cpu_seconds(server.pid) - before) / done * 1000
        return result
    finally:
        server.stop()
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare-with", metavar="REV", help="also measure this git revision (e.g. the stdlib-ssl one)")
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound per phase")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is printed")
    parser.add_argument("--postgres-url", metavar="URL",
                        help="run on PostgreSQL: a throw-away database on this URL's server per measurement (default: SQLite)")
    args = parser.parse_args(argv)

    sides = [("this checkout", common.REPO)]
    other: Path | None = None
    if args.compare_with:
        other = _checkout(args.compare_with)
        sides.append((args.compare_with, other))
    try:
        samples: dict[str, list[dict[str, float]]] = {label: [] for label, _ in sides}
        for round_number in range(args.rounds):
            for label, repo in sides:  # alternate, so that load drift hits both sides alike
                common.log(f"round {round_number + 1}: {label}")
                samples[label].append(_measure(label.replace(" ", "-"), repo, args.connections, args.requests, args.seconds,
                                                args.postgres_url))
    finally:
        if other is not None:
            shutil.rmtree(other, ignore_errors=True)

    load = os.getloadavg()
    database = "postgresql" if args.postgres_url else "sqlite"
    print(f"server CPU per operation on {database}, median of {args.rounds} rounds "
          f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    print(f"{'side':<16} {'new mTLS conn + GET':>22} {'keep-alive GET /version':>24} {'keep-alive GET /current-identity':>33}")
    for label, runs in samples.items():
        figures = [common.median([r[key] for r in runs]) for key in ("handshake_ms", "version_ms", "current_identity_ms")]
        print(f"{label:<16} {figures[0]:>19.3f} ms {figures[1]:>21.3f} ms {figures[2]:>30.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
