"""`config-type create`, `config create`, `service create` and `policy create`: the management model from the
command line. Roles are written as the ziti CLI takes them: `#attr`, `#all`, `@name` or `@id` (names are
turned into ids here, as the ziti CLI does; the controller itself takes ids only). Each command prints the
new entity's id."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports lazily: `serve` must start fast
    from controller.client.http import Connection

MGMT = "/edge/management/v1"
COMMANDS = ("config-type", "config", "service", "policy")
POLICY_KINDS = {
    "dial": ("service-policies", {"type": "Dial"}, ("identities", "services")),
    "bind": ("service-policies", {"type": "Bind"}, ("identities", "services")),
    "edge-router": ("edge-router-policies", {}, ("identities", "routers")),
    "service-edge-router": ("service-edge-router-policies", {}, ("services", "routers")),
}
_ROLE_FIELDS = {"identities": ("identityRoles", "identities"), "services": ("serviceRoles", "services"),
                "routers": ("edgeRouterRoles", "edge-routers")}


def _json_arg(value: str) -> Any:
    """Inline JSON, or @FILE holding it."""
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None


def _tag(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("tags are KEY=VALUE")
    return key, val


def add_commands(commands: Any, add_connection_options: Callable[[argparse.ArgumentParser], None]) -> None:
    def action(name: str, help_: str, kinds: list[str] | None = None) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_).add_subparsers(dest="action", required=True).add_parser("create", help=help_)
        if kinds:
            parser.add_argument("kind", choices=kinds)
        parser.add_argument("name")
        parser.add_argument("--tag", action="append", type=_tag, default=[], help="KEY=VALUE (repeatable)")
        add_connection_options(parser)
        return parser

    config_type = action("config-type", "create a config type")
    config_type.add_argument("--schema", type=_json_arg, default={}, help="JSON schema (inline or @FILE); empty: no validation")
    config = action("config", "create a config of a config type")
    config.add_argument("--type", required=True, help="config type name or id")
    config.add_argument("--data", type=_json_arg, required=True, help="the config data (inline JSON or @FILE)")
    service = action("service", "create a service with configs and role attributes")
    service.add_argument("--attribute", "-a", action="append", default=[], help="role attribute (repeatable)")
    service.add_argument("--config", "-c", action="append", default=[], help="config name or id (repeatable)")
    service.add_argument("--no-encryption", action="store_true", help="encryptionRequired: false")
    policy = action("policy", "create a service-policy (dial, bind), edge-router-policy or service-edge-router-policy",
                    list(POLICY_KINDS))
    policy.add_argument("--identities", "-i", nargs="+", default=[], help="identity roles: #attr, #all, @name, @id")
    policy.add_argument("--services", "-s", nargs="+", default=[], help="service roles")
    policy.add_argument("--routers", "-r", nargs="+", default=[], help="edge router roles")
    policy.add_argument("--semantic", choices=["AllOf", "AnyOf"], default="AllOf")


def _lookup(conn: Connection, collection: str, value: str) -> str:
    """An id from a name or id (exact name first, as the ziti CLI)."""
    from controller.client.errors import ControllerError

    quoted = json.dumps(value)
    found = conn.data("GET", f"{MGMT}/{collection}?filter={quote(f'name={quoted}')}&limit=2")
    if len(found) == 1:
        return found[0]["id"]
    try:
        return conn.data("GET", f"{MGMT}/{collection}/{quote(value, safe='')}")["id"]
    except ControllerError as error:
        if error.status != 404:
            raise
        raise SystemExit(f"no {collection} named or with id {value!r}") from None


def _roles(conn: Connection, collection: str, values: list[str]) -> list[str]:
    result = []
    for value in values:
        if value.startswith("@"):
            result.append("@" + _lookup(conn, collection, value[1:]))
        elif value.startswith("#"):
            result.append(value)
        else:
            raise SystemExit(f"role {value!r} must start with # (attribute) or @ (name or id)")
    return result


def run(args: argparse.Namespace, conn: Connection) -> int:
    tags = dict(args.tag)
    if args.command == "config-type":
        body = {"name": args.name, "schema": args.schema, "tags": tags}
        collection = "config-types"
    elif args.command == "config":
        body = {"name": args.name, "configTypeId": _lookup(conn, "config-types", args.type), "data": args.data, "tags": tags}
        collection = "configs"
    elif args.command == "service":
        body = {"name": args.name, "encryptionRequired": not args.no_encryption, "roleAttributes": args.attribute,
                "configs": [_lookup(conn, "configs", c) for c in args.config], "tags": tags}
        collection = "services"
    else:
        collection, extra, sides = POLICY_KINDS[args.kind]
        body = {"name": args.name, "semantic": args.semantic, "tags": tags, **extra}
        for side in sides:
            field, entities = _ROLE_FIELDS[side]
            body[field] = _roles(conn, entities, getattr(args, side))
    print(conn.data("POST", f"{MGMT}/{collection}", json_body=body)["id"])
    return 0
