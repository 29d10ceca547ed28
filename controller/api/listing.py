"""List parameters and paging as the real controller does them (management-model.md 1.5-1.6).

`filter` is ZitiQL (controller/zitiql). `limit`, `skip` and `sort by` written inside the filter win over the
`limit`, `offset` and `sort` query parameters. The page is 10 by default and at most 500; `limit none` (or
limit -1) means unlimited and is reported as 2^63-1; the offset is capped at 100000. Rows come in the
caller's default order (or the `sort by` fields), always with `id` as the final tiebreak, and
`totalCount` counts every match.

`paginate(db, stmt, page, symbols, order_by)` takes the entity's filterable symbols: a mapping of public
symbol name -> column, or a richer declaration from `controller.zitiql.symbols` (tags, sets, constants)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import True_, UnaryExpression

from controller.errors import CouldNotValidate, InvalidFilter, InvalidSortIdentifier
from controller.store import counts
from controller.zitiql import Query, ZitiQLError, ast, parse
from controller.zitiql.compiler import Compiler
from controller.zitiql.symbols import Scalar, Symbols, normalize

DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 10, 500, 100_000  # a larger offset is capped, as the real controller does
UNLIMITED = 2**63 - 1  # what the real controller reports as the limit of an unlimited page
MAX_QUERY_INTEGER = 2**63 - 1  # a Go int64: larger values of limit/offset are refused, not capped


def effective_limit(limit: int | None) -> int:
    if limit in (-1, UNLIMITED):
        return UNLIMITED
    if limit is None or limit <= 0:
        return DEFAULT_LIMIT
    return min(limit, MAX_LIMIT)


def effective_offset(offset: int | None) -> int:
    return min(max(offset or 0, 0), MAX_OFFSET)


def _filter_error(exc: ZitiQLError, error: type = InvalidFilter) -> Exception:
    return error(cause={"code": "UNHANDLED", "message": exc.message})


@dataclass(frozen=True)
class Page:
    """The effective page: `limit` and `offset` already merged with the filter's own `limit`/`skip` and
    bounded, `query` the parsed filter (its `sort` taken from the `sort` parameter when it has none)."""

    limit: int
    offset: int
    filter: str | None
    sort: str | None = None
    role_filter: tuple[str, ...] = ()
    role_semantic: str | None = None
    query: Query = field(init=False, repr=False, compare=False)
    sort_from_parameter: bool = field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self) -> None:
        try:
            query = parse(self.filter) if self.filter and self.filter.strip() else Query()
        except ZitiQLError as exc:
            raise _filter_error(exc) from None
        from_parameter = False
        if not query.sort and self.sort:
            try:
                sort = parse(f"true sort by {self.sort}").sort
            except ZitiQLError as exc:
                raise _filter_error(exc, InvalidSortIdentifier) from None
            query = Query(query.predicate, sort, query.skip, query.limit)
            from_parameter = True
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "sort_from_parameter", from_parameter)
        object.__setattr__(self, "limit", effective_limit(query.limit if query.limit is not None else self.limit))
        object.__setattr__(self, "offset", effective_offset(query.skip if query.skip is not None else self.offset))


def filter_clause(page: Page, symbols: Symbols, dialect: str) -> ColumnElement[bool]:
    try:
        compiler = Compiler(symbols, dialect)
        condition = compiler.predicate(page.query.predicate)
        if page.role_filter and "roleAttributes" in symbols:
            condition = and_(_role_clause(compiler, page, symbols), condition)
        return condition
    except ZitiQLError as exc:
        raise _filter_error(exc) from None


def _role_clause(compiler: Compiler, page: Page, symbols: Symbols) -> ColumnElement[bool]:
    """Entities carrying the `#attr` entries (all of them with AllOf, the default; any with AnyOf), plus the
    `@id` entries. `#all` means the attribute "all" here, not everything."""
    semantic = (page.role_semantic or "AllOf").lower()
    if semantic not in ("allof", "anyof"):
        raise CouldNotValidate(cause={"field": "roleSemantic", "reason": "invalid semantic", "value": page.role_semantic})
    bad = [role for role in page.role_filter if not role.startswith(("#", "@"))]
    if bad:
        raise CouldNotValidate(cause={"field": "roleFilter", "value": bad, "reason":
                                      "role entries must prefixed with # (to indicate role attributes) or @ (to indicate a name or id)"})
    attributes = [ast.Compare(ast.SetFunction("anyOf", "roleAttributes"), "=", role[1:])
                  for role in page.role_filter if role.startswith("#")]
    ids = [role[1:] for role in page.role_filter if role.startswith("@")]
    matches: list[ColumnElement[bool]] = []
    if attributes:
        combined = [compiler.predicate(node) for node in attributes]
        matches.append(and_(*combined) if semantic == "allof" else or_(*combined))
    if ids:
        matches.append(compiler.predicate(ast.InList(ast.Field("id"), tuple(ids))))
    return or_(*matches)


def order_clauses(page: Page, symbols: Symbols, dialect: str, default: Any) -> list[Any]:
    try:
        clauses = Compiler(symbols, dialect).order_by(page.query.sort)
    except ZitiQLError as exc:
        raise _filter_error(exc, InvalidSortIdentifier if page.sort_from_parameter else InvalidFilter) from None
    if not page.query.sort:
        clauses = list(default) if isinstance(default, (list, tuple)) else [default]
    tiebreak = normalize("id", symbols["id"]) if "id" in symbols else None
    if isinstance(tiebreak, Scalar) and not any(_same(c, tiebreak.expr) for c in clauses):
        clauses.append(tiebreak.expr.asc())
    return clauses


def _same(clause: Any, column: Any) -> bool:
    element = getattr(clause, "element", clause)
    return element is column or getattr(element, "compare", lambda _: False)(getattr(column, "expression", column))


def paginate(db: Session, stmt: Select, page: Page, columns: Symbols, order_by: Any) -> tuple[list[Any], int]:
    """One page of `stmt` filtered by `page.query`, and the count of every match. The count query runs only
    when the page itself cannot tell it (a full page, or an empty page past the first)."""
    dialect = db.get_bind().dialect.name
    condition = filter_clause(page, columns, dialect)
    # No filter compiles to TRUE: leaving it out keeps SQLite's whole-table COUNT(*) fast path (a b-tree
    # count instead of a row loop), which a `WHERE 1 = 1` defeats.
    filtered = stmt if isinstance(condition, True_) else stmt.where(condition)
    limit = None if page.limit == UNLIMITED else page.limit
    clauses = order_clauses(page, columns, dialect, order_by)
    table = _whole_table(filtered)
    if page.offset and limit is not None and table is not None and counts.whole_table_count_is_cheap(dialect, table.name):
        # This count costs next to nothing (controller.store.counts): with it first, a page in the second
        # half of the table is picked walking the order backwards from the end.
        total = count_matches(db, filtered)
        return ([] if page.offset >= total else _page_rows(db, filtered, clauses, limit, page.offset, total)), total
    rows = _page_rows(db, filtered, clauses, limit, page.offset)
    if (limit is None or len(rows) < limit) and (rows or page.offset == 0):
        return rows, page.offset + len(rows)
    return rows, count_matches(db, filtered)


def _page_rows(db: Session, filtered: Select, clauses: list[Any], limit: int | None, offset: int,
               total: int | None = None) -> list[Any]:
    """The rows of one page. Past the first page this is a "late row lookup": the page's keys are picked
    first by a statement that reads only the keys (an index that serves the order then covers it, and an
    OFFSET walks its narrow entries instead of whole rows), and only those rows are then read, in order.
    With the whole table's `total`, a page nearer the end is picked in the reverse order, whose offset and
    limit are computed in the same statement from the count the statement itself sees (so a row written
    meanwhile cannot shift it): the same rows as the direct query, walking at most half the index."""
    entity = filtered.column_descriptions[0]["entity"]
    ordered = filtered.order_by(*clauses)
    if not offset or limit is None or entity is None:
        return list(db.scalars(ordered.limit(limit).offset(offset)))
    keys = sa_inspect(entity).primary_key
    backwards = [_reversed(clause) for clause in clauses] if total is not None and offset > total - offset - limit else []
    if backwards and all(clause is not None for clause in backwards):
        # SQLite spells the scalar least/greatest as two-argument min/max
        least, greatest = (func.least, func.greatest) if db.get_bind().dialect.name == "postgresql" else (func.min, func.max)
        seen = _count_statement(db, filtered).scalar_subquery()
        picked = filtered.order_by(*backwards).limit(greatest(least(limit, seen - offset), 0)).offset(greatest(seen - offset - limit, 0))
        if len(keys) == 1 and db.get_bind().dialect.name == "postgresql":
            # A LIMIT that is an expression is estimated at 10,000 rows, and the join would become a hash join
            # over the whole table; `= ANY(ARRAY(...))` is planned as an index lookup of the keys.
            chosen = func.any(func.array(picked.with_only_columns(*keys).scalar_subquery()))
            return list(db.scalars(select(entity).where(keys[0] == chosen).order_by(*clauses)))
    else:
        picked = ordered.limit(limit).offset(offset)
    window = picked.with_only_columns(*keys).subquery("page_keys")
    joined = select(entity).join(window, and_(*(window.c[key.name] == key for key in keys))).order_by(*clauses)
    return list(db.scalars(joined))


def _reversed(clause: Any) -> Any:
    """The clause sorting the other way; None when it is not a plain ascending or descending sort. Both
    databases put NULLs at opposite ends for ASC and DESC, so the reversed order is the exact mirror."""
    modifier = getattr(clause, "modifier", None)
    if modifier is operators.asc_op:
        return clause.element.desc()
    if modifier is operators.desc_op:
        return clause.element.asc()
    if isinstance(clause, UnaryExpression) or not hasattr(clause, "desc"):
        return None  # NULLS FIRST/LAST or something else: left to the forward walk
    return clause.desc()  # a bare column (or mapped attribute) sorts ascending


def _whole_table(filtered: Select) -> Any:
    """The table when the statement reads one whole table (no condition, nothing joined), else None.
    (get_final_froms() would tell, but compiles the statement on every call: 8 % of a list request's CPU.)"""
    entity = filtered.column_descriptions[0]["entity"]
    if entity is None or filtered.whereclause is not None or filtered._setup_joins or filtered._from_obj:
        return None
    return sa_inspect(entity).local_table


def count_matches(db: Session, filtered: Select) -> int:
    """The number of rows of the filtered statement: a whole table from its maintained count where there is
    one (controller.store.counts), otherwise `COUNT(*)`."""
    return int(db.scalar(_count_statement(db, filtered)) or 0)


def _count_statement(db: Session, filtered: Select) -> Select:
    """The maintained count of a whole table, or `COUNT(*)` with its subquery narrowed to the primary key, so
    that PostgreSQL can count from an index (index-only) and neither database carries whole rows into it."""
    table = _whole_table(filtered)
    maintained = counts.whole_table_count_statement(db, table.name) if table is not None else None
    if maintained is not None:
        return maintained
    entity = filtered.column_descriptions[0]["entity"]
    narrow = filtered.with_only_columns(*sa_inspect(entity).primary_key) if entity is not None else filtered
    return select(func.count()).select_from(narrow.order_by(None).subquery())
