"""Server CPU per request for a ladder of endpoints, each adding one layer to the one before: what the
framework, the transaction + session, and the extend service each cost. One keep-alive mTLS connection,
sequential requests, server CPU from /proc (the controller runs as `serve --mode fixture`).

    python bench/ladder.py [--requests 400] [--database-url URL]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import client_context, cpu_seconds, enroll_many, start_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="measured requests per rung (at most 5000)")
    parser.add_argument("--database-url", help="SQLAlchemy URL of an empty database (default: SQLite)")
    args = parser.parse_args()
    count = max(10, min(args.requests, 5000))

    from controller.client.http import Connection

    server = start_server(database_url=args.database_url)
    try:
        (ident,) = enroll_many(server, 1, prefix="ladder")
        base = f"/edge/client/v1/current-identity/authenticators/{ident.authenticator_id}"
        rungs = [
            ("GET /version", "async route, no dependency", "GET", "/version", None),
            ("GET /current-api-session", "+ transaction, sim row, session lookup (3 thread hops)", "GET", "/edge/client/v1/current-api-session", None),
            ("GET …/authenticators/{id}", "+ one more lookup and the detail", "GET", base, None),
            ("POST …/authenticators/{id}/extend", "+ CSR check, signing, lock, journal, update", "POST", f"{base}/extend",
             {"clientCertCsr": ident.csr_pem}),
        ]
        print(f"server CPU per request, {count} sequential keep-alive requests per rung, pid {server.pid}")
        with Connection(server.url, client_context(ident)) as conn:
            conn.session_token = ident.session_token
            previous = None
            for name, what, method, path, body in rungs:
                for _ in range(30):  # warm-up: statement caches, connection, TLS session
                    conn.request(method, path, json_body=body)
                before = cpu_seconds(server.pid)
                for _ in range(count):
                    conn.request(method, path, json_body=body)
                micros = (cpu_seconds(server.pid) - before) / count * 1e6
                step = f"(+{micros - previous:,.0f})" if previous is not None else ""
                print(f"{micros:8,.0f} µs {step:>10}  {name:<36} {what}")
                previous = micros
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
