/**
 * `client.batch`: Temporal's batch operations (signal, cancel, terminate, delete, reset, and
 * the operator controls pause/unpause and the activity controls, on every run a list filter
 * matches), durable jobs the server works through at a bounded rate, each run acted on once.
 */
import { encodeArgs, PagedList } from './common.js';
import type { components } from './generated/openapi.js';
import { activityOptionsJson, resetTargetJson, type ActivityOptionsUpdate, type ResetTarget } from './operator.js';
import type { Connection } from './http.js';

type Schemas = components['schemas'];
export type BatchOperation = Schemas['BatchOperation'];
/** SIGNAL, CANCEL, TERMINATE, DELETE, RESET, PAUSE, UNPAUSE, PAUSE_ACTIVITY, UNPAUSE_ACTIVITY, RESET_ACTIVITY, UPDATE_ACTIVITY_OPTIONS. */
export type BatchOperationType = Schemas['OperationType'];

/**
 * For the activity operations: which pending activities of each run (exactly one of
 * `activityId`, `activityType`, `matchAll: true`) and the options of the single-run call
 * (`handle.pauseActivity`, `unpauseActivity`, `resetActivity`, `updateActivityOptions`).
 */
export interface BatchActivityOptions {
  activityId?: string;
  activityType?: string;
  matchAll?: boolean;
  /** PAUSE_ACTIVITY: why (shown in each activity's pause info). */
  reason?: string;
  /** UNPAUSE_ACTIVITY: start again from attempt 1 / drop the heartbeat details. */
  resetAttempts?: boolean;
  resetHeartbeat?: boolean;
  /** RESET_ACTIVITY: stay paused / drop the heartbeat details. */
  keepPaused?: boolean;
  clearHeartbeatDetails?: boolean;
  /** UPDATE_ACTIVITY_OPTIONS: the timeouts or retry policy to set. */
  activityOptions?: ActivityOptionsUpdate;
}

export interface BatchOperationOptions {
  operationType: BatchOperationType;
  /** The list filter choosing the runs, e.g. `WorkflowType = 'Pay' AND ExecutionStatus = 'Running'`. */
  query: string;
  /** Chosen by the server when omitted; the same id again is `AlreadyExistsError`. */
  jobId?: string;
  reason?: string;
  /** SIGNAL: the signal's name and arguments. */
  signalName?: string;
  signalArgs?: unknown[];
  /** RESET: where each run goes (`eventId`, or `resetType` with `buildId`) and what is not reapplied. */
  resetOptions?: ResetTarget;
  /** PAUSE_ACTIVITY, UNPAUSE_ACTIVITY, RESET_ACTIVITY, UPDATE_ACTIVITY_OPTIONS: which activities, how. */
  activity?: BatchActivityOptions;
  maxOperationsPerSecond?: number;
}

function activityJson(options: BatchActivityOptions): Schemas['BatchActivityOptions'] {
  return {
    activity_id: options.activityId ?? null,
    activity_type: options.activityType ?? null,
    match_all: options.matchAll ?? false,
    reason: options.reason ?? null,
    reset_attempts: options.resetAttempts ?? false,
    reset_heartbeat: options.resetHeartbeat ?? false,
    keep_paused: options.keepPaused ?? false,
    clear_heartbeat_details: options.clearHeartbeatDetails ?? false,
    activity_options: options.activityOptions ? activityOptionsJson(options.activityOptions) : null,
  };
}

export class BatchClient {
  constructor(
    readonly connection: Connection,
    readonly namespace: string,
    readonly identity: string,
  ) {}

  /**
   * Start a job; it runs in the background (watch it with `describe`). A run the operation
   * refuses (e.g. UNPAUSE of a run that is not paused) counts as a failure of the job.
   */
  async start(options: BatchOperationOptions): Promise<BatchOperation> {
    const body: Schemas['BatchOperationStart'] = {
      operation_type: options.operationType,
      query: options.query,
      job_id: options.jobId ?? null,
      reason: options.reason ?? null,
      signal_name: options.signalName ?? null,
      input: encodeArgs(options.signalArgs ?? []),
      identity: this.identity,
      reset_options: options.resetOptions ? resetTargetJson(options.resetOptions) : null,
      activity: options.activity ? activityJson(options.activity) : null,
    };
    if (options.maxOperationsPerSecond !== undefined) body.max_operations_per_second = options.maxOperationsPerSecond;
    return this.connection.call('post', '/api/v1/namespaces/{namespace}/batch-operations', {
      path: { namespace: this.namespace },
      body,
    });
  }

  async describe(jobId: string): Promise<BatchOperation> {
    return this.connection.call('get', '/api/v1/namespaces/{namespace}/batch-operations/{job_id}', {
      path: { namespace: this.namespace, job_id: jobId },
    });
  }

  /** Stop a running job (runs already done stay done). */
  async stop(jobId: string, reason?: string): Promise<BatchOperation> {
    return this.connection.call('post', '/api/v1/namespaces/{namespace}/batch-operations/{job_id}/stop', {
      path: { namespace: this.namespace, job_id: jobId },
      body: { reason: reason ?? null },
    });
  }

  /** Jobs newest first, a page at a time. */
  list(options: { pageSize?: number } = {}): PagedList<BatchOperation> {
    return new PagedList(async (token) => {
      const page = await this.connection.call('get', '/api/v1/namespaces/{namespace}/batch-operations', {
        path: { namespace: this.namespace },
        query: { page_size: options.pageSize ?? 100, next_page_token: token ?? null },
      });
      return { items: page.batch_operations, next: page.next_page_token };
    });
  }
}
