/**
 * `client.workflow`: start (a code-first workflow type or a stored definition), execute,
 * signal-with-start, handles, and the list filter's `list` and `count`. Temporal's
 * `WorkflowClient`, over `/api/v1/namespaces/{namespace}/workflows…`.
 */
import { encodeArgs, PagedList, retryPolicyJson, secondsOf, type Duration, type RetryPolicy } from './common.js';
import { versioningOverrideJson, type VersioningOverride } from './deployments.js';
import type { components } from './generated/openapi.js';
import { executionInfo, WorkflowHandle, type WorkflowExecutionInfo } from './handle.js';
import type { Connection } from './http.js';
import { WorkflowUpdateHandle, type WorkflowUpdateStage } from './updates.js';

type Schemas = components['schemas'];

/** A stored definition to start instead of a workflow type: its name and, optionally, a version. */
export interface DefinitionRef {
  definition: string;
  /** Omitted: the latest version when the run starts. */
  version?: number;
}

export interface WorkflowStartOptions {
  workflowId: string;
  /** Required for a workflow type; optional for a stored definition (its Tasks name their queues). */
  taskQueue?: string;
  /** Positional arguments (the Python SDK's wire form: one non-array argument is sent as itself). */
  args?: unknown[];
  /** The run's input as one JSON value, sent as is (a stored definition's state input); instead of `args`. */
  input?: unknown;
  workflowExecutionTimeout?: Duration;
  workflowRunTimeout?: Duration;
  workflowTaskTimeout?: Duration;
  workflowIdReusePolicy?: Schemas['IdReusePolicy'];
  workflowIdConflictPolicy?: Schemas['IdConflictPolicy'];
  retry?: RetryPolicy;
  memo?: Record<string, unknown>;
  searchAttributes?: Record<string, unknown>;
  startDelay?: Duration;
  /** Sent as `Idempotency-Key`: the same start sent again answers the first run. */
  requestId?: string;
  /** Worker Versioning: pin the run to a version, or make it auto-upgrade, whatever its type declares. */
  versioningOverride?: VersioningOverride;
}

export interface SignalWithStartOptions extends Omit<WorkflowStartOptions, 'workflowIdConflictPolicy'> {
  signal: string;
  signalArgs?: unknown[];
}

export interface UpdateWithStartOptions {
  /** The run to start when none is running (its options; `workflowIdConflictPolicy` is required, as in Temporal). */
  startWorkflowOperation: { workflowType: string; options: WorkflowStartOptions & { workflowIdConflictPolicy: Schemas['IdConflictPolicy'] } };
  /** The update handler's arguments. */
  args?: unknown[];
  updateId?: string;
}

export interface ListOptions {
  /** Temporal's list filter, e.g. `WorkflowType = 'Pay' AND ExecutionStatus = 'Failed'`. */
  query?: string;
  pageSize?: number;
}

export interface WorkflowExecutionCount {
  count: number;
  /** With `GROUP BY ExecutionStatus`: one entry per group. */
  groups: { groupValues: unknown[]; count: number }[];
}

export class WorkflowClient {
  constructor(
    readonly connection: Connection,
    readonly namespace: string,
    readonly identity: string,
  ) {}

  /** The start body of a workflow type or stored definition and the options. */
  private startBody(workflow: string | DefinitionRef, options: WorkflowStartOptions): Schemas['StartWorkflow'] {
    const body: Schemas['StartWorkflow'] = {
      input: options.input !== undefined ? options.input : encodeArgs(options.args ?? []),
      identity: this.identity,
      task_queue: options.taskQueue ?? null,
      execution_timeout: secondsOf(options.workflowExecutionTimeout) ?? null,
      run_timeout: secondsOf(options.workflowRunTimeout) ?? null,
      start_delay: secondsOf(options.startDelay) ?? null,
      memo: options.memo ?? null,
      search_attributes: options.searchAttributes ?? null,
      retry_policy: options.retry ? retryPolicyJson(options.retry) : null,
    };
    if (typeof workflow === 'string') body.workflow_type = workflow;
    else body.definition = { name: workflow.definition, version: workflow.version ?? null };
    const taskTimeout = secondsOf(options.workflowTaskTimeout);
    if (taskTimeout !== undefined) body.task_timeout = taskTimeout;
    if (options.workflowIdReusePolicy) body.id_reuse_policy = options.workflowIdReusePolicy;
    if (options.versioningOverride) body.versioning_override = versioningOverrideJson(options.versioningOverride);
    return body;
  }

  private idempotency(requestId: string | undefined): Record<string, string> {
    return requestId ? { 'idempotency-key': requestId } : {};
  }

