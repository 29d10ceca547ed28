"""`ziti-controller-sim router enroll|run`: a simulated edge router (see controller/router_agent)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from controller.settings import KEY_TYPES


def add_commands(commands: argparse._SubParsersAction) -> None:
    router = commands.add_parser("router", help="a simulated edge router: enroll, then run its control channel")
    router.set_defaults(handler=main)
    actions = router.add_subparsers(dest="action", required=True)
    from controller.cli.main import _add_connection_options

    create = actions.add_parser("create", help="create an edge router (admin) and write its enrollment JWT")
    create.add_argument("name")
    create.add_argument("--jwt-out", required=True, help="file to write the enrollment JWT to")
    _add_connection_options(create)
    enroll = actions.add_parser("enroll", help="erott enrollment over REST, as `ziti router enroll` does")
    enroll.add_argument("--jwt", required=True, help="file holding the router's enrollment JWT")
    enroll.add_argument("--dir", required=True, help="directory for the router's certificates, keys and CA bundle (0600)")
    enroll.add_argument("--key-type", default="ec-p256", choices=KEY_TYPES)
    run = actions.add_parser("run", help="connect over the control channel and renew the certificates a week before expiry")
    run.add_argument("--dir", required=True, help="the directory `router enroll` wrote")
    run.add_argument("--extend", action="store_true", help="extend both certificates at once (as `ziti router run --extend`)")
    run.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])


def main(args: argparse.Namespace) -> int:
    if args.action == "create":
        from controller.cli.main import _admin

        with _admin(args) as conn:
            created = conn.data("POST", "/edge/management/v1/edge-routers", json_body={"name": args.name})
            jwt = conn.data("GET", f"/edge/management/v1/edge-routers/{created['id']}")["enrollmentJwt"]
        from controller.atomic import write_private

        write_private(Path(args.jwt_out), (jwt + "\n").encode())  # 0600: the token enrolls whoever holds it
        print(created["id"])
        return 0
    if args.action == "enroll":
        from controller.client.enroll import read_jwt_file
        from controller.router_agent.enroll import enroll_router

        files = enroll_router(read_jwt_file(Path(args.jwt)), Path(args.dir), key_type=args.key_type)  # errors: cli.errors
        print(f"enrolled router {files.router_id}; certificates and keys in {files.directory}")
        return 0
    from controller.router_agent.agent import ReEnrollmentNeeded, RouterAgent

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    agent = RouterAgent(Path(args.dir), extend_now=args.extend,
                        on_event=lambda e: print(" ".join(f"{k}={v}" for k, v in e.items()), flush=True))
    try:
        asyncio.run(agent.run())
    except ReEnrollmentNeeded as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        pass
    return 0
