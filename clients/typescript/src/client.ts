/**
 * `Client`: one namespace of one connection, with Temporal's sub-clients (`workflow`,
 * `schedule`, `activity`) and Perdure's (`batch`, `definitions`, `workerDeployment`).
 */
import { hostname } from 'node:os';
import { BatchClient } from './batch.js';
import { DefinitionClient } from './definitions.js';
import { WorkerDeploymentClient } from './deployments.js';
import { CancelledFailure, toFailure } from './errors.js';
import { Connection, type ConnectionOptions } from './http.js';
import { ScheduleClient } from './schedules.js';
import { WorkflowClient } from './workflows.js';

export interface ClientOptions {
  /** Default: `Connection.lazy()` (environment, then http://127.0.0.1:8233). */
  connection?: Connection;
  /** Default: env PERDURE_NAMESPACE, then `default`. */
  namespace?: string;
  /** Recorded with starts, signals and completions. Default `<pid>@<host>`. */
  identity?: string;
}

export function defaultIdentity(): string {
  return `${process.pid}@${hostname()}`;
}

export class Client {
  readonly connection: Connection;
  readonly namespace: string;
  readonly identity: string;
  readonly workflow: WorkflowClient;
  readonly schedule: ScheduleClient;
  readonly batch: BatchClient;
  readonly definitions: DefinitionClient;
  /** Worker Deployments: versions, current and ramping (Perdure's calls for Temporal's WorkflowService ones). */
  readonly workerDeployment: WorkerDeploymentClient;
  readonly activity: AsyncCompletionClient;

  constructor(options: ClientOptions = {}) {
    this.connection = options.connection ?? Connection.lazy();
    this.namespace = options.namespace ?? process.env.PERDURE_NAMESPACE ?? 'default';
    this.identity = options.identity ?? defaultIdentity();
    this.workflow = new WorkflowClient(this.connection, this.namespace, this.identity);
    this.schedule = new ScheduleClient(this.connection, this.namespace);
    this.batch = new BatchClient(this.connection, this.namespace, this.identity);
    this.definitions = new DefinitionClient(this.connection, this.namespace);
    this.workerDeployment = new WorkerDeploymentClient(this.connection, this.namespace, this.identity);
    this.activity = new AsyncCompletionClient(this.connection, this.namespace, this.identity);
  }

  /** The one-call form: `await Client.connect({ address, apiKey, namespace })`. */
  static async connect(options: ConnectionOptions & Omit<ClientOptions, 'connection'> = {}): Promise<Client> {
    const connection = await Connection.connect(options);
    return new Client({ connection, namespace: options.namespace, identity: options.identity });
  }
}

/**
 * Complete, fail or heartbeat an activity from outside its worker, by task token (a webhook
 * receiver that answered 202, or a `waitForTaskToken` state). Temporal's `client.activity`.
 */
export class AsyncCompletionClient {
  constructor(
    readonly connection: Connection,
    readonly namespace: string,
    readonly identity: string,
  ) {}

  async complete(taskToken: string, result?: unknown): Promise<void> {
    await this.connection.call('post', '/api/v1/namespaces/{namespace}/activity-tasks/complete', {
      path: { namespace: this.namespace },
      body: { task_token: taskToken, result: result ?? null, identity: this.identity },
    });
  }

  async fail(taskToken: string, error: unknown): Promise<void> {
    await this.connection.call('post', '/api/v1/namespaces/{namespace}/activity-tasks/fail', {
      path: { namespace: this.namespace },
      body: { task_token: taskToken, failure: toFailure(error), identity: this.identity },
    });
  }

  /** Record progress; `CancelledFailure` once the activity's cancellation was requested. */
  async heartbeat(taskToken: string, details?: unknown): Promise<void> {
    const answer = await this.connection.call('post', '/api/v1/namespaces/{namespace}/activity-tasks/heartbeat', {
      path: { namespace: this.namespace },
      body: { task_token: taskToken, details: details ?? null },
    });
    if (answer.cancel_requested) throw new CancelledFailure('activity cancellation requested');
  }

  async reportCancellation(taskToken: string, details?: unknown): Promise<void> {
    await this.connection.call('post', '/api/v1/namespaces/{namespace}/activity-tasks/canceled', {
      path: { namespace: this.namespace },
      body: { task_token: taskToken, details: details ?? null, identity: this.identity },
    });
  }
}
