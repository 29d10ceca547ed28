"""network_state: when the service set last changed

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("services_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_state")),
    )


def downgrade() -> None:
    op.drop_table("network_state")
