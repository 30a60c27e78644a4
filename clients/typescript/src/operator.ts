/**
 * The shapes of the operator controls (docs/operations.md): where a reset goes, how a run is
 * paused, which pending activities an activity control acts on and the options it sets, and
 * their REST forms. `WorkflowHandle` (one run) and `BatchClient` (every run a list filter
 * matches) both send them. Perdure additions: Temporal's TypeScript SDK has no such calls;
 * the names are those of its WorkflowService (`ResetWorkflowExecution`, `PauseActivity`, …).
 */
import { retryPolicyJson, secondsOf, type Duration, type RetryPolicy } from './common.js';
import type { components } from './generated/openapi.js';

type Schemas = components['schemas'];

/** Temporal's reset types, as its CLI spells them. */
export type ResetType = Schemas['ResetType'];
/** What a reset may leave out of the events it reapplies (Temporal's `ResetReapplyExcludeType`). */
export type ResetReapplyExcludeType = Schemas['ReapplyType'];

/** Where a reset goes: an `eventId` or a `resetType` (with `buildId` for `BuildId`). */
export interface ResetTarget {
  /** A WORKFLOW_TASK_COMPLETED, _FAILED, _TIMED_OUT or _STARTED event of the run. */
  eventId?: number;
  resetType?: ResetType;
  /** For `resetType: 'BuildId'`: reset to the first workflow task that build completed. */
  buildId?: string;
  /** Events after the point NOT reapplied to the new run; by default signals and updates are. */
  resetReapplyExcludeTypes?: ResetReapplyExcludeType[];
}

export interface WorkflowResetOptions extends ResetTarget {
  /** Required: recorded with the termination of the open run. */
  reason: string;
  /** The same reset sent again with it answers the first reset's new run and changes nothing. */
  requestId?: string;
}

export interface WorkflowPauseOptions {
  reason?: string;
  /** Who pauses (shown by `describe`); default the client's identity. */
  identity?: string;
  /** The same request sent again with it changes nothing. */
  requestId?: string;
}

/**
 * Which pending activities of the run an activity control acts on: give exactly one of
 * `activityId`, `activityType` (every pending one of that type) and `matchAll: true`
 * (every pending one); anything else is an `InvalidArgumentError`.
 */
export interface ActivityTarget {
  activityId?: string;
  activityType?: string;
  matchAll?: boolean;
  /** Who acts; default the client's identity. */
  identity?: string;
}

/** Temporal's `ActivityOptions` that `updateActivityOptions` may change: what is left out stays. */
export interface ActivityOptionsUpdate {
  scheduleToCloseTimeout?: Duration;
  scheduleToStartTimeout?: Duration;
  startToCloseTimeout?: Duration;
  heartbeatTimeout?: Duration;
  retry?: RetryPolicy;
}

/** A pending activity as an activity control answers it (the server's JSON). */
export type ControlledActivity = Schemas['ControlledActivity'];

/** The REST form of activity options (seconds, snake_case); only what is given. */
export function activityOptionsJson(options: ActivityOptionsUpdate): Schemas['ActivityOptions'] {
  const json: Schemas['ActivityOptions'] = {};
  if (options.scheduleToCloseTimeout !== undefined) json.schedule_to_close_timeout = secondsOf(options.scheduleToCloseTimeout);
  if (options.scheduleToStartTimeout !== undefined) json.schedule_to_start_timeout = secondsOf(options.scheduleToStartTimeout);
  if (options.startToCloseTimeout !== undefined) json.start_to_close_timeout = secondsOf(options.startToCloseTimeout);
  if (options.heartbeatTimeout !== undefined) json.heartbeat_timeout = secondsOf(options.heartbeatTimeout);
  if (options.retry !== undefined) json.retry_policy = retryPolicyJson(options.retry);
  return json;
}

/** The REST form of a reset's target (also a batch RESET's `reset_options`). */
export function resetTargetJson(target: ResetTarget): Schemas['ResetOptions'] {
  return {
    event_id: target.eventId ?? null,
    reset_type: target.resetType ?? null,
    build_id: target.buildId ?? null,
    reset_reapply_exclude_types: target.resetReapplyExcludeTypes ?? [],
  };
}
