"""The management model over real mTLS on both databases: config types and configs, services in full, the
three policy types, role resolution after every kind of change, sub-lists, catalogues, client sessions and
the /edge/v1 alias."""

from __future__ import annotations

import pytest

from conftest import error_of
from controller.client.errors import ControllerError
from controller.testing.network import Network
from test_routers import _enroll

MGMT = "/edge/management/v1"
CLIENT = "/edge/client/v1"
HOST_SCHEMA = {"type": "object", "required": ["port"], "properties": {"port": {"type": "integer", "maximum": 65535},
                                                                     "address": {"type": "string"}}}


@pytest.fixture
def net(ctl) -> Network:
    return Network(ctl.admin)


def _error(call, *args, **kwargs) -> ControllerError:
    with pytest.raises(ControllerError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value


def _client_services(identity, query: str = "") -> dict[str, dict]:
    with identity.connect() as conn:
        conn.login_cert()
        return {s["name"]: s for s in conn.data("GET", f"{CLIENT}/services?limit=500{query}")}


# --- config types and configs --------------------------------------------------------------------------


def test_config_type_and_config_crud_with_schema_validation(ctl, net):
    admin = ctl.admin
    type_id = net.config_type("host.v1", HOST_SCHEMA)
    detail = admin.data("GET", f"{MGMT}/config-types/{type_id}")
    assert detail["name"] == "host.v1" and detail["schema"] == HOST_SCHEMA
    config_id = net.config(type_id, {"port": 80, "address": "a"}, name="web-host")
    config = admin.data("GET", f"{MGMT}/configs/{config_id}")
    assert config["configTypeId"] == type_id and config["configType"]["name"] == "host.v1"
    assert config["configType"]["entity"] == "config-types" and config["data"] == {"port": 80, "address": "a"}

    bad = _error(admin.data, "POST", f"{MGMT}/configs", json_body={"name": "x", "configTypeId": type_id, "data": {"port": "80"}})
    assert (bad.status, bad.code, bad.cause["field"]) == (400, "COULD_NOT_VALIDATE", "port")
    missing = _error(admin.data, "POST", f"{MGMT}/configs", json_body={"name": "x", "configTypeId": type_id, "data": {}})
    assert (missing.status, missing.cause["field"]) == (400, "(root)")
    not_object = _error(admin.data, "POST", f"{MGMT}/configs", json_body={"name": "x", "configTypeId": type_id, "data": [1]})
    assert not_object.cause["reason"] == "invalid type, expected object"
    unknown_type = _error(admin.data, "POST", f"{MGMT}/configs", json_body={"name": "x", "configTypeId": "nope", "data": {}})
    assert (unknown_type.cause["field"], unknown_type.cause["reason"]) == ("type", "invalid config type")
    duplicate = _error(admin.data, "POST", f"{MGMT}/configs", json_body={"name": "web-host", "configTypeId": type_id, "data": {"port": 1}})
    assert (duplicate.status, duplicate.code, duplicate.cause["field"]) == (400, "COULD_NOT_VALIDATE", "name")

    # PUT replaces data (validated again); PATCH changes only what it names; the type never changes.
    admin.data("PUT", f"{MGMT}/configs/{config_id}", json_body={"name": "web-host", "data": {"port": 443}})
    assert admin.data("GET", f"{MGMT}/configs/{config_id}")["data"] == {"port": 443}
    admin.data("PATCH", f"{MGMT}/configs/{config_id}", json_body={"tags": {"app": "web"}})
    patched = admin.data("GET", f"{MGMT}/configs/{config_id}")
    assert patched["tags"] == {"app": "web"} and patched["data"] == {"port": 443}
    assert _error(admin.data, "PATCH", f"{MGMT}/configs/{config_id}", json_body={"data": {"port": 70000}}).status == 400

    # An empty schema disables validation, as orchestrators create them.
    free = net.config_type("free", {})
    net.config(free, {"anything": ["goes"]})
    assert [c["name"] for c in admin.data("GET", f"{MGMT}/config-types/{type_id}/configs")] == ["web-host"]


@pytest.mark.parametrize("body, field, reason", [
    ({"name": "all"}, "name", "all is a keyword and may not be used as a config type name"),
    ({"name": "t", "schema": {"type": "string"}}, "schema", "invalid config type schema, root type must be object"),
    ({"name": "t", "schema": {"type": "object", "properties": {"a": {"type": 5}}}}, "schema", None),
])
def test_config_type_rules(ctl, body, field, reason):
    error = _error(ctl.admin.data, "POST", f"{MGMT}/config-types", json_body=body)
    assert (error.status, error.code, error.cause["field"]) == (400, "COULD_NOT_VALIDATE", field)
    if reason:
        assert error.cause["reason"] == reason


def test_config_deletes(ctl, net):
    type_id = net.config_type("t")
    config_id = net.config(type_id, {"a": 1})
    service_id = net.service("svc", configs=[config_id])
    error = _error(ctl.admin.data, "DELETE", f"{MGMT}/config-types/{type_id}")
    assert (error.status, error.code) == (500, "UNHANDLED")  # the real answer: a plain store error
    assert ctl.admin.data("DELETE", f"{MGMT}/configs/{config_id}") == {}
    assert ctl.admin.data("GET", f"{MGMT}/services/{service_id}")["configs"] == []
    assert ctl.admin.data("DELETE", f"{MGMT}/config-types/{type_id}") == {}
    assert _error(ctl.admin.data, "GET", f"{MGMT}/config-types/{type_id}").status == 404


# --- services ------------------------------------------------------------------------------------------


def test_service_crud_configs_and_config_map(ctl, net, alice):
    admin = ctl.admin
    missing = _error(admin.data, "POST", f"{MGMT}/services", json_body={"name": "svc"})
    assert (missing.status, missing.code, missing.cause["field"]) == (400, "COULD_NOT_VALIDATE", "encryptionRequired")
    host = net.config_type("host.v1", HOST_SCHEMA)
    intercept = net.config_type("intercept.v1")
    host_cfg = net.config(host, {"port": 22})
    other_host = net.config(host, {"port": 23})
    intercept_cfg = net.config(intercept, {"addresses": ["ssh.ziti"]})
    assert _error(net.service, "x", configs=["nope"]).status == 404
    two = _error(net.service, "x", configs=[host_cfg, other_host])
    assert (two.status, two.cause["field"]) == (400, "configs")
    hashed = _error(net.service, "x", attributes=["#bad"])
    assert (hashed.cause["field"], hashed.cause["reason"]) == ("roleAttributes", "role attributes may not be prefixed with #")

    service_id = net.service("ssh", attributes=["b", "a"], configs=[host_cfg, intercept_cfg], app="web")
    detail = admin.data("GET", f"{MGMT}/services/{service_id}")
    assert detail["roleAttributes"] == ["b", "a"] and detail["configs"] == [host_cfg, intercept_cfg]
    assert detail["encryptionRequired"] is True and detail["permissions"] == ["Invalid"] and detail["tags"] == {"app": "web"}
    admin.data("PATCH", f"{MGMT}/services/{service_id}", json_body={"encryptionRequired": False, "configs": [host_cfg]})
    assert admin.data("GET", f"{MGMT}/services/{service_id}")["configs"] == [host_cfg]
    admin.data("PUT", f"{MGMT}/services/{service_id}", json_body={"name": "ssh2", "encryptionRequired": True,
                                                                   "configs": [host_cfg, intercept_cfg]})
    detail = admin.data("GET", f"{MGMT}/services/{service_id}")
    assert detail["name"] == "ssh2" and detail["roleAttributes"] == [] and detail["encryptionRequired"] is True

    # The config map: keyed by type name; types by name or id, `all`; unknown ones ignored.
    net.allow(alice, service_id)
    assert _client_services(alice, "&configTypes=all")["ssh2"]["config"] == {"host.v1": {"port": 22}, "intercept.v1": {"addresses": ["ssh.ziti"]}}
    assert _client_services(alice, f"&configTypes=host.v1&configTypes={intercept}&configTypes=nope")["ssh2"]["config"].keys() == {"host.v1", "intercept.v1"}
    assert _client_services(alice)["ssh2"]["config"] == {}
    listed = admin.data("GET", f"{MGMT}/services?configTypes=host.v1,nope")
    assert listed[0]["config"] == {"host.v1": {"port": 22}}
    assert [s["name"] for s in admin.data("GET", f"{MGMT}/configs/{host_cfg}/services")] == ["ssh2"]
    assert sorted(c["id"] for c in admin.data("GET", f"{MGMT}/services/{service_id}/configs")) == sorted([host_cfg, intercept_cfg])


def test_management_services_as_identity(ctl, net, alice, bob):
    web = net.service("web")
    net.service("db")
    net.allow(alice, web, "Bind")
    as_alice = ctl.admin.data("GET", f"{MGMT}/services?asIdentity={alice.name}")
    assert [(s["name"], s["permissions"]) for s in as_alice] == [("web", ["Bind"])]
    assert ctl.admin.data("GET", f"{MGMT}/services?asIdentity={bob.id}") == []
    assert len(ctl.admin.data("GET", f"{MGMT}/services")) == 2  # the admin sees every service
    assert _error(ctl.admin.data, "GET", f"{MGMT}/services?asIdentity=nobody").status == 404


# --- policies ------------------------------------------------------------------------------------------


def test_service_policy_crud_roles_and_display(ctl, net, alice, bob):
    admin = ctl.admin
    svc = net.service("svc")
    policy_id = admin.data("POST", f"{MGMT}/service-policies", json_body={
        "name": "p", "type": "Dial", "semantic": "AnyOf", "identityRoles": [f"@{bob.id}", "#zeta", f"@{alice.id}"],
        "serviceRoles": [f"@{svc}"], "tags": {"k": "v"}})["id"]
    detail = admin.data("GET", f"{MGMT}/service-policies/{policy_id}")
    assert detail["identityRoles"] == sorted([f"@{bob.id}", "#zeta", f"@{alice.id}"])
    assert {d["name"] for d in detail["identityRolesDisplay"]} == {"#zeta", "@alice", "@bob"}
    assert detail["serviceRolesDisplay"] == [{"role": f"@{svc}", "name": "@svc"}]
    assert (detail["type"], detail["semantic"], detail["postureCheckRoles"], detail["tags"]) == ("Dial", "AnyOf", [], {"k": "v"})
    assert {"self", "identities", "services", "posture-checks"} <= detail["_links"].keys()

    admin.data("PATCH", f"{MGMT}/service-policies/{policy_id}", json_body={"type": "Bind", "identityRoles": ["#all"]})
    patched = admin.data("GET", f"{MGMT}/service-policies/{policy_id}")
    assert (patched["type"], patched["identityRoles"], patched["serviceRoles"]) == ("Bind", ["#all"], [f"@{svc}"])
    admin.data("PUT", f"{MGMT}/service-policies/{policy_id}", json_body={"name": "q", "type": "Dial", "semantic": "AllOf"})
    put = admin.data("GET", f"{MGMT}/service-policies/{policy_id}")
    assert (put["name"], put["identityRoles"], put["serviceRoles"]) == ("q", [], [])
    assert [p["name"] for p in admin.data("GET", f"{MGMT}/service-policies?filter=name=\"q\"")] == ["q"]
    assert admin.data("DELETE", f"{MGMT}/service-policies/{policy_id}") == {}
    assert _error(admin.data, "GET", f"{MGMT}/service-policies/{policy_id}").status == 404


@pytest.mark.parametrize("change, field, reason", [
    ({"identityRoles": ["alice"]}, "identityRoles", "role entries must prefixed with # (to indicate role attributes) or @ (to indicate a name or id)"),
    ({"identityRoles": ["#all", "#x"]}, "identityRoles", "if using #all, it should be the only role specified"),
    ({"serviceRoles": ["@no-such-id"]}, "serviceRoles", "no services found with the given ids"),
    ({"type": "Invalid"}, "policyType", "invalid policy type. valid types are 'Dial' and 'Bind'"),
    ({"semantic": None}, "semantic", None),
    ({"type": "dial"}, "type", None),
])
def test_service_policy_validation(ctl, change, field, reason):
    body = {"name": "p", "type": "Dial", "semantic": "AllOf", **change}
    body = {k: v for k, v in body.items() if v is not None}
    error = _error(ctl.admin.data, "POST", f"{MGMT}/service-policies", json_body=body)
    assert (error.status, error.code, error.cause["field"]) == (400, "COULD_NOT_VALIDATE", field)
    if reason:
        assert error.cause["reason"] == reason
    assert ctl.admin.data("GET", f"{MGMT}/service-policies") == []


def test_router_policies_crud_names_and_deleted_references(ctl, net, alice):
    admin = ctl.admin
    router = net.router("er-a")
    svc = net.service("svc")
    erp = net.edge_router_policy(identities=[alice], routers=[router], name="erp")
    serp = net.service_edge_router_policy(services=svc, routers="#all", name="serp")
    assert _error(net.edge_router_policy, identities="#x", name="erp").cause["field"] == "name"
    detail = admin.data("GET", f"{MGMT}/edge-router-policies/{erp}")
    assert detail["edgeRouterRolesDisplay"] == [{"role": f"@{router}", "name": "@er-a"}] and detail["isSystem"] is False
    assert admin.data("GET", f"{MGMT}/service-edge-router-policies/{serp}")["serviceRolesDisplay"] == [{"role": f"@{svc}", "name": "@svc"}]
    assert _error(net.edge_router_policy, routers="@nope").cause["reason"] == "no edgeRouters found with the given ids"

    # Deleting an entity drops its @id from every policy; the policies stay.
    admin.data("DELETE", f"{MGMT}/identities/{alice.id}")
    admin.data("DELETE", f"{MGMT}/edge-routers/{router}")
    admin.data("DELETE", f"{MGMT}/services/{svc}")
    after = admin.data("GET", f"{MGMT}/edge-router-policies/{erp}")
    assert (after["identityRoles"], after["edgeRouterRoles"]) == ([], [])
    assert admin.data("GET", f"{MGMT}/service-edge-router-policies/{serp}")["serviceRoles"] == []
    admin.data("PATCH", f"{MGMT}/edge-router-policies/{erp}", json_body={"edgeRouterRoles": ["#edge"]})
    assert admin.data("GET", f"{MGMT}/edge-router-policies/{erp}")["edgeRouterRoles"] == ["#edge"]
    assert admin.data("DELETE", f"{MGMT}/service-edge-router-policies/{serp}") == {}


# --- role resolution -----------------------------------------------------------------------------------


def test_role_resolution_follows_every_change(ctl, net, alice, bob):
    admin = ctl.admin
    web = net.service("web", attributes=["web", "public"])
    net.service("db", attributes=["db"])
    assert _client_services(alice) == {}  # no policy: nothing visible
    policy = net.service_policy("Dial", identities="#dialers", services="#web")
    assert _client_services(alice) == {}
    # an attribute added to the identity
    admin.data("PATCH", f"{MGMT}/identities/{alice.id}", json_body={"roleAttributes": ["dialers"]})
    assert {n: s["permissions"] for n, s in _client_services(alice).items()} == {"web": ["Dial"]}
    assert _client_services(bob) == {}
    # a Bind policy on top
    bind = net.service_policy("Bind", identities=alice, services=web)
    assert _client_services(alice)["web"]["permissions"] == ["Dial", "Bind"]
    admin.data("DELETE", f"{MGMT}/service-policies/{bind}")
    # the policy's roles edited: AllOf needs every attribute; AnyOf one of them
    admin.data("PATCH", f"{MGMT}/service-policies/{policy}", json_body={"serviceRoles": ["#web", "#db"]})
    assert _client_services(alice) == {}
    admin.data("PATCH", f"{MGMT}/service-policies/{policy}", json_body={"semantic": "AnyOf"})
    assert set(_client_services(alice)) == {"web", "db"}
    # an attribute removed from the service
    admin.data("PATCH", f"{MGMT}/services/{web}", json_body={"roleAttributes": ["public"]})
    assert set(_client_services(alice)) == {"db"}
    with alice.connect() as conn:
        conn.login_cert()
        assert _error(conn.data, "GET", f"{CLIENT}/services/{web}").status == 404
    # an attribute removed from the identity
    admin.data("PATCH", f"{MGMT}/identities/{alice.id}", json_body={"roleAttributes": []})
    assert _client_services(alice) == {}
    # the policy deleted (alice by @id first, then the policy)
    admin.data("PATCH", f"{MGMT}/service-policies/{policy}", json_body={"identityRoles": [f"@{alice.id}"]})
    assert set(_client_services(alice)) == {"db"}
    admin.data("DELETE", f"{MGMT}/service-policies/{policy}")
    assert _client_services(alice) == {}


def test_current_identity_edge_routers_come_from_edge_router_policies(ctl, anon, net, alice):
    router, _ = _enroll(ctl, anon, "er-1")
    _enroll(ctl, anon, "er-2")
    net.router("er-unverified")

    def mine() -> list[str]:
        with alice.connect() as conn:
            conn.login_cert()
            return [r["name"] for r in conn.data("GET", f"{CLIENT}/current-identity/edge-routers")]

    assert mine() == []
    erp = net.edge_router_policy(identities="#all", routers="#edge")
    assert mine() == []
    ctl.admin.data("PATCH", f"{MGMT}/edge-routers/{router.id}", json_body={"roleAttributes": ["edge"]})
    assert mine() == ["er-1"]
    ctl.admin.data("PATCH", f"{MGMT}/edge-router-policies/{erp}", json_body={"edgeRouterRoles": ["#all"]})
    assert mine() == ["er-1", "er-2"]  # verified routers only
    with alice.connect() as conn:
        conn.login_cert()
        (entry, _) = conn.data("GET", f"{CLIENT}/current-identity/edge-routers")
    assert entry["supportedProtocols"] == {"tls": "tls://localhost:3022"} and entry["isOnline"] is False
    assert entry["syncStatus"] == "SYNC_UNKNOWN"


# --- sub-lists and catalogues ----------------------------------------------------------------------------


def test_sub_lists(ctl, net, alice, bob):
    admin = ctl.admin
    web = net.service("web", attributes=["web"])
    db = net.service("db")
    router = net.router("er-1", attributes=["edge"])
    dial = net.service_policy("Dial", identities=alice, services="#web", name="dial")
    bind = net.service_policy("Bind", identities=[alice, bob], services=db, name="bind")
    erp = net.edge_router_policy(identities=bob, routers="#edge", name="erp")
    serp = net.service_edge_router_policy(services=web, routers=router, name="serp")

    def names(path: str) -> list[str]:
        return sorted(e["name"] for e in admin.data("GET", f"{MGMT}{path}"))

    assert names(f"/service-policies/{dial}/identities") == ["alice"]
    assert names(f"/service-policies/{bind}/services") == ["db"]
    assert names(f"/edge-router-policies/{erp}/edge-routers") == ["er-1"]
    assert names(f"/service-edge-router-policies/{serp}/services") == ["web"]
    assert names(f"/identities/{alice.id}/service-policies") == ["bind", "dial"]
    assert names(f"/identities/{bob.id}/edge-router-policies") == ["erp"]
    assert names(f"/identities/{alice.id}/services") == ["db", "web"]
    assert names(f"/identities/{alice.id}/services?policyType=dial") == ["web"]
    assert names(f"/identities/{bob.id}/edge-routers") == ["er-1"]
    assert names(f"/services/{db}/identities") == ["alice", "bob"]
    assert names(f"/services/{web}/service-policies") == ["dial"]
    assert names(f"/services/{web}/service-edge-router-policies") == ["serp"]
    assert names(f"/services/{web}/edge-routers") == ["er-1"]
    assert names(f"/edge-routers/{router}/identities") == ["bob"]
    assert names(f"/edge-routers/{router}/services") == ["web"]
    assert names(f"/edge-routers/{router}/edge-router-policies") == ["erp"]
    assert names("/identities/no-such-id/service-policies") == []
    assert names(f"/service-policies/{dial}/identities?filter=name=\"bob\"") == []


def test_role_attribute_catalogues(ctl, net, alice):
    ctl.admin.data("PATCH", f"{MGMT}/identities/{alice.id}", json_body={"roleAttributes": ["ops", "dev"]})
    net.service("a", attributes=["web", "dev"])
    net.router("er", attributes=["edge"])
    assert ctl.admin.data("GET", f"{MGMT}/identity-role-attributes") == ["dev", "ops"]
    assert ctl.admin.data("GET", f"{MGMT}/service-role-attributes") == ["dev", "web"]
    assert ctl.admin.data("GET", f"{MGMT}/edge-router-role-attributes") == ["edge"]
    assert ctl.admin.data("GET", f"{MGMT}/service-role-attributes?filter=id=\"web\"") == ["web"]


# --- client sessions -----------------------------------------------------------------------------------


def test_session_checks_in_order(ctl, net, alice):
    web = net.service("web")
    with alice.connect() as conn:
        conn.login_cert()
        create = lambda kind: conn.data("POST", f"{CLIENT}/sessions", json_body={"serviceId": web, "type": kind})  # noqa: E731
        assert error_of(pytest.raises(ControllerError, create, "Dial")) == (404, "NOT_FOUND")
        assert error_of(pytest.raises(ControllerError, conn.data, "POST", f"{CLIENT}/sessions", json_body={"serviceId": "nope"})) == (404, "NOT_FOUND")
        net.allow(alice, web, "Bind")
        wrong_type = _error(create, "Dial")
        assert (wrong_type.status, wrong_type.code, wrong_type.cause) == (400, "COULD_NOT_VALIDATE",
                                                                          {"field": "ServiceId", "reason": "service not found", "value": web})
        no_router = _error(create, "Bind")
        assert (no_router.status, no_router.code) == (400, "NO_EDGE_ROUTERS_AVAILABLE")
        router = net.router("er-1")
        net.edge_router_policy(identities=alice, routers=router)
        assert _error(create, "Bind").code == "NO_EDGE_ROUTERS_AVAILABLE"  # the service may not use it yet
        net.service_edge_router_policy(services=web, routers="#all")
        session = create("Bind")
        assert session["type"] == "Bind" and session["serviceId"] == web and session["identityId"] == alice.id
        assert session["apiSession"]["entity"] == "api-sessions" and session["service"]["name"] == "web"
        assert [r["name"] for r in session["edgeRouters"]] == ["er-1"] and session["token"]
        assert session["edgeRouters"][0]["supportedProtocols"] == {}  # never enrolled: no address
        assert len(session["servicePolicies"]) == 1
        assert create("Bind")["id"] == session["id"]  # reused per (API session, type, service)
        assert [s["id"] for s in conn.data("GET", f"{CLIENT}/sessions")] == [session["id"]]
        assert conn.data("GET", f"{CLIENT}/sessions/{session['id']}")["token"] == session["token"]
        assert [s["id"] for s in ctl.admin.data("GET", f"{MGMT}/sessions")] == [session["id"]]
        assert conn.data("DELETE", f"{CLIENT}/sessions/{session['id']}") == {}
        assert _error(conn.data, "GET", f"{CLIENT}/sessions/{session['id']}").status == 404
        assert create("Bind")["id"] != session["id"]


def test_sessions_are_scoped_to_their_identity_and_served_at_the_legacy_alias(ctl, net, anon, alice, bob):
    web = net.service("web")
    router, _ = _enroll(ctl, anon, "er-1")
    for identity in (alice, bob):
        net.allow(identity, web)
        net.route(identity, web, router.id)
    with alice.connect() as a, bob.connect() as b:
        a.login_cert()
        b.login_cert()
        # the legacy /edge/v1 prefix lands on the client API, as the real controller's rewrite
        mine = a.data("POST", "/edge/v1/sessions", json_body={"serviceId": web})
        assert mine["type"] == "Dial"  # an empty type defaults to Dial
        assert mine["edgeRouters"][0]["supportedProtocols"] == {"tls": "tls://localhost:3022"}
        assert b.data("GET", "/edge/v1/sessions") == []
        assert _error(b.data, "GET", f"{CLIENT}/sessions/{mine['id']}").status == 404
        assert _error(b.data, "DELETE", f"{CLIENT}/sessions/{mine['id']}").status == 404
        assert [s["id"] for s in a.data("GET", "/sessions")] == [mine["id"]]  # the root alias too
        assert [r["name"] for r in a.data("GET", f"/edge/v1/services/{web}/edge-routers")["edgeRouters"]] == ["er-1"]
        version = a.data("GET", "/edge/v1/version")
        assert "edge-client" in version["apiVersions"]
    # a service's deletion takes its sessions with it
    ctl.admin.data("DELETE", f"{MGMT}/services/{web}")
    assert ctl.admin.data("GET", f"{MGMT}/sessions") == []


# --- validation statuses -------------------------------------------------------------------------------


@pytest.mark.parametrize("body, status", [
    ({"type": "Dial", "semantic": "AllOf"}, 602),  # name missing
    ({"name": "p", "type": "dial", "semantic": "AllOf"}, 606),  # enum casing
    ({"name": "p", "type": "Dial", "semantic": "AllOf", "identityRoles": "#all"}, 601),  # wrong type
])
def test_openapi_validation_statuses_are_a_compat_setting(isolated_database_url, tmp_path, body, status):
    from controller.testing.harness import ControllerHarness

    with ControllerHarness.start(database_url=isolated_database_url, workdir=tmp_path,
                                 compat_openapi_validation_status=True) as real:
        error = _error(real.admin.data, "POST", f"{MGMT}/service-policies", json_body=body)
        assert (error.status, error.code) == (status, "COULD_NOT_VALIDATE")


# --- role queries on lists -----------------------------------------------------------------------------


def test_role_filter_on_identity_service_and_router_lists(ctl, net, alice, bob):
    admin = ctl.admin
    admin.data("PATCH", f"{MGMT}/identities/{alice.id}", json_body={"roleAttributes": ["a", "b"]})
    admin.data("PATCH", f"{MGMT}/identities/{bob.id}", json_body={"roleAttributes": ["a"]})
    net.service("one", attributes=["web"])
    two = net.service("two", attributes=["db", "all"])
    net.router("er-1", attributes=["edge"])

    def names(path: str) -> list[str]:
        return sorted(e["name"] for e in admin.data("GET", f"{MGMT}{path}"))

    assert names("/identities?roleFilter=%23a&roleFilter=%23b") == ["alice"]
    assert names("/identities?roleFilter=%23a&roleFilter=%23b&roleSemantic=AnyOf") == ["alice", "bob"]
    assert names(f"/identities?roleFilter=%23b&roleFilter=%40{bob.id}") == ["alice", "bob"]
    assert names("/services?roleFilter=%23all") == ["two"]  # the literal attribute "all", as in the real store
    assert names(f"/services?roleFilter=%40{two}") == ["two"]
    assert names("/edge-routers?roleFilter=%23edge") == ["er-1"]
    assert names("/edge-routers?roleFilter=%23none") == []
    error = _error(admin.data, "GET", f"{MGMT}/services?roleFilter=%23web&roleSemantic=Some")
    assert (error.status, error.code, error.cause["reason"]) == (400, "COULD_NOT_VALIDATE", "invalid semantic")


def test_service_updates_move_when_policies_or_attributes_change_visibility(ctl, net, alice):
    updates = f"{CLIENT}/current-api-session/service-updates"
    net.service("web", attributes=["web"])
    with alice.connect() as conn:
        conn.login_cert()
        first = conn.data("GET", updates)["lastChangeAt"]
        ctl.clock.advance("1s")
        net.service_policy("Dial", identities="#dialers", services="#web")
        second = conn.data("GET", updates)["lastChangeAt"]
        assert second > first
        ctl.clock.advance("1s")
        ctl.admin.data("PATCH", f"{MGMT}/identities/{alice.id}", json_body={"roleAttributes": ["dialers"]})
        assert conn.data("GET", updates)["lastChangeAt"] > second
        assert [s["name"] for s in conn.data("GET", f"{CLIENT}/services")] == ["web"]


def test_snapshots_carry_the_management_model(ctl, net, alice):
    type_id = net.config_type("t", HOST_SCHEMA)
    config = net.config(type_id, {"port": 1})
    svc = net.service("svc", configs=[config])
    net.allow(alice, svc)
    net.route(alice, svc)
    with alice.connect() as conn:
        conn.login_cert()
        conn.data("POST", f"{CLIENT}/sessions", json_body={"serviceId": svc})
    ctl.snapshot("model")
    ctl.reset()
    assert ctl.admin.data("GET", f"{MGMT}/service-policies") == [] and ctl.admin.data("GET", f"{MGMT}/config-types") == []
    ctl.restore("model")
    assert ctl.admin.data("GET", f"{MGMT}/services/{svc}")["configs"] == [config]
    assert len(ctl.admin.data("GET", f"{MGMT}/sessions")) == 1
    assert {n: s["permissions"] for n, s in _client_services(alice).items()} == {"svc": ["Dial"]}


@pytest.mark.parametrize("collection, body", [
    ("identities", {"name": "x", "type": "Default", "isAdmin": False}),
    ("edge-routers", {"name": "x"}),
    ("services", {"name": "x", "encryptionRequired": True}),
])
def test_role_attributes_may_not_start_with_hash_or_at(ctl, collection, body):
    for bad, prefix in (("#a", "#"), ("@b", "@")):
        error = _error(ctl.admin.data, "POST", f"{MGMT}/{collection}", json_body={**body, "roleAttributes": ["ok", bad]})
        assert (error.status, error.cause["field"], error.cause["reason"]) == (
            400, "roleAttributes", f"role attributes may not be prefixed with {prefix}")
    entity = ctl.admin.data("POST", f"{MGMT}/{collection}", json_body={**body, "roleAttributes": ["ok"]})["id"]
    error = _error(ctl.admin.data, "PATCH", f"{MGMT}/{collection}/{entity}", json_body={"roleAttributes": ["#no"]})
    assert error.cause["field"] == "roleAttributes"
