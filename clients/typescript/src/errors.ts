/**
 * What can go wrong, as classes: one per problem `type` the server answers with (RFC 9457,
 * `https://perdure.dev/problems/<kind>`, the server's app/errors.py), and the failures a
 * workflow or activity ends with, named as in Temporal's TypeScript SDK.
 */

export const PROBLEM_BASE = 'https://perdure.dev/problems/';

/** An RFC 9457 problem body: `type`, `title`, `status`, `detail`, extra members. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  [member: string]: unknown;
}

/**
 * Any error answer of the server (Temporal's `ServiceError`): `status` is the HTTP status,
 * `problem` the whole body, `type` its problem type URI ('' when the body was no problem).
 */
export class PerdureError extends Error {
  readonly status: number;
  readonly problem: Problem;
  /** Seconds to wait before trying again, from a `Retry-After` answer (429, 503). */
  retryAfter: number | undefined;
  constructor(message: string, status: number, problem: Problem) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.problem = problem;
  }
  get type(): string {
    return typeof this.problem.type === 'string' ? this.problem.type : '';
  }
}

/** 400 `invalid-argument`: the request is malformed or breaks a rule; nothing changed. */
export class InvalidArgumentError extends PerdureError {}
/** 401 `unauthenticated`: no key, or a key that is unknown, revoked or expired. */
export class UnauthenticatedError extends PerdureError {}
/** 403 `permission-denied`: the key's role may not do this. */
export class PermissionDeniedError extends PerdureError {}
/** 404 `not-found`: no such thing in this namespace (also what another tenant's key sees). */
export class NotFoundError extends PerdureError {}
/** 405 `method-not-allowed`. */
export class MethodNotAllowedError extends PerdureError {}
/** 409 `conflict`: the thing's state forbids the change (e.g. a stale conflict token). */
export class ConflictError extends PerdureError {}
/** 409 `already-exists` (Temporal's `WorkflowExecutionAlreadyStartedError` for a start). */
export class AlreadyExistsError extends ConflictError {}
/** 409 `failed-precondition`: e.g. signalling a closed run. */
export class FailedPreconditionError extends PerdureError {}
/** 409 `workflow-closed`: the run closed before it accepted the update. */
export class WorkflowClosedError extends FailedPreconditionError {}
/**
 * 409 `workflow-paused`: the run is paused (Temporal's Workflow Pause), so queries and updates
 * are refused until `unpause()`; the problem's detail says who paused it and why.
 */
export class WorkflowPausedError extends FailedPreconditionError {}
/** 409 `conflict-token-mismatch`: a routing change named a conflict token the deployment no longer has (someone changed it first). */
export class ConflictTokenMismatchError extends FailedPreconditionError {}
/** 409 `no-pollers`: no worker of the version polled in the last 5 minutes (`allowNoPollers` overrides). */
export class NoPollersError extends FailedPreconditionError {}
/** 409 `missing-task-queues`: the version does not poll a queue the current version polls (`ignoreMissingTaskQueues` overrides). */
export class MissingTaskQueuesError extends FailedPreconditionError {}
/** 409 `too-many-versions`: the deployment has its 100 versions and none can be removed. */
export class TooManyVersionsError extends FailedPreconditionError {}
/**
 * 409 `replay-check-required`: a version may become current or ramping only after a replay
 * check finished in the last 24 hours (or with `ignore_replay_check: true`).
 */
export class ReplayCheckRequiredError extends FailedPreconditionError {}
/**
 * 409 `replay-check-failed`: the version's latest replay check failed; `problem.failures` lists
 * up to 20 runs with the event id where each diverged.
 */
export class ReplayCheckFailedError extends FailedPreconditionError {}
/** 413 `payload-too-large`: a payload past 2 MiB. */
export class PayloadTooLargeError extends PerdureError {}
/** 415 `unsupported-media-type`. */
export class UnsupportedMediaTypeError extends PerdureError {}
/** 422 `limit-exceeded`: a namespace or run limit (pending activities, history size…). */
export class LimitExceededError extends PerdureError {}
/** 422 `idempotency-key-reused`: the same Idempotency-Key with a different request. */
export class IdempotencyKeyReusedError extends PerdureError {}
/** 429 `rate-limited`: `retryAfter` says how many seconds to wait. */
export class RateLimitedError extends PerdureError {}
/** 503 `unavailable`: the server (or its database) cannot answer now; try again. */
export class UnavailableError extends PerdureError {}
/** 400 `query-failed`: the query handler raised, or the query is unknown. */
export class QueryFailedError extends PerdureError {}
/** 504 `deadline-exceeded`: e.g. no worker answered a query in time. */
export class DeadlineExceededError extends PerdureError {}

