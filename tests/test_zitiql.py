"""ZitiQL through the management API over real mTLS, on SQLite and PostgreSQL: a table of filters, each with
its expected result set (or order) or its error, over a fixed data set; then paging, sort and count rules
(management-model.md 1.4-1.9)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import pytest

from controller.client.errors import ControllerError
from controller.testing.harness import ControllerHarness

API = "/edge/management/v1"
QUOTE = 'quo"te'
ADMIN = "Default Admin"
EVERYONE = {"alpha", "beta", "gamma", "Delta", QUOTE, ADMIN}

IDENTITIES = [  # name, created at, body
    ("alpha", "2021-01-01T00:00:00Z", {"tags": {"app": "web", "app-role": "instance", "tier": 1, "prod": True},
                                       "roleAttributes": ["web", "echo-server"], "externalId": "ext-a"}),
    ("beta", "2022-01-01T00:00:00Z", {"tags": {"app": "db", "app-role": "worker", "tier": 2, "prod": False},
                                      "roleAttributes": ["db"]}),
    ("gamma", "2023-01-01T00:00:00Z", {"tags": {"owner": "ops", "note": None, "app": 7}, "roleAttributes": [],
                                       "isAdmin": True, "externalId": "EXT-G"}),
    ("Delta", "2024-01-01T00:00:00Z", {"tags": {"app": "web", "tier": 2.5, "nested": {"k": "v"}},
                                       "roleAttributes": ["web", "db"], "externalId": "ext-d"}),
    (QUOTE, "2025-01-01T00:00:00Z", {"roleAttributes": ["db", "web", "x"]}),
]
ROUTERS = [
    {"name": "er-one", "cost": 10, "roleAttributes": ["public"], "tags": {"region": "eu"}, "isTunnelerEnabled": True},
    {"name": "er-two", "cost": 20, "noTraversal": True, "tags": {"region": "us"}},
]
SERVICES = [
    {"name": "svc-web", "roleAttributes": ["web"], "tags": {"app": "web"}},
    {"name": "svc-db", "roleAttributes": ["db", "internal"]},
]


class Err:
    def __init__(self, message: str, code: str = "INVALID_FILTER"):
        self.message, self.code = message, code

    def __repr__(self) -> str:
        return f"Err({self.message!r})"


def unknown(name: str) -> Err:
    return Err(f"unknown symbol '{name}'")


def syntax(symbol: str, column: int) -> Err:
    return Err(f'Unexpected symbol: "{symbol}" at line: 1 column: {column}. line: 1, column: {column}, symbol: {symbol}')


def mismatch(expr: str, left: str, right: str) -> Err:
    return Err(f"operation {expr} is not supported with operands types {left}, {right}")


def but(*names: str) -> set[str]:
    return EVERYONE - set(names)


I, R, S = "identities", "edge-routers", "services"
CASES: list[tuple[str, str, Any]] = [
    # basics
    (I, "true", EVERYONE),
    (I, "false", set()),
    (I, 'name = "alpha"', {"alpha"}),
    (I, 'name="alpha"', {"alpha"}),
    (I, '  name = "alpha"\n', {"alpha"}),
    (I, 'name != "alpha"', but("alpha")),
    (I, 'name contains "a"', but(QUOTE)),
    (I, 'name contains "A"', {ADMIN}),                                   # case-sensitive
    (I, 'name icontains "A"', but(QUOTE)),
    (I, 'name not contains "a"', {QUOTE}),
    (I, 'name not icontains "D"', {"alpha", "beta", "gamma", QUOTE}),
    (I, 'name contains "%"', set()),                                    # no LIKE wildcards
    (I, 'name in ["alpha", "beta", "nobody"]', {"alpha", "beta"}),
    (I, 'name not in ["alpha", "beta"]', but("alpha", "beta")),
    (I, 'name < "b"', {ADMIN, "Delta", "alpha"}),                       # byte-wise: upper case first
    (I, 'name >= "gamma"', {"gamma", QUOTE}),
    (I, 'name = "quo\\"te"', {QUOTE}),
    (I, 'NAME = "alpha"', unknown("NAME")),                             # symbols are case-sensitive
    (I, 'id = "{alpha}"', {"alpha"}),
    (I, 'id in ["{alpha}", "{beta}"]', {"alpha", "beta"}),
    # the filters of real tools (1.9)
    (I, '(id="{alpha}" or name="beta") and tags.app != null', {"alpha", "beta"}),
    (I, '(id="nope" or name="gamma") and tags.app != null', {"gamma"}),  # a number is present too
    (I, f'(id="nope" or name="{QUOTE.replace(chr(34), chr(92) + chr(34))}") and tags.app != null', set()),
    (I, 'tags.app-role="instance"', {"alpha"}),
    (I, 'tags.app-role = "instance"', {"alpha"}),
    (I, "true skip 1 limit 2 sort by name", syntax("sort", 20)),
    (I, 'tags.k8s = "x"', syntax("8", 6)),
    # tags: the literal decides the type; missing values follow the real null rules
    (I, 'tags.app-role != "instance"', but("alpha")),
    (I, 'tags.app = "web"', {"alpha", "Delta"}),
    (I, "tags.app = 7", {"gamma"}),
    (I, 'tags.app = "7"', set()),
    (I, "tags.tier = 2", {"beta"}),
    (I, "tags.tier > 1", {"beta", "Delta"}),
    (I, "tags.tier between 1 and 2", {"alpha"}),                        # half-open
    (I, "tags.tier not between 1 and 2", but("alpha")),
    (I, "tags.tier in [1, 2.5]", {"alpha", "Delta"}),
    (I, "tags.prod = true", {"alpha"}),
    (I, "tags.prod = false", {"beta"}),
    (I, "tags.prod != true", but("alpha")),
    (I, "tags.prod", {"alpha"}),
    (I, "tags.note = null", EVERYONE),                                  # JSON null or missing
    (I, "tags.note != null", set()),
    (I, "tags.owner != null", {"gamma"}),
    (I, 'tags.nested.k = "v"', {"Delta"}),
    (I, 'tags.app contains "e"', {"alpha", "Delta"}),
    (I, 'tags.app icontains "WE"', {"alpha", "Delta"}),
    (I, 'tags.app not contains "w"', but("alpha", "Delta")),
    (I, 'tags.missing = "x"', set()),
    (I, 'tags.app < "e"', {"beta"}),
    (I, "tags.app = datetime(2020-01-01T00:00:00Z)", set()),
    (I, 'Tags.app = "x"', unknown("Tags.app")),
    # booleans, nullable strings
    (I, "isAdmin = true", {"gamma", ADMIN}),
    (I, "isAdmin", {"gamma", ADMIN}),
    (I, "not isAdmin", but("gamma", ADMIN)),
    (I, "isAdmin != false", {"gamma", ADMIN}),
    (I, "isDefaultAdmin", {ADMIN}),
    (I, "isSystem = false", EVERYONE),
    (I, "isSystem", set()),
    (I, 'type = "Default"', EVERYONE),
    (I, 'authPolicyId = "default"', EVERYONE),
    (I, "externalId = null", {"beta", QUOTE, ADMIN}),
    (I, "externalId != null", {"alpha", "gamma", "Delta"}),
    (I, 'externalId != "ext-a"', but("alpha")),
    (I, 'externalId icontains "EXT"', {"alpha", "gamma", "Delta"}),
    (I, 'externalId contains "ext"', {"alpha", "Delta"}),
    (I, 'externalId not contains "ext"', but("alpha", "Delta")),
    (I, 'externalId not in ["ext-a"]', but("alpha")),
    (I, 'externalId > "ext-b"', {"Delta"}),
    # sets
    (I, 'anyOf(roleAttributes) = "web"', {"alpha", "Delta", QUOTE}),
    (I, 'anyOf(roleAttributes) contains "echo"', {"alpha"}),
    (I, 'anyOf(roleAttributes) in ["db", "x"]', {"beta", "Delta", QUOTE}),
    (I, 'allOf(roleAttributes) = "db"', {"beta", "gamma", ADMIN}),     # true on an empty set
    (I, 'allOf(roleAttributes) in ["web", "db"]', {"beta", "Delta", "gamma", ADMIN}),
    (I, 'allOf(roleAttributes) != "x"', but(QUOTE)),
    (I, "count(roleAttributes) = 0", {"gamma", ADMIN}),
    (I, "count(roleAttributes) >= 2", {"alpha", "Delta", QUOTE}),
    (I, "count(roleAttributes) between 1 and 3", {"alpha", "beta", "Delta"}),
    (I, "isEmpty(roleAttributes)", {"gamma", ADMIN}),
    (I, "not isEmpty(roleAttributes)", but("gamma", ADMIN)),
    (I, 'not anyOf(roleAttributes) = "web"', {"beta", "gamma", ADMIN}),
    (I, 'anyOf(roleAttributes) = "web" and anyOf(roleAttributes) = "db"', {"Delta", QUOTE}),
    # datetimes
    (I, "createdAt < datetime(2022-06-01T00:00:00Z)", {"alpha", "beta"}),
    (I, "createdAt = datetime(2023-01-01T00:00:00Z)", {"gamma"}),
    (I, "createdAt = datetime(2023-01-01T01:00:00+01:00)", {"gamma"}),
    (I, "createdAt between datetime(2022-01-01T00:00:00Z) and datetime(2024-01-01T00:00:00Z)", {"beta", "gamma"}),
    (I, "createdAt in [datetime(2021-01-01T00:00:00Z), datetime(2025-01-01T00:00:00Z)]", {"alpha", QUOTE}),
    (I, "createdAt >= datetime(2025-01-01T00:00:00Z)", {QUOTE, ADMIN}),
    (I, "updatedAt > datetime(2020-01-01T00:00:00Z) and createdAt < datetime(2021-06-01T01:00:00+01:00)", {"alpha"}),
    # the real grouping: not reaches right, and/or nest right without precedence
    (I, 'not name = "alpha" and name = "beta"', EVERYONE),
    (I, '(not name = "alpha") and name = "beta"', {"beta"}),
    (I, 'name = "alpha" and name = "beta" or name = "gamma"', set()),
    (I, 'name = "gamma" or name = "beta" and isAdmin', {"gamma"}),
    (I, f'isAdmin and name = "gamma" or name = "{ADMIN}"', {"gamma", ADMIN}),
    (I, 'name = "alpha" or name = "beta" and tags.app = "db" or isAdmin', {"alpha", "beta"}),
    (I, 'name = "alpha" and not isAdmin or name = "gamma"', {"alpha"}),
    # errors: unknown and non-public symbols, set misuse, type mismatches, syntax
    (I, 'password = "x"', unknown("password")),
    (I, "disabled = true", unknown("disabled")),
    (I, 'dialServices = "x"', unknown("dialServices")),
    (I, "'name' = \"x\"", unknown("'name'")),
    (I, "isEmpty(from servicePolicies where type = 1)", unknown("servicePolicies")),
    (I, 'roleAttributes = "web"', Err("symbol 'roleAttributes' is a set symbol but is used in non-set function context")),
    (I, 'anyOf(name) = "x"', Err("symbol 'name' is not a set symbol but is used in set function anyOf")),
    (I, "count(name) > 1", Err("symbol 'name' is not a set symbol but is used in set function count")),
    (I, 'isAdmin = "yes"', mismatch('isAdmin = "yes"', "BOOL", "STRING")),
    (I, "name = 5", mismatch("name = 5", "STRING", "NUMBER")),
    (I, 'createdAt > "2020"', mismatch('createdAt > "2020"', "DATETIME", "STRING")),
    (I, "name contains 5", mismatch("name contains 5", "STRING", "NUMBER")),
    (I, "name", mismatch("name = true", "STRING", "BOOL")),
    (I, 'anyOf(roleAttributes) > 1', mismatch("anyOf(roleAttributes) > 1", "STRING", "NUMBER")),
    (I, "not(isAdmin)", syntax("(", 3)),
    (I, 'name startsWith "a"', syntax("startsWith", 5)),
    (I, "name is null", syntax("is", 5)),
    (I, 'true sort by password', unknown("password")),
    (I, "true sort by tags.app", Err("invalid sort field 'tags.app': only scalar fields can be sorted on")),
    # sort by, skip and limit inside the filter (ordered results)
    (I, "true sort by name", [ADMIN, "Delta", "alpha", "beta", "gamma", QUOTE]),
    (I, "true sort by createdAt desc limit 2", [ADMIN, QUOTE]),
    (I, "sort by isAdmin desc, name asc limit 3", [ADMIN, "gamma", "Delta"]),
    (I, "isAdmin = false sort by name skip 1 limit 2", ["alpha", "beta"]),
    (I, "tags.app != null sort by name DESC", ["gamma", "beta", "alpha", "Delta"]),
    (I, "limit 1", 1),
    (I, "skip 5", 1),
    # edge routers and services
    (R, "cost > 15", {"er-two"}),
    (R, "cost between 10 and 20", {"er-one"}),
    (R, "cost in [10, 30]", {"er-one"}),
    (R, 'anyOf(roleAttributes) = "public"', {"er-one"}),
    (R, "isEmpty(roleAttributes)", {"er-two"}),
    (R, "isTunnelerEnabled", {"er-one"}),
    (R, "noTraversal = true and disabled = false", {"er-two"}),
    (R, "online or connected", set()),
    (R, 'tags.region = "eu"', {"er-one"}),
    (R, "isVerified = false", {"er-one", "er-two"}),
    (R, "fingerprint = null", {"er-one", "er-two"}),
    (R, 'cost = "10"', mismatch('cost = "10"', "NUMBER", "STRING")),
    (R, "true sort by cost desc", ["er-two", "er-one"]),
    (S, 'anyOf(roleAttributes) = "internal"', {"svc-db"}),
    (S, 'tags.app = "web"', {"svc-web"}),
    (S, 'name in ["svc-web", "svc-db"] and not tags.app != null', {"svc-db"}),
    (S, 'name startsWith "svc"', syntax("startsWith", 5)),
    (S, "encryptionRequired = true", unknown("encryptionRequired")),
]


@pytest.fixture
def dataset(ziti_controller_session: ControllerHarness) -> dict[str, str]:
    """The data set, built once per backend and controller: the table's tests only read, so the reset the
    other tests do is skipped here unless another test ran in between (then it is rebuilt)."""
    ctl = ziti_controller_session
    cached = getattr(ctl, "_zitiql_dataset", None)
    if cached:
        present = {path: {i["name"] for i in ctl.admin.data("GET", f"{API}/{path}?filter=" + quote("true limit none"))} for path in (I, R, S)}
        if present == {I: EVERYONE, R: {r["name"] for r in ROUTERS}, S: {s["name"] for s in SERVICES}} and \
                ctl.admin.data("GET", f"{API}/identities?filter=" + quote(f'id = "{cached["alpha"]}"')):
            return cached
    ctl.reset()
    ids: dict[str, str] = {}
    ctl.clock.freeze()
    for name, created_at, body in IDENTITIES:
        ctl.clock.set(created_at)
        ids[name] = ctl.admin.data("POST", f"{API}/identities", json_body={"name": name, "type": "Default", "isAdmin": False, **body})["id"]
    ctl.clock.set(datetime.now(timezone.utc))
    ctl.clock.unfreeze()
    for router in ROUTERS:
        ctl.admin.data("POST", f"{API}/edge-routers", json_body=router)
    for service in SERVICES:
        ctl.admin.data("POST", f"{API}/services", json_body={"encryptionRequired": True, **service})
    ctl._zitiql_dataset = ids  # type: ignore[attr-defined]
    return ids


def _names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


@pytest.mark.parametrize("path, text, expected", CASES, ids=[f"{p}:{t}" for p, t, _ in CASES])
def test_filter(ziti_controller_session: ControllerHarness, dataset: dict[str, str], path: str, text: str, expected: Any):
    admin = ziti_controller_session.admin
    for name, entity_id in dataset.items():
        text = text.replace("{" + name + "}", entity_id)
    url = f"{API}/{path}?limit=500&filter={quote(text)}"
    if isinstance(expected, Err):
        with pytest.raises(ControllerError) as excinfo:
            admin.data("GET", url)
        error = excinfo.value
        assert (error.status, error.code, error.message) == (400, expected.code, "The filter query supplied is invalid")
        assert error.cause == {"code": "UNHANDLED", "message": expected.message}
        return
    body, _ = admin.request("GET", url)
    names = _names(body["data"])
    if isinstance(expected, set):
        assert set(names) == expected and len(names) == len(expected)
        assert body["meta"]["pagination"]["totalCount"] == len(expected)
    elif isinstance(expected, list):
        assert names == expected
    else:
        assert len(names) == expected


def test_table_is_large_enough():
    assert len(CASES) >= 80


def test_example_filters_find_entities_by_tag(ctl: ControllerHarness):
    """The orchestrator's flow of management-model.md 1.9: find by (id or name) with a tag present."""
    created = ctl.admin.data("POST", f"{API}/identities", json_body={
        "name": "app-1", "type": "Default", "isAdmin": False, "tags": {"app": "shop", "app-role": "instance"}})
    ctl.admin.data("POST", f"{API}/identities", json_body={"name": "app-2", "type": "Default", "isAdmin": False})
    by_id = f'(id="{created["id"]}" or name="x") and tags.app != null'
    assert _names(ctl.admin.data("GET", f"{API}/identities?filter={quote(by_id)}")) == ["app-1"]
    by_name = '(id="x" or name="app-2") and tags.app != null'
    assert _names(ctl.admin.data("GET", f"{API}/identities?filter={quote(by_name)}")) == []
    by_tag = 'tags.app-role="instance"'
    assert _names(ctl.admin.data("GET", f"{API}/identities?filter={quote(by_tag)}")) == ["app-1"]


