"""One state's input and output processing, in the specification's order, and the choice of
Retrier and Catcher for an error. Pure functions: the interpreter and test-state share them.

    raw input → InputPath → Parameters/ItemSelector → (the state's work) → ResultSelector
    → ResultPath (into the raw input) → OutputPath → output
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from app.definitions import paths, templates
from app.definitions.errors import StatesError

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_INTERVAL = 1.0
DEFAULT_BACKOFF = 2.0
# Never retried nor caught, also when named (Step Functions: "A States.Runtime error isn't
# retriable, and will always cause the execution to fail").
_UNCATCHABLE = {"States.Runtime"}


def input_path(state: dict[str, Any], raw: Any, context: Any) -> Any:
    return paths.select(state.get("InputPath", "$"), raw, context)


def parameters(state: dict[str, Any], effective: Any, context: Any) -> Any:
    if "Parameters" in state:
        return templates.render(state["Parameters"], effective, context)
    return effective


def result_selector(state: dict[str, Any], result: Any, context: Any) -> Any:
    if "ResultSelector" in state:
        return templates.render(state["ResultSelector"], result, context)
    return result


def result_path(state: dict[str, Any], raw: Any, result: Any) -> Any:
    return paths.write(raw, state.get("ResultPath", "$"), result)


def output_path(state: dict[str, Any], value: Any, context: Any) -> Any:
    return paths.select(state.get("OutputPath", "$"), value, context)


def steps_after_result(
    state: dict[str, Any], raw: Any, result: Any, context: Any
) -> dict[str, Any]:
    """ResultSelector, ResultPath, OutputPath: each step's value (`output` is the last)."""
    selected = result_selector(state, result, context)
    placed = result_path(state, raw, selected)
    return {
        "afterResultSelector": selected,
        "afterResultPath": placed,
        "output": output_path(state, placed, context),
    }


def error_matches(names: list[str], error: str | None) -> bool:
    if error in _UNCATCHABLE:
        return False
    if error in names:
        return True
    if "States.ALL" in names:
        return True
    return "States.TaskFailed" in names and error != "States.Timeout"


def catcher_for(state: dict[str, Any], error: StatesError) -> dict[str, Any] | None:
    for catcher in state.get("Catch") or ():
        if error_matches(catcher.get("ErrorEquals", []), error.error):
            return catcher
    return None


def caught_output(raw: Any, catcher: dict[str, Any], error: StatesError) -> Any:
    return paths.write(raw, catcher.get("ResultPath", "$"), error.as_output())


def retry_delay(state: dict[str, Any], failures: list[StatesError], seed: str) -> float | None:
    """Seconds to wait before the next attempt after these failures (oldest first), or None
    when the state must not be retried. Each Retrier counts the failures it matched."""
    counts: dict[int, int] = {}
    retriers = state.get("Retry") or []
    delay: float | None = None
    for failure in failures:
        index = next(
            (
                i
                for i, r in enumerate(retriers)
                if error_matches(r.get("ErrorEquals", []), failure.error)
            ),
            None,
        )
        if index is None:
            return None
        retrier = retriers[index]
        counts[index] = counts.get(index, 0) + 1
        if counts[index] > retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS):
            return None
        delay = retrier.get("IntervalSeconds", DEFAULT_INTERVAL) * retrier.get(
            "BackoffRate", DEFAULT_BACKOFF
        ) ** (counts[index] - 1)
        if "MaxDelaySeconds" in retrier:
            delay = min(delay, retrier["MaxDelaySeconds"])
        if retrier.get("JitterStrategy") == "FULL":
            digest = hashlib.sha256(json.dumps([seed, len(failures)]).encode()).digest()
            delay = random.Random(int.from_bytes(digest[:8], "big")).uniform(0, delay)
    return delay
