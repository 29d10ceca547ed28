"""sim policy overrides on the sim_clock row

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sim_clock", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_cert_lifetime_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("enrollment_lifetime_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("session_timeout_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("allow_expired_certs", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sim_clock", schema=None) as batch_op:
        batch_op.drop_column("allow_expired_certs")
        batch_op.drop_column("session_timeout_s")
        batch_op.drop_column("enrollment_lifetime_s")
        batch_op.drop_column("identity_cert_lifetime_s")
