"""The errors a state machine raises at run time, named as Step Functions names them."""

from __future__ import annotations


class StatesError(Exception):
    """An ASL error: `error` is matched by Retry/Catch `ErrorEquals`, `cause` is prose."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause

    def as_output(self) -> dict[str, str]:
        return {"Error": self.error, "Cause": self.cause}


def runtime(cause: str) -> StatesError:
    return StatesError("States.Runtime", cause)


def intrinsic_failure(cause: str) -> StatesError:
    return StatesError("States.IntrinsicFailure", cause)
