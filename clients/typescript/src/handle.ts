/**
 * `WorkflowHandle`: one workflow (and optionally one run of it) to wait on, signal, query,
 * cancel, terminate, describe and read the history of. Temporal's TypeScript handle, over
 * `/api/v1/namespaces/{namespace}/workflows/{workflow_id}/…`.
 *
 * A new per-workflow route (reset, pause, …) is one method here: `this.route` gives the
 * path parameters every such route takes, and `this.runRef` the run it is aimed at.
 */
import { dateOf, encodeArgs, secondsOf, type Duration } from './common.js';
import { versioningOverrideJson, type VersioningOverride, type WorkerDeploymentVersion } from './deployments.js';
import {
  fromFailure,
  QueryFailedError,
  WorkflowContinuedAsNewError,
  WorkflowFailedError,
  type FailureJson,
} from './errors.js';
import type { components } from './generated/openapi.js';
import {
  activityOptionsJson,
  resetTargetJson,
  type ActivityOptionsUpdate,
  type ActivityTarget,
  type ControlledActivity,
  type WorkflowPauseOptions,
  type WorkflowResetOptions,
} from './operator.js';
import { WorkflowUpdateHandle, type WorkflowUpdateStage } from './updates.js';
import type { WorkflowClient } from './workflows.js';

type Schemas = components['schemas'];
export type HistoryEvent = Schemas['HistoryEvent'];
export type WorkflowStatus = Schemas['RunStatus'];
/** How a run ended (or that it has not): the result route's answer, or a run's description. */
type Outcome = Pick<Schemas['WorkflowOutcome'], 'status' | 'result' | 'failure'>;

/** A run as lists show it (Temporal's `WorkflowExecutionInfo`); the server's JSON in `raw`. */
export interface WorkflowExecutionInfo {
  workflowId: string;
  runId: string;
  type: string;
  taskQueue: string;
  status: WorkflowStatus;
  startTime: Date;
  executionTime: Date;
  closeTime: Date | undefined;
  historyLength: number;
  memo: unknown;
  searchAttributes: Record<string, unknown>;
  parentExecution: { workflowId: string; runId: string } | undefined;
  raw: Schemas['WorkflowSummary'];
}

/** What `describe()` answers: the list fields, plus the run's pending work and outcome in `raw`. */
export interface WorkflowExecutionDescription extends Omit<WorkflowExecutionInfo, 'raw'> {
  firstRunId: string;
  cancelRequested: boolean;
  /** While the run is PAUSED: who paused it, why and when. */
  pauseInfo: WorkflowPauseInfo | undefined;
  /** The run the latest reset of this run started. */
  resetRunId: string | undefined;
  /** The run this run was reset from (its base). */
  resetFromRunId: string | undefined;
  /** Worker Versioning: the run's behaviour, version and override; undefined for an unversioned run. */
  versioningInfo: WorkflowVersioningInfo | undefined;
  raw: Schemas['WorkflowDescription'];
}

/** Temporal's `WorkflowExecutionVersioningInfo`. */
export interface WorkflowVersioningInfo {
  /** The effective behaviour: the override's, else what the run's workers declared. */
  behavior: Schemas['VersioningBehavior'];
  /** Pinned: the version it is pinned to; auto-upgrade: the version of its last completed workflow task. */
  deploymentVersion: WorkerDeploymentVersion | undefined;
  versioningOverride: VersioningOverride | undefined;
}

function versioningInfoOf(raw: Schemas['VersioningInfo'] | null | undefined): WorkflowVersioningInfo | undefined {
  if (!raw) return undefined;
  const version = raw.deployment_version;
  const override = raw.versioning_override as Schemas['VersioningOverride'] | null;
  const pinned = override?.pinned?.version;
  return {
    behavior: raw.behavior,
    deploymentVersion: version ? { deploymentName: version.deployment_name, buildId: version.build_id } : undefined,
    versioningOverride: pinned
      ? { pinned: { deploymentName: pinned.deployment_name, buildId: pinned.build_id } }
      : override?.auto_upgrade
        ? { autoUpgrade: true }
        : undefined,
  };
}

export interface WorkflowPauseInfo {
  identity: string | undefined;
  reason: string | undefined;
  pauseTime: Date | undefined;
}