/** Temporal's name for an id already running (a start refused with 409 `already-exists`). */
export const WorkflowExecutionAlreadyStartedError = AlreadyExistsError;

/** The error class of each problem kind (the part of the `type` URI after PROBLEM_BASE). */
export const PROBLEM_CLASSES: Readonly<Record<string, typeof PerdureError>> = {
  'invalid-argument': InvalidArgumentError,
  unauthenticated: UnauthenticatedError,
  'permission-denied': PermissionDeniedError,
  'not-found': NotFoundError,
  'method-not-allowed': MethodNotAllowedError,
  conflict: ConflictError,
  'already-exists': AlreadyExistsError,
  'failed-precondition': FailedPreconditionError,
  'workflow-closed': WorkflowClosedError,
  'workflow-paused': WorkflowPausedError,
  'conflict-token-mismatch': ConflictTokenMismatchError,
  'no-pollers': NoPollersError,
  'missing-task-queues': MissingTaskQueuesError,
  'too-many-versions': TooManyVersionsError,
  'replay-check-required': ReplayCheckRequiredError,
  'replay-check-failed': ReplayCheckFailedError,
  'payload-too-large': PayloadTooLargeError,
  'unsupported-media-type': UnsupportedMediaTypeError,
  'limit-exceeded': LimitExceededError,
  'idempotency-key-reused': IdempotencyKeyReusedError,
  'rate-limited': RateLimitedError,
  unavailable: UnavailableError,
  'query-failed': QueryFailedError,
  'deadline-exceeded': DeadlineExceededError,
};

/** The error class of a problem body: by its `type`, else the base class. */
export function problemError(status: number, problem: Problem): PerdureError {
  const type = typeof problem.type === 'string' ? problem.type : '';
  const kind = type.startsWith(PROBLEM_BASE) ? type.slice(PROBLEM_BASE.length) : '';
  const Class = PROBLEM_CLASSES[kind] ?? PerdureError;
  const message = String(problem.detail || problem.title || `HTTP ${status}`);
  return new Class(message, status, problem);
}

// -- failures (how a workflow or an activity ended) ----------------------------------------

/** The JSON form of a failure on the wire (the server's FailureBody plus a cause chain). */
export interface FailureJson {
  message?: string;
  type?: string | null;
  non_retryable?: boolean;
  details?: unknown;
  cause?: FailureJson | null;
  [member: string]: unknown;
}

/** Base of the failures below (Temporal's `TemporalFailure`). */
export class PerdureFailure extends Error {
  constructor(message: string, cause?: Error) {
    super(message, cause ? { cause } : undefined);
    this.name = new.target.name;
  }
}

export interface ApplicationFailureOptions {
  message?: string;
  type?: string;
  nonRetryable?: boolean;
  details?: unknown[];
  cause?: Error;
}

/**
 * A failure raised on purpose by an activity (or a workflow): `type` is matched against a
 * retry policy's `non_retryable_error_types` (exact match), and `nonRetryable` stops retries
 * whatever the policy says. Temporal's `ApplicationFailure`.
 */
export class ApplicationFailure extends PerdureFailure {
  readonly type: string | undefined;
  readonly nonRetryable: boolean;
  readonly details: unknown[];
  constructor(message = '', type?: string, nonRetryable = false, details: unknown[] = [], cause?: Error) {
    super(message, cause);
    this.type = type;
    this.nonRetryable = nonRetryable;
    this.details = details;
  }
  static create(options: ApplicationFailureOptions): ApplicationFailure {
    return new ApplicationFailure(
      options.message ?? '',
      options.type,
      options.nonRetryable ?? false,
      options.details ?? [],
      options.cause,
    );
  }
  /** A failure retried per the activity's retry policy. */
  static retryable(message: string, type?: string, ...details: unknown[]): ApplicationFailure {
    return new ApplicationFailure(message, type ?? 'Error', false, details);
  }
  /** A failure never retried: the activity fails for good with it. */
  static nonRetryable(message: string, type?: string, ...details: unknown[]): ApplicationFailure {
    return new ApplicationFailure(message, type ?? 'Error', true, details);
  }
}

