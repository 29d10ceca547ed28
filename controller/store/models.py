"""ORM rows. Wire schemas live in each domain's schemas.py and x509 objects in pki/: the three never merge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint, false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from controller.store.types import UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(40)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class Timestamps:
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Identity(Timestamps, Base):
    __tablename__ = "identities"
    # The default list order (name, then the id tiebreak), covering the keys a late row lookup reads first
    __table_args__ = (Index("ix_identities_name_id", "name", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    type_id: Mapped[str] = mapped_column(String(32), default="Default")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    external_id: Mapped[str | None] = mapped_column(String(255))
    auth_policy_id: Mapped[str] = mapped_column(String(40), default="default")
    default_hosting_cost: Mapped[int] = mapped_column(Integer, default=0)
    role_attributes: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    app_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sdk_info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    env_info: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Ca(Timestamps, Base):
    """A third-party CA: its certificate, whether it is verified (proof of its key), and what it may do
    (authenticate, auto-enroll, ott-ca enroll), with the rules for the identities it enrolls."""

    __tablename__ = "cas"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    # lower-case hex SHA-1 of the CA certificate's DER: the same CA cannot be registered twice
    fingerprint: Mapped[str] = mapped_column(String(40), unique=True)
    cert_pem: Mapped[str] = mapped_column(Text)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verification_token: Mapped[str] = mapped_column(String(64))
    is_auth_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_auto_ca_enrollment_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_ott_ca_enrollment_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    identity_roles: Mapped[list[str]] = mapped_column(default=list)
    identity_name_format: Mapped[str] = mapped_column(String(255), default="")
    external_id_claim: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Authenticator(Timestamps, Base):
    __tablename__ = "authenticators"
    __table_args__ = (
        UniqueConstraint("identity_id", "method", name="uq_authenticators_identity_method"),
        Index("ix_authenticators_created_at_id", "created_at", "id"),  # the default list order
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    username: Mapped[str | None] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    cert_pem: Mapped[str | None] = mapped_column(Text)
    # The certificate -> identity map: lower-case hex SHA-1 of the leaf DER, unique as in the real store.
    fingerprint: Mapped[str | None] = mapped_column(String(40), unique=True)
    unverified_cert_pem: Mapped[str | None] = mapped_column(Text)
    unverified_fingerprint: Mapped[str | None] = mapped_column(String(40))
    public_key_print: Mapped[str | None] = mapped_column(String(64))
    is_issued_by_network: Mapped[bool] = mapped_column(Boolean, default=False)
    is_extend_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    is_key_roll_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    extend_requested_at: Mapped[datetime | None]
    last_auth_resolved_to_root: Mapped[bool] = mapped_column(Boolean, default=False)
    last_extend_rolled_keys: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the third-party CA that enrolled this certificate (ottca, ca); deleting the CA deletes the authenticator
    ca_id: Mapped[str | None] = mapped_column(ForeignKey("cas.id", ondelete="CASCADE"), index=True)


class EdgeRouter(Timestamps, Base):
    """An edge router: its enrollment state and its current certificates (no control channel is simulated)."""

    __tablename__ = "edge_routers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # lower-case hex SHA-1 of the current client leaf: what /enroll/extend/router looks the router up by
    fingerprint: Mapped[str | None] = mapped_column(String(40), unique=True)
    cert_pem: Mapped[str | None] = mapped_column(Text)
    server_cert_pem: Mapped[str | None] = mapped_column(Text)
    # the pending pair of a control-channel extension (20302), swapped in by its verify (20303); not used to log in
    unverified_fingerprint: Mapped[str | None] = mapped_column(String(40))
    unverified_cert_pem: Mapped[str | None] = mapped_column(Text)
    is_tunneler_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    no_traversal: Mapped[bool] = mapped_column(Boolean, default=False)
    cost: Mapped[int] = mapped_column(Integer, default=0)
    role_attributes: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    app_data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Enrollment(Timestamps, Base):
    """An identity's (ott, updb) or an edge router's (erott) enrollment: exactly one owner is set."""

    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("identity_id", "method", name="uq_enrollments_identity_method"),
        UniqueConstraint("edge_router_id", "method", name="uq_enrollments_edge_router_method"),
        CheckConstraint("(identity_id IS NULL) <> (edge_router_id IS NULL)", name="one_owner"),
        Index("ix_enrollments_created_at_id", "created_at", "id"),  # the default list order
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    identity_id: Mapped[str | None] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    edge_router_id: Mapped[str | None] = mapped_column(ForeignKey("edge_routers.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    jwt: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    username: Mapped[str | None] = mapped_column(String(255))
    ca_id: Mapped[str | None] = mapped_column(ForeignKey("cas.id", ondelete="CASCADE"), index=True)  # ottca


class ApiSession(Timestamps, Base):
    __tablename__ = "api_sessions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    authenticator_id: Mapped[str] = mapped_column(String(40))
    auth_method: Mapped[str] = mapped_column(String(16))
    is_cert_extendable: Mapped[bool] = mapped_column(Boolean, default=False)
    improper_client_cert_chain: Mapped[bool] = mapped_column(Boolean, default=False)
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    config_types: Mapped[list[str]] = mapped_column(default=list)
    last_activity_at: Mapped[datetime]


class Service(Timestamps, Base):
    __tablename__ = "services"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    encryption_required: Mapped[bool] = mapped_column(Boolean, default=True)
    role_attributes: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # config ids, in the order given (a JSON set like role_attributes, so the filter compiler reaches it)
    configs: Mapped[list[str]] = mapped_column(default=list)
    terminator_strategy: Mapped[str] = mapped_column(String(64), default="smartrouting")
    max_idle_time_millis: Mapped[int] = mapped_column(BigInteger, default=0)


class ConfigType(Timestamps, Base):
    __tablename__ = "config_types"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    target: Mapped[str | None] = mapped_column(String(16))
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Config(Timestamps, Base):
    __tablename__ = "configs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    config_type_id: Mapped[str] = mapped_column(ForeignKey("config_types.id"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ServicePolicy(Timestamps, Base):
    """Dial (type 1) or Bind (type 2): matched identities x matched services. Roles are stored sorted."""

    __tablename__ = "service_policies"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    policy_type: Mapped[int] = mapped_column(Integer)  # the real store's int: 1 = Dial, 2 = Bind
    semantic: Mapped[str] = mapped_column(String(8), default="AllOf")
    identity_roles: Mapped[list[str]] = mapped_column(default=list)
    service_roles: Mapped[list[str]] = mapped_column(default=list)
    posture_check_roles: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)


class EdgeRouterPolicy(Timestamps, Base):
    __tablename__ = "edge_router_policies"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    semantic: Mapped[str] = mapped_column(String(8), default="AllOf")
    identity_roles: Mapped[list[str]] = mapped_column(default=list)
    edge_router_roles: Mapped[list[str]] = mapped_column(default=list)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ServiceEdgeRouterPolicy(Timestamps, Base):
    __tablename__ = "service_edge_router_policies"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    semantic: Mapped[str] = mapped_column(String(8), default="AllOf")
    service_roles: Mapped[list[str]] = mapped_column(default=list)
    edge_router_roles: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ServiceSession(Timestamps, Base):
    """A client session (`POST /sessions`): one per (API session, type, service), reused while it lives."""

    __tablename__ = "service_sessions"
    __table_args__ = (UniqueConstraint("api_session_id", "session_type", "service_id", name="uq_service_sessions_key"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    api_session_id: Mapped[str] = mapped_column(ForeignKey("api_sessions.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    session_type: Mapped[str] = mapped_column(String(8))
    service_policies: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SimClock(Base):
    """One row: the simulated clock every replica reads. now = frozen_at, or wall clock + offset."""

    __tablename__ = "sim_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset_us: Mapped[int] = mapped_column(BigInteger, default=0)
    frozen_at: Mapped[datetime | None]
    # Policy overrides set through /sim/v1/policy (null: the setting applies). Kept in this one row so that
    # a request reads the clock and the policy with one query, and every replica sees both.
    identity_cert_lifetime_s: Mapped[float | None] = mapped_column(Float)
    router_cert_lifetime_s: Mapped[float | None] = mapped_column(Float)
    enrollment_lifetime_s: Mapped[float | None] = mapped_column(Float)
    session_timeout_s: Mapped[float | None] = mapped_column(Float)
    allow_expired_certs: Mapped[bool | None] = mapped_column(Boolean)
    # The number of fault rules, written in the transaction that creates or deletes one (this row locked
    # first). Every request reads this row first thing, so it learns whether rules exist without a probe
    # of its own (controller.sim.faults).
    fault_rules: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SimFaultRule(Base):
    __tablename__ = "sim_fault_rules"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    method: Mapped[str] = mapped_column(String(10), default="*")
    path_pattern: Mapped[str] = mapped_column(String(255))
    identity_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(String(255))
    delay_ms: Mapped[int] = mapped_column(Integer, default=0)
    drop_connection: Mapped[bool] = mapped_column(Boolean, default=False)
    # control-channel rules (method CTRL): the matched message is not handled (incoming) or not sent (outgoing)
    drop_message: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    probability: Mapped[float] = mapped_column(Float, default=1.0)
    remaining: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    fired: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class SimEvent(Base):
    """The event journal: what tests assert on instead of sleeping."""

    __tablename__ = "sim_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    identity_id: Mapped[str | None] = mapped_column(String(40), index=True)
    authenticator_id: Mapped[str | None] = mapped_column(String(40))
    old_fingerprint: Mapped[str | None] = mapped_column(String(40))
    new_fingerprint: Mapped[str | None] = mapped_column(String(40))
    error_code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RowCount(Base):
    """The exact row count of a listed table on PostgreSQL, kept by statement triggers (migration
    0011_list_paging) so that an unfiltered list page reads a few rows instead of counting the table (an
    index-only COUNT(*) of 100k rows is ~5-15 ms there). One row per writing backend (`slot` = its pid): two
    transactions never update the same row, so the counter adds no lock wait between writers; a table's count
    is the sum of its slots, exact in any snapshot. SQLite counts a whole table from its b-tree without
    reading rows, so it needs no triggers and this table stays empty there (controller.store.counts)."""

    __tablename__ = "row_counts"

    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rows: Mapped[int] = mapped_column(BigInteger)


class SimSnapshot(Base):
    __tablename__ = "sim_snapshots"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


# Tables that hold the network's state (what reset clears and snapshots capture), children last.
class NetworkState(Base):
    """One row of network-wide facts that no entity row can tell, e.g. when the service set last changed
    (a deleted service leaves no row behind, yet SDKs must see the change)."""

    __tablename__ = "network_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    services_changed_at: Mapped[datetime | None]


class RouterConnection(Base):
    """A router's open control channel, one row per router (the real controller allows one connection per
    router), kept alive by the replica that holds it: `alive_until` (wall clock) moves on with every check, so
    a replica that died leaves a row that goes stale. Every replica reads `isOnline` from here."""

    __tablename__ = "router_connections"

    router_id: Mapped[str] = mapped_column(ForeignKey("edge_routers.id", ondelete="CASCADE"), primary_key=True)
    connection_id: Mapped[str] = mapped_column(String(40))
    replica_id: Mapped[str] = mapped_column(String(40))
    ctrl_address: Mapped[str] = mapped_column(String(255))
    remote_address: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(255))
    connected_at: Mapped[datetime]  # simulated clock
    alive_until: Mapped[datetime]  # wall clock


STATE_TABLES = [Identity, Service, EdgeRouter, ConfigType, Config, ServicePolicy, EdgeRouterPolicy, ServiceEdgeRouterPolicy,
                Ca, Enrollment, Authenticator, ApiSession, ServiceSession, SimFaultRule, SimEvent, NetworkState,
                RouterConnection]
