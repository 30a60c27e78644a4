"""One error tree for the whole server; the API renders each as an RFC 9457 problem.

The engine raises these without knowing anything of HTTP: the status lives on the class so that
one handler in `app.api.problems` can render every kind the same way.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://perdure.dev/problems/"
RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})
# A problem names the request path it answers (`instance`) up to this length; a longer one (a
# huge id refused for its size) is left out rather than echoed back whole or cut into a path
# that was never asked for. Characters.
MAX_INSTANCE_LENGTH = 2048


class PerdureError(Exception):
    """Base of every error a client may see. `kind` becomes the problem `type` URI."""

    status: int = 500
    kind: str = "internal"
    title: str = "Internal server error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.kind

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance and len(instance) <= MAX_INSTANCE_LENGTH:
            body["instance"] = instance
        # Extra members add detail; they never replace the members RFC 9457 defines.
        body.update({k: v for k, v in self.extra.items() if k not in RESERVED_MEMBERS})
        return body


class InvalidArgument(PerdureError):
    status, kind, title = 400, "invalid-argument", "Invalid argument"


class Unauthenticated(PerdureError):
    status, kind, title = 401, "unauthenticated", "Authentication required"


class PermissionDenied(PerdureError):
    status, kind, title = 403, "permission-denied", "Permission denied"


class NotFound(PerdureError):
    status, kind, title = 404, "not-found", "Not found"


class MethodNotAllowed(PerdureError):
    status, kind, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(PerdureError):
    status, kind, title = 409, "conflict", "Conflict"


class AlreadyExists(Conflict):
    kind, title = "already-exists", "Already exists"


class FailedPrecondition(PerdureError):
    status, kind, title = 409, "failed-precondition", "Failed precondition"


class WorkflowPaused(FailedPrecondition):
    """Temporal's Workflow Pause: queries and updates of a paused run are refused."""

    kind, title = "workflow-paused", "Workflow is paused"


class WorkflowClosed(FailedPrecondition):
    """The run closed before it could take the request (an update not yet accepted when its
    run closed: Temporal's `workflowCompletedErr`)."""

    kind, title = "workflow-closed", "Workflow closed"


class ReplayCheckRequired(FailedPrecondition):
    """A version may become current or ramping only after a replay check that still counts
    (issue #21's replay gate; `ignore_replay_check` skips it)."""

    kind, title = "replay-check-required", "Replay check required"


class ReplayCheckFailed(FailedPrecondition):
    """The version's latest replay check failed: its code does not replay some histories."""

    kind, title = "replay-check-failed", "Replay check failed"


class ConflictTokenMismatch(FailedPrecondition):
    """Worker Versioning: a routing change named a conflict token that is no longer the
    deployment's (another change came first), as Temporal's SetCurrentVersion refuses it."""

    kind, title = "conflict-token-mismatch", "Conflict token mismatch"


class NoPollers(FailedPrecondition):
    """Worker Versioning: no worker of the version polled lately (Temporal's protection that
    `allow_no_pollers` overrides)."""

    kind, title = "no-pollers", "The version has no pollers"


class MissingTaskQueues(FailedPrecondition):
    """Worker Versioning: the new version does not poll a task queue the current one polls
    (Temporal's protection that `ignore_missing_task_queues` overrides)."""

    kind, title = "missing-task-queues", "The version is missing task queues"


class TooManyVersions(FailedPrecondition):
    """Worker Versioning: a deployment has its 100 versions and none can be removed."""

    kind, title = "too-many-versions", "Too many versions in the deployment"


class PayloadTooLarge(PerdureError):
    status, kind, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(PerdureError):
    status, kind, title = 415, "unsupported-media-type", "Unsupported media type"


class LimitExceeded(PerdureError):
    status, kind, title = 422, "limit-exceeded", "Limit exceeded"


class IdempotencyKeyReused(PerdureError):
    """The IETF httpapi-idempotency-key draft: a key reused with another request is a 422."""

    status, kind, title = 422, "idempotency-key-reused", "Idempotency-Key is already used"


class RateLimited(PerdureError):
    status, kind, title = 429, "rate-limited", "Too many requests"


class Unavailable(PerdureError):
    status, kind, title = 503, "unavailable", "Service unavailable"


class QueryFailed(PerdureError):
    status, kind, title = 400, "query-failed", "Query failed"


class DeadlineExceeded(PerdureError):
    status, kind, title = 504, "deadline-exceeded", "Deadline exceeded"


ERROR_KINDS: tuple[type[PerdureError], ...] = (
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    MethodNotAllowed,
    Conflict,
    AlreadyExists,
    WorkflowClosed,
    FailedPrecondition,
    WorkflowPaused,
    ReplayCheckRequired,
    ReplayCheckFailed,
    ConflictTokenMismatch,
    NoPollers,
    MissingTaskQueues,
    TooManyVersions,
    PayloadTooLarge,
    UnsupportedMediaType,
    LimitExceeded,
    IdempotencyKeyReused,
    RateLimited,
    Unavailable,
    QueryFailed,
    DeadlineExceeded,
    PerdureError,
)
