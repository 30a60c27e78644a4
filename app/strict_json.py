"""Strict JSON for what clients send: RFC 8259 read as I-JSON (RFC 7493) requires.

UTF-8 only; no duplicate member names; numbers finite (no NaN, Infinity, 1e400); integers within
64 bits (signed); no lone surrogates (`"\\ud800"`); at most MAX_JSON_DEPTH nested arrays and
objects. Python's and orjson's parsers each let some of these through (NaN, duplicates, big
integers, surrogates) and then fail later, deep in the server; here they are refused up front
with a 400 that says where (`field`, a dotted path) or, for a syntax error, at which line,
column and character.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from app.engine.run_limits import MAX_JSON_DEPTH, MAX_JSON_INT, MIN_JSON_INT
from app.errors import InvalidArgument

# An escaped surrogate: only then can a decoded string hold a lone one (raw UTF-8 cannot).
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
# Longer integer literals are beyond 64 bits for sure (and Python refuses > 4300 digits).
_MAX_INT_DIGITS = 20
_DEPTH_PATH_PARTS = 4


class _Refused:
    """Stands in for a value the decoder met but may not accept; found again by `_locate`."""

    __slots__ = ("reason", "key")

    def __init__(self, reason: str, key: str | None = None) -> None:
        self.reason = reason
        self.key = key


def parse(raw: bytes, *, root: str = "") -> Any:
    """The JSON value of `raw`, or InvalidArgument (400) naming what is wrong and where.

    `root` prefixes the dotted `field` path of a refusal (e.g. "definition"); the whole body
    is `root` or "body".
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"the body is not UTF-8: invalid byte at offset {exc.start}",
            field=root or "body",
            position=exc.start,
        ) from None
    refused: list[_Refused] = []

    def refuse(reason: str, key: str | None = None) -> _Refused:
        mark = _Refused(reason, key)
        refused.append(mark)
        return mark

    def pairs(items: list[tuple[str, Any]]) -> Any:
        obj = dict(items)
        if len(obj) == len(items):
            return obj
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                return refuse(f"duplicate member name {key!r}", key)
            seen.add(key)
        return obj  # pragma: no cover - a shorter dict always has a repeated key

    def integer(literal: str) -> Any:
        if len(literal.lstrip("-")) <= _MAX_INT_DIGITS:
            value = int(literal)
            if MIN_JSON_INT <= value <= MAX_JSON_INT:
                return value
        return refuse("integer beyond 64 bits (-2^63 to 2^63-1); send larger numbers as strings")

    def number(literal: str) -> Any:
        value = float(literal)
        if math.isinf(value):
            return refuse(f"number {literal[:40]} is too large for a double")
        return value

    def constant(name: str) -> Any:
        return refuse(f"{name} is not a JSON number")

    decoder = json.JSONDecoder(
        object_pairs_hook=pairs, parse_int=integer, parse_float=number, parse_constant=constant
    )
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"JSON syntax error at line {exc.lineno} column {exc.colno} (character {exc.pos}): {exc.msg}",
            field=root or "body",
            line=exc.lineno,
            column=exc.colno,
            position=exc.pos,
        ) from None
    except RecursionError:
        raise _too_deep(root or "body") from None
    surrogates = "\\u" in text and _ESCAPED_SURROGATE.search(text) is not None
    # Depth can only pass the limit with more brackets than the limit: most bodies skip the walk.
    deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH
    if refused or surrogates or deep:
        _locate(value, root, surrogates)
    return value


def _too_deep(path: str) -> InvalidArgument:
    # The path down to the limit is as long as the limit: name its first steps only.
    parts = path.split(".")
    field = ".".join(parts[:_DEPTH_PATH_PARTS])
    shown = field + ("…" if len(parts) > _DEPTH_PATH_PARTS else "")
    return InvalidArgument(
        f"{shown}: nested more than {MAX_JSON_DEPTH} levels deep (arrays and objects)",
        field=field,
        limit=MAX_JSON_DEPTH,
    )


def _lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _join(path: str, part: str | int) -> str:
    return f"{path}.{part}" if path else str(part)


def _locate(value: Any, root: str, surrogates: bool) -> None:
    """Walk the decoded value (iteratively) and raise for the first refused, too deep or
    surrogate-holding node, naming its path."""
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, _Refused):
            where = _join(path, node.key) if node.key is not None else (path or "body")
            raise InvalidArgument(f"{where}: {node.reason}", field=where)
        if isinstance(node, str):
            if surrogates and _lone_surrogate(node):
                raise InvalidArgument(
                    f"{path or 'body'}: a string holds a lone surrogate (invalid Unicode)",
                    field=path or "body",
                )
            continue
        if isinstance(node, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise _too_deep(path or "body")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                child_path = _join(path, key)
                if surrogates and isinstance(key, str) and _lone_surrogate(key):
                    # Not named: the name itself could not be shown.
                    raise InvalidArgument(
                        f"{path or 'body'}: a member name holds a lone surrogate (invalid Unicode)",
                        field=path or "body",
                    )
                stack.append((child, child_path, depth + 1))
