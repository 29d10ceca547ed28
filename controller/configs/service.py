"""Config types and configs: CRUD, the config-type schema rules, `data` validated against the type's JSON
schema (skipped for the empty schema `{}`, as real orchestrators create them), and the delete rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.api.listing import Page, paginate
from controller.api.render import base_entity, entity_ref
from controller.errors import CouldNotValidate, NotFound, Unhandled
from controller.ids import new_id
from controller.policies.sql import elements
from controller.store.models import Config, ConfigType, Service

CONFIG_TYPE_FILTERABLE = {"id": ConfigType.id, "name": ConfigType.name, "createdAt": ConfigType.created_at,
                          "updatedAt": ConfigType.updated_at, "tags": ConfigType.tags}
CONFIG_FILTERABLE = {"id": Config.id, "name": Config.name, "type": Config.config_type_id, "createdAt": Config.created_at,
                     "updatedAt": Config.updated_at, "tags": Config.tags}


def _duplicate(field: str, value: str, store: str) -> CouldNotValidate:
    return CouldNotValidate.for_field(field, f"duplicate value '{value}' in unique index on {store} store", value)


def _flush_unique(db: Session, name: str, store: str) -> None:
    try:
        db.flush()
    except IntegrityError:
        raise _duplicate("name", name, store) from None


# --- config types ----------------------------------------------------------------------------------------


def get_type(db: Session, type_id: str) -> ConfigType:
    row = db.get(ConfigType, type_id)
    if row is None:
        raise NotFound.for_id(type_id)
    return row


def _check_type_name(db: Session, name: str, own_id: str | None) -> None:
    if name == "all":
        raise CouldNotValidate.for_field("name", "all is a keyword and may not be used as a config type name", name)
    existing = db.scalars(select(ConfigType).where(ConfigType.name == name)).one_or_none()
    if existing is not None and existing.id != own_id:
        raise _duplicate("name", name, "configTypes")


def _check_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    schema = schema or {}
    if not schema:
        return {}
    import jsonschema  # here, not at the top: it costs start-up time and only config-type writes need it

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise CouldNotValidate.for_field("schema", f"invalid schema {exc.message}", schema) from None
    if schema.get("type") != "object":
        raise CouldNotValidate.for_field("schema", "invalid config type schema, root type must be object", schema)
    return schema


def create_type(db: Session, *, name: str, schema: dict[str, Any] | None, target: str | None, tags: dict[str, Any] | None,
                now: datetime) -> ConfigType:
    _check_type_name(db, name, None)
    row = ConfigType(id=new_id(), name=name, schema=_check_schema(schema), target=target, tags=tags or {},
                     created_at=now, updated_at=now)
    db.add(row)
    _flush_unique(db, name, "configTypes")
    return row


def update_type(db: Session, row: ConfigType, fields: dict[str, Any], *, now: datetime) -> None:
    if fields.get("name") is not None:
        _check_type_name(db, fields["name"], row.id)
        row.name = fields["name"]
    if "schema" in fields:
        row.schema = _check_schema(fields["schema"])
    if "target" in fields:
        row.target = fields["target"]
    if "tags" in fields:
        row.tags = fields["tags"] or {}
    row.updated_at = now


def delete_type(db: Session, row: ConfigType) -> None:
    if db.scalar(select(Config.id).where(Config.config_type_id == row.id).limit(1)) is not None:
        # The real store returns a plain error here, which its API renders as 500 UNHANDLED.
        raise Unhandled.with_reason(f"cannot delete config type {row.id}, as configs of that type exist")
    db.delete(row)


def list_types(db: Session, page: Page) -> tuple[list[ConfigType], int]:
    return paginate(db, select(ConfigType), page, CONFIG_TYPE_FILTERABLE, ConfigType.id)


def type_to_wire(row: ConfigType) -> dict[str, Any]:
    data = {**base_entity(row, "config-types", configs=f"./config-types/{row.id}/configs"), "name": row.name,
            "schema": row.schema or {}}
    if row.target is not None:
        data["target"] = row.target
    return data


# --- configs ---------------------------------------------------------------------------------------------


def get(db: Session, config_id: str) -> Config:
    row = db.get(Config, config_id)
    if row is None:
        raise NotFound.for_id(config_id)
    return row


def _validate_data(config_type: ConfigType, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CouldNotValidate.for_field("data", "invalid type, expected object", data)
    if config_type.schema:
        import jsonschema  # see _check_schema

        validator = jsonschema.validators.validator_for(config_type.schema)(config_type.schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if error is not None:
            field = ".".join(str(p) for p in error.absolute_path) or "(root)"
            value = error.instance if isinstance(error.instance, (str, int, float, bool, type(None), list, dict)) else None
            raise CouldNotValidate.for_field(field, f"{field} is invalid: {error.message}", value)
    return data


def _resolve_type(db: Session, type_id: str | None) -> ConfigType:
    if not type_id:
        raise CouldNotValidate.for_field("type", "config type must be specified", type_id)
    row = db.get(ConfigType, type_id)
    if row is None:
        raise CouldNotValidate.for_field("type", "invalid config type", type_id)
    return row


def _check_name(db: Session, name: str, own_id: str | None) -> None:
    existing = db.scalars(select(Config).where(Config.name == name)).one_or_none()
    if existing is not None and existing.id != own_id:
        raise _duplicate("name", name, "configs")


def create(db: Session, *, name: str, config_type_id: str | None, data: Any, tags: dict[str, Any] | None, now: datetime) -> Config:
    config_type = _resolve_type(db, config_type_id)
    _check_name(db, name, None)
    row = Config(id=new_id(), name=name, config_type_id=config_type.id, data=_validate_data(config_type, data),
                 tags=tags or {}, created_at=now, updated_at=now)
    db.add(row)
    _flush_unique(db, name, "configs")
    return row


def update(db: Session, row: Config, fields: dict[str, Any], *, now: datetime) -> None:
    """PUT and PATCH: the type cannot change; a `data` that is sent replaces the stored map as a whole."""
    if fields.get("name") is not None:
        _check_name(db, fields["name"], row.id)
        row.name = fields["name"]
    if "data" in fields:
        row.data = _validate_data(db.get(ConfigType, row.config_type_id), fields["data"])
    if "tags" in fields:
        row.tags = fields["tags"] or {}
    row.updated_at = now


def delete(db: Session, row: Config, *, now: datetime) -> None:
    """Succeeds while services use it: its id is removed from their `configs`."""
    for service in services_using(db, row.id):
        service.configs = [c for c in service.configs if c != row.id]
        service.updated_at = now
    db.delete(row)


def services_using(db: Session, config_id: str) -> list[Service]:
    config = elements(Service.configs, db.get_bind().dialect.name)
    used = exists(select(literal(1)).select_from(config).where(config.c.value == config_id))
    return list(db.scalars(select(Service).where(used).order_by(Service.id)))


def list_page(db: Session, page: Page, stmt: Any = None) -> tuple[list[Config], int]:
    return paginate(db, stmt if stmt is not None else select(Config), page, CONFIG_FILTERABLE, Config.id)


def to_wire_many(db: Session, rows: list[Config]) -> list[dict[str, Any]]:
    type_ids = sorted({r.config_type_id for r in rows})
    names = dict(db.execute(select(ConfigType.id, ConfigType.name).where(ConfigType.id.in_(type_ids))).all()) if type_ids else {}
    return [{
        **base_entity(r, "configs"),
        "name": r.name,
        "configTypeId": r.config_type_id,
        "configType": entity_ref("config-types", r.config_type_id, names.get(r.config_type_id)),
        "data": r.data,
    } for r in rows]


# --- services and configs --------------------------------------------------------------------------------


def validate_service_configs(db: Session, config_ids: list[str] | None) -> list[str]:
    """Config ids for a service: each must exist (404, as the real controller), at most one per type."""
    config_ids = list(dict.fromkeys(config_ids or []))
    by_type: dict[str, Config] = {}
    for config_id in config_ids:
        config = db.get(Config, config_id)
        if config is None:
            raise NotFound.for_id(config_id)
        other = by_type.get(config.config_type_id)
        if other is not None:
            type_name = db.get(ConfigType, config.config_type_id).name
            raise CouldNotValidate.for_field(
                "configs", f"duplicate configs named {other.name} and {config.name} found for config type {type_name}. "
                "Only one config of a given typed is allowed per service", config_ids)
        by_type[config.config_type_id] = config
    return config_ids


def config_map(db: Session, services: list[Service], requested: list[str]) -> dict[str, dict[str, Any]]:
    """service id -> {config-type name: data} for the requested types (names or ids; `all` for every type;
    unknown values ignored)."""
    result: dict[str, dict[str, Any]] = {s.id: {} for s in services}
    if not requested:
        return result
    config_ids = sorted({c for s in services for c in (s.configs or [])})
    if not config_ids:
        return result
    rows = db.execute(select(Config.id, Config.data, ConfigType.id, ConfigType.name)
                      .join(ConfigType, Config.config_type_id == ConfigType.id).where(Config.id.in_(config_ids))).all()
    wanted = set(requested)
    by_id = {cid: (data, tid, tname) for cid, data, tid, tname in rows}
    for service in services:
        for config_id in service.configs or []:
            if config_id not in by_id:
                continue
            data, type_id, type_name = by_id[config_id]
            if "all" in wanted or type_id in wanted or type_name in wanted:
                result[service.id][type_name] = data
    return result
