"""Third-party CA commands: `ca create|verify|list|jwt` against a running controller, and the throwaway
external PKI (`pki external-ca`, `pki external-cert`) so that labs and tests need no openssl recipes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.settings import KEY_TYPES

CAS = "/edge/management/v1/cas"


def _bool(text: str) -> bool:
    if text.lower() in ("true", "yes", "1", "on"):
        return True
    if text.lower() in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def register(commands: Any, add_connection_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """`ca ...` commands; their handler is set as `ca_handler`."""
    ca = commands.add_parser("ca", help="register, verify and list third-party CAs").add_subparsers(dest="action", required=True)
    create = ca.add_parser("create", help="register a third-party CA certificate (it starts unverified)")
    create.add_argument("--name", required=True)
    create.add_argument("--cert", required=True, help="PEM file of the CA certificate")
    create.add_argument("--auth", type=_bool, default=True, metavar="BOOL", help="isAuthEnabled (default true)")
    create.add_argument("--auto-enroll", type=_bool, default=True, metavar="BOOL", help="isAutoCaEnrollmentEnabled (default true)")
    create.add_argument("--ottca", type=_bool, default=True, metavar="BOOL", help="isOttCaEnrollmentEnabled (default true)")
    create.add_argument("--role", action="append", default=[], help="identity role given to enrolled identities (repeatable)")
    create.add_argument("--name-format", help="identityNameFormat, e.g. '[caName]-[commonName]'")
    create.add_argument("--external-id-claim", help="externalIdClaim as JSON, e.g. "
                        "'{\"location\":\"SAN_URI\",\"matcher\":\"SCHEME\",\"matcherCriteria\":\"spiffe\",\"parser\":\"NONE\","
                        "\"parserCriteria\":null,\"index\":0}'")
    add_connection_options(create)
    verify = ca.add_parser("verify", help="verify a CA: sign a certificate with its key whose CN is its verificationToken")
    verify.add_argument("id")
    verify.add_argument("--ca-key", required=True, help="PEM file of the CA's private key")
    verify.add_argument("--ca-cert", help="PEM file of the CA certificate (default: the registered certPem)")
    add_connection_options(verify)
    listing = ca.add_parser("list", help="list the registered CAs")
    listing.add_argument("--filter", help="filter expression, e.g. 'isVerified = true'")
    add_connection_options(listing)
    jwt = ca.add_parser("jwt", help="print the CA's auto-enrollment JWT")
    jwt.add_argument("id")
    add_connection_options(jwt)
    for parser in (create, verify, listing, jwt):
        parser.set_defaults(ca_handler=run_ca)


def register_pki(pki: Any) -> None:
    """`pki external-ca` and `pki external-cert`, beside `pki show`."""
    external = pki.add_parser("external-ca", help="make a throwaway external CA (root, optional intermediate; keys 0600)")
    external.add_argument("--out", required=True, help="directory to write it to")
    external.add_argument("--name", default="External Root CA", help="common name of the root")
    external.add_argument("--intermediate", action="store_true", help="also make an intermediate that signs client certificates")
    external.add_argument("--key-type", default="ec-p256", choices=KEY_TYPES)
    external.set_defaults(ca_handler=run_pki)
    client = pki.add_parser("external-cert", help="issue a client certificate from an external CA made by external-ca")
    client.add_argument("--ca", required=True, help="the external CA's directory")
    client.add_argument("--cn", required=True, help="common name")
    client.add_argument("--uri", action="append", default=[], help="URI SAN (repeatable)")
    client.add_argument("--email", action="append", default=[], help="email SAN (repeatable)")
    client.add_argument("--days", type=float, default=365.0, help="lifetime in days (default 365)")
    client.add_argument("--key-type", default="ec-p256", choices=KEY_TYPES)
    client.add_argument("--out", help="directory for <cn>.cert.pem and <cn>.key.pem (default: the CA's directory)")
    client.set_defaults(ca_handler=run_pki)


def run_ca(args: argparse.Namespace, connect_admin: Callable[[argparse.Namespace], Any]) -> int:
    with connect_admin(args) as conn:
        if args.action == "create":
            body: dict[str, Any] = {
                "name": args.name, "certPem": Path(args.cert).read_text(), "isAuthEnabled": args.auth,
                "isAutoCaEnrollmentEnabled": args.auto_enroll, "isOttCaEnrollmentEnabled": args.ottca,
                "identityRoles": args.role,
            }
            if args.name_format:
                body["identityNameFormat"] = args.name_format
            if args.external_id_claim:
                try:
                    body["externalIdClaim"] = json.loads(args.external_id_claim)
                except ValueError as exc:
                    raise SystemExit(f"--external-id-claim is not valid JSON: {exc}") from None
            created = conn.data("POST", CAS, json_body=body)
            result: Any = conn.data("GET", f"{CAS}/{created['id']}")
        elif args.action == "verify":
            result = _verify(conn, args)
        elif args.action == "list":
            from urllib.parse import quote

            query = f"?limit=500&filter={quote(args.filter)}" if args.filter else "?limit=500"
            result = conn.data("GET", f"{CAS}{query}")
        else:
            status, headers, payload = conn.raw("GET", f"{CAS}/{args.id}/jwt", headers={"Accept": "application/jwt"})
            if status != 200:
                from controller.client.errors import ControllerError

                error = json.loads(payload).get("error", {}) if payload.startswith(b"{") else {}
                raise ControllerError(status, error.get("code", "UNKNOWN"), error.get("message", ""), error.get("cause"))
            print(payload.decode())
            return 0
    print(json.dumps(result, indent=2))
    return 0


def _verify(conn: Any, args: argparse.Namespace) -> dict[str, Any]:
    from controller.pki.certs import cert_pem, load_certs_pem
    from controller.pki.issuing import Issuer
    from controller.pki.keys import load_private_key_pem
    from controller.pki.throwaway import verification_cert

    detail = conn.data("GET", f"{CAS}/{args.id}")
    ca_cert = load_certs_pem(Path(args.ca_cert).read_bytes() if args.ca_cert else detail["certPem"])[0]
    proof = verification_cert(Issuer(ca_cert, load_private_key_pem(Path(args.ca_key).read_bytes())), detail["verificationToken"])
    conn.request("POST", f"{CAS}/{args.id}/verify", body=cert_pem(proof).encode(), content_type="text/plain")
    return conn.data("GET", f"{CAS}/{args.id}")


def run_pki(args: argparse.Namespace, _connect_admin: Any = None) -> int:
    from datetime import timedelta

    from controller.pki.throwaway import create_external_ca, issue_external_cert, load_external_ca, save_external_cert

    if args.action == "external-ca":
        ca = create_external_ca(Path(args.out), name=args.name, intermediate=args.intermediate, key_type=args.key_type)
        print(json.dumps({
            "caCert": str(ca.directory / "root-ca.cert.pem"), "caKey": str(ca.directory / "root-ca.key.pem"),
            "intermediateCert": str(ca.directory / "intermediate-ca.cert.pem") if ca.intermediate else None,
        }, indent=2))
        return 0
    try:
        ca = load_external_ca(Path(args.ca))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cert = issue_external_cert(ca, args.cn, uris=args.uri, emails=args.email, key_type=args.key_type,
                               lifetime=timedelta(days=args.days))
    out = Path(args.out) if args.out else ca.directory
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = save_external_cert(cert, out, args.cn)
    print(json.dumps({"cert": str(cert_path), "key": str(key_path)}, indent=2))
    return 0
