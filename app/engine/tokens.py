"""Task tokens: name one attempt of one task, so a stale or foreign token changes nothing."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

from app.allowed_characters import name_problem
from app.engine.run_limits import MAX_COUNTER
from app.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class TaskToken:
    kind: str  # 'w' workflow task, 'a' activity task
    namespace_id: str
    run_id: str
    scheduled_event_id: int
    attempt: int
    started_event_id: int = 0  # workflow tasks only
    # A speculative workflow task's nonce (app/engine/workflow_tasks.py); 0 for any other task.
    speculative: int = 0

    def encode(self) -> str:
        fields: list[object] = [
            self.kind,
            self.namespace_id,
            self.run_id,
            self.scheduled_event_id,
            self.attempt,
            self.started_event_id,
        ]
        if self.speculative:
            fields.append(self.speculative)
        return base64.urlsafe_b64encode(orjson.dumps(fields)).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, kind: str) -> TaskToken:
        """The token's fields, or 400 for anything this server could not have issued (ids with
        control characters, counters beyond their 32-bit columns, wrong types)."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            k, ns, run, scheduled, attempt, started, *more = orjson.loads(raw)
            (speculative,) = more or [0]
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise _not_ours() from None
        ids_ok = all(isinstance(v, str) and len(v) <= 64 and not name_problem(v) for v in (ns, run))
        counters_ok = all(
            type(v) is int and 0 <= v <= MAX_COUNTER
            for v in (scheduled, attempt, started, speculative)
        )
        if k not in ("w", "a") or not ids_ok or not counters_ok:
            raise _not_ours()
        parsed = cls(k, ns, run, scheduled, attempt, started, speculative)
        if parsed.kind != kind:
            what = "an activity" if kind == "a" else "a workflow"
            raise InvalidArgument(f"task_token is not {what} task token", field="task_token")
        return parsed


def _not_ours() -> InvalidArgument:
    return InvalidArgument("task_token is not a token this server issued", field="task_token")
