"""ZitiQL parser units: the real grouping (`not` reaches right; `and`/`or` nest right with no precedence),
the lexical rules, and syntax errors in the real message shape (management-model.md 1.1-1.3)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from controller.zitiql import ZitiQLError, ast, parse


def show(node: object) -> str:
    """A compact s-expression of a predicate, e.g. (and a=1 (or b=2 c=3))."""
    if isinstance(node, ast.And):
        return f"(and {show(node.left)} {show(node.right)})"
    if isinstance(node, ast.Or):
        return f"(or {show(node.left)} {show(node.right)})"
    if isinstance(node, ast.Not):
        return f"(not {show(node.expr)})"
    if isinstance(node, ast.Compare):
        return f"{node.left.name}{node.op}{node.value!r}" if isinstance(node.left, ast.Field) else f"{node.left}{node.op}{node.value!r}"
    if isinstance(node, ast.BoolConst):
        return str(node.value).lower()
    if isinstance(node, ast.BareField):
        return node.name
    return repr(node)


@pytest.mark.parametrize("text, tree", [
    ("a = 1 and b = 2 or c = 3", "(and a=1 (or b=2 c=3))"),            # not the SQL reading
    ("a = 1 or b = 2 and c = 3", "(or a=1 (and b=2 c=3))"),
    ("a = 1 or b = 2 and c = 3 or d = 4", "(or a=1 (and b=2 (or c=3 d=4)))"),
    ("a = 1 and b = 2 and c = 3", "(and a=1 (and b=2 c=3))"),
    ("(a = 1 and b = 2) or c = 3", "(or (and a=1 b=2) c=3)"),
    ("not a = 1 and b = 2", "(not (and a=1 b=2))"),                    # not reaches right
    ("not (a = 1) or b = 2", "(not (or a=1 b=2))"),
    ("a = 1 and not b = 2 or c = 3", "(and a=1 (not (or b=2 c=3)))"),
    ("(not a = 1) and b = 2", "(and (not a=1) b=2)"),
    ("(a = 1 and not b = 2) or c = 3", "(or (and a=1 (not b=2)) c=3)"),
    ("not not a = 1", "(not (not a=1))"),
    ("( ( a=1 ) )", "a=1"),
    ("isAdmin and not isDefaultAdmin", "(and isAdmin (not isDefaultAdmin))"),
    ("TRUE Or FALSE", "(or true false)"),
    ("\ta=1\nAND\r\nb=2 ", "(and a=1 b=2)"),
])
def test_grouping(text, tree):
    assert show(parse(text).predicate) == tree


@pytest.mark.parametrize("text, expected", [
    ('(id="X" or name="x") and tags.app != null', ast.And(
        ast.Or(ast.Compare(ast.Field("id"), "=", "X"), ast.Compare(ast.Field("name"), "=", "x")),
        ast.Compare(ast.Field("tags.app"), "!=", ast.NULL))),
    ('tags.app-role="instance"', ast.Compare(ast.Field("tags.app-role"), "=", "instance")),
    ('tags.X-Y_z = 1', ast.Compare(ast.Field("tags.X-Y_z"), "=", 1)),
    ('tags.in = "x"', ast.Compare(ast.Field("tags.in"), "=", "x")),  # longest match beats the keyword
    ('anyOf(roleAttributes) contains "echo"', ast.Contains(ast.SetFunction("anyOf", "roleAttributes"), "echo")),
    ('ALLOF( roleAttributes ) in ["a", "b"]', ast.InList(ast.SetFunction("allOf", "roleAttributes"), ("a", "b"))),
    ("count(roleAttributes) >= 2", ast.Compare(ast.Count(ast.Field("roleAttributes")), ">=", 2)),
    ("isEmpty(roleAttributes)", ast.IsEmpty(ast.Field("roleAttributes"))),
    ("isEmpty(from servicePolicies where type = 1)", ast.IsEmpty(ast.SubQuery(
        "servicePolicies", ast.Query(ast.Compare(ast.Field("type"), "=", 1))))),
    ("x not in [1, 2.5]", ast.InList(ast.Field("x"), (1, 2.5), negated=True)),
    ("x NOT  CONTAINS \"a\"", ast.Contains(ast.Field("x"), "a", negated=True)),
    ('x not icontains "A"', ast.Contains(ast.Field("x"), "A", negated=True, ignore_case=True)),
    ("cost not between 1 and 10", ast.Between(ast.Field("cost"), 1, 10, negated=True)),
    ("x = null", ast.Compare(ast.Field("x"), "=", ast.NULL)),
    ("x != NULL", ast.Compare(ast.Field("x"), "!=", ast.NULL)),
    ("x=-1.5e3", ast.Compare(ast.Field("x"), "=", -1500.0)),
    ("x = 9223372036854775808", ast.Compare(ast.Field("x"), "=", 9.223372036854775808e18)),  # beyond int64: a float
    ('x = "a\\"b\\\\c\\td"', ast.Compare(ast.Field("x"), "=", 'a"b\\c\td')),
    ('x = "a\\\\n"', ast.Compare(ast.Field("x"), "=", "a\n")),  # the real unescaping order
    ("createdAt >= datetime( 2024-02-03t04:05:06.5z )",
     ast.Compare(ast.Field("createdAt"), ">=", datetime(2024, 2, 3, 4, 5, 6, 500000, tzinfo=timezone.utc))),
    ("createdAt < datetime(2024-02-03T04:05:06-02:30)",
     ast.Compare(ast.Field("createdAt"), "<", datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone(-timedelta(hours=2, minutes=30))))),
    ("isAdmin", ast.BareField("isAdmin")),
])
def test_nodes(text, expected):
    assert parse(text).predicate == expected


@pytest.mark.parametrize("text, sort, skip, limit", [
    ("true skip 10 limit 2", (), 10, 2),
    ("limit none", (), None, -1),
    ("LIMIT NONE", (), None, -1),
    ("skip 3", (), 3, None),
    ('name = "x" sort by name desc, id asc, createdAt skip 1 limit 5',
     (ast.SortField("name", True), ast.SortField("id"), ast.SortField("createdAt")), 1, 5),
    ("sort by name", (ast.SortField("name"),), None, None),
])
def test_clauses(text, sort, skip, limit):
    query = parse(text)
    assert (query.sort, query.skip, query.limit) == (sort, skip, limit)


@pytest.mark.parametrize("text, symbol, column", [
    ('tags.k8s = "x"', "8", 6),                       # no digits in identifiers
    ('tags.app.kubernetes.io/name = "x"', "name", 23),  # the lexer drops what it cannot match
    ("not(a=1)", "(", 3),                             # not needs whitespace after it
    ("a=1 and(b=2)", "(", 7),
    ("a=1and b=2", "and", 3),
    ('x contains"a"', '"a"', 10),
    ('name="x"limit 5', "limit", 8),
    ('name="x" limit 5 sort by name', "sort", 17),    # the clause order is fixed
    ("x not  in [1]", "not", 2),                      # exactly one whitespace in `not in`
    ("x in []", "]", 6),
    ('x in [1, "a"]', '"a"', 9),
    ("x > true", "true", 4),
    ("x < null", "null", 4),
    ("01 = 1", "0", 0),
    ("x startsWith \"a\"", "startsWith", 2),
    ("x is null", "is", 2),
    ("x == 1", "=", 3),
    ("x = 'a'", "'a'", 4),
    ('x = DATETIME(2020-01-01T00:00:00Z)', "DATETIME", 4),
    ("x = datetime(2020-01-01 00:00:00Z)", "datetime", 4),
    ("isEmpty(x) = true", "=", 11),
    ("a = 1 and", "<EOF>", 9),
    ("", "<EOF>", 0),
    ("skip 1.5", "1.5", 5),
    ("(a = 1", "<EOF>", 6),
])
def test_syntax_errors(text, symbol, column):
    with pytest.raises(ZitiQLError) as excinfo:
        parse(text)
    assert excinfo.value.message == (f'Unexpected symbol: "{symbol}" at line: 1 column: {column}. '
                                     f"line: 1, column: {column}, symbol: {symbol}")


def test_error_line_numbers():
    with pytest.raises(ZitiQLError) as excinfo:
        parse('a = 1 and\n  b ~ 2')
    assert excinfo.value.message.startswith('Unexpected symbol: "2" at line: 2 column: 6.')  # `~` dropped