/** The run or activity was canceled. */
export class CancelledFailure extends PerdureFailure {
  readonly details: unknown[];
  constructor(message = 'canceled', details: unknown[] = []) {
    super(message);
    this.details = details;
  }
}

/** The run was terminated (no code of it ran). */
export class TerminatedFailure extends PerdureFailure {}

/** A timeout the server enforced: `timeoutType` is START_TO_CLOSE, HEARTBEAT, … */
export class TimeoutFailure extends PerdureFailure {
  readonly timeoutType: string | undefined;
  readonly lastHeartbeatDetails: unknown;
  constructor(message: string, timeoutType?: string, lastHeartbeatDetails?: unknown) {
    super(message);
    this.timeoutType = timeoutType;
    this.lastHeartbeatDetails = lastHeartbeatDetails;
  }
}

/** An activity of the workflow failed; `cause` says how. */
export class ActivityFailure extends PerdureFailure {
  readonly activityType: string;
  readonly activityId: string;
  readonly retryState: string | undefined;
  constructor(message: string, activityType: string, activityId: string, retryState?: string, cause?: Error) {
    super(message, cause);
    this.activityType = activityType;
    this.activityId = activityId;
    this.retryState = retryState;
  }
}

/** `result()` of a run that ended other than COMPLETED: `cause` is the failure, `status` how it closed. */
export class WorkflowFailedError extends Error {
  readonly status: string;
  constructor(message: string, status: string, cause?: Error) {
    super(message, cause ? { cause } : undefined);
    this.name = 'WorkflowFailedError';
    this.status = status;
  }
}

/** `result({ followRuns: false })` of a run that continued as new. */
export class WorkflowContinuedAsNewError extends Error {
  readonly newExecutionRunId: string | undefined;
  constructor(newExecutionRunId: string | undefined) {
    super('the workflow continued as new');
    this.name = 'WorkflowContinuedAsNewError';
    this.newExecutionRunId = newExecutionRunId;
  }
}

/** The error a failure's JSON stands for (the inverse of `toFailure`). */
export function fromFailure(failure: FailureJson | null | undefined): Error {
  const f = failure ?? {};
  const message = String(f.message ?? '');
  const cause = f.cause && typeof f.cause === 'object' ? fromFailure(f.cause) : undefined;
  switch (f.type) {
    case 'ActivityError':
      return new ActivityFailure(
        message,
        String(f.activity_type ?? ''),
        String(f.activity_id ?? ''),
        typeof f.retry_state === 'string' ? f.retry_state : undefined,
        cause,
      );
    case 'CanceledError':
      return new CancelledFailure(message || 'canceled', f.details === undefined || f.details === null ? [] : [f.details]);
    case 'TerminatedError':
      return new TerminatedFailure(message);
    case 'TimeoutError':
      if ('timeout_type' in f) return new TimeoutFailure(message, String(f.timeout_type), f.last_heartbeat_details);
  }
  const details = Array.isArray(f.details) ? f.details : f.details === undefined || f.details === null ? [] : [f.details];
  return new ApplicationFailure(message, f.type ?? undefined, Boolean(f.non_retryable), details, cause);
}

/** The JSON failure of an error an activity threw: its message, type (the class name unless an ApplicationFailure says) and details. */
export function toFailure(err: unknown): FailureJson {
  if (err instanceof ApplicationFailure) {
    return {
      message: err.message,
      type: err.type ?? 'Error',
      non_retryable: err.nonRetryable,
      details: err.details.length ? err.details : null,
      ...(err.cause instanceof Error ? { cause: toFailure(err.cause) } : {}),
    };
  }
  if (err instanceof Error) {
    return {
      message: err.message,
      type: err.name || 'Error',
      stack_trace: err.stack ?? null,
      ...(err.cause instanceof Error ? { cause: toFailure(err.cause) } : {}),
    };
  }
  return { message: String(err), type: 'Error' };
}
