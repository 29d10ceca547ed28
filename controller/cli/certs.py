"""`certs expiring --within 30d [--json]` and `identity request-extend --expiring-within 30d`: which identity
and router certificates expire soon (from the admin list `GET /ops/v1/expiring-certificates`,
judged by the controller's simulated clock), and asking every such identity to extend at its next login."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

PAGE = 500


def register(commands: Any, identity: Any, add_connection_options: Callable[[argparse.ArgumentParser], None]) -> None:
    certs = commands.add_parser("certs", help="certificates expiring soon").add_subparsers(dest="action", required=True)
    expiring = certs.add_parser("expiring", help="identity and router certificates expiring within a duration")
    expiring.add_argument("--within", default="30d", help="e.g. 7d, 30d, 12h (default 30d); expired ones are included")
    expiring.add_argument("--type", choices=["identity", "router"], help="only identities or only routers")
    expiring.add_argument("--json", action="store_true", help="print the list as JSON")
    add_connection_options(expiring)
    expiring.set_defaults(handler=_expiring)
    bulk = identity.add_parser("request-extend", help="flag identities whose certificate expires soon to extend at next login")
    bulk.add_argument("--expiring-within", required=True, help="e.g. 30d: every identity certificate expiring within it")
    bulk.add_argument("--roll-keys", action="store_true", help="ask for a new key pair too")
    bulk.add_argument("--dry-run", action="store_true", help="only list what would be flagged")
    add_connection_options(bulk)
    bulk.set_defaults(handler=_request_extend)


def _connect(args: argparse.Namespace):
    from controller.cli.main import _admin

    return _admin(args)


def fetch(conn: Any, within: str, kind: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query = f"within={within}" + (f"&type={kind}" if kind else "")
    while True:
        page = conn.data("GET", f"/ops/v1/expiring-certificates?{query}&limit={PAGE}&offset={len(items)}")
        items.extend(page)
        if len(page) < PAGE:
            return items


def _expiring(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        items = fetch(conn, args.within, args.type)
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    if not items:
        print(f"no certificate expires within {args.within}", file=sys.stderr)
        return 0
    rows = [("TYPE", "NAME", "ID", "AUTHENTICATOR", "CERT", "NOT AFTER", "EXPIRES IN", "LAST EXTENDED")]
    rows += [(i["type"], i["name"], i["id"], i["authenticatorId"] or "-", i["certificate"], i["notAfter"],
              "expired" if i["expired"] else _human(i["expiresInSeconds"]), i["lastExtendedAt"] or "never") for i in items]
    widths = [max(len(str(row[c])) for row in rows) for c in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    return 0


def _request_extend(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        targets = [i for i in fetch(conn, args.expiring_within, "identity") if i["authenticatorId"]]
        foreign = _not_issued_by_network(conn) if targets else set()
        done, skipped = [], []
        for item in targets:
            if item["authenticatorId"] in foreign:
                skipped.append({"identityId": item["id"], "name": item["name"], "authenticatorId": item["authenticatorId"],
                                "notAfter": item["notAfter"],
                                "reason": "certificate not issued by this network: it cannot be extended, only replaced"})
                continue
            if not args.dry_run:
                conn.data("POST", f"/edge/management/v1/authenticators/{item['authenticatorId']}/request-extend",
                          json_body={"rollKeys": args.roll_keys})
            done.append({"identityId": item["id"], "name": item["name"], "authenticatorId": item["authenticatorId"],
                         "notAfter": item["notAfter"]})
    print(json.dumps({"requested": not args.dry_run, "rollKeys": args.roll_keys, "authenticators": done, "skipped": skipped},
                     indent=2))
    return 0


def _not_issued_by_network(conn: Any) -> set[str]:
    """Ids of cert authenticators from a third-party CA (extending them is 409 CAN_NOT_UPDATE_AUTHENTICATOR)."""
    query = quote('method = "cert" and isIssuedByNetwork = false limit none')
    return {a["id"] for a in conn.data("GET", f"/edge/management/v1/authenticators?filter={query}")}


def _human(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    return f"{days}d{rest // 3600}h" if days else f"{rest // 3600}h{rest % 3600 // 60}m"
