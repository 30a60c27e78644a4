"""Temporal's list filter language, parsed into a small syntax tree.

The grammar is the WHERE clause Temporal's SQL visibility accepts (its `sqlquery` converter
over a MySQL-dialect parser; https://docs.temporal.io/list-filter): comparisons `= != <> < <=
> >=`, `[NOT] IN (…)`, `[NOT] BETWEEN … AND …`, `[NOT] STARTS_WITH`, `IS [NOT] NULL`,
`AND`, `OR`, `NOT`, parentheses, then optionally `GROUP BY` and `ORDER BY … [ASC|DESC]`.
Keywords are case-insensitive and reserved; names are case-sensitive and go in backticks when
they hold anything but letters, digits and `_` (or are a keyword). Strings take single or double quotes, with a doubled
quote or a backslash escape inside. Datetime values may also be `NOW()` or `NOW() - 1d2h`
(Temporal 1.30). Parsed by Lark (LALR): a grammar that reads as one, errors with positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from app.errors import InvalidArgument

MAX_QUERY_LENGTH = 16_384  # characters; a filter is a sentence, not a document

GRAMMAR = r"""
start: expr? group_by? order_by?

?expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr -> negation
         | predicate
         | "(" expr ")"

predicate: field COMPARE value                          -> compare
         | field NOT? IN "(" value ("," value)* ")"     -> member
         | field NOT? BETWEEN value AND value           -> between
         | field NOT? STARTS_WITH value                 -> starts_with
         | field IS NOT? NULL                           -> null_test

group_by: GROUP BY field ("," field)*
order_by: ORDER BY order_item ("," order_item)*
order_item: field DIRECTION?

field: NAME | QUOTED_NAME

?value: STRING                        -> string
      | NUMBER                        -> number
      | TRUE                          -> true
      | FALSE                         -> false
      | NOW "(" ")" (SIGN DURATION)?  -> now

AND.2: /and\b/i
OR.2: /or\b/i
NOT.2: /not\b/i
IN.2: /in\b/i
BETWEEN.2: /between\b/i
STARTS_WITH.2: /starts_with\b/i
IS.2: /is\b/i
NULL.2: /null\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
GROUP.2: /group\b/i
ORDER.2: /order\b/i
BY.2: /by\b/i
DIRECTION.2: /(asc|desc)\b/i
NOW.2: /now\b/i