def _create_many(ctl: ControllerHarness, count: int) -> None:
    for i in range(count):
        ctl.admin.data("POST", f"{API}/identities", json_body={"name": f"p-{i:02d}", "type": "Default", "isAdmin": False})


def test_paging_parameters_and_filter_clauses(ctl: ControllerHarness):
    _create_many(ctl, 12)  # 13 with the default admin
    page, _ = ctl.admin.request("GET", f"{API}/identities")
    assert page["meta"]["pagination"] == {"limit": 10, "offset": 0, "totalCount": 13}
    page, _ = ctl.admin.request("GET", f"{API}/identities?offset=10")
    assert page["meta"]["pagination"] == {"limit": 10, "offset": 10, "totalCount": 13} and len(page["data"]) == 3
    page, _ = ctl.admin.request("GET", f"{API}/identities?limit=5&offset=40")  # past the end: still counted
    assert page["meta"]["pagination"] == {"limit": 5, "offset": 40, "totalCount": 13} and page["data"] == []
    # limit and skip in the filter win over the parameters
    page, _ = ctl.admin.request("GET", f"{API}/identities?limit=3&offset=0&filter=" + quote('name contains "p-" skip 10 limit 5'))
    assert page["meta"]["pagination"] == {"limit": 5, "offset": 10, "totalCount": 12}
    assert _names(page["data"]) == ["p-10", "p-11"]
    page, _ = ctl.admin.request("GET", f"{API}/identities?limit=2&filter=" + quote("true limit none"))
    assert page["meta"]["pagination"] == {"limit": 2**63 - 1, "offset": 0, "totalCount": 13} and len(page["data"]) == 13
    page, _ = ctl.admin.request("GET", f"{API}/identities?filter=" + quote("true limit 100000"))
    assert page["meta"]["pagination"]["limit"] == 500
    page, _ = ctl.admin.request("GET", f"{API}/identities?filter=" + quote("true skip 200000 limit 0"))
    assert page["meta"]["pagination"] == {"limit": 10, "offset": 100000, "totalCount": 13}
    # a full page needs the count query; a short one does not change the answer
    page, _ = ctl.admin.request("GET", f"{API}/identities?limit=13")
    assert page["meta"]["pagination"]["totalCount"] == 13 and len(page["data"]) == 13
    page, _ = ctl.admin.request("GET", f"{API}/identities?limit=12&offset=1")
    assert page["meta"]["pagination"]["totalCount"] == 13 and len(page["data"]) == 12


