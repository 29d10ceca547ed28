"""What an orchestrator does with the management API, end to end, against a real or simulated controller:

1. a config type (with a JSON schema) and a config of that type;
2. a service carrying the config, tagged for the orchestrator;
3. a Bind service-policy for the hosting identity and a Dial service-policy for the client identity;
4. an edge-router-policy and a service-edge-router-policy, so sessions find a router;
5. finding everything again by tag filters, as orchestrators search: `(id="X" or name="x") and tags.app != null`
   and `tags.app-role="instance"` (ZitiQL);
6. tearing it all down (policies, service, config, config type), leaving nothing behind.

Run against a controller (e.g. `ziti-controller-sim serve` in another shell):

    python examples/orchestrator_walkthrough.py --url https://127.0.0.1:1280 --ca ziti-sim-data/pki/ca-bundle.pem \\
        --password "$(cat ziti-sim-data/admin-password)" --host-identity HOST_ID --client-identity CLIENT_ID

`examples/test_orchestrator_walkthrough.py` runs it in CI with the pytest plugin.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from urllib.parse import quote

from controller.client.http import Connection, tls_context

MGMT = "/edge/management/v1"
APP = "walkthrough"
SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["protocol", "address", "port"],
    "properties": {"protocol": {"enum": ["tcp", "udp"]}, "address": {"type": "string"},
                   "port": {"type": "integer", "minimum": 1, "maximum": 65535}},
    "additionalProperties": False,
}


@dataclass
class Deployment:
    config_type: str
    config: str
    service: str
    bind_policy: str
    dial_policy: str
    edge_router_policy: str
    service_edge_router_policy: str
    router: str


def _create(admin: Connection, collection: str, body: dict) -> str:
    return admin.data("POST", f"{MGMT}/{collection}", json_body=body)["id"]


def build(admin: Connection, *, host_identity: str, client_identity: str, router: str, name: str = "echo") -> Deployment:
    tags = {"app": APP, "app-role": "instance"}
    config_type = _create(admin, "config-types", {"name": f"{name}-host.v1", "schema": SCHEMA, "tags": tags})
    config = _create(admin, "configs", {"name": f"{name}-host", "configTypeId": config_type,
                                        "data": {"protocol": "tcp", "address": "127.0.0.1", "port": 7}, "tags": tags})
    service = _create(admin, "services", {"name": name, "encryptionRequired": True, "configs": [config],
                                          "roleAttributes": [f"{name}-service"], "tags": tags})
    bind = _create(admin, "service-policies", {"name": f"{name}-bind", "type": "Bind", "semantic": "AllOf",
                                               "identityRoles": [f"@{host_identity}"], "serviceRoles": [f"@{service}"], "tags": tags})
    dial = _create(admin, "service-policies", {"name": f"{name}-dial", "type": "Dial", "semantic": "AllOf",
                                               "identityRoles": [f"@{client_identity}"], "serviceRoles": [f"#{name}-service"], "tags": tags})
    erp = _create(admin, "edge-router-policies", {"name": f"{name}-routers", "semantic": "AllOf", "edgeRouterRoles": [f"@{router}"],
                                                  "identityRoles": [f"@{host_identity}", f"@{client_identity}"], "tags": tags})
    serp = _create(admin, "service-edge-router-policies", {"name": f"{name}-service-routers", "semantic": "AllOf",
                                                           "edgeRouterRoles": ["#all"], "serviceRoles": [f"@{service}"], "tags": tags})
    return Deployment(config_type, config, service, bind, dial, erp, serp, router)


def _filter(admin: Connection, collection: str, expression: str) -> list[dict]:
    return admin.data("GET", f"{MGMT}/{collection}?filter={quote(expression)}&limit=100")


def find(admin: Connection, deployment: Deployment, name: str = "echo") -> dict[str, list[str]]:
    """Orchestrator-style searches (ZitiQL): by id or name, among entities carrying the app tag, and by tag value."""
    by_id_or_name = f'(id="{deployment.service}" or name="{name}") and tags.app != null'
    by_role = 'tags.app-role="instance"'
    return {
        "services": [s["id"] for s in _filter(admin, "services", by_id_or_name)],
        "configs": [c["id"] for c in _filter(admin, "configs", by_role)],
        "config-types": [c["id"] for c in _filter(admin, "config-types", by_role)],
        "service-policies": sorted(p["id"] for p in _filter(admin, "service-policies", by_role)),
        "edge-router-policies": [p["id"] for p in _filter(admin, "edge-router-policies", by_role)],
        "service-edge-router-policies": [p["id"] for p in _filter(admin, "service-edge-router-policies", by_role)],
    }


def teardown(admin: Connection, deployment: Deployment) -> None:
    """Policies first, then the service, its config and the config type (a type with configs cannot go)."""
    for collection, entity_id in [
        ("service-policies", deployment.dial_policy), ("service-policies", deployment.bind_policy),
        ("edge-router-policies", deployment.edge_router_policy),
        ("service-edge-router-policies", deployment.service_edge_router_policy),
        ("services", deployment.service), ("configs", deployment.config), ("config-types", deployment.config_type),
    ]:
        admin.data("DELETE", f"{MGMT}/{collection}/{entity_id}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", required=True)
    parser.add_argument("--host-identity", required=True)
    parser.add_argument("--client-identity", required=True)
    parser.add_argument("--keep", action="store_true", help="leave the entities in place")
    args = parser.parse_args()
    with Connection(args.url, tls_context(ca_file=args.ca)) as admin:
        admin.login_password(args.username, args.password)
        router = _create(admin, "edge-routers", {"name": "walkthrough-router"})
        deployment = build(admin, host_identity=args.host_identity, client_identity=args.client_identity, router=router)
        print(json.dumps({"created": asdict(deployment), "found": find(admin, deployment)}, indent=2))
        if not args.keep:
            teardown(admin, deployment)
            admin.data("DELETE", f"{MGMT}/edge-routers/{router}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
