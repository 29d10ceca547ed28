"""Read-only records of table rows, for the reads every request makes (the sim row, its API session and
identity). Loading ORM entities costs more than the statement itself (identity map, instance state,
attribute instrumentation: ~0.6 ms of CPU for the joined read on SQLite); a record is a named tuple with
the entity's attribute names, so code that only reads (`session.identity_id`, `sim.frozen_at`) takes
either. Writes to these rows go through explicit statements (see controller.sessions.repository)."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, inspect


class RecordType:
    """Every mapped column of `model`, in mapper order (so a column added to the model is read too), and
    the named tuple built from them."""

    def __init__(self, model: type) -> None:
        attributes = inspect(model).column_attrs
        self.columns: list[Column[Any]] = [attribute.columns[0] for attribute in attributes]
        self.fields: list[str] = [attribute.key for attribute in attributes]
        self.make = namedtuple(f"{model.__name__}Record", self.fields)._make  # type: ignore[misc]
        self.width = len(self.columns)
        self.key_index = next(i for i, column in enumerate(self.columns) if column.primary_key)


def split(row: Sequence[Any], *types: RecordType) -> list[Any]:
    """One joined row into one record per type (None where an outer join found nothing: a null primary key)."""
    records, start = [], 0
    for record_type in types:
        values = row[start:start + record_type.width]
        records.append(None if values[record_type.key_index] is None else record_type.make(values))
        start += record_type.width
    return records