def test_sort_parameter(ctl: ControllerHarness):
    _create_many(ctl, 3)
    assert _names(ctl.admin.data("GET", f"{API}/identities?sort=" + quote("name desc"))) == ["p-02", "p-01", "p-00", ADMIN]
    assert _names(ctl.admin.data("GET", f"{API}/identities?sort=" + quote("isAdmin desc, name"))) == [ADMIN, "p-00", "p-01", "p-02"]
    # the filter's own sort by wins
    assert _names(ctl.admin.data("GET", f"{API}/identities?sort=" + quote("name desc") + "&filter=" + quote("true sort by name"))) == [
        ADMIN, "p-00", "p-01", "p-02"]
    for bad, message in [("name sideways", 'Unexpected symbol: "sideways" at line: 1 column: 18. line: 1, column: 18, symbol: sideways'),
                         ("password", "unknown symbol 'password'")]:
        with pytest.raises(ControllerError) as excinfo:
            ctl.admin.data("GET", f"{API}/identities?sort=" + quote(bad))
        assert (excinfo.value.status, excinfo.value.code, excinfo.value.message) == (
            400, "INVALID_SORT_IDENTIFIER", "The sort order supplied is invalid")
        assert excinfo.value.cause == {"code": "UNHANDLED", "message": message}