function pauseInfoOf(raw: unknown): WorkflowPauseInfo | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const info = raw as { identity?: string | null; reason?: string | null; pause_time?: string | null };
  return { identity: info.identity ?? undefined, reason: info.reason ?? undefined, pauseTime: dateOf(info.pause_time) };
}

export function executionInfo(raw: Schemas['WorkflowSummary']): WorkflowExecutionInfo {
  return {
    workflowId: raw.workflow_id,
    runId: raw.run_id,
    type: raw.workflow_type,
    taskQueue: raw.task_queue,
    status: raw.status,
    startTime: new Date(raw.start_time),
    executionTime: new Date(raw.execution_time),
    closeTime: dateOf(raw.close_time),
    historyLength: raw.history_length,
    memo: raw.memo,
    searchAttributes: raw.search_attributes,
    parentExecution: raw.parent ? { workflowId: raw.parent.workflow_id, runId: raw.parent.run_id } : undefined,
    raw,
  };
}

export interface ResultOptions {
  /** Follow continue-as-new and retries to the last run (default true, as Temporal). */
  followRuns?: boolean;
}

export interface HistoryOptions {
  /** Keep waiting for new events until the run closes (long polls of up to 30 s). */
  follow?: boolean;
  /** Events per page (at most 1,000). */
  pageSize?: number;
  /** Stop waiting (and end the iteration) when this aborts. */
  signal?: AbortSignal;
}

export interface WorkflowUpdateOptions {
  /** The handler's arguments (an array, each one argument). */
  args?: unknown[];
  /** Deduplicates within a run: the same id again answers the same update. Made when absent. */
  updateId?: string;
}

export interface QueryOptions {
  /** How long the server waits for a worker to answer (default 10 s): 504 `DeadlineExceededError` past it. */
  timeout?: Duration;
}

export class WorkflowHandle<R = unknown> {
  readonly client: WorkflowClient;
  readonly workflowId: string;
  /** The run this handle is aimed at; `undefined` means the latest run of the workflow id. */
  readonly runId: string | undefined;
  /** The first run of a chain this handle follows (`result()` starts there). */
  readonly firstExecutionRunId: string | undefined;

  constructor(client: WorkflowClient, workflowId: string, runId?: string, firstExecutionRunId?: string) {
    this.client = client;
    this.workflowId = workflowId;
    this.runId = runId;
    this.firstExecutionRunId = firstExecutionRunId;
  }

  /** The path parameters of every route under `…/workflows/{workflow_id}`. */
  protected get route(): { namespace: string; workflow_id: string } {
    return { namespace: this.client.namespace, workflow_id: this.workflowId };
  }

  /** `run_id` for bodies and queries: this run, or null for the latest. */
  protected get runRef(): string | null {
    return this.runId ?? null;
  }

