"""List paging at any offset, over real mTLS on both databases (issue 11, lists): every page past the first
is read by a late row lookup, and the whole-table totalCount comes from the maintained row counts on
PostgreSQL (controller.store.counts). Whatever the path, the pages must be exactly the slices of the whole
ordered list and totalCount exact after every kind of write."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from controller.store.counts import COUNTED_TABLES

API = "/edge/management/v1"
ORDERS = [  # sorts whose pages must concatenate to the whole list: default, descending, nullable, duplicates
    None, "name desc", "externalId", "externalId desc", "createdAt desc", "isAdmin", "isAdmin desc, externalId",
]


def _ids(ctl, path: str) -> list[str]:
    return [row["id"] for row in ctl.admin.data("GET", path)]


@pytest.fixture
def thirteen(ctl) -> list[str]:
    """13 identities (+ the default admin) with duplicate and missing sort keys, so the id tiebreak and the
    NULL placement decide part of the order."""
    ids = []
    for i in range(13):
        body = {"name": f"page-{i:02d}", "type": "Default", "isAdmin": i % 5 == 0}
        if i % 2:
            body["externalId"] = f"ext-{i % 3}"
        ids.append(ctl.admin.data("POST", f"{API}/identities", json_body=body)["id"])
    return ids


@pytest.mark.parametrize("sort", ORDERS)
@pytest.mark.parametrize("zql", [None, 'name contains "page-"'])
def test_pages_at_every_offset_are_slices_of_the_whole_list(ctl, thirteen, sort, zql):
    sort_query = f"&sort={quote(sort)}" if sort else ""
    query = sort_query + (f"&filter={quote(zql)}" if zql else "")
    whole = _ids(ctl, f"{API}/identities?filter={quote((zql or 'true') + ' limit none')}{sort_query}")
    assert len(whole) == 14 - (1 if zql else 0)
    for limit in (1, 3, 5):
        for offset in range(0, len(whole) + 2, 2):
            body, _ = ctl.admin.request("GET", f"{API}/identities?limit={limit}&offset={offset}{query}")
            assert [row["id"] for row in body["data"]] == whole[offset:offset + limit], (limit, offset)
            assert body["meta"]["pagination"] == {"limit": limit, "offset": offset, "totalCount": len(whole)}


def test_sort_inside_the_filter_pages_the_same_way(ctl, thirteen):
    whole = _ids(ctl, f"{API}/identities?filter=" + quote("true sort by externalId desc, isAdmin limit none"))
    paged = [row for skip in range(0, 14, 4)
             for row in _ids(ctl, f"{API}/identities?filter=" + quote(f"true sort by externalId desc, isAdmin skip {skip} limit 4"))]
    assert paged == whole and len(whole) == 14


def _total(ctl, entity: str) -> int:
    """totalCount of a full first page of one row: the count query (maintained or COUNT(*)) answers it."""
    body, _ = ctl.admin.request("GET", f"{API}/{entity}?limit=1")
    return body["meta"]["pagination"]["totalCount"]


def _all(ctl, entity: str) -> int:
    return len(ctl.admin.data("GET", f"{API}/{entity}?filter=" + quote("true limit none")))


def test_whole_table_counts_follow_creates_cascading_deletes_reset_and_restore(ctl):
    lists = ("identities", "authenticators", "enrollments")
    alice = ctl.enroll_identity("count-alice")  # identity + cert authenticator
    ctl.enroll_identity("count-bob")
    pending = ctl.admin.data("POST", f"{API}/identities",
                             json_body={"name": "count-carol", "type": "Default", "isAdmin": False, "enrollment": {"ott": True}})
    ctl.admin.data("POST", f"{API}/identities", json_body={"name": "count-dave", "type": "Default", "isAdmin": False})

    def assert_exact() -> dict[str, int]:
        totals = {entity: _total(ctl, entity) for entity in lists}
        assert totals == {entity: _all(ctl, entity) for entity in lists}
        return totals

    before = assert_exact()
    assert before["identities"] == 5 and before["enrollments"] >= 1
    ctl.snapshot("counted")
    ctl.admin.request("DELETE", f"{API}/identities/{alice.id}")  # its authenticator goes with it (cascade)
    ctl.admin.request("DELETE", f"{API}/identities/{pending['id']}")  # and its enrollment
    after_delete = assert_exact()
    assert after_delete["identities"] == 3 and after_delete["authenticators"] < before["authenticators"]
    ctl.restore("counted")
    assert assert_exact() == before
    ctl.reset()
    assert assert_exact() == {"identities": 1, "authenticators": 1, "enrollments": 0}


@pytest.fixture
def postgres_url(ctl, database_url) -> str:
    if database_url is None:
        pytest.skip("the row counts are kept on PostgreSQL only (SQLite counts a table from its b-tree)")
    return ctl.runtime.settings.resolved_database_url()


def test_every_counted_table_has_its_triggers_and_an_exact_count(ctl, postgres_url, thirteen):
    ctl.enroll_identity("count-erin")
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            triggers = {row[0] for row in conn.execute(text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '%_count_%'"))}
            assert triggers == {f"{table}_count_{event}" for table in COUNTED_TABLES
                                for event in ("insert", "delete", "truncate")}
            for table in sorted(COUNTED_TABLES):
                kept = conn.execute(text("SELECT coalesce(sum(rows), 0) FROM row_counts WHERE table_name = :t"), {"t": table}).scalar()
                assert kept == conn.execute(text(f"SELECT count(*) FROM {table}")).scalar(), table
    finally:
        engine.dispose()


def test_concurrent_writers_do_not_wait_on_the_counter(ctl, postgres_url):
    """Two open transactions inserting into the same counted table: the second commits without waiting for
    the first (lock_timeout would raise), because each backend adds to its own slot."""
    engine = create_engine(postgres_url)
    insert = text("INSERT INTO cas (id, name, fingerprint, cert_pem, is_verified, verification_token, is_auth_enabled, "
                  "is_auto_ca_enrollment_enabled, is_ott_ca_enrollment_enabled, identity_roles, identity_name_format, "
                  "tags, created_at, updated_at) VALUES (:id, :id, :id, '', false, '', false, false, false, '[]', '', "
                  "'{}', now(), now())")
    try:
        with engine.connect() as first, engine.connect() as second:
            first.execute(insert, {"id": "counter-first"})  # open, uncommitted, holding its slot
            second.execute(text("SET lock_timeout = '2s'"))
            second.execute(insert, {"id": "counter-second"})
            second.commit()
            first.rollback()
        assert _total(ctl, "cas") == _all(ctl, "cas") == 1
    finally:
        engine.dispose()
