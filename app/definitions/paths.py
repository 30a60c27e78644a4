"""JSONPath in ASL: Paths (read, with jsonpath-ng), Reference Paths (read and write), and
payload templates (`Parameters`, `ResultSelector`, `ItemSelector`) with `.$` keys."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as _parse

from app.definitions.errors import StatesError, runtime

# Anything that can select more than one node makes the Path's value an array.
_INDEFINITE = re.compile(r"\*|\.\.|\?\(|\[[^\]]*[:,][^\]]*\]")
_REFERENCE_STEP = re.compile(r"\.([A-Za-z_$][\w$-]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")


def _backslashes_kept(path: str) -> str:
    """The path as jsonpath-ng must read it for a backslash inside a quoted name to stay a
    character, as Step Functions keeps it: `$['a\\"b']` names the key a, backslash, quote, b.
    A backslash before the closing quote character keeps that quote in the name."""
    out, quote, at = [], None, 0
    while at < len(path):
        ch = path[at]
        if quote is None:
            if ch in "'\"":
                quote = ch
            out.append(ch)
        elif ch == "\\":
            escaped_quote = path[at + 1 : at + 2] == quote
            out.append("\\\\" + ("\\" + quote if escaped_quote else ""))
            at += 1 if escaped_quote else 0
        else:
            if ch == quote:
                quote = None
            out.append(ch)
        at += 1
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def compile_path(path: str) -> JSONPath:
    """The parsed Path; ValueError when it is not one."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise ValueError("a path starts with '$'")
    try:
        return _parse(_backslashes_kept(path))
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise ValueError(f"not a valid JSONPath: {exc}") from None


def reference_steps(path: str) -> list[str | int]:
    """The steps of a Reference Path (`$`, `$.a.b`, `$['a'][0]`); ValueError otherwise."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise ValueError("a reference path starts with '$'")
    rest, steps, at = path[1:], [], 0
    while at < len(rest):
        m = _REFERENCE_STEP.match(rest, at)
        if m is None:
            raise ValueError("a reference path names single nodes only ($.a.b, $['a'], $.a[0])")
        if m.group(1) is not None:
            steps.append(m.group(1))
        elif m.group(2) is not None:
            steps.append(m.group(2))  # a backslash stays a character, as in Step Functions
        else:
            steps.append(int(m.group(3)))
        at = m.end()
    return steps


def read(path: str, data: Any, context: Any = None) -> Any:
    """The value a Path selects (`$$` paths read the context object). States.Runtime when a
    definite path selects nothing."""
    if path.startswith("$$"):
        return read(path[1:], context)
    if path == "$":
        return data
    expression = compile_path(path)
    matches = [m.value for m in expression.find(data)]
    if _INDEFINITE.search(path):
        return matches
    if not matches:
        raise runtime(f"the JSONPath '{path}' could not be found in the input")
    return matches[0]


def exists(path: str, data: Any, context: Any = None) -> bool:
    if path.startswith("$$"):
        return exists(path[1:], context)
    return path == "$" or bool(compile_path(path).find(data))


def _no_match(cause: str) -> StatesError:
    return StatesError("States.ResultPathMatchFailure", cause)


def write(data: Any, path: str | None, value: Any) -> Any:
    """`ResultPath`: `value` placed into a copy of `data` at `path` (null: discard it)."""
    if path is None:
        return data
    steps = reference_steps(path)
    if not steps:
        return value
    out = copy.deepcopy(data)
    if not isinstance(out, dict):
        raise _no_match(f"ResultPath '{path}' cannot be applied: the state input is not an object")
    node: Any = out
    for step in steps[:-1]:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise _no_match(f"ResultPath '{path}' names a missing array element")
            node = node[step]
            continue
        if not isinstance(node, dict):
            raise _no_match(f"ResultPath '{path}' crosses a value that is not an object")
        if step not in node:
            node[step] = {}  # ResultPath may create the fields it names
        elif not isinstance(node[step], dict | list):
            raise _no_match(f"ResultPath '{path}' crosses a value that is not an object")
        node = node[step]
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise _no_match(f"ResultPath '{path}' names a missing array element")
    elif not isinstance(node, dict):
        raise _no_match(f"ResultPath '{path}' crosses a value that is not an object")
    node[last] = value
    return out


def select(path: str | None, data: Any, context: Any = None) -> Any:
    """`InputPath`/`OutputPath`: null selects `{}`."""
    if path is None:
        return {}
    return read(path, data, context)
