"""A recursive-descent parser for the grammar of management-model.md section 1.1, with the real grouping:
`not` takes everything to its right (up to the enclosing parenthesis), and a chain of `and`/`or` nests to
the right with no precedence between them (`a and b or c` is `a and (b or c)`). Whitespace is significant
where the real grammar makes it so. The first error is reported in the real parser's message shape."""

from __future__ import annotations

from datetime import datetime

from controller.zitiql import ast
from controller.zitiql.errors import ZitiQLError, unexpected
from controller.zitiql.lexer import Token, tokenize

_INT64 = (-(2**63), 2**63 - 1)
_SCALARS = ("STRING", "NUMBER", "DATETIME")
_EQUALITY_VALUES = ("STRING", "NUMBER", "DATETIME", "BOOL", "NULL")


def parse(text: str) -> ast.Query:
    return _Parser(text).filter()


def string_value(token_text: str) -> str:
    """The real unescaping, quirk included: `\\\\` collapses first, then the other escapes."""
    body = token_text[1:-1].replace("\\\\", "\\")
    for escape, char in (('\\"', '"'), ("\\f", "\f"), ("\\n", "\n"), ("\\r", "\r"), ("\\t", "\t")):
        body = body.replace(escape, char)
    return body


def number_value(text: str) -> int | float:
    try:
        value = int(text)
        if _INT64[0] <= value <= _INT64[1]:
            return value
    except ValueError:
        pass
    return float(text)


