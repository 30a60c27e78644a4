"""Task tokens: name one attempt of one task, so a stale or foreign token changes nothing."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

from app.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class TaskToken:
    kind: str  # 'w' workflow task, 'a' activity task
    namespace_id: str
    run_id: str
    scheduled_event_id: int
    attempt: int
    started_event_id: int = 0  # workflow tasks only

    def encode(self) -> str:
        raw = orjson.dumps(
            [
                self.kind,
                self.namespace_id,
                self.run_id,
                self.scheduled_event_id,
                self.attempt,
                self.started_event_id,
            ]
        )
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, kind: str) -> TaskToken:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            k, ns, run, scheduled, attempt, started = orjson.loads(raw)
            parsed = cls(str(k), str(ns), str(run), int(scheduled), int(attempt), int(started))
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise InvalidArgument(
                "task_token is not a token this server issued", field="task_token"
            ) from None
        if parsed.kind != kind:
            what = "an activity" if kind == "a" else "a workflow"
            raise InvalidArgument(f"task_token is not {what} task token", field="task_token")
        return parsed