  /**
   * Start a run of a workflow type (served by a code-first worker, e.g. the Python SDK) or of
   * a stored definition (`{ definition: 'name' }`, run by the server). `AlreadyExistsError`
   * when the id is taken by a running workflow (unless the conflict policy says otherwise).
   */
  async start<R = unknown>(workflow: string | DefinitionRef, options: WorkflowStartOptions): Promise<WorkflowHandle<R>> {
    const body = this.startBody(workflow, options);
    if (options.workflowIdConflictPolicy) body.id_conflict_policy = options.workflowIdConflictPolicy;
    const started = await this.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}', {
      path: { namespace: this.namespace, workflow_id: options.workflowId },
      body,
      headers: this.idempotency(options.requestId),
    });
    return new WorkflowHandle<R>(this, options.workflowId, started.run_id, started.run_id);
  }

  /** Start a run and wait for its result (`result()`'s errors). */
  async execute<R = unknown>(workflow: string | DefinitionRef, options: WorkflowStartOptions): Promise<R> {
    const handle = await this.start<R>(workflow, options);
    return handle.result();
  }

  /** Signal the workflow, starting it first when it is not running (Temporal's signalWithStart). */
  async signalWithStart<R = unknown>(workflow: string | DefinitionRef, options: SignalWithStartOptions): Promise<WorkflowHandle<R>> {
    const body = this.startBody(workflow, options) as Schemas['SignalWithStart'];
    body.signal_input = encodeArgs(options.signalArgs ?? []);
    const started = await this.connection.call(
      'post',
      '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/signal-with-start/{signal_name}',
      {
        path: { namespace: this.namespace, workflow_id: options.workflowId, signal_name: options.signal },
        body,
        headers: this.idempotency(options.requestId),
      },
    );
    return new WorkflowHandle<R>(this, options.workflowId, started.run_id);
  }

  /**
   * Start the workflow (or, by the conflict policy, take its running run) and send it an
   * update in one request (Temporal's update-with-start): the update's result. Not atomic,
   * as Temporal documents: a run it started stays started if the update fails.
   */
  async executeUpdateWithStart<T = unknown>(updateName: string, options: UpdateWithStartOptions): Promise<T> {
    const { updateHandle } = await this.startUpdateWithStart<T>(updateName, { ...options, waitForStage: 'COMPLETED' });
    return updateHandle.result();
  }

  /** Update-with-start returning once the update reached `waitForStage`: both handles. */
  async startUpdateWithStart<T = unknown>(
    updateName: string,
    options: UpdateWithStartOptions & { waitForStage: WorkflowUpdateStage },
  ): Promise<{ workflowHandle: WorkflowHandle; updateHandle: WorkflowUpdateHandle<T> }> {
    const { workflowType, options: start } = options.startWorkflowOperation;
    const body = this.startBody(workflowType, start) as Schemas['UpdateWithStart'];
    body.id_conflict_policy = start.workflowIdConflictPolicy;
    body.update = {
      args: options.args ?? [],
      update_id: options.updateId ?? null,
      identity: this.identity,
      wait_for_stage: options.waitForStage,
      wait: 30,
    };
    const answer = await this.connection.call('post', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/update-with-start/{update_name}', {
      path: { namespace: this.namespace, workflow_id: start.workflowId, update_name: updateName },
      body,
      headers: this.idempotency(start.requestId),
    });
    const workflowHandle = new WorkflowHandle(this, start.workflowId, answer.run_id);
    const update = answer.update;
    const updateHandle = new WorkflowUpdateHandle<T>(this.connection, this.namespace, start.workflowId, update.update_ref.update_id, answer.run_id, update);
    return { workflowHandle, updateHandle };
  }

  /** A handle on an existing workflow (its latest run unless `runId` is given). */
  getHandle<R = unknown>(workflowId: string, runId?: string, options: { firstExecutionRunId?: string } = {}): WorkflowHandle<R> {
    return new WorkflowHandle<R>(this, workflowId, runId, options.firstExecutionRunId);
  }

  /**
   * Runs matching the list filter, newest first unless it says ORDER BY: an async iterable
   * that reads a page at a time (`pages()` for whole pages).
   */
  list(options: ListOptions = {}): PagedList<WorkflowExecutionInfo> {
    return new PagedList(async (token) => {
      const page = await this.connection.call('get', '/api/v1/namespaces/{namespace}/workflows', {
        path: { namespace: this.namespace },
        query: { query: options.query ?? null, page_size: options.pageSize ?? 100, next_page_token: token ?? null },
      });
      return { items: page.workflows.map(executionInfo), next: page.next_page_token };
    });
  }

  /** How many runs match the list filter; `groups` with `GROUP BY ExecutionStatus`. */
  async count(query?: string): Promise<WorkflowExecutionCount> {
    const answer = await this.connection.call('get', '/api/v1/namespaces/{namespace}/workflow-count', {
      path: { namespace: this.namespace },
      query: { query: query ?? null },
    });
    return {
      count: answer.count,
      groups: (answer.groups ?? []).map((g) => ({ groupValues: g.group_values, count: g.count })),
    };
  }
}
