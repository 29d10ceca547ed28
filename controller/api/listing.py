"""List parameters as the real controller reads them: limit (default 10, capped at 500), offset, and a
small subset of the ziti filter language: `field = "v"`, `field contains "v"`, `field startswith "v"`,
`field = true|false`, joined with `and`; `true` matches everything."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.orm import Session

from controller.errors import InvalidFilter, InvalidPagination

DEFAULT_LIMIT, MAX_LIMIT = 10, 500
MAX_OFFSET = 2**63 - 1  # a Go int64, and what both databases take in OFFSET

_CLAUSE = re.compile(
    r'\s*(?P<field>[A-Za-z][A-Za-z0-9_.]*)\s*(?P<op>=|!=|contains|startswith|icontains)\s*'
    r'(?:"(?P<str>(?:[^"\\]|\\.)*)"|(?P<bool>true|false)|(?P<num>-?\d+))\s*',
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int
    filter: str | None


def page_from_query(params: dict[str, str]) -> Page:
    def integer(name: str, default: int) -> int:
        raw = params.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidPagination(cause={"field": name, "reason": "must be an integer", "value": raw}) from None
        if value < 0:
            raise InvalidPagination(cause={"field": name, "reason": "must not be negative", "value": value})
        if value > MAX_OFFSET:
            raise InvalidPagination(cause={"field": name, "reason": f"must be at most {MAX_OFFSET}", "value": raw})
        return value

    limit = integer("limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
    return Page(limit=min(limit, MAX_LIMIT), offset=integer("offset", 0), filter=params.get("filter") or None)


def filter_clause(text: str | None, columns: dict[str, Any]) -> ColumnElement[bool]:
    if not text or text.strip().lower() == "true":
        return true()
    clauses: list[ColumnElement[bool]] = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.fullmatch(part)
        if match is None or match["field"] not in columns:
            raise InvalidFilter(cause={"field": "filter", "reason": f"unsupported filter clause {part!r}; filterable fields: {', '.join(columns)}", "value": text})
        column = columns[match["field"]]
        value: Any = match["str"].replace('\\"', '"') if match["str"] is not None else (
            match["bool"].lower() == "true" if match["bool"] else int(match["num"])
        )
        op = match["op"].lower()
        if op == "=":
            clauses.append(column == value)
        elif op == "!=":
            clauses.append(column != value)
        elif op == "contains":
            clauses.append(column.contains(str(value), autoescape=True))
        elif op == "icontains":
            clauses.append(func.lower(column).contains(str(value).lower(), autoescape=True))
        else:
            clauses.append(column.startswith(str(value), autoescape=True))
    condition = clauses[0]
    for clause in clauses[1:]:
        condition = condition & clause
    return condition


def paginate(db: Session, stmt: Select, page: Page, columns: dict[str, Any], order_by: Any) -> tuple[list[Any], int]:
    stmt = stmt.where(filter_clause(page.filter, columns))
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(db.scalars(stmt.order_by(order_by).limit(page.limit).offset(page.offset)))
    return rows, total
