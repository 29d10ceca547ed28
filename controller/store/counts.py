"""Exact whole-table row counts without counting the table (issue 11, lists).

On PostgreSQL the tables below carry triggers (migration 0011_list_paging) that keep `row_counts` exact in
the writing transaction itself; their sum per table is the table's count in the reader's snapshot. On SQLite
`SELECT count(*) FROM t` is already a b-tree count that reads no rows (~0.1 ms at 100k), so nothing is kept
there and `whole_table_count_statement` answers None: the caller counts."""

from __future__ import annotations

from sqlalchemy import BigInteger, Select, cast, func, select
from sqlalchemy.orm import Session

from controller.store.models import RowCount

# The tables migration 0011_list_paging put the triggers on (the lists' tables). A table missing here is
# counted by COUNT(*); one listed here without the triggers would be miscounted (tests/test_list_paging.py).
COUNTED_TABLES = frozenset({
    "identities", "authenticators", "enrollments", "edge_routers", "services", "config_types", "configs",
    "service_policies", "edge_router_policies", "service_edge_router_policies", "cas", "service_sessions",
})


def whole_table_count_is_cheap(dialect: str, table_name: str) -> bool:
    """Whether counting the whole table costs next to nothing: always on SQLite (a b-tree count), on
    PostgreSQL for the tables whose count is kept."""
    return dialect == "sqlite" or (dialect == "postgresql" and table_name in COUNTED_TABLES)


def whole_table_count_statement(db: Session, table_name: str) -> Select | None:
    """The statement reading the exact number of rows of `table_name`, or None when it is not kept for this
    table or database."""
    if table_name not in COUNTED_TABLES or db.get_bind().dialect.name != "postgresql":
        return None
    # sum() of a bigint is a numeric on PostgreSQL: back to an integer
    return select(cast(func.coalesce(func.sum(RowCount.rows), 0), BigInteger)).where(RowCount.table_name == table_name)
