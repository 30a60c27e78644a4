"""Payload templates (`Parameters`, `ResultSelector`, `ItemSelector`): keys ending in `.$` take
the value of a path or of an intrinsic function. Its own module because it uses both
`paths` and `intrinsics`, and intrinsics read paths."""

from __future__ import annotations

from typing import Any

from app.definitions.errors import StatesError, runtime
from app.definitions.intrinsics import evaluate
from app.definitions.paths import read


def render(template: Any, data: Any, context: Any) -> Any:
    """A payload template: keys ending in `.$` take the value of a Path or intrinsic."""
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if isinstance(key, str) and key.endswith(".$"):
                if not isinstance(value, str):
                    raise runtime(f"the value of '{key}' must be a path or intrinsic function")
                if value.startswith("States."):
                    out[key[:-2]] = evaluate(value, data, context)
                    continue
                try:
                    out[key[:-2]] = read(value, data, context)
                except StatesError as err:
                    raise StatesError("States.ParameterPathFailure", err.cause) from None
            else:
                out[key] = render(value, data, context)
        return out
    if isinstance(template, list):
        return [render(item, data, context) for item in template]
    return template
