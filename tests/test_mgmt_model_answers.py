"""Every management-model answer conforms to the schema the exported documents declare for it, on both
databases, with every list populated (the fuzzer in test_schemathesis mostly sees empty lists and 404s):
config types with and without a target, configs, services, the three policy types with @id and #attribute
roles, every sub-list, the role-attribute catalogues, and client sessions with an enrolled router."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator

from controller.api.openapi import EXPORT_DIR
from controller.testing.network import Network
from test_routers import _enroll

MGMT = "/edge/management/v1"
CLIENT = "/edge/client/v1"


def _documents() -> dict[str, dict]:
    return {name: json.loads((EXPORT_DIR / f"{name}.json").read_text()) for name in ("client", "management")}


class Checked:
    """Calls a route and validates its answer against the declared schema of (operation, status)."""

    def __init__(self, conn, document: dict):
        self.conn, self.document = conn, document
        self.operations: set[str] = set()

    def _operation(self, method: str, path: str) -> dict:
        for template, item in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path) and method.lower() in item:
                return item[method.lower()]
        raise AssertionError(f"{method} {path} is not in the document")

    def __call__(self, method: str, path: str, json_body=None):
        answer, headers = self.conn.request(method, path, json_body=json_body)
        operation = self._operation(method, path.split("?")[0])
        status = "201" if method == "POST" and "201" in operation["responses"] else "200"
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(answer)]
        assert not errors, f"{method} {path} ({operation['operationId']}) does not match its schema: {errors[:5]}"
        self.operations.add(operation["operationId"])
        return answer["data"]


@pytest.fixture
def documents():
    return _documents()


def test_every_management_model_answer_matches_its_schema(ctl, anon, alice, bob, documents):
    net = Network(ctl.admin)
    ctl.admin.data("PATCH", f"{MGMT}/identities/{alice.id}", json_body={"roleAttributes": ["ops"]})
    admin = Checked(ctl.admin, documents["management"])

    typed = admin("POST", f"{MGMT}/config-types", {"name": "host.v1", "target": "service",
                                                   "schema": {"type": "object", "properties": {"port": {"type": "integer"}}}})["id"]
    plain = net.config_type("plain")
    config = admin("POST", f"{MGMT}/configs", {"name": "web-host", "configTypeId": typed, "data": {"port": 80}})["id"]
    web = admin("POST", f"{MGMT}/services", {"name": "web", "encryptionRequired": True, "roleAttributes": ["web"],
                                             "configs": [config]})["id"]
    router, _ = _enroll(ctl, anon, "er-1")
    ctl.admin.data("PATCH", f"{MGMT}/edge-routers/{router.id}", json_body={"roleAttributes": ["edge"]})
    dial = net.service_policy("Dial", identities=["#ops", alice], services="#web", name="dial")
    bind = net.service_policy("Bind", identities=bob, services=web, name="bind")
    erp = net.edge_router_policy(identities=[alice, "#ops"], routers=router.id, name="erp")
    serp = net.service_edge_router_policy(services=web, routers="#all", name="serp")

    for path in ("/config-types", f"/config-types/{typed}", f"/config-types/{plain}", f"/config-types/{typed}/configs",
                 "/configs", f"/configs/{config}", f"/configs/{config}/services", f"/services/{web}/configs",
                 "/services", f"/services/{web}", f"/services?asIdentity={alice.id}&configTypes={typed}",
                 "/identity-role-attributes", "/service-role-attributes", "/edge-router-role-attributes",
                 f"/identities/{alice.id}/service-policies", f"/identities/{alice.id}/edge-router-policies",
                 f"/identities/{alice.id}/services", f"/identities/{alice.id}/edge-routers",
                 f"/services/{web}/service-policies", f"/services/{web}/service-edge-router-policies",
                 f"/services/{web}/identities", f"/services/{web}/edge-routers",
                 f"/edge-routers/{router.id}/edge-router-policies", f"/edge-routers/{router.id}/service-edge-router-policies",
                 f"/edge-routers/{router.id}/identities", f"/edge-routers/{router.id}/services"):
        assert admin("GET", MGMT + path), path  # every one of them has entries to check
    for collection, policy, sides in (("service-policies", dial, ("identities", "services")),
                                      ("edge-router-policies", erp, ("identities", "edge-routers")),
                                      ("service-edge-router-policies", serp, ("services", "edge-routers"))):
        assert admin("GET", f"{MGMT}/{collection}") and admin("GET", f"{MGMT}/{collection}/{policy}")
        for side in sides:
            assert admin("GET", f"{MGMT}/{collection}/{policy}/{side}"), (collection, side)
    assert admin("GET", f"{MGMT}/service-policies/{bind}/posture-checks") == []

    with alice.connect() as conn:
        conn.login_cert()
        client = Checked(conn, documents["client"])
        session = client("POST", f"{CLIENT}/sessions", {"serviceId": web, "type": "Dial"})
        assert session["edgeRouters"] and session["servicePolicies"]
        assert client("GET", f"{CLIENT}/sessions") and client("GET", f"{CLIENT}/sessions/{session['id']}")
        assert client("GET", f"{CLIENT}/services/{web}/edge-routers")["edgeRouters"]
        assert client("GET", f"{CLIENT}/current-identity/edge-routers")
        assert client("GET", f"{CLIENT}/services") and client("GET", f"{CLIENT}/services/{web}")
        assert admin("GET", f"{MGMT}/sessions") and admin("GET", f"{MGMT}/sessions/{session['id']}")
        assert client("DELETE", f"{CLIENT}/sessions/{session['id']}") == {}
        again = client("POST", f"{CLIENT}/sessions", {"serviceId": web})
        assert admin("DELETE", f"{MGMT}/sessions/{again['id']}") == {}

    for collection, entity, body in (("config-types", plain, {"name": "plain-2"}), ("configs", config, {"name": "web-host-2"}),
                                     ("service-policies", dial, {"semantic": "AnyOf"}), ("edge-router-policies", erp, {"name": "erp-2"}),
                                     ("service-edge-router-policies", serp, {"name": "serp-2"})):
        assert admin("PATCH", f"{MGMT}/{collection}/{entity}", body) == {}
    assert admin("PUT", f"{MGMT}/configs/{config}", {"name": "web-host", "data": {"port": 81}}) == {}
    assert admin("PUT", f"{MGMT}/config-types/{plain}", {"name": "plain"}) == {}
    assert admin("PUT", f"{MGMT}/service-policies/{bind}", {"name": "bind", "type": "Bind", "semantic": "AnyOf",
                                                            "identityRoles": ["#all"], "serviceRoles": ["#web"]}) == {}
    assert admin("PUT", f"{MGMT}/edge-router-policies/{erp}", {"name": "erp", "semantic": "AllOf"}) == {}
    assert admin("PUT", f"{MGMT}/service-edge-router-policies/{serp}", {"name": "serp", "semantic": "AllOf"}) == {}
    for collection, entity in (("service-policies", dial), ("edge-router-policies", erp), ("service-edge-router-policies", serp),
                               ("configs", config), ("config-types", plain)):
        assert admin("DELETE", f"{MGMT}/{collection}/{entity}") == {}
    assert admin("GET", f"{MGMT}/configs/{config}/services") == []
    assert admin("GET", f"{MGMT}/services/{web}")["configs"] == []  # the deleted config left the service