def test_sort_by_nullable_field_is_stable(ctl: ControllerHarness):
    """Rows that tie (here on a missing externalId) still come in one order: id is the final tiebreak."""
    _create_many(ctl, 6)
    all_rows = ctl.admin.data("GET", f"{API}/identities?limit=500&filter=" + quote("true sort by externalId"))
    ids = [row["id"] for row in all_rows]
    assert ids == sorted(ids)
    paged = [row["id"] for offset in range(0, 7, 2)
             for row in ctl.admin.data("GET", f"{API}/identities?filter=" + quote(f"true sort by externalId skip {offset} limit 2"))]
    assert paged == ids


def test_authenticator_and_enrollment_symbols(ctl: ControllerHarness):
    identity_id, _ = ctl.create_identity("carol")
    admin_auth = ctl.admin.data("GET", f"{API}/authenticators?filter=" + quote('method = "updb" and updbUsername != null'))
    assert len(admin_auth) == 1 and admin_auth[0]["method"] == "updb"
    assert ctl.admin.data("GET", f"{API}/authenticators?filter=" + quote("certFingerprint != null")) == []
    enrollments = ctl.admin.data("GET", f"{API}/enrollments?filter=" + quote(f'identity = "{identity_id}" and method = "ott" and expiresAt > datetime(2000-01-01T00:00:00Z)'))
    assert [e["identityId"] for e in enrollments] == [identity_id]
    with pytest.raises(ControllerError) as excinfo:
        ctl.admin.data("GET", f"{API}/enrollments?filter=" + quote('tags.x = "y"'))
    assert excinfo.value.cause == {"code": "UNHANDLED", "message": "unknown symbol 'tags.x'"}


