"""third-party CAs: the cas table, and the CA behind ottca enrollments and CA-enrolled authenticators

Revision ID: 0006_third_party_cas
Revises: 0004
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = "0006_third_party_cas"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cas",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("is_verified", sa.Boolean(), nullable=False),
        sa.Column("verification_token", sa.String(length=64), nullable=False),
        sa.Column("is_auth_enabled", sa.Boolean(), nullable=False),
        sa.Column("is_auto_ca_enrollment_enabled", sa.Boolean(), nullable=False),
        sa.Column("is_ott_ca_enrollment_enabled", sa.Boolean(), nullable=False),
        sa.Column("identity_roles", sa.JSON(), nullable=False),
        sa.Column("identity_name_format", sa.String(length=255), nullable=False),
        sa.Column("external_id_claim", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cas")),
        sa.UniqueConstraint("name", name=op.f("uq_cas_name")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_cas_fingerprint")),
    )
    for table in ("authenticators", "enrollments"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("ca_id", sa.String(length=40), nullable=True))
            batch.create_index(batch.f(f"ix_{table}_ca_id"), ["ca_id"], unique=False)
            batch.create_foreign_key(batch.f(f"fk_{table}_ca_id_cas"), "cas", ["ca_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    for table in ("enrollments", "authenticators"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(batch.f(f"fk_{table}_ca_id_cas"), type_="foreignkey")
            batch.drop_index(batch.f(f"ix_{table}_ca_id"))
            batch.drop_column("ca_id")
    op.drop_table("cas")
