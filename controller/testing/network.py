"""Factories for the management model, so a test sets up "alice may dial svc" in one line:

    def test_dial(ziti_controller, ziti_identity, ziti_network):
        alice = ziti_identity("alice")
        svc = ziti_network.service("svc")
        ziti_network.allow(alice, svc, "Dial")          # a service-policy @alice -> @svc
        ziti_network.route(alice, svc)                   # a router both policies reach, so POST /sessions succeeds

Entities may be given as ids, as objects with an `.id` (an EnrolledIdentity) or as roles (`#attr`, `@id`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

import pytest

from controller.client.http import Connection

MGMT = "/edge/management/v1"


def role(entity: Any) -> str:
    if isinstance(entity, str):
        return entity if entity.startswith(("#", "@")) else f"@{entity}"
    return f"@{entity.id}"


def roles(entities: Any) -> list[str]:
    if entities is None:
        return []
    if isinstance(entities, str) or hasattr(entities, "id"):
        entities = [entities]
    return [role(e) for e in entities]


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


class Network:
    def __init__(self, admin: Connection):
        self.admin = admin

    def _create(self, collection: str, body: dict[str, Any]) -> str:
        return self.admin.data("POST", f"{MGMT}/{collection}", json_body=body)["id"]

    def config_type(self, name: str | None = None, schema: dict[str, Any] | None = None, **tags: Any) -> str:
        return self._create("config-types", {"name": name or _name("ct"), "schema": schema or {}, "tags": tags})

    def config(self, config_type_id: str, data: dict[str, Any], name: str | None = None, **tags: Any) -> str:
        return self._create("configs", {"name": name or _name("cfg"), "configTypeId": config_type_id, "data": data, "tags": tags})

    def service(self, name: str | None = None, *, attributes: Iterable[str] = (), configs: Iterable[str] = (),
                encryption_required: bool = True, **tags: Any) -> str:
        return self._create("services", {"name": name or _name("svc"), "encryptionRequired": encryption_required,
                                         "roleAttributes": list(attributes), "configs": list(configs), "tags": tags})

    def router(self, name: str | None = None, *, attributes: Iterable[str] = ()) -> str:
        return self._create("edge-routers", {"name": name or _name("er"), "roleAttributes": list(attributes)})

    def service_policy(self, type: str = "Dial", *, identities: Any = None, services: Any = None, semantic: str = "AllOf",
                       name: str | None = None, **tags: Any) -> str:
        return self._create("service-policies", {"name": name or _name(f"sp-{type.lower()}"), "type": type, "semantic": semantic,
                                                 "identityRoles": roles(identities), "serviceRoles": roles(services), "tags": tags})

    def edge_router_policy(self, *, identities: Any = None, routers: Any = None, semantic: str = "AllOf",
                           name: str | None = None, **tags: Any) -> str:
        return self._create("edge-router-policies", {"name": name or _name("erp"), "semantic": semantic,
                                                     "identityRoles": roles(identities), "edgeRouterRoles": roles(routers), "tags": tags})

    def service_edge_router_policy(self, *, services: Any = None, routers: Any = None, semantic: str = "AllOf",
                                   name: str | None = None, **tags: Any) -> str:
        return self._create("service-edge-router-policies", {"name": name or _name("serp"), "semantic": semantic,
                                                             "serviceRoles": roles(services), "edgeRouterRoles": roles(routers), "tags": tags})

    def allow(self, identity: Any, service: Any, type: str = "Dial") -> str:
        """One service-policy: `identity` may `type` (Dial or Bind) `service`."""
        return self.service_policy(type, identities=identity, services=service)

    def route(self, identity: Any, service: Any, router: str | None = None) -> str:
        """A router (created unless given) reachable by `identity` and allowed for `service`: what a session needs."""
        router = router or self.router()
        self.edge_router_policy(identities=identity, routers=router)
        self.service_edge_router_policy(services=service, routers=router)
        return router


@pytest.fixture
def ziti_network(ziti_controller: Any) -> Network:
    return Network(ziti_controller.admin)