  /**
   * The workflow's result once it closes (long polls of 30 s until then). A run that did not
   * complete throws `WorkflowFailedError` whose `cause` is the failure (`ApplicationFailure`,
   * `CancelledFailure`, `TerminatedFailure`, `TimeoutFailure`…); with `followRuns: false` a
   * run that continued as new throws `WorkflowContinuedAsNewError`.
   */
  async result(options: ResultOptions = {}): Promise<R> {
    const followRuns = options.followRuns ?? true;
    const startRun = followRuns ? (this.firstExecutionRunId ?? this.runId) : this.runId;
    if (!followRuns && startRun) return this.outcome(await this.closedRun(startRun));
    for (;;) {
      const outcome = await this.client.connection.call('get', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/result', {
        path: this.route,
        query: { wait: 30, run_id: startRun ?? null },
      });
      // The result route follows the chain of runs to its last one and answers RUNNING
      // after its 30 s wait: ask again.
      if (outcome.status !== 'RUNNING') return this.outcome(outcome);
    }
  }

  /** The outcome of `runId` itself once it has closed (its close event waited for, 30 s a call). */
  private async closedRun(runId: string): Promise<Outcome> {
    for (;;) {
      const page = await this.client.connection.call('get', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/history', {
        path: this.route,
        query: { run_id: runId, event_filter: 'close', wait_new_event: true, wait: 30 },
      });
      if (page.events.length > 0) break;
    }
    return this.client.connection.call('get', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/runs/{run_id}', {
      path: { ...this.route, run_id: runId },
    });
  }

  private outcome(outcome: Outcome): R {
    if (outcome.status === 'COMPLETED') return outcome.result as R;
    if (outcome.status === 'CONTINUED_AS_NEW') {
      throw new WorkflowContinuedAsNewError((outcome as { continued_to_run_id?: string | null }).continued_to_run_id ?? undefined);
    }
    throw new WorkflowFailedError(
      `workflow ${this.workflowId} ended ${outcome.status}`,
      outcome.status,
      fromFailure(outcome.failure as FailureJson | null),
    );
  }

  /** The run's description: status, times, memo, search attributes, pending work (in `raw`). */
  async describe(): Promise<WorkflowExecutionDescription> {
    const raw = this.runId
      ? await this.client.connection.call('get', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/runs/{run_id}', {
          path: { ...this.route, run_id: this.runId },
        })
      : await this.client.connection.call('get', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}', {
          path: this.route,
        });
    return {
      ...executionInfo(raw),
      firstRunId: raw.first_run_id,
      cancelRequested: raw.cancel_requested,
      pauseInfo: pauseInfoOf(raw.pause_info),
      resetRunId: raw.reset_run_id ?? undefined,
      resetFromRunId: raw.reset_from_run_id ?? undefined,
      versioningInfo: versioningInfoOf(raw.versioning_info),
      raw,
    };
  }

  /** Send a signal with arguments (recorded as WORKFLOW_EXECUTION_SIGNALED). */
  async signal(signalName: string, ...args: unknown[]): Promise<void> {
    await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/signal/{signal_name}', {
      path: { ...this.route, signal_name: signalName },
      body: { input: encodeArgs(args), run_id: this.runRef, identity: this.client.identity },
    });
  }

  /** Ask a worker for the answer of a query handler (10 s for a worker to answer). */
  async query<T = unknown>(queryName: string, ...args: unknown[]): Promise<T> {
    return this.queryWithOptions<T>(queryName, args, {});
  }

  /**
   * `query` with options. `QueryFailedError` when the handler failed or is unknown,
   * `DeadlineExceededError` when no worker answered within `timeout`.
   */
  async queryWithOptions<T = unknown>(queryName: string, args: unknown[], options: QueryOptions): Promise<T> {
    const answer = await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/query/{query_name}', {
      path: { ...this.route, query_name: queryName },
      body: { args: encodeArgs(args), run_id: this.runRef, timeout: secondsOf(options.timeout ?? '10s') },
    });
    const error = (answer as { error?: FailureJson | null }).error;
    if (error) {
      const message = String(error.message ?? 'query failed');
      throw new QueryFailedError(message, 400, { detail: message, failure: error });
    }
    return answer.answer as T;
  }

  /**
   * Send an update and wait for its result (Temporal's `executeUpdate`):
   * `WorkflowUpdateFailedError` when the handler failed or a validator rejected it,
   * `FailedPreconditionError`/`ConflictError` when the run closed before accepting it.
   */
  async executeUpdate<T = unknown>(updateName: string, options: WorkflowUpdateOptions = {}): Promise<T> {
    const handle = await this.startUpdate<T>(updateName, { ...options, waitForStage: 'COMPLETED' });
    return handle.result();
  }

  /** Send an update and return once it reached `waitForStage` (ACCEPTED: its handler runs). */
  async startUpdate<T = unknown>(
    updateName: string,
    options: WorkflowUpdateOptions & { waitForStage: WorkflowUpdateStage },
  ): Promise<WorkflowUpdateHandle<T>> {
    let answer = await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/update/{update_name}', {
      path: { ...this.route, update_name: updateName },
      body: {
        args: options.args ?? [],
        update_id: options.updateId ?? null,
        run_id: this.runRef,
        first_execution_run_id: this.firstExecutionRunId ?? null,
        identity: this.client.identity,
        wait_for_stage: options.waitForStage,
        wait: 30,
      },
    });
    const updateId = answer.update_ref.update_id;
    const runId = answer.update_ref.workflow_execution.run_id;
    // A 30 s wait ended before the stage: ask again (the same update id changes nothing).
    while (answer.stage === 'ADMITTED' || (options.waitForStage === 'COMPLETED' && answer.stage !== 'COMPLETED')) {
      answer = await this.client.connection.call('get', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/updates/{update_id}', {
        path: { ...this.route, update_id: updateId },
        query: { run_id: runId ?? null, wait: 30 },
      });
    }
    return new WorkflowUpdateHandle<T>(this.client.connection, this.client.namespace, this.workflowId, updateId, runId, answer);
  }

  /** A handle on an update sent earlier (by its id). */
  getUpdateHandle<T = unknown>(updateId: string): WorkflowUpdateHandle<T> {
    return new WorkflowUpdateHandle<T>(this.client.connection, this.client.namespace, this.workflowId, updateId, this.runId);
  }

  /** Ask the workflow to cancel (its code decides what that means; a stored definition stops). */
  async cancel(reason?: string): Promise<void> {
    await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/cancel', {
      path: this.route,
      body: { run_id: this.runRef, reason: reason ?? null, identity: this.client.identity },
    });
  }

  /** End the run at once, running none of its code; `details` are recorded with the reason. */
  async terminate(reason?: string, ...details: unknown[]): Promise<void> {
    await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/terminate', {
      path: this.route,
      body: { run_id: this.runRef, reason: reason ?? null, details: encodeArgs(details), identity: this.client.identity },
    });
  }

  // -- operator controls (Perdure additions: Temporal offers these through its CLI and
  // WorkflowService only; the rules are its server's, see docs/operations.md) --------------

  /**
   * Reset the workflow to a workflow task of this handle's run (the latest run when the
   * handle names none): `eventId`, or `resetType` `FirstWorkflowTask`, `LastWorkflowTask`,
   * `LastContinuedAsNew` or `BuildId`. The open run is terminated with `reason`; a new run
   * starts from the history up to that point, with the signals and updates received after it
   * reapplied unless `resetReapplyExcludeTypes` says otherwise. Answers a handle of the new
   * run. `InvalidArgumentError` for a point that is no workflow task; `IdempotencyKeyReusedError`
   * for a `requestId` used by another request. For a failed stored-definition run,
   * `LastWorkflowTask` is Step Functions' RedriveExecution.
   */
  async reset(options: WorkflowResetOptions): Promise<WorkflowHandle<R>> {
    const answer = await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/reset', {
      path: this.route,
      body: {
        ...resetTargetJson(options),
        run_id: this.runRef,
        reason: options.reason,
        identity: this.client.identity,
        request_id: options.requestId ?? null,
      },
    });
    return new WorkflowHandle<R>(this.client, this.workflowId, answer.run_id);
  }

  /**
   * Change the run's options (Temporal's UpdateWorkflowExecutionOptions): today its versioning
   * override. `{ pinned: version }` sends every task of the run to that version's workers from
   * now on, `{ autoUpgrade: true }` makes it follow its deployment's current version, `null`
   * removes the override. Answers the options as they now are.
   */
  async updateOptions(options: { versioningOverride: VersioningOverride | null }): Promise<Schemas['WorkflowExecutionOptions']> {
    const answer = await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/update-options', {
      path: this.route,
      body: {
        run_id: this.runRef,
        workflow_execution_options: { versioning_override: versioningOverrideJson(options.versioningOverride) },
        update_mask: 'versioning_override',
      },
    });
    return answer.workflow_execution_options;
  }

  /**
   * Pause the run (Temporal's Workflow Pause): signals, activity outcomes, timer firings and
   * cancel requests are recorded, but no workflow task is dispatched until `unpause()`;
   * queries and updates are refused meanwhile with `WorkflowPausedError`; terminate, reset
   * and the run's timeouts act as usual. Pausing a paused run changes nothing;
   * `FailedPreconditionError` for a closed run.
   */
  async pause(options: WorkflowPauseOptions = {}): Promise<void> {
    await this.pauseCall('/api/v1/namespaces/{namespace}/workflows/{workflow_id}/pause', options);
  }

  /** Unpause: what arrived while the run was paused goes to it at once. `FailedPreconditionError` when it is not paused. */
  async unpause(options: WorkflowPauseOptions = {}): Promise<void> {
    await this.pauseCall('/api/v1/namespaces/{namespace}/workflows/{workflow_id}/unpause', options);
  }

  private async pauseCall(
    route: '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/pause' | '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/unpause',
    options: WorkflowPauseOptions,
  ): Promise<void> {
    await this.client.connection.call('post', route, {
      path: this.route,
      body: {
        run_id: this.runRef,
        reason: options.reason ?? null,
        identity: options.identity ?? this.client.identity,
        request_id: options.requestId ?? null,
      },
    });
  }

  /**
   * Pause pending activities: no new attempt is dispatched; an attempt under way that
   * heartbeats is cancelled at its next heartbeat (`Context.current().cancellationDetails.paused`),
   * one that does not runs to completion and, if it fails, is not retried until unpaused.
   * No history event. Answers the activities; `NotFoundError` when the run has none such.
   */
  async pauseActivity(options: ActivityTarget & { reason?: string }): Promise<ControlledActivity[]> {
    const answer = await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/activities/pause', {
      path: this.route,
      body: { ...this.activityTarget(options), reason: options.reason ?? null },
    });
    return answer.activities;
  }

  /** Unpause pending activities: the next attempt is dispatched at once, keeping the attempt count unless `resetAttempts`. */
  async unpauseActivity(options: ActivityTarget & { resetAttempts?: boolean; resetHeartbeat?: boolean }): Promise<ControlledActivity[]> {
    const answer = await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/activities/unpause', {
      path: this.route,
      body: {
        ...this.activityTarget(options),
        reset_attempts: options.resetAttempts ?? false,
        reset_heartbeat: options.resetHeartbeat ?? false,
      },
    });
    return answer.activities;
  }

  /**
   * Reset pending activities to attempt 1, dispatched at once: heartbeat details kept unless
   * `clearHeartbeatDetails`, unpaused unless `keepPaused`. An attempt under way learns it at
   * its next heartbeat (`cancellationDetails.reset`).
   */
  async resetActivity(options: ActivityTarget & { keepPaused?: boolean; clearHeartbeatDetails?: boolean }): Promise<ControlledActivity[]> {
    const answer = await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/activities/reset', {
      path: this.route,
      body: {
        ...this.activityTarget(options),
        keep_paused: options.keepPaused ?? false,
        clear_heartbeat_details: options.clearHeartbeatDetails ?? false,
      },
    });
    return answer.activities;
  }

  /**
   * Change the timeouts or retry policy of pending activities, from their next attempt on
   * (the schedule-to-close deadline moves at once); what `activityOptions` leaves out stays.
   * `InvalidArgumentError` when it sets nothing.
   */
  async updateActivityOptions(options: ActivityTarget & { activityOptions: ActivityOptionsUpdate }): Promise<ControlledActivity[]> {
    const answer = await this.client.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/activities/update-options', {
      path: this.route,
      body: { ...this.activityTarget(options), activity_options: activityOptionsJson(options.activityOptions) },
    });
    return answer.activities;
  }

  /** The fields every activity control's body starts with. */
  private activityTarget(target: ActivityTarget): Schemas['PauseActivityBody'] {
    return {
      run_id: this.runRef,
      activity_id: target.activityId ?? null,
      activity_type: target.activityType ?? null,
      match_all: target.matchAll ?? false,
      identity: target.identity ?? this.client.identity,
    };
  }

  /**
   * The run's events, oldest first, a page at a time. With `follow`, waits for new events
   * (long polls of up to 30 s) and ends once the run has closed and its last event was
   * yielded — what `temporal workflow show --follow` shows.
   */
  async *history(options: HistoryOptions = {}): AsyncGenerator<HistoryEvent, void, undefined> {
    for await (const page of this.historyPages(options)) yield* page.events;
  }

  /** The history's pages as the route answers them (`run_id`, `events`). */
  private async *historyPages(options: HistoryOptions): AsyncGenerator<{ run_id: string; events: HistoryEvent[] }, void, undefined> {
    let runId = this.runId;
    let token: string | undefined;
    for (;;) {
      const page = await this.client.connection.call('get', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/history', {
        path: this.route,
        query: {
          run_id: runId ?? null,
          page_size: options.pageSize ?? 1000,
          next_page_token: token ?? null,
          wait_new_event: Boolean(options.follow),
          wait: options.follow ? 30 : 0,
        },
        signal: options.signal,
      });
      // The first page names the run; later pages must read that same run.
      runId = page.run_id;
      yield page;
      if (!page.next_page_token || options.signal?.aborted) return;
      token = page.next_page_token;
    }
  }

  /** The whole history of the run (the latest unless the handle names one) as one array. */
  async fetchHistory(): Promise<{ workflowId: string; runId: string; events: HistoryEvent[] }> {
    const events: HistoryEvent[] = [];
    let runId = this.runId ?? '';
    for await (const page of this.historyPages({})) {
      runId = page.run_id;
      events.push(...page.events);
    }
    return { workflowId: this.workflowId, runId, events };
  }

}

