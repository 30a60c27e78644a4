"""TestState: one state run on one input, without a run — the value after each processing
step, the output, and where the machine would go next. Task results are mocked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.definitions import processing
from app.definitions.errors import StatesError
from app.definitions.interpreter import fail_values, next_of_choice, wait_seconds
from app.definitions.validation import Checker
from app.errors import InvalidArgument

_MOCKED = {"Task", "Parallel", "Map"}


def _context(name: str, now: datetime) -> dict[str, Any]:
    time = now.isoformat().replace("+00:00", "Z")
    return {
        "Execution": {"Id": "test-state", "Name": "test-state", "StartTime": time},
        "State": {"Name": name, "EnteredTime": time, "RetryCount": 0},
        "StateMachine": {"Id": "test-state", "Name": "test-state"},
        "Task": {"Token": "test-state-token"},
    }


def _validate(state: Any, name: str) -> None:
    checker = Checker()
    states = {name: state}
    if isinstance(state, dict):
        # Targets outside the one state are fine here: stand them in.
        for target in [state.get("Next"), state.get("Default")] + [
            r.get("Next")
            for r in (state.get("Choices") or []) + (state.get("Catch") or [])
            if isinstance(r, dict)
        ]:
            if isinstance(target, str):
                states.setdefault(target, {"Type": "Succeed"})
    checker.state(name, state, states, ())
    if checker.errors:
        raise InvalidArgument(
            f"the state has {len(checker.errors)} problem(s)",
            errors=checker.errors,
            field="definition",
        )


def try_state(
    state: Any,
    raw: Any,
    *,
    name: str = "TestState",
    mock_result: Any = None,
    mock_error: dict[str, Any] | None = None,
    has_mock_result: bool = False,
    now: datetime,
) -> dict[str, Any]:
    _validate(state, name)
    kind = state["Type"]
    if kind in _MOCKED and not has_mock_result and mock_error is None:
        raise InvalidArgument(f"a {kind} state needs mock.result or mock.error", field="mock")
    ctx = _context(name, now)
    inspection: dict[str, Any] = {"input": raw}
    answer: dict[str, Any] = {"status": "SUCCEEDED", "inspection_data": inspection}
    try:
        if kind == "Fail":
            error, cause = fail_values(state, raw)
            raise StatesError(error, cause)
        effective = processing.input_path(state, raw, ctx)
        inspection["afterInputPath"] = effective
        if kind in _MOCKED | {"Pass"}:
            effective = processing.parameters(state, effective, ctx)
            inspection["afterParameters"] = effective
        if kind == "Choice":
            answer["next_state"] = next_of_choice(state, effective, ctx)
            answer["output"] = processing.output_path(state, effective, ctx)
            return answer
        if kind in ("Wait", "Succeed"):
            if kind == "Wait":
                answer["wait_seconds"] = max(0.0, wait_seconds(state, effective, now, now))
            answer["output"] = processing.output_path(state, effective, ctx)
            answer["next_state"] = state.get("Next")
            return answer
        if kind == "Pass":
            result = state["Result"] if "Result" in state else effective
            inspection["result"] = result
            placed = processing.result_path(state, raw, result)
            inspection["afterResultPath"] = placed
            answer["output"] = processing.output_path(state, placed, ctx)
            answer["next_state"] = state.get("Next")
            return answer
        if mock_error is not None:
            cause = mock_error.get("cause")
            raise StatesError(
                str(mock_error.get("error", "")), None if cause is None else str(cause)
            )
        inspection["result"] = mock_result
        steps = processing.steps_after_result(state, raw, mock_result, ctx)
        inspection["afterResultSelector"] = steps["afterResultSelector"]
        inspection["afterResultPath"] = steps["afterResultPath"]
        answer["output"] = steps["output"]
        answer["next_state"] = state.get("Next")
        return answer
    except StatesError as err:
        answer["error"], answer["cause"] = err.error, err.cause
        delay = processing.retry_delay(state, [err], "test-state") if kind in _MOCKED else None
        if delay is not None:
            answer["status"] = "RETRIABLE"
            answer["retry_delay_seconds"] = delay
            return answer
        catcher = processing.catcher_for(state, err) if kind in _MOCKED else None
        if catcher is None:
            answer["status"] = "FAILED"
            return answer
        try:
            answer["output"] = processing.caught_output(raw, catcher, err)
        except StatesError as unplaceable:
            answer["error"], answer["cause"] = unplaceable.error, unplaceable.cause
            answer["status"] = "FAILED"
            return answer
        answer["status"] = "CAUGHT_ERROR"
        answer["next_state"] = catcher["Next"]
        return answer
