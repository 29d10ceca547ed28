"""control channel: pending (unverified) router certificates, connected routers, channel fault rules

Revision ID: 0007_ctrl_channel
Revises: 0006_third_party_cas
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_ctrl_channel"
down_revision = "0006_third_party_cas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("edge_routers") as batch:
        batch.add_column(sa.Column("unverified_fingerprint", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("unverified_cert_pem", sa.Text(), nullable=True))
    with op.batch_alter_table("sim_fault_rules") as batch:
        batch.add_column(sa.Column("drop_message", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "router_connections",
        sa.Column("router_id", sa.String(length=40), nullable=False),
        sa.Column("connection_id", sa.String(length=40), nullable=False),
        sa.Column("replica_id", sa.String(length=40), nullable=False),
        sa.Column("ctrl_address", sa.String(length=255), nullable=False),
        sa.Column("remote_address", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alive_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["router_id"], ["edge_routers.id"], name=op.f("fk_router_connections_router_id_edge_routers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("router_id", name=op.f("pk_router_connections")),
    )


def downgrade() -> None:
    op.drop_table("router_connections")
    with op.batch_alter_table("sim_fault_rules") as batch:
        batch.drop_column("drop_message")
    with op.batch_alter_table("edge_routers") as batch:
        batch.drop_column("unverified_cert_pem")
        batch.drop_column("unverified_fingerprint")
