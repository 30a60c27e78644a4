/**
 * `client.batch`: Temporal's batch operations (signal, cancel, terminate or delete every run a
 * list filter matches), durable jobs the server works through at a bounded rate.
 */
import { encodeArgs, PagedList } from './common.js';
import type { components } from './generated/openapi.js';
import type { Connection } from './http.js';

type Schemas = components['schemas'];
export type BatchOperation = Schemas['BatchOperation'];

export interface BatchOperationOptions {
  operationType: Schemas['OperationType'];
  /** The list filter choosing the runs, e.g. `WorkflowType = 'Pay' AND ExecutionStatus = 'Running'`. */
  query: string;
  /** Chosen by the server when omitted; the same id again is `AlreadyExistsError`. */
  jobId?: string;
  reason?: string;
  /** SIGNAL: the signal's name and arguments. */
  signalName?: string;
  signalArgs?: unknown[];
  maxOperationsPerSecond?: number;
}

export class BatchClient {
  constructor(
    readonly connection: Connection,
    readonly namespace: string,
    readonly identity: string,
  ) {}

  /** Start a job; it runs in the background (watch it with `describe`). */
  async start(options: BatchOperationOptions): Promise<BatchOperation> {
    const body: Schemas['BatchOperationStart'] = {
      operation_type: options.operationType,
      query: options.query,
      job_id: options.jobId ?? null,
      reason: options.reason ?? null,
      signal_name: options.signalName ?? null,
      input: encodeArgs(options.signalArgs ?? []),
      identity: this.identity,
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
