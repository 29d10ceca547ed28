"""How an entity declares its filterable (public) symbols.

A declaration is a mapping `name -> symbol`. A symbol is either a plain SQLAlchemy column (its type decides:
strings, numbers, booleans, datetimes; a JSON column named `tags` is the tag map, any other JSON column a
set of strings), or one of the richer declarations below. `entity_symbols(Model, ...)` adds what every real
entity has: `id`, `createdAt`, `updatedAt`, `isSystem` and `tags.<name>`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, Numeric, String, false, literal
from sqlalchemy.types import TypeDecorator, TypeEngine


@dataclass(frozen=True)
class Scalar:
    """One value per row: `type` is string, number, bool or datetime."""

    expr: Any
    type: str
    nullable: bool = True
    sortable: bool = True


@dataclass(frozen=True)
class TagMap:
    """A JSON object column; `tags.<name>` reads one key, typed by the literal it is compared with."""

    column: Any


@dataclass(frozen=True)
class SetOf:
    """A JSON array of strings (role attributes, config ids): usable only inside anyOf/allOf/count/isEmpty."""

    column: Any


Symbols = Mapping[str, Any]


def scalar(expr: Any, type_: str | None = None, *, nullable: bool | None = None, sortable: bool = True) -> Scalar:
    return Scalar(expr, type_ or _type_of(expr), _nullable(expr) if nullable is None else nullable, sortable)


def tags(column: Any) -> TagMap:
    return TagMap(column)


def set_of(column: Any) -> SetOf:
    return SetOf(column)


def constant(value: bool) -> Scalar:
    """A symbol every row has with the same value, e.g. `isSystem` on entities the simulator never marks."""
    return Scalar(literal(value, Boolean) if value else false(), "bool", nullable=False, sortable=False)


def entity_symbols(model: Any, **extra: Any) -> dict[str, Any]:
    symbols: dict[str, Any] = {"id": model.id, "createdAt": model.created_at, "updatedAt": model.updated_at,
                               "isSystem": constant(False)}
    if hasattr(model, "tags"):
        symbols["tags"] = tags(model.tags)
    symbols.update(extra)
    return symbols


def normalize(name: str, declared: Any) -> Scalar | TagMap | SetOf:
    if isinstance(declared, (Scalar, TagMap, SetOf)):
        return declared
    if _base_type(declared) is JSON:
        return TagMap(declared) if name == "tags" else SetOf(declared)
    return scalar(declared)


def _base_type(expr: Any) -> type[TypeEngine] | None:
    sql_type = expr.type
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl_instance if hasattr(sql_type, "impl_instance") else sql_type.impl
    for base in (JSON, Boolean, DateTime, Numeric, Integer, String):
        if isinstance(sql_type, base):
            return base
    return None


def _type_of(expr: Any) -> str:
    base = _base_type(expr)
    kinds = {Boolean: "bool", DateTime: "datetime", Numeric: "number", Integer: "number", String: "string"}
    if base not in kinds:
        raise TypeError(f"cannot filter on {expr!r}: declare its type with zitiql.symbols.scalar()")
    return kinds[base]


def _nullable(expr: Any) -> bool:
    column = getattr(expr, "expression", expr)
    return bool(getattr(column, "nullable", True))
