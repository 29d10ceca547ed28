"""management model: config types, configs, service fields, the three policy types, client sessions

Revision ID: 0008_mgmt_model
Revises: 0004
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = "0008_mgmt_model"
down_revision = "0007_ctrl_channel"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column]:
    return [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)]


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("configs", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("terminator_strategy", sa.String(length=64), nullable=False, server_default="smartrouting"))
        batch.add_column(sa.Column("max_idle_time_millis", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "config_types",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("schema", sa.JSON(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_types")),
        sa.UniqueConstraint("name", name=op.f("uq_config_types_name")),
    )
    op.create_table(
        "configs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("config_type_id", sa.String(length=40), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["config_type_id"], ["config_types.id"], name=op.f("fk_configs_config_type_id_config_types")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_configs")),
        sa.UniqueConstraint("name", name=op.f("uq_configs_name")),
    )
    op.create_index(op.f("ix_configs_config_type_id"), "configs", ["config_type_id"])
    op.create_table(
        "service_policies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("policy_type", sa.Integer(), nullable=False),
        sa.Column("semantic", sa.String(length=8), nullable=False),
        sa.Column("identity_roles", sa.JSON(), nullable=False),
        sa.Column("service_roles", sa.JSON(), nullable=False),
        sa.Column("posture_check_roles", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_service_policies_name")),
    )
    op.create_table(
        "edge_router_policies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("semantic", sa.String(length=8), nullable=False),
        sa.Column("identity_roles", sa.JSON(), nullable=False),
        sa.Column("edge_router_roles", sa.JSON(), nullable=False),
        sa.Column("is_system", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edge_router_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_edge_router_policies_name")),
    )
    op.create_table(
        "service_edge_router_policies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("semantic", sa.String(length=8), nullable=False),
        sa.Column("service_roles", sa.JSON(), nullable=False),
        sa.Column("edge_router_roles", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_edge_router_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_service_edge_router_policies_name")),
    )
    op.create_table(
        "service_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("api_session_id", sa.String(length=40), nullable=False),
        sa.Column("identity_id", sa.String(length=40), nullable=False),
        sa.Column("service_id", sa.String(length=40), nullable=False),
        sa.Column("session_type", sa.String(length=8), nullable=False),
        sa.Column("service_policies", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["api_session_id"], ["api_sessions.id"], name=op.f("fk_service_sessions_api_session_id_api_sessions"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["identity_id"], ["identities.id"], name=op.f("fk_service_sessions_identity_id_identities"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_service_sessions_service_id_services"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_sessions")),
        sa.UniqueConstraint("token", name=op.f("uq_service_sessions_token")),
        sa.UniqueConstraint("api_session_id", "session_type", "service_id", name="uq_service_sessions_key"),
    )
    for column in ("api_session_id", "identity_id", "service_id"):
        op.create_index(op.f(f"ix_service_sessions_{column}"), "service_sessions", [column])


def downgrade() -> None:
    op.drop_table("service_sessions")
    op.drop_table("service_edge_router_policies")
    op.drop_table("edge_router_policies")
    op.drop_table("service_policies")
    op.drop_index(op.f("ix_configs_config_type_id"), table_name="configs")
    op.drop_table("configs")
    op.drop_table("config_types")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("max_idle_time_millis")
        batch.drop_column("terminator_strategy")
        batch.drop_column("configs")
