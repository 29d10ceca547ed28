"""edge routers, router (erott) enrollments, router certificate lifetime override

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edge_routers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_verified", sa.Boolean(), nullable=False),
        sa.Column("fingerprint", sa.String(length=40), nullable=True),
        sa.Column("cert_pem", sa.Text(), nullable=True),
        sa.Column("server_cert_pem", sa.Text(), nullable=True),
        sa.Column("is_tunneler_enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("no_traversal", sa.Boolean(), nullable=False),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("role_attributes", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("app_data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edge_routers")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_edge_routers_fingerprint")),
        sa.UniqueConstraint("name", name=op.f("uq_edge_routers_name")),
    )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.alter_column("identity_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.add_column(sa.Column("edge_router_id", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_enrollments_edge_router_id_edge_routers"), "edge_routers", ["edge_router_id"], ["id"], ondelete="CASCADE",
        )
        batch_op.create_index(batch_op.f("ix_enrollments_edge_router_id"), ["edge_router_id"], unique=False)
        batch_op.create_unique_constraint("uq_enrollments_edge_router_method", ["edge_router_id", "method"])
        batch_op.create_check_constraint(
            batch_op.f("ck_enrollments_one_owner"), "(identity_id IS NULL) <> (edge_router_id IS NULL)",
        )
    with op.batch_alter_table("sim_clock", schema=None) as batch_op:
        batch_op.add_column(sa.Column("router_cert_lifetime_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sim_clock", schema=None) as batch_op:
        batch_op.drop_column("router_cert_lifetime_s")
    op.execute("DELETE FROM enrollments WHERE identity_id IS NULL")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_enrollments_one_owner"), type_="check")
        batch_op.drop_constraint("uq_enrollments_edge_router_method", type_="unique")
        batch_op.drop_index(batch_op.f("ix_enrollments_edge_router_id"))
        batch_op.drop_constraint(batch_op.f("fk_enrollments_edge_router_id_edge_routers"), type_="foreignkey")
        batch_op.drop_column("edge_router_id")
        batch_op.alter_column("identity_id", existing_type=sa.String(length=40), nullable=False)
    op.drop_table("edge_routers")
