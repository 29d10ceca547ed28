"""The role match as a SQL expression, on SQLite (`json_each`) and PostgreSQL (`json_array_elements_text`),
so that what policies grant is resolved by the database at request time from the rows every replica shares.

An entity matches one side of a policy when its `@id` is in the roles, or the roles hold `#all`, or the
semantic is AllOf and there is at least one `#` role and the entity carries every one, or the semantic is
AnyOf and it carries at least one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, literal, not_, or_, select


def elements(column: Any, dialect: str) -> Any:
    """The strings of a JSON array column as a one-column (`value`) row source, correlated to the outer row."""
    if dialect == "postgresql":
        return func.json_array_elements_text(column).table_valued("value").render_derived()
    return func.json_each(column).table_valued("value")


def _is_attribute_role(value: Any) -> ColumnElement[bool]:
    return func.substr(value, 1, 1) == "#"


def matches(roles: Any, semantic: Any, entity_id: Any, attributes: Any, dialect: str) -> ColumnElement[bool]:
    role = elements(roles, dialect)
    by_id_or_all = exists(select(literal(1)).select_from(role).where(
        or_(role.c.value == literal("@") + entity_id, role.c.value == "#all")))

    any_attribute_role = exists(select(literal(1)).select_from(role).where(_is_attribute_role(role.c.value)))
    attribute = elements(attributes, dialect)
    carried = exists(select(literal(1)).select_from(attribute).where(literal("#") + attribute.c.value == role.c.value))
    missing_one = exists(select(literal(1)).select_from(role).where(_is_attribute_role(role.c.value), not_(carried)))
    has_one = exists(select(literal(1)).select_from(role).where(_is_attribute_role(role.c.value), carried))
    any_of = semantic == "AnyOf"
    return or_(by_id_or_all, and_(not_(any_of), any_attribute_role, not_(missing_one)), and_(any_of, has_one))
