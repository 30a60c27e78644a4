"""Payloads are plain JSON. Dataclasses go out as objects and come back typed by hints.

Arguments: no parameter → no input; one parameter → the input itself; several → a JSON array.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any


def to_json(value: Any) -> Any:
    """A JSON-ready form of `value`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def from_json(value: Any, hint: Any) -> Any:
    """`value` shaped as `hint` says (dataclasses and pydantic models are rebuilt)."""
    if value is None or hint is None or hint is inspect.Parameter.empty or hint is Any:
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
        hints = typing.get_type_hints(hint)
        return hint(**{k: from_json(v, hints.get(k)) for k, v in value.items()})
    if isinstance(hint, type) and hasattr(hint, "model_validate"):
        return hint.model_validate(value)
    origin = typing.get_origin(hint)
    if origin in (list, Sequence) and isinstance(value, list):
        (item,) = typing.get_args(hint) or (None,)
        return [from_json(v, item) for v in value]
    return value


def parameters(fn: Callable[..., Any]) -> list[tuple[str, Any]]:
    """(name, type hint) of the parameters a payload fills (not `self`)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    params = []
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self" or p.kind in (p.VAR_KEYWORD,):
            continue
        params.append((name, hints.get(name)))
    return params


def return_hint(fn: Callable[..., Any]) -> Any:
    """The return type hint of `fn` (None when absent)."""
    try:
        return typing.get_type_hints(fn).get("return")
    except Exception:
        return None


def encode_args(args: Sequence[Any]) -> Any:
    """The input payload for positional arguments."""
    if not args:
        return None
    if len(args) == 1:
        return to_json(args[0])
    return [to_json(a) for a in args]


def decode_args(fn: Callable[..., Any], payload: Any) -> list[Any]:
    """Positional arguments for `fn` from an input payload."""
    params = parameters(fn)
    if not params:
        return []
    if len(params) == 1:
        return [from_json(payload, params[0][1])]
    values = payload if isinstance(payload, list) else [payload]
    return [from_json(v, params[i][1] if i < len(params) else None) for i, v in enumerate(values)]