COMPARE: "!=" | "<>" | "<=" | ">=" | "=" | "<" | ">"
NAME: /(?!(and|or|not|in|between|starts_with|is|null|true|false|group|order|by|asc|desc|now)\b)[A-Za-z_][A-Za-z0-9_]*/i
QUOTED_NAME: /`[^`]+`/
STRING: /'(?:[^'\\]|\\.|'')*'/s | /"(?:[^"\\]|\\.|"")*"/s
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/
SIGN: "+" | "-"
DURATION: /(\d+[A-Za-zµμ]+)+/

%ignore /\s+/
"""

_PARSER = Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True)

# What a user can type where the parser wanted a terminal, for error messages.
_READABLE = {
    "COMPARE": "a comparison (=, !=, <, <=, >, >=)",
    "NAME": "a search attribute name",
    "QUOTED_NAME": "a `quoted` name",
    "STRING": "a 'string'",
    "NUMBER": "a number",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "DURATION": "a duration such as 1d or 2h30m",
    "SIGN": "'+' or '-'",
    "$END": "the end of the query",
    "NOW": "NOW()",
    "GROUP": "GROUP BY",
    "ORDER": "ORDER BY",
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "Z": "\x1a"}


# -- the tree -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    position: int  # offset in the query, 0-based


@dataclass(frozen=True)
class Literal:
    kind: str  # 'string', 'number', 'bool' or 'now'
    value: Any  # str, int, float, bool, or (sign, duration text) for 'now'
    position: int
    text: str  # as written, for messages


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # = != < <= > >=
    value: Literal


@dataclass(frozen=True)
class Member:
    field: Field
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Between:
    field: Field
    low: Literal
    high: Literal
    negated: bool


@dataclass(frozen=True)
class StartsWith:
    field: Field
    prefix: Literal
    negated: bool


@dataclass(frozen=True)
class NullTest:
    field: Field
    negated: bool  # IS NOT NULL


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Predicate = Compare | Member | Between | StartsWith | NullTest
Node = Predicate | Not | And | Or


@dataclass(frozen=True)
class OrderItem:
    field: Field
    descending: bool


@dataclass(frozen=True)
class Query:
    where: Node | None
    group_by: tuple[Field, ...]
    order_by: tuple[OrderItem, ...]


@dataclass(frozen=True)
class Now:
    """`NOW()` plus or minus a duration, resolved against the server's clock by the compiler."""

    offset_text: str | None  # e.g. '-1d2h'


# -- parsing --------------------------------------------------------------------------------------


def unquote(text: str) -> str:
    """A string literal's value: quotes off, doubled quotes and backslash escapes resolved."""
    quote, body = text[0], text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            following = body[i + 1]
            out.append(_ESCAPES.get(following, following))
            i += 2
        elif char == quote:  # the grammar lets a quote inside only as a doubled pair
            out.append(quote)
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


@v_args(inline=True)
class _ToTree(Transformer):
    def start(self, *parts: Any) -> Query:
        where = next((p for p in parts if not isinstance(p, tuple)), None)
        groups: tuple[Field, ...] = ()
        orders: tuple[OrderItem, ...] = ()
        for part in parts:
            if isinstance(part, tuple) and part and isinstance(part[0], Field):
                groups = part
            elif isinstance(part, tuple) and part and isinstance(part[0], OrderItem):
                orders = part
        return Query(where=where, group_by=groups, order_by=orders)

    def field(self, token: Token) -> Field:
        name = token.value[1:-1] if token.type == "QUOTED_NAME" else token.value
        return Field(name=name, position=token.start_pos or 0)

    def string(self, token: Token) -> Literal:
        return Literal("string", unquote(token.value), token.start_pos or 0, token.value)

    def number(self, token: Token) -> Literal:
        text = token.value
        is_int = all(c not in text for c in ".eE")
        value: int | float = int(text) if is_int else float(text)
        return Literal("number", value, token.start_pos or 0, text)

    def true(self, token: Token) -> Literal:
        return Literal("bool", True, token.start_pos or 0, token.value)

    def false(self, token: Token) -> Literal:
        return Literal("bool", False, token.start_pos or 0, token.value)

    def now(self, token: Token, *offset: Token) -> Literal:
        text = "".join(t.value for t in offset) or None
        shown = "NOW()" + (f" {offset[0].value} {offset[1].value}" if offset else "")
        return Literal("now", Now(text), token.start_pos or 0, shown)

    def compare(self, field: Field, op: Token, value: Literal) -> Compare:
        return Compare(field, "!=" if op.value == "<>" else op.value, value)

    def member(self, field: Field, *rest: Any) -> Member:
        negated = isinstance(rest[0], Token) and rest[0].type == "NOT"
        values = tuple(v for v in rest if isinstance(v, Literal))
        return Member(field, values, negated)

    def between(self, field: Field, *rest: Any) -> Between:
        values = [v for v in rest if isinstance(v, Literal)]
        negated = any(isinstance(t, Token) and t.type == "NOT" for t in rest)
        return Between(field, values[0], values[1], negated)

    def starts_with(self, field: Field, *rest: Any) -> StartsWith:
        negated = any(isinstance(t, Token) and t.type == "NOT" for t in rest)
        return StartsWith(field, rest[-1], negated)

    def null_test(self, field: Field, *rest: Any) -> NullTest:
        return NullTest(field, any(isinstance(t, Token) and t.type == "NOT" for t in rest))

    def negation(self, _not: Token, item: Node) -> Not:
        return Not(item)

    def and_expr(self, *items: Any) -> And:
        return And(tuple(i for i in items if not isinstance(i, Token)))

    def expr(self, *items: Any) -> Or:
        return Or(tuple(i for i in items if not isinstance(i, Token)))

    def group_by(self, *items: Any) -> tuple[Field, ...]:
        return tuple(i for i in items if isinstance(i, Field))

    def order_by(self, *items: Any) -> tuple[OrderItem, ...]:
        return tuple(i for i in items if isinstance(i, OrderItem))

    def order_item(self, field: Field, direction: Token | None = None) -> OrderItem:
        return OrderItem(field, direction is not None and direction.value.lower() == "desc")


def _syntax_error(query: str, err: UnexpectedInput) -> InvalidArgument:
    token = getattr(err, "token", None)
    at_end = isinstance(err, UnexpectedEOF) or (token is not None and token.type == "$END")
    position = len(query) if at_end else (err.pos_in_stream or 0)
    if at_end:
        found = "end of query"
    elif isinstance(err, UnexpectedCharacters):
        found = repr(re.match(r"\w+|.", query[position:], re.S).group())  # type: ignore[union-attr]  # `.` matches any character: always a match
    else:
        found = repr(str(token))
    parser = getattr(err, "interactive_parser", None)
    wanted = parser.accepts() if parser is not None else getattr(err, "expected", ())
    expected = sorted({_READABLE.get(name, name) for name in wanted or ()})
    detail = f"syntax error at position {position}: unexpected {found}"
    if expected:
        detail += "; expected " + ", ".join(expected)
    line = query.count("\n", 0, position) + 1
    column = position - (query.rfind("\n", 0, position) + 1) + 1
    return InvalidArgument(detail, field="query", position=position, line=line, column=column)


def parse(query: str) -> Query:
    """The syntax tree of a list filter; InvalidArgument with the `position` (0-based offset),
    `line` and `column` (1-based) of the first thing the grammar does not allow."""
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidArgument(
            f"the query is {len(query)} characters; the limit is {MAX_QUERY_LENGTH}",
            field="query",
        )
    if not query.strip():
        return Query(where=None, group_by=(), order_by=())
    try:
        tree = _PARSER.parse(query)
    except UnexpectedInput as err:
        raise _syntax_error(query, err) from None
    try:
        result: Query = _ToTree().transform(tree)
    except VisitError as err:  # a bug of ours, not of the query
        raise err.orig_exc from None
    return result
