"""fault-rule count on the sim row: a request learns from its first read whether fault rules exist

Revision ID: 0010_fault_generation
Revises: 0009_perf
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_fault_generation"
down_revision = "0009_perf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sim_clock", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fault_rules", sa.Integer(), server_default="0", nullable=False))
    # Rules created before this revision count too: without this they would never fire again.
    op.execute("UPDATE sim_clock SET fault_rules = (SELECT count(*) FROM sim_fault_rules)")


def downgrade() -> None:
    with op.batch_alter_table("sim_clock", schema=None) as batch_op:
        batch_op.drop_column("fault_rules")
