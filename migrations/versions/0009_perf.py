"""performance: indexes for the default list order of authenticators and enrollments (created_at, id)

Revision ID: 0009_perf
Revises: 0008_mgmt_model
Create Date: 2026-12-01
"""
from alembic import op

revision = "0009_perf"
down_revision = "0008_mgmt_model"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_authenticators_created_at_id", "authenticators", ["created_at", "id"])
    op.create_index("ix_enrollments_created_at_id", "enrollments", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_enrollments_created_at_id", table_name="enrollments")
    op.drop_index("ix_authenticators_created_at_id", table_name="authenticators")