ROLE_CASES: list[tuple[str, str, Any]] = [
    (I, "roleFilter=%23web", {"alpha", "Delta", QUOTE}),
    (I, "roleFilter=%23web&roleFilter=%23db", {"Delta", QUOTE}),                         # AllOf by default
    (I, "roleFilter=%23web&roleFilter=%23db&roleSemantic=AnyOf", {"alpha", "beta", "Delta", QUOTE}),
    (I, "roleFilter=%23web&roleFilter=%23db&roleSemantic=AllOf", {"Delta", QUOTE}),
    (I, "roleFilter=%40{gamma}&roleFilter=%23db", {"beta", "Delta", QUOTE, "gamma"}),    # @id always unioned
    (I, "roleFilter=%40{gamma}&roleFilter=%40{alpha}", {"gamma", "alpha"}),
    (I, "roleFilter=%23all", set()),                                                     # the attribute "all"
    (I, "roleFilter=%23web&filter=" + quote('name != "Delta"'), {"alpha", QUOTE}),       # the filter on top
    (I, "roleSemantic=AnyOf", EVERYONE),
    (I, "roleFilter=%23web&roleSemantic=Sometimes", ("roleSemantic", "invalid semantic")),
    (I, "roleFilter=web", ("roleFilter", "role entries must prefixed with # (to indicate role attributes) or @ (to indicate a name or id)")),
    (S, "roleFilter=%23internal", {"svc-db"}),
    (R, "roleFilter=%23public&roleSemantic=AnyOf", {"er-one"}),
]


@pytest.mark.parametrize("path, query, expected", ROLE_CASES, ids=[f"{p}:{q}" for p, q, _ in ROLE_CASES])
def test_role_filter(ziti_controller_session: ControllerHarness, dataset: dict[str, str], path: str, query: str, expected: Any):
    admin = ziti_controller_session.admin
    for name, entity_id in dataset.items():
        query = query.replace("{" + name + "}", entity_id)
    url = f"{API}/{path}?limit=500&{query}"
    if isinstance(expected, tuple):
        with pytest.raises(ControllerError) as excinfo:
            admin.data("GET", url)
        assert (excinfo.value.status, excinfo.value.code) == (400, "COULD_NOT_VALIDATE")
        assert (excinfo.value.cause["field"], excinfo.value.cause["reason"]) == expected
        return
    names = _names(admin.data("GET", url))
    assert set(names) == expected and len(names) == len(expected)
