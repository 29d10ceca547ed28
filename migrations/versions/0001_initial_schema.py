"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identities',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('type_id', sa.String(length=32), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('is_default_admin', sa.Boolean(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('auth_policy_id', sa.String(length=40), nullable=False),
    sa.Column('default_hosting_cost', sa.Integer(), nullable=False),
    sa.Column('role_attributes', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('app_data', sa.JSON(), nullable=False),
    sa.Column('sdk_info', sa.JSON(), nullable=False),
    sa.Column('env_info', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities')),
    sa.UniqueConstraint('name', name=op.f('uq_identities_name'))
    )
    op.create_table('services',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('encryption_required', sa.Boolean(), nullable=False),
    sa.Column('role_attributes', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    sa.UniqueConstraint('name', name=op.f('uq_services_name'))
    )
    op.create_table('sim_clock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offset_us', sa.BigInteger(), nullable=False),
    sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_clock'))
    )
    op.create_table('sim_events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('identity_id', sa.String(length=40), nullable=True),
    sa.Column('authenticator_id', sa.String(length=40), nullable=True),
    sa.Column('old_fingerprint', sa.String(length=40), nullable=True),
    sa.Column('new_fingerprint', sa.String(length=40), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_sim_events'))
    )
    with op.batch_alter_table('sim_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sim_events_identity_id'), ['identity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sim_events_kind'), ['kind'], unique=False)

    op.create_table('sim_fault_rules',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('path_pattern', sa.String(length=255), nullable=False),
    sa.Column('identity_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('message', sa.String(length=255), nullable=True),
    sa.Column('delay_ms', sa.Integer(), nullable=False),
    sa.Column('drop_connection', sa.Boolean(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=True),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('matched', sa.Integer(), nullable=False),
    sa.Column('fired', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_fault_rules'))
    )
    op.create_table('sim_snapshots',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sim_snapshots'))
    )
    op.create_table('api_sessions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('identity_id', sa.String(length=40), nullable=False),
    sa.Column('authenticator_id', sa.String(length=40), nullable=False),
    sa.Column('auth_method', sa.String(length=16), nullable=False),
    sa.Column('is_cert_extendable', sa.Boolean(), nullable=False),
    sa.Column('improper_client_cert_chain', sa.Boolean(), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=False),
    sa.Column('config_types', sa.JSON(), nullable=False),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['identity_id'], ['identities.id'], name=op.f('fk_api_sessions_identity_id_identities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_sessions')),
    sa.UniqueConstraint('token', name=op.f('uq_api_sessions_token'))
    )
    with op.batch_alter_table('api_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_sessions_identity_id'), ['identity_id'], unique=False)

    op.create_table('authenticators',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('identity_id', sa.String(length=40), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('cert_pem', sa.Text(), nullable=True),
    sa.Column('fingerprint', sa.String(length=40), nullable=True),
    sa.Column('unverified_cert_pem', sa.Text(), nullable=True),
    sa.Column('unverified_fingerprint', sa.String(length=40), nullable=True),
    sa.Column('public_key_print', sa.String(length=64), nullable=True),
    sa.Column('is_issued_by_network', sa.Boolean(), nullable=False),
    sa.Column('is_extend_requested', sa.Boolean(), nullable=False),
    sa.Column('is_key_roll_requested', sa.Boolean(), nullable=False),
    sa.Column('extend_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_auth_resolved_to_root', sa.Boolean(), nullable=False),
    sa.Column('last_extend_rolled_keys', sa.Boolean(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['identity_id'], ['identities.id'], name=op.f('fk_authenticators_identity_id_identities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authenticators')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_authenticators_fingerprint')),
    sa.UniqueConstraint('identity_id', 'method', name='uq_authenticators_identity_method'),
    sa.UniqueConstraint('username', name=op.f('uq_authenticators_username'))
    )
    with op.batch_alter_table('authenticators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authenticators_identity_id'), ['identity_id'], unique=False)

    op.create_table('enrollments',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('identity_id', sa.String(length=40), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('jwt', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['identity_id'], ['identities.id'], name=op.f('fk_enrollments_identity_id_identities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrollments')),
    sa.UniqueConstraint('identity_id', 'method', name='uq_enrollments_identity_method'),
    sa.UniqueConstraint('token', name=op.f('uq_enrollments_token'))
    )
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollments_identity_id'), ['identity_id'], unique=False)
    # The simulated clock starts running, with no offset: now == wall clock.
    clock = sa.table("sim_clock", sa.column("id", sa.Integer), sa.column("offset_us", sa.BigInteger))
    op.bulk_insert(clock, [{"id": 1, "offset_us": 0}])


def downgrade() -> None:
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrollments_identity_id'))

    op.drop_table('enrollments')
    with op.batch_alter_table('authenticators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authenticators_identity_id'))

    op.drop_table('authenticators')
    with op.batch_alter_table('api_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_sessions_identity_id'))

    op.drop_table('api_sessions')
    op.drop_table('sim_snapshots')
    op.drop_table('sim_fault_rules')
    with op.batch_alter_table('sim_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sim_events_kind'))
        batch_op.drop_index(batch_op.f('ix_sim_events_identity_id'))

    op.drop_table('sim_events')
    op.drop_table('sim_clock')
    op.drop_table('services')
    op.drop_table('identities')
