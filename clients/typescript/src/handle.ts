/**
 * `WorkflowHandle`: one workflow (and optionally one run of it) to wait on, signal, query,
 * cancel, terminate, describe and read the history of. Temporal's TypeScript handle, over
 * `/api/v1/namespaces/{namespace}/workflows/{workflow_id}/…`.
 *
 * A new per-workflow route (reset, pause, …) is one method here: `this.route` gives the
 * path parameters every such route takes, and `this.runRef` the run it is aimed at.
 */
import { dateOf, encodeArgs, secondsOf, type Duration } from './common.js';
import {
  fromFailure,
  QueryFailedError,
  WorkflowContinuedAsNewError,
  WorkflowFailedError,
  type FailureJson,
} from './errors.js';
import type { components } from './generated/openapi.js';
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
  raw: Schemas['WorkflowDescription'];
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

