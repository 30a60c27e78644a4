"""The errors a state machine raises at run time, named as Step Functions names them."""

from __future__ import annotations


class StatesError(Exception):
    """An ASL error: `error` is matched by Retry/Catch `ErrorEquals`, `cause` is prose."""

    def __init__(self, error: str | None, cause: str | None = None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause

    def as_output(self) -> dict[str, str | None]:
        """The error output a Catcher places: no `Cause` member when the error had none."""
        if self.cause is None:
            return {"Error": self.error}
        return {"Error": self.error, "Cause": self.cause}


def runtime(cause: str) -> StatesError:
    return StatesError("States.Runtime", cause)


def intrinsic_failure(cause: str) -> StatesError:
    return StatesError("States.IntrinsicFailure", cause)
