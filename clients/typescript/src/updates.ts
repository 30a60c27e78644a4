/**
 * Workflow Update (Temporal's): a handle on one update of a workflow, waiting for its
 * outcome over `GET …/workflows/{workflow_id}/updates/{update_id}` (long polls of 30 s).
 */
import { fromFailure, type FailureJson } from './errors.js';
import type { components } from './generated/openapi.js';
import type { Connection } from './http.js';

export type UpdateAnswer = components['schemas']['UpdateAnswer'];
/** ACCEPTED: the handler has started (validators passed); COMPLETED: it returned or failed. */
export type WorkflowUpdateStage = 'ACCEPTED' | 'COMPLETED';

/** An update ended with a failure (its handler threw, or a validator rejected it); `cause` says which. */
export class WorkflowUpdateFailedError extends Error {
  constructor(message: string, cause: Error) {
    super(message, { cause });
    this.name = 'WorkflowUpdateFailedError';
  }
}

export class WorkflowUpdateHandle<T = unknown> {
  constructor(
    private readonly connection: Connection,
    private readonly namespace: string,
    readonly workflowId: string,
    readonly updateId: string,
    /** The run that took the update (when known). */
    readonly workflowRunId: string | undefined,
    private known?: UpdateAnswer,
  ) {}

  /** The update's result once it completed; `WorkflowUpdateFailedError` when it failed or was rejected. */
  async result(): Promise<T> {
    let answer = this.known;
    while (answer?.stage !== 'COMPLETED') {
      answer = await this.connection.call('get', '/api/v1/namespaces/{namespace}/workflows/{workflow_id}/updates/{update_id}', {
        path: { namespace: this.namespace, workflow_id: this.workflowId, update_id: this.updateId },
        query: { run_id: this.workflowRunId ?? null, wait: 30 },
      });
    }
    this.known = answer;
    return outcomeOf<T>(answer, this.updateId);
  }
}

/** The value of a COMPLETED answer, or its failure thrown. */
export function outcomeOf<T>(answer: UpdateAnswer, updateId: string): T {
  const outcome = (answer.outcome ?? {}) as { success?: unknown; failure?: FailureJson };
  if (outcome.failure) {
    throw new WorkflowUpdateFailedError(`update ${updateId} failed: ${outcome.failure.message ?? ''}`, fromFailure(outcome.failure));
  }
  return outcome.success as T;
}
