"""Choice rules: comparisons (and their `…Path` forms), `Is…` tests, And/Or/Not."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from app.definitions import paths
from app.engine.bounds import in_utc

_KINDS = {
    "String": lambda v: isinstance(v, str),
    "Numeric": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
    "Timestamp": lambda v: parse_timestamp(v) is not None,
}
_RELATIONS = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}
COMPARISONS = {
    f"{kind}{relation}{suffix}"
    for kind in _KINDS
    for relation in _RELATIONS
    if not (kind == "Boolean" and relation != "Equals")
    for suffix in ("", "Path")
} | {"StringMatches"}
TESTS = {"IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _RFC3339.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return in_utc(moment)  # None past 9999-12-31 or before 0001-01-01 once in UTC


def rule_operator(rule: dict[str, Any]) -> str | None:
    for key in rule:
        if key in COMPARISONS or key in TESTS:
            return key
    return None


def evaluate(rule: dict[str, Any], data: Any, context: Any = None) -> bool:
    if "And" in rule:
        return all(evaluate(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], data, context)
    operator = rule_operator(rule)
    if operator is None:  # validation admits no rule without one
        raise ValueError(f"a Choice rule without a comparison: {sorted(rule)}")
    variable = rule["Variable"]
    expected = rule[operator]
    if operator == "IsPresent":
        return paths.exists(variable, data, context) == expected
    value = paths.read(variable, data, context)
    if operator in TESTS:
        kind = operator[2:]
        actual = value is None if kind == "Null" else _KINDS[kind](value)
        return actual == expected
    if operator == "StringMatches":
        return isinstance(value, str) and _matches(value, expected)
    if operator.endswith("Path"):
        operator = operator[:-4]
        expected = paths.read(expected, data, context)
    kind = next(k for k in _KINDS if operator.startswith(k))
    relation = _RELATIONS[operator[len(kind) :]]
    if not _KINDS[kind](value) or not _KINDS[kind](expected):
        return False
    if kind == "Timestamp":
        return relation(parse_timestamp(value), parse_timestamp(expected))
    return relation(value, expected)


def _matches(value: str, pattern: str) -> bool:
    # `*` is the only wildcard; `\*` and `\\` are literal.
    regex, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += ".*" if ch == "*" else re.escape(ch)
        i += 1
    return re.fullmatch(regex, value, re.DOTALL) is not None
