"""lists: exact row counts of the listed tables on PostgreSQL, kept by triggers (row_counts); identities (name, id)

Revision ID: 0011_list_paging
Revises: 0010_fault_generation
Create Date: 2026-12-01

An unfiltered list page needs the table's count (totalCount); COUNT(*) walks every row or index entry on
PostgreSQL. The triggers add each INSERT/DELETE statement's row count to the writing backend's own row
(slot = pg_backend_pid()), so concurrent writers never wait on each other; now and then a writer folds the
rows of backends that have exited into its own (SKIP LOCKED: it never waits either) so the table stays small.
On SQLite the table is created (one schema for both) but stays empty: its COUNT(*) reads no rows.
The (name, id) index of identities serves their default order and covers the keys of a late row lookup.
"""
from alembic import op
import sqlalchemy as sa

revision = "0011_list_paging"
down_revision = "0010_fault_generation"
branch_labels = None
depends_on = None

# Frozen here (a migration must not change when the code does); controller.store.counts.COUNTED_TABLES
# names the same tables.
TABLES = ("identities", "authenticators", "enrollments", "edge_routers", "services", "config_types", "configs",
          "service_policies", "edge_router_policies", "service_edge_router_policies", "cas", "service_sessions")

FUNCTION = """
CREATE FUNCTION ziti_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint;
    folded bigint := 0;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM row_counts WHERE table_name = TG_TABLE_NAME;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO delta FROM new_rows;
    ELSE
        SELECT -count(*) INTO delta FROM old_rows;
    END IF;
    IF delta = 0 THEN
        RETURN NULL;
    END IF;
    IF random() < 0.02 THEN
        WITH gone AS (
            DELETE FROM row_counts AS c
             WHERE c.table_name = TG_TABLE_NAME AND c.slot IN (
                   SELECT r.slot FROM row_counts AS r
                    WHERE r.table_name = TG_TABLE_NAME AND r.slot <> pg_backend_pid()
                      AND NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a WHERE a.pid = r.slot)
                      FOR UPDATE SKIP LOCKED)
            RETURNING c.rows)
        SELECT coalesce(sum(gone.rows), 0) INTO folded FROM gone;
    END IF;
    INSERT INTO row_counts AS c (table_name, slot, rows) VALUES (TG_TABLE_NAME, pg_backend_pid(), delta + folded)
    ON CONFLICT (table_name, slot) DO UPDATE SET rows = c.rows + excluded.rows;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_index("ix_identities_name_id", "identities", ["name", "id"])
    op.create_table(
        "row_counts",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", "slot", name=op.f("pk_row_counts")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    for table in TABLES:
        # The triggers first: creating one waits for the table's writers in flight and blocks new ones until
        # this migration commits, so the count taken next misses nothing and counts nothing twice.
        op.execute(f"CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ziti_count_rows()")
        op.execute(f"CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ziti_count_rows()")
        op.execute(f"CREATE TRIGGER {table}_count_truncate AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ziti_count_rows()")
        op.execute(f"INSERT INTO row_counts (table_name, slot, rows) SELECT '{table}', 0, count(*) FROM {table}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for event in ("insert", "delete", "truncate"):
                op.execute(f"DROP TRIGGER {table}_count_{event} ON {table}")
        op.execute("DROP FUNCTION ziti_count_rows()")
    op.drop_table("row_counts")
    op.drop_index("ix_identities_name_id", table_name="identities")
