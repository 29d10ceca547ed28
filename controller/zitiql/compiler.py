"""The AST to SQLAlchemy. Every predicate compiles to a two-valued SQL expression (never NULL), so that
`not`, `and` and `or` behave as the real evaluator does, and the real null rules hold: on a missing value
`=`, `<`, `contains`, `in`, `between`... are false, while `!=` and the `not` forms are true."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import (
    ARRAY, Boolean, ColumnElement, Float, Text, and_, case, cast, false, func, literal, not_, or_, select, true,
)


from controller.zitiql import ast
from controller.zitiql.errors import ZitiQLError, unknown_symbol
from controller.zitiql.symbols import Scalar, SetOf, Symbols, TagMap, normalize

MAX_SORT_FIELDS = 5
_TYPE_NAMES = {"string": "STRING", "number": "NUMBER", "bool": "BOOL", "datetime": "DATETIME", "null": "NULL"}


def literal_type(value: ast.Literal) -> str:
    if value is ast.NULL:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, datetime):
        return "datetime"
    return "string"


def render(value: ast.Literal) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, datetime):
        return f"datetime({value.isoformat()})"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


class Compiler:
    def __init__(self, symbols: Symbols, dialect: str):
        self.symbols = symbols
        self.dialect = dialect

    # -- symbols --
    def resolve(self, name: str) -> Scalar | TagMap | SetOf | tuple[TagMap, list[str]]:
        if name in self.symbols:
            return normalize(name, self.symbols[name])
        head, _, rest = name.partition(".")
        if rest and head in self.symbols:
            declared = normalize(head, self.symbols[head])
            if isinstance(declared, TagMap):
                return declared, rest.split(".")
        raise unknown_symbol(name)

    def scalar(self, name: str) -> Scalar | tuple[TagMap, list[str]]:
        symbol = self.resolve(name)
        if isinstance(symbol, SetOf):
            raise ZitiQLError(f"symbol '{name}' is a set symbol but is used in non-set function context")
        if isinstance(symbol, TagMap):
            raise ZitiQLError(f"symbol '{name}' is a map symbol but is used in non-map context")
        return symbol

    def set_symbol(self, ref: ast.Field | ast.SubQuery, function: str) -> SetOf:
        if isinstance(ref, ast.SubQuery):
            self.resolve(ref.name)  # relations are not public: an unknown symbol, as for real user filters
            raise ZitiQLError(f"symbol '{ref.name}' is not a set symbol but is used in set function {function}")
        symbol = self.resolve(ref.name)
        if not isinstance(symbol, SetOf):
            raise ZitiQLError(f"symbol '{ref.name}' is not a set symbol but is used in set function {function}")
        return symbol

    # -- predicates --
    def predicate(self, node: ast.Predicate) -> ColumnElement[bool]:
        if isinstance(node, ast.BoolConst):
            return true() if node.value else false()
        if isinstance(node, ast.Not):
            return not_(self.predicate(node.expr))
        if isinstance(node, ast.And):
            return and_(self.predicate(node.left), self.predicate(node.right))
        if isinstance(node, ast.Or):
            return or_(self.predicate(node.left), self.predicate(node.right))
        if isinstance(node, ast.BareField):
            return self.predicate(ast.Compare(ast.Field(node.name), "=", True))
        if isinstance(node, ast.IsEmpty):
            column = self.set_symbol(node.ref, "isEmpty").column
            return func.coalesce(func.json_array_length(column), 0) == 0
        return self.leaf(node)

    def leaf(self, node: ast.Compare | ast.InList | ast.Between | ast.Contains) -> ColumnElement[bool]:
        left = node.left
        if isinstance(left, ast.SetFunction):
            column = self.set_symbol(ast.Field(left.name), left.function).column
            fast = self._any_of_containment(column, node) if left.function == "anyOf" else None
            if fast is not None:
                return fast
            elements = self._elements(column)
            element = Scalar(elements.c.value, "string", nullable=False)
            test = self.test(element, node)
            if left.function == "anyOf":
                return select(literal(1)).select_from(elements).where(test).exists()
            return not_(select(literal(1)).select_from(elements).where(not_(test)).exists())
        if isinstance(left, ast.Count):
            column = self.set_symbol(left.ref, "count").column
            return self.test(Scalar(func.coalesce(func.json_array_length(column), 0), "number", nullable=False), node)
        symbol = self.scalar(left.name)
        if isinstance(symbol, tuple):
            return self.tag_test(*symbol, node)
        return self.test(symbol, node)

    def _any_of_containment(self, column: Any, node: Any) -> ColumnElement[bool] | None:
        """On PostgreSQL, `anyOf(set) = "v"` and `anyOf(set) in [...]` as one jsonb containment test instead of
        a scan of the elements (the answer is the same: the elements are strings)."""
        if self.dialect != "postgresql":
            return None
        from sqlalchemy.dialects.postgresql import JSONB  # PostgreSQL only: its import costs SQLite's start-up

        if isinstance(node, ast.Compare) and node.op == "=" and isinstance(node.value, str):
            return func.coalesce(cast(column, JSONB).op("@>", is_comparison=True)(cast(literal(json.dumps([node.value])), JSONB)), False)
        if isinstance(node, ast.InList) and not node.negated and all(isinstance(v, str) for v in node.values):
            return func.coalesce(cast(column, JSONB).op("?|", is_comparison=True)(cast(literal(list(node.values)), ARRAY(Text))), False)
        return None

    def _elements(self, column: Any) -> Any:
        if self.dialect == "postgresql":
            return func.json_array_elements_text(column).table_valued("value").render_derived()
        return func.json_each(column).table_valued("value").alias()

    # -- one typed value --
    def test(self, operand: Scalar, node: Any, *, computed: bool = False) -> ColumnElement[bool]:
        """`computed`: the operand is an expression (a tag read), not a column an index could serve."""
        expr, nullable = operand.expr, operand.nullable
        values = self._values(node)
        if isinstance(node, ast.Compare) and node.value is ast.NULL:
            if not nullable:
                return false() if node.op == "=" else true()
            return expr.is_(None) if node.op == "=" else expr.is_not(None)
        for value in values:
            kind = literal_type(value)
            compatible = kind == operand.type and not (isinstance(node, ast.Contains) and kind != "string")
            if not compatible:
                raise ZitiQLError(f"operation {self.describe(node)} is not supported with operands types "
                                  f"{_TYPE_NAMES[operand.type]}, {_TYPE_NAMES[kind]}")
        positive, condition = self._condition(expr, operand.type, node)
        if not nullable:
            return condition
        if computed:  # evaluate the (JSON) expression once; NULL means missing
            return func.coalesce(condition, not positive)
        return and_(expr.is_not(None), condition) if positive else or_(expr.is_(None), condition)

    def _values(self, node: Any) -> tuple[ast.Literal, ...]:
        if isinstance(node, ast.InList):
            return node.values
        if isinstance(node, ast.Between):
            return (node.lower, node.upper)
        return (node.value,)

    def _condition(self, expr: Any, kind: str, node: Any) -> tuple[bool, ColumnElement[bool]]:
        """(positive, condition on a present value). Positive tests are false on a missing value; the rest true."""
        ordered = self._ordered(expr) if kind == "string" else expr
        if isinstance(node, ast.Compare):
            ops: dict[str, Callable[[Any, Any], Any]] = {
                "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
                "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
            }
            target = expr if node.op in ("=", "!=") else ordered
            return node.op != "!=", ops[node.op](target, node.value)
        if isinstance(node, ast.InList):
            values = list(node.values)
            if kind == "number" and any(isinstance(v, float) for v in values):
                values = [float(v) for v in values]  # one parameter type for the whole list (psycopg)
            condition = expr.in_(values)
            return not node.negated, (not_(condition) if node.negated else condition)
        if isinstance(node, ast.Between):
            condition = and_(ordered >= node.lower, ordered < node.upper)
            return not node.negated, (not_(condition) if node.negated else condition)
        haystack, needle = (func.upper(expr), node.value.upper()) if node.ignore_case else (expr, node.value)
        found = (func.strpos(haystack, needle) if self.dialect == "postgresql" else func.instr(haystack, needle)) > 0
        return not node.negated, (not_(found) if node.negated else found)

    def _ordered(self, expr: Any) -> Any:
        """Byte-wise string order, as Go compares strings, whatever the database's collation."""
        return expr.collate("C") if self.dialect == "postgresql" else expr

    # -- tags.<name> --
    def tag_test(self, tags: TagMap, path: list[str], node: Any) -> ColumnElement[bool]:
        column = tags.column
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB  # see _any_of_containment

            pg_path = cast(literal("{" + ",".join(path) + "}"), ARRAY(Text))
            json_type = func.json_typeof(column.op("#>")(pg_path))
            text = column.op("#>>", return_type=Text)(pg_path)
            typed = {"string": case((json_type == "string", text)),
                     "number": case((json_type == "number", cast(text, Float))),
                     "bool": case((json_type == "boolean", cast(text, Boolean)))}
        else:
            sqlite_path = "$" + "".join(f'."{segment}"' for segment in path)
            json_type = func.json_type(column, sqlite_path)
            value = func.json_extract(column, sqlite_path)
            typed = {"string": case((json_type == "text", value)),
                     "number": case((json_type.in_(["integer", "real"]), value)),
                     "bool": case((json_type == "true", True), (json_type == "false", False))}
        if isinstance(node, ast.Compare) and node.value is ast.NULL:
            missing = func.coalesce(json_type, "null") == "null"
            return missing if node.op == "=" else not_(missing)
        kind = literal_type(self._values(node)[0])
        if kind not in typed:  # a datetime: no JSON tag holds one, so the value counts as missing
            negated = (isinstance(node, ast.Compare) and node.op == "!=") or getattr(node, "negated", False)
            return true() if negated else false()
        if self.dialect == "postgresql" and kind in ("string", "number", "bool") and (
                isinstance(node, ast.InList) or (isinstance(node, ast.Compare) and node.op in ("=", "!="))):
            # JSON equality on the one value: a single read of the column, and typed (7 is not "7")
            piece = cast(column.op("#>")(pg_path), JSONB)
            values = [cast(literal(json.dumps(v)), JSONB) for v in self._values(node)]
            if isinstance(node, ast.InList):
                condition = piece.in_(values)
                positive = not node.negated
                return func.coalesce(condition if positive else not_(condition), not positive)
            return func.coalesce(piece == values[0] if node.op == "=" else piece != values[0], node.op == "!=")
        return self.test(Scalar(typed[kind], kind, nullable=True), node, computed=True)

    # -- sort --
    def order_by(self, fields: tuple[ast.SortField, ...]) -> list[Any]:
        clauses = []
        for field in fields[:MAX_SORT_FIELDS]:
            symbol = self.resolve(field.name)
            if not isinstance(symbol, Scalar):
                raise ZitiQLError(f"invalid sort field '{field.name}': only scalar fields can be sorted on")
            if not symbol.sortable:
                continue
            expr = symbol.expr
            clauses.append(expr.desc() if field.descending else expr.asc())
        return clauses

    @staticmethod
    def describe(node: Any) -> str:
        left = node.left
        name = (f"{left.function}({left.name})" if isinstance(left, ast.SetFunction)
                else "count(...)" if isinstance(left, ast.Count) else left.name)
        if isinstance(node, ast.Compare):
            return f"{name} {node.op} {render(node.value)}"
        if isinstance(node, ast.InList):
            return f"{name} {'not in' if node.negated else 'in'} [{', '.join(render(v) for v in node.values)}]"
        if isinstance(node, ast.Between):
            return f"{name} {'not between' if node.negated else 'between'} {render(node.lower)} and {render(node.upper)}"
        word = ("not " if node.negated else "") + ("icontains" if node.ignore_case else "contains")
        return f"{name} {word} {render(node.value)}"