def datetime_value(token_text: str) -> datetime:
    inner = token_text[len("datetime("):-1].strip()
    date, _, rest = inner.replace("t", "T").replace("z", "Z").partition("T")
    zone_at = max(rest.rfind("+"), rest.rfind("-"), rest.rfind("Z"))
    clock, zone = rest[:zone_at], rest[zone_at:]
    if "." in clock:
        seconds, fraction = clock.split(".")
        clock = f"{seconds}.{(fraction + '000000')[:6]}"
    try:
        return datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone == 'Z' else zone}")
    except ValueError as exc:
        raise ZitiQLError(f"invalid datetime {inner!r}: {exc}") from None


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers --
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def at(self, *kinds: str) -> bool:
        return self.peek().kind in kinds

    def take(self, *kinds: str) -> Token:
        token = self.peek()
        if token.kind not in kinds:
            raise unexpected(token.text, token.line, token.column)
        self.i += 1
        return token

    def ws(self) -> bool:
        if self.at("WS"):
            self.i += 1
            return True
        return False

    def ws_then(self, *kinds: str) -> bool:
        """True (and the whitespace consumed) when whitespace followed by one of `kinds` comes next."""
        if self.at("WS") and self.peek(1).kind in kinds:
            self.i += 1
            return True
        return False

    def fail(self, token: Token | None = None) -> ZitiQLError:
        token = token or self.peek()
        return unexpected(token.text, token.line, token.column)

    # -- rules --
    def filter(self) -> ast.Query:
        self.ws()
        query = self.query()
        self.ws()
        self.take("EOF")
        return query

    def query(self) -> ast.Query:
        predicate: ast.Predicate = ast.BoolConst(True)
        first = self.at("SORT", "SKIP", "LIMIT")
        if not first:
            predicate = self.predicate()
        sort: tuple[ast.SortField, ...] = ()
        skip = limit = None
        for clause in ("SORT", "SKIP", "LIMIT"):
            if (first and self.at(clause)) or (not first and self.ws_then(clause)):
                first = False
                if clause == "SORT":
                    sort = self.sort_clause()
                elif clause == "SKIP":
                    self.take("SKIP")
                    skip = self.count_value()
                else:
                    self.take("LIMIT")
                    self.take("WS")
                    limit = -1 if self.at("NONE") and self.take("NONE") else self.count_value(after_ws=True)
        return ast.Query(predicate, sort, skip, limit)

    def count_value(self, *, after_ws: bool = False) -> int:
        if not after_ws:
            self.take("WS")
        token = self.take("NUMBER")
        value = number_value(token.text)
        if not isinstance(value, int):
            raise self.fail(token)
        return value

    def sort_clause(self) -> tuple[ast.SortField, ...]:
        self.take("SORT")
        self.take("WS")
        self.take("BY")
        self.take("WS")
        fields = [self.sort_field()]
        while True:
            save = self.i
            self.ws()
            if not self.at("COMMA"):
                self.i = save
                break
            self.take("COMMA")
            self.ws()
            fields.append(self.sort_field())
        return tuple(fields)

    def sort_field(self) -> ast.SortField:
        name = self.take("IDENT", "QIDENT").text
        if self.ws_then("ASC", "DESC"):
            return ast.SortField(name, self.take("ASC", "DESC").kind == "DESC")
        return ast.SortField(name)

    def predicate(self) -> ast.Predicate:
        left = self.primary()
        if self.ws_then("AND", "OR"):
            op = self.take("AND", "OR").kind
            self.take("WS")
            right = self.predicate()  # right-nested, no precedence: the rest of the chain
            return ast.And(left, right) if op == "AND" else ast.Or(left, right)
        return left

    def primary(self) -> ast.Predicate:
        token = self.peek()
        if token.kind == "LPAREN":
            self.take("LPAREN")
            self.ws()
            inner = self.predicate()
            self.ws()
            self.take("RPAREN")
            return inner
        if token.kind == "NOT":
            self.take("NOT")
            self.take("WS")
            return ast.Not(self.predicate())  # reaches right, to the end of the enclosing group
        if token.kind == "BOOL":
            self.take("BOOL")
            return ast.BoolConst(token.text.lower() == "true")
        if token.kind == "ISEMPTY":
            self.take("ISEMPTY")
            return ast.IsEmpty(self.set_ref_in_parens())
        if token.kind in ("IDENT", "QIDENT", "ALLOF", "ANYOF", "COUNT"):
            return self.comparison()
        raise self.fail(token)

    def set_ref_in_parens(self) -> ast.Field | ast.SubQuery:
        self.take("LPAREN")
        self.ws()
        if self.at("FROM"):
            self.take("FROM")
            self.take("WS")
            name = self.take("IDENT", "QIDENT").text
            self.take("WS")
            self.take("WHERE")
            self.take("WS")
            ref: ast.Field | ast.SubQuery = ast.SubQuery(name, self.query())
        else:
            ref = ast.Field(self.take("IDENT", "QIDENT").text)
        self.ws()
        self.take("RPAREN")
        return ref

    def operand(self) -> ast.Operand:
        token = self.peek()
        if token.kind in ("ALLOF", "ANYOF"):
            self.take(token.kind)
            self.take("LPAREN")
            self.ws()
            name = self.take("IDENT", "QIDENT").text
            self.ws()
            self.take("RPAREN")
            return ast.SetFunction("allOf" if token.kind == "ALLOF" else "anyOf", name)
        if token.kind == "COUNT":
            self.take("COUNT")
            return ast.Count(self.set_ref_in_parens())
        return ast.Field(self.take("IDENT", "QIDENT").text)

    def comparison(self) -> ast.Predicate:
        left = self.operand()
        save = self.i
        had_ws = self.ws()
        token = self.peek()
        if token.kind in ("IN", "BETWEEN") and had_ws:
            self.take(token.kind)
            self.take("WS")
            if token.kind == "IN":
                return ast.InList(left, self.value_list(), token.negated)
            lower_token = self.take("NUMBER", "DATETIME")
            self.take("WS")
            self.take("AND")
            self.take("WS")
            upper_token = self.take(lower_token.kind)
            return ast.Between(left, self.literal(lower_token), self.literal(upper_token), token.negated)
        if token.kind in ("CONTAINS", "ICONTAINS"):
            self.take(token.kind)
            self.take("WS")
            value = self.take("STRING", "NUMBER") if token.kind == "CONTAINS" else self.take("STRING")
            return ast.Contains(left, self.literal(value), token.negated, token.kind == "ICONTAINS")
        if token.kind == "OP":
            self.take("OP")
            self.ws()
            allowed = _EQUALITY_VALUES if token.text in ("=", "!=") else _SCALARS
            return ast.Compare(left, token.text, self.literal(self.take(*allowed)))
        if isinstance(left, ast.Field):
            self.i = save
            return ast.BareField(left.name)
        raise self.fail(token)

    def value_list(self) -> tuple[ast.Literal, ...]:
        self.take("LBRACK")
        self.ws()
        first = self.take(*_SCALARS)
        values = [self.literal(first)]
        while True:
            self.ws()
            if not self.at("COMMA"):
                break
            self.take("COMMA")
            self.ws()
            values.append(self.literal(self.take(first.kind)))
        self.take("RBRACK")
        return tuple(values)

    @staticmethod
    def literal(token: Token) -> ast.Literal:
        if token.kind == "STRING":
            return string_value(token.text)
        if token.kind == "NUMBER":
            return number_value(token.text)
        if token.kind == "DATETIME":
            return datetime_value(token.text)
        if token.kind == "BOOL":
            return token.text.lower() == "true"
        return ast.NULL
