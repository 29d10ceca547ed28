"""Runs `orchestrator_walkthrough.py` against the plugin's controller and checks what each step did, from the
management side and from the two identities' side (their services, permissions, configs and sessions)."""

from __future__ import annotations

import pytest

from controller.client.errors import ControllerError
from orchestrator_walkthrough import MGMT, build, find, teardown

CLIENT = "/edge/client/v1"


@pytest.fixture
def deployment(ziti_controller, ziti_identity):
    host, client = ziti_identity(name="echo-host"), ziti_identity(name="echo-client")
    router = ziti_controller.admin.data("POST", f"{MGMT}/edge-routers", json_body={"name": "er-walkthrough"})["id"]
    built = build(ziti_controller.admin, host_identity=host.id, client_identity=client.id, router=router)
    return built, host, client


def test_walkthrough_builds_a_working_service_and_tears_it_down(ziti_controller, deployment):
    built, host, client = deployment
    admin = ziti_controller.admin
    with client.connect() as conn:
        conn.login_cert()
        (service,) = conn.data("GET", f"{CLIENT}/services?configTypes=all")
        assert service["id"] == built.service and service["permissions"] == ["Dial"]
        assert service["config"] == {"echo-host.v1": {"protocol": "tcp", "address": "127.0.0.1", "port": 7}}
        session = conn.data("POST", f"{CLIENT}/sessions", json_body={"serviceId": built.service, "type": "Dial"})
        assert [r["name"] for r in session["edgeRouters"]] == ["er-walkthrough"]
        with pytest.raises(ControllerError) as refused:
            conn.data("POST", f"{CLIENT}/sessions", json_body={"serviceId": built.service, "type": "Bind"})
        assert (refused.value.status, refused.value.code) == (400, "COULD_NOT_VALIDATE")
    with host.connect() as conn:
        conn.login_cert()
        assert conn.data("POST", f"{CLIENT}/sessions", json_body={"serviceId": built.service, "type": "Bind"})["type"] == "Bind"
    # the schema holds: a config the type's schema refuses is refused
    with pytest.raises(ControllerError) as invalid:
        admin.data("POST", f"{MGMT}/configs", json_body={"name": "bad", "configTypeId": built.config_type,
                                                          "data": {"protocol": "icmp", "address": "x", "port": 7}})
    assert (invalid.value.status, invalid.value.cause["field"]) == (400, "protocol")

    teardown(admin, built)
    for collection in ("service-policies", "edge-router-policies", "service-edge-router-policies", "services", "configs",
                       "config-types", "sessions"):
        assert admin.data("GET", f"{MGMT}/{collection}") == [], collection
    with client.connect() as conn:
        conn.login_cert()
        assert conn.data("GET", f"{CLIENT}/services") == []


# Real orchestrators find their objects again with ZitiQL tag filters (tags.<name>, `!= null`, parentheses, `or`).
def test_walkthrough_finds_everything_by_tag_filters(ziti_controller, deployment):
    built, _, _ = deployment
    try:
        found = find(ziti_controller.admin, built)
    finally:
        teardown(ziti_controller.admin, built)
    assert found == {
        "services": [built.service],
        "configs": [built.config],
        "config-types": [built.config_type],
        "service-policies": sorted([built.bind_policy, built.dial_policy]),
        "edge-router-policies": [built.edge_router_policy],
        "service-edge-router-policies": [built.service_edge_router_policy],
    }


def test_one_line_setups_with_the_ziti_network_fixture(ziti_identity, ziti_network):
    alice = ziti_identity(name="alice")
    svc = ziti_network.service("svc")
    ziti_network.allow(alice, svc, "Dial")  # alice may dial svc
    ziti_network.route(alice, svc)  # and a router both router policies reach
    with alice.connect() as conn:
        conn.login_cert()
        session = conn.data("POST", f"{CLIENT}/sessions", json_body={"serviceId": svc, "type": "Dial"})
    assert session["serviceId"] == svc and len(session["edgeRouters"]) == 1
