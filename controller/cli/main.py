"""The `ziti-controller-sim` command."""

from __future__ import annotations

import argparse
import os
import json
import sys
from pathlib import Path
from typing import Any

from controller import __version__
from controller.cli.errors import CliError, UsageError


_SETTING_FLAGS = ("data_dir", "address", "bind", "database_url", "mode", "log_level", "ctrl_address")


def _settings(args: argparse.Namespace):
    from controller.settings import Settings

    overrides: dict[str, Any] = {}
    for name in _SETTING_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _flags_given(args: argparse.Namespace) -> dict[str, str]:
    """Setting name -> the option that set it on this command line (for error messages)."""
    return {name: "--" + name.replace("_", "-") for name in _SETTING_FLAGS if getattr(args, name, None) is not None}


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory of the controller (CA bundle and admin password)")
    parser.add_argument("--controller", help="controller URL (default: https://<address>)")
    parser.add_argument("--ca", help="CA bundle to trust (default: <data-dir>/pki/ca-bundle.pem)")
    parser.add_argument("--username", help="admin username")
    parser.add_argument("--password", help="admin password (default: ZITI_SIM_ADMIN_PASSWORD or <data-dir>/admin-password)")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only="serve"`, the top level and `serve` alone (what a `serve` command
    line parses against: the other commands' parsers and modules are not needed to start a controller)."""
    parser = argparse.ArgumentParser(prog="ziti-controller-sim", description="A simulated OpenZiti controller.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the controller")
    serve.add_argument("--data-dir", help="where the PKI, database and admin password live (default ./ziti-sim-data)")
    serve.add_argument("--address", help="advertised HOST:PORT, also bound unless --bind (default 127.0.0.1:1280)")
    serve.add_argument("--bind", help="HOST:PORT to bind when it differs from --address")
    serve.add_argument("--ctrl-address", help="router control channel HOST:PORT (default 127.0.0.1:6262; 0 or off disables)")
    serve.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in the data directory)")
    serve.add_argument("--mode", choices=["mock", "fixture", "lab"], help="mock (default), fixture or lab")
    serve.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    if only == "serve":
        return parser

    from controller.cli import ca as ca_cli
    from controller.cli import network
    from controller.settings import KEY_TYPES

    identity = commands.add_parser("identity", help="create, enroll and extend identities").add_subparsers(dest="action", required=True)
    create = identity.add_parser("create", help="create an identity with an OTT enrollment and print its JWT")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="make it an admin")
    create.add_argument("--jwt-out", help="write the enrollment JWT to this file instead of printing it")
    _add_connection_options(create)
    enroll = identity.add_parser("enroll", help="enroll with a JWT, as an SDK does, and write the identity file")
    enroll.add_argument("--jwt", required=True, help="file holding the enrollment JWT")
    enroll.add_argument("--out", required=True, help="identity file to write")
    enroll.add_argument("--key-type", default="ec-p256", choices=KEY_TYPES)
    extend = identity.add_parser("extend", help="extend the identity file's certificate, verify it, rewrite the file")
    extend.add_argument("--identity", required=True, help="identity file (rewritten; the old one is kept as .bak)")
    extend.add_argument("--roll-key", action="store_true", help="use a new private key")

    sim = commands.add_parser("sim", help="control a running controller's simulation (clock, faults, journal, reset)")
    sim_commands = sim.add_subparsers(dest="action", required=True)
    clock = sim_commands.add_parser("clock", help="show or move the simulated clock")
    clock.add_argument("operation", nargs="?", default="show", choices=["show", "advance", "set", "freeze", "unfreeze", "reset"])
    clock.add_argument("value", nargs="?", help="a duration for advance (e.g. 8d, -1h, 90s), an RFC 3339 time for set")
    _add_connection_options(clock)
    reset = sim_commands.add_parser("reset", help="back to a clean network (same PKI and admin)")
    _add_connection_options(reset)
    faults = sim_commands.add_parser("faults", help="list, add or clear fault rules")
    faults.add_argument("operation", nargs="?", default="list", choices=["list", "add", "delete", "clear"])
    faults.add_argument("--id", help="rule id, for delete")
    faults.add_argument("--method", default="*")
    faults.add_argument("--path", help="glob over the request path, e.g. '*/extend'")
    faults.add_argument("--status", type=int)
    faults.add_argument("--code")
    faults.add_argument("--delay-ms", type=int, default=0)
    faults.add_argument("--drop", action="store_true")
    faults.add_argument("--probability", type=float, default=1.0)
    faults.add_argument("--times", type=int)
    faults.add_argument("--seed", type=int, default=0)
    _add_connection_options(faults)
    snapshots = sim_commands.add_parser("snapshots", help="list, save, restore or delete named snapshots")
    snapshots.add_argument("operation", nargs="?", default="list", choices=["list", "save", "restore", "delete"])
    snapshots.add_argument("name", nargs="?")
    _add_connection_options(snapshots)
    policy = sim_commands.add_parser("policy", help="show or override lifetimes and the expired-certificate rule")
    policy.add_argument("operation", nargs="?", choices=["show", "set"], help="default: set when a flag is given, else show")
    policy.add_argument("--identity-cert-lifetime", help="e.g. 10s, 1h, 365d; 'default' clears the override")
    policy.add_argument("--router-cert-lifetime", help="edge router certificates, e.g. 1h, 365d; 'default' clears the override")
    policy.add_argument("--enrollment-lifetime", help="e.g. 30s, 180m; 'default' clears the override")
    policy.add_argument("--session-timeout", help="e.g. 2m, 30m; 'default' clears the override")
    policy.add_argument("--allow-expired-certs", choices=["true", "false", "default"])
    _add_connection_options(policy)
    events = sim_commands.add_parser("events", help="print the event journal")
    events.add_argument("--kind")
    events.add_argument("--identity-id")
    _add_connection_options(events)

    from controller.cli import router as router_cli

    router_cli.add_commands(commands)

    openapi = commands.add_parser("openapi", help="write our OpenAPI documents (client, management, sim)")
    openapi.add_argument("--out-dir", help="directory to write them to (default: ./openapi)")

    from controller.cli import certs

    certs.register(commands, identity, _add_connection_options)

    network.add_commands(commands, _add_connection_options)  # config-type, config, service, policy

    pki = commands.add_parser("pki", help="inspect the internal PKI").add_subparsers(dest="action", required=True)
    show = pki.add_parser("show", help="print the CA hierarchy and server certificate")
    show.add_argument("--data-dir")
    ca_cli.register_pki(pki)
    ca_cli.register(commands, _add_connection_options)
    return parser


def _negative_durations_last(argv: list[str]) -> list[str]:
    """argparse takes `-1h` for an option: move `advance -1h` after `--` at the end of the line, so that
    `sim clock advance -1h --data-dir D` reads as the user meant it."""
    for index, token in enumerate(argv[:-1]):
        value = argv[index + 1]
        if token == "--":
            break  # already written the way argparse wants it
        if token == "advance" and value.startswith("-") and len(value) > 1 and (value[1].isdigit() or value[1] == "."):
            return [*argv[:index], *argv[index + 2 :], "--", token, value]
    return argv


def main(argv: list[str] | None = None) -> int:
    words = _negative_durations_last(list(sys.argv[1:] if argv is None else argv))
    args = build_parser(only="serve" if words[:1] == ["serve"] else None).parse_args(words)
    from controller.cli.errors import explain

    try:
        return _run(args)
    except BrokenPipeError:
        # The reader went away (`... | head`): the command's work is done and nobody reads the rest. Send what
        # is still buffered nowhere, so the interpreter's final flush does not fail again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # one place turns every failure a user can fix into one line
        problem = explain(error, flags=_flags_given(args))
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return problem.exit_code


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "ca_handler", None):
        return args.ca_handler(args, _admin)
    if getattr(args, "handler", None):
        return args.handler(args)
    if args.command == "serve":
        from controller.cli.serve import serve

        return serve(_settings(args))
    if args.command == "identity":
        return _identity(args)
    if args.command == "sim":
        return _sim(args)
    if args.command == "pki":
        return _pki(args)
    from controller.cli import network

    if args.command in network.COMMANDS:
        with _admin(args) as conn:
            return network.run(args, conn)
    if args.command == "openapi":
        from controller.api import openapi

        for path in openapi.export(Path(args.out_dir or "openapi")):
            print(f"wrote {path}", file=sys.stderr)
        return 0
    return 2


def _admin(args: argparse.Namespace):
    from controller.cli.admin import connect_admin

    return connect_admin(_settings(args), controller=args.controller, ca=args.ca, username=args.username, password=args.password)


def _identity(args: argparse.Namespace) -> int:
    if args.action == "create":
        with _admin(args) as conn:
            created = conn.data("POST", "/edge/management/v1/identities",
                                json_body={"name": args.name, "type": "Default", "isAdmin": args.admin, "enrollment": {"ott": True}})
            detail = conn.data("GET", f"/edge/management/v1/identities/{created['id']}")
        jwt = detail["enrollment"]["ott"]["jwt"]
        if args.jwt_out:
            from controller.atomic import write_private

            write_private(Path(args.jwt_out), (jwt + "\n").encode())  # 0600: the token enrolls whoever holds it
            print(f"created identity {args.name} ({created['id']}); enrollment JWT written to {args.jwt_out}", file=sys.stderr)
        else:
            print(jwt)
        return 0
    if args.action == "enroll":
        from controller.client.enroll import enroll_ott, read_jwt_file

        identity = enroll_ott(read_jwt_file(Path(args.jwt)), key_type=args.key_type)
        identity.save(args.out)
        print(f"enrolled; identity written to {args.out}", file=sys.stderr)
        return 0
    from controller.client.extend import extend_identity

    result = extend_identity(args.identity, roll_key=args.roll_key)
    print(json.dumps({
        "authenticatorId": result.authenticator_id, "oldFingerprint": result.old_fingerprint,
        "newFingerprint": result.new_fingerprint, "rolledKey": result.rolled_key, "notAfter": result.not_after,
        "backup": str(result.backup) if result.backup else None, "recovered": result.recovered,
    }, indent=2))
    return 0


def _policy_body(args: argparse.Namespace) -> dict[str, Any]:
    """The overrides given as flags ('default' clears one: null)."""
    fields = {"identityCertLifetime": args.identity_cert_lifetime, "routerCertLifetime": args.router_cert_lifetime,
              "enrollmentLifetime": args.enrollment_lifetime,
              "sessionTimeout": args.session_timeout, "allowExpiredCerts": args.allow_expired_certs}
    return {k: (None if v == "default" else {"true": True, "false": False}.get(v, v)) for k, v in fields.items() if v is not None}


def _sim(args: argparse.Namespace) -> int:
    if args.action == "faults" and args.operation == "delete" and not args.id:
        raise UsageError("sim faults delete needs --id RULE_ID (or use 'sim faults clear' to delete every rule)")
    if args.action == "snapshots" and args.operation != "list" and not args.name:
        raise UsageError(f"sim snapshots {args.operation} needs a snapshot name")
    if args.action == "clock" and args.operation in ("advance", "set") and not args.value:
        raise UsageError("sim clock advance needs a duration, e.g. 8d" if args.operation == "advance"
                         else "sim clock set needs an RFC 3339 time, e.g. 2030-01-01T00:00:00Z")
    if args.action == "policy" and args.operation == "set" and not _policy_body(args):
        raise UsageError("sim policy set needs a flag, e.g. --identity-cert-lifetime 10s (or 'default' to clear it)")
    if args.action == "policy" and args.operation == "show" and _policy_body(args):
        raise UsageError("sim policy show takes no flags; use 'sim policy set' to change the policy")
    with _admin(args) as conn:
        if args.action == "clock":
            op, value = args.operation, args.value
            if op == "show":
                result = conn.data("GET", "/sim/v1/clock")
            elif op == "advance":
                result = conn.data("POST", "/sim/v1/clock/advance", json_body={"by": value})
            elif op == "set":
                result = conn.data("PUT", "/sim/v1/clock", json_body={"now": value})
            else:
                result = conn.data("POST", f"/sim/v1/clock/{op}")
        elif args.action == "reset":
            result = conn.data("POST", "/sim/v1/reset")
        elif args.action == "faults":
            if args.operation == "list":
                result = conn.data("GET", "/sim/v1/faults")
            elif args.operation == "add":
                body = {"method": args.method, "path": args.path, "status": args.status, "code": args.code,
                        "delayMs": args.delay_ms, "dropConnection": args.drop, "probability": args.probability,
                        "times": args.times, "seed": args.seed}
                result = conn.data("POST", "/sim/v1/faults", json_body={k: v for k, v in body.items() if v is not None})
            elif args.operation == "delete":
                result = conn.data("DELETE", f"/sim/v1/faults/{args.id}")
            else:
                result = conn.data("DELETE", "/sim/v1/faults")
        elif args.action == "snapshots":
            if args.operation == "list":
                result = conn.data("GET", "/sim/v1/snapshots")
            elif args.operation == "save":
                result = conn.data("POST", "/sim/v1/snapshots", json_body={"name": args.name})
            elif args.operation == "restore":
                result = conn.data("POST", f"/sim/v1/snapshots/{args.name}/restore")
            else:
                result = conn.data("DELETE", f"/sim/v1/snapshots/{args.name}")
        elif args.action == "policy":
            body = _policy_body(args)
            if body:
                result = conn.data("PUT", "/sim/v1/policy", json_body=body)
            else:
                result = conn.data("GET", "/sim/v1/policy")
        else:
            query = "&".join(f"{k}={v}" for k, v in (("kind", args.kind), ("identityId", args.identity_id)) if v)
            result = conn.data("GET", f"/sim/v1/events?{query}")
    print(json.dumps(result, indent=2))
    return 0


def _pki(args: argparse.Namespace) -> int:
    from controller.pki.certs import fingerprint, load_certs_pem

    settings = _settings(args)
    directory = settings.data_dir / "pki"
    for name in ("root-ca", "intermediate-ca", "edge-signer", "server"):
        path = directory / f"{name}.cert.pem"
        if not path.exists():
            raise CliError(f"no PKI in {directory}: start the controller once with this --data-dir")
        cert = load_certs_pem(path.read_bytes())[0]
        print(f"{name}:\n  subject  {cert.subject.rfc4514_string()}\n  issuer   {cert.issuer.rfc4514_string()}\n"
              f"  valid    {cert.not_valid_before_utc.isoformat()} .. {cert.not_valid_after_utc.isoformat()}\n"
              f"  sha1     {fingerprint(cert)}")
    print(f"CA bundle: {directory / 'ca-bundle.pem'}")
    return 0
