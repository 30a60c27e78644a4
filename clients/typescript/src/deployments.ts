/**
 * Worker Versioning (Temporal's Worker Deployments): `client.workerDeployment` lists and
 * describes deployments and versions and moves new runs between versions; a run's versioning
 * override is set at start (`versioningOverride`) or later (`handle.updateOptions`).
 *
 * Perdure additions: Temporal's TypeScript SDK reaches these only through its raw
 * WorkflowService (`SetWorkerDeploymentCurrentVersion`, …); the names here are those calls'.
 * A version is `{ deploymentName, buildId }`; an empty `buildId` names the unversioned workers.
 */
import { PagedList } from './common.js';
import type { components } from './generated/openapi.js';
import type { Connection } from './http.js';

type Schemas = components['schemas'];

/** A Worker Deployment Version: the deployment's name and the build id of its workers. */
export interface WorkerDeploymentVersion {
  deploymentName: string;
  /** '' : the unversioned workers (as current or ramping target). */
  buildId: string;
}

/**
 * A run's versioning override (Temporal's `VersioningOverride`): `{ pinned: version }` sends
 * every task of the run to that version's workers; `{ autoUpgrade: true }` makes it follow its
 * deployment's current (or ramping) version; whatever its workflow type declares.
 */
export type VersioningOverride = { pinned: WorkerDeploymentVersion } | { autoUpgrade: true };

export type WorkerDeploymentSummary = Schemas['WorkerDeploymentList']['worker_deployments'][number];
export type WorkerDeploymentDescription = Schemas['DescribedWorkerDeployment'];
export type WorkerDeploymentVersionDescription = Schemas['DescribedWorkerDeploymentVersion'];
/** A replay check: status, progress, what it waits for, failing runs (with the event where each diverged). */
export type ReplayCheck = Schemas['ReplayCheck'];

/** The promotion checks a routing change may override, and who makes it. */
export interface RoutingChangeOptions {
  /** Refuse (`ConflictTokenMismatchError`) if the routing changed since this token was read. */
  conflictToken?: string;
  /** Recorded as the deployment's last modifier; default the client's identity. */
  identity?: string;
  /** Even if no worker of the version polled in the last 5 minutes (else `NoPollersError`). */
  allowNoPollers?: boolean;
  /** Even if it does not poll a queue the current version polls (else `MissingTaskQueuesError`). */
  ignoreMissingTaskQueues?: boolean;
  /** Even without a passing replay check of the version (Perdure's replay gate). */
  ignoreReplayCheck?: boolean;
}

export interface SetCurrentVersionResult {
  conflictToken: string;
  /** The version that was current (`buildId` '' : the unversioned workers). */
  previousVersion?: WorkerDeploymentVersion;
}

export interface SetRampingVersionResult extends SetCurrentVersionResult {
  previousPercentage: number;
}

/** The REST form of an override (`null` removes it). */
export function versioningOverrideJson(override: VersioningOverride | null): Schemas['VersioningOverride'] | null {
  if (override === null) return null;
  if ('pinned' in override) {
    return { pinned: { behavior: 'PINNED', version: versionJson(override.pinned) } };
  }
  return { auto_upgrade: true };
}

function versionJson(version: WorkerDeploymentVersion): Schemas['DeploymentVersion'] {
  return { deployment_name: version.deploymentName, build_id: version.buildId };
}

function versionOf(value: { deployment_name: string; build_id: string } | null | undefined): WorkerDeploymentVersion | undefined {
  return value ? { deploymentName: value.deployment_name, buildId: value.build_id } : undefined;
}

export class WorkerDeploymentClient {
  constructor(
    readonly connection: Connection,
    readonly namespace: string,
    readonly identity: string,
  ) {}

  /** The namespace's deployments by name, a page at a time (each with its routing). */
  list(options: { pageSize?: number } = {}): PagedList<WorkerDeploymentSummary> {
    return new PagedList(async (token) => {
      const page = await this.connection.call('get', '/api/v1/namespaces/{namespace}/worker-deployments', {
        path: { namespace: this.namespace },
        query: { page_size: options.pageSize ?? 100, next_page_token: token ?? null },
      });
      return { items: page.worker_deployments, next: page.next_page_token };
    });
  }

  /** The deployment's routing, its versions (status, drainage) and its conflict token. `NotFoundError` for an unknown one. */
  async describe(deploymentName: string): Promise<WorkerDeploymentDescription> {
    return this.connection.call('get', '/api/v1/namespaces/{namespace}/worker-deployments/{deployment_name}', {
      path: { namespace: this.namespace, deployment_name: deploymentName },
    });
  }

  /** Delete a deployment that has no versions left. */
  async delete(deploymentName: string): Promise<void> {
    await this.connection.call('delete', '/api/v1/namespaces/{namespace}/worker-deployments/{deployment_name}', {
      path: { namespace: this.namespace, deployment_name: deploymentName },
    });
  }

  /** A version: status, drainage, task queues, pollers of the last 5 minutes and open runs per behaviour. */
  async describeVersion(version: WorkerDeploymentVersion): Promise<WorkerDeploymentVersionDescription> {
    return this.connection.call('get', '/api/v1/namespaces/{namespace}/worker-deployment-versions/{deployment_name}/{build_id}', {
      path: { namespace: this.namespace, deployment_name: version.deploymentName, build_id: version.buildId },
    });
  }

  /**
   * Make `buildId` ('' : the unversioned workers) the current version: new runs and the
   * workflow tasks of auto-upgrade runs go to it. Refused with `NoPollersError`,
   * `MissingTaskQueuesError`, `ConflictTokenMismatchError` or the replay gate's 409 unless
   * `options` override the check.
   */
  async setCurrentVersion(deploymentName: string, buildId: string, options: RoutingChangeOptions = {}): Promise<SetCurrentVersionResult> {
    const answer = await this.connection.call('post', '/api/v1/namespaces/{namespace}/worker-deployments/{deployment_name}/set-current-version', {
      path: { namespace: this.namespace, deployment_name: deploymentName },
      body: { build_id: buildId, ...this.checks(options) },
    });
    return { conflictToken: answer.conflict_token, previousVersion: versionOf(answer.previous_version) };
  }

  /**
   * Ramp `percentage` (0–100) of new runs to `buildId` (the workflow ids whose hash falls
   * under it: raising it only adds ids); `buildId` '' with 0 stops ramping. Checked as
   * `setCurrentVersion` when the version starts ramping.
   */
  async setRampingVersion(
    deploymentName: string,
    buildId: string,
    percentage: number,
    options: RoutingChangeOptions = {},
  ): Promise<SetRampingVersionResult> {
    const answer = await this.connection.call('post', '/api/v1/namespaces/{namespace}/worker-deployments/{deployment_name}/set-ramping-version', {
      path: { namespace: this.namespace, deployment_name: deploymentName },
      body: { build_id: buildId, percentage, ...this.checks(options) },
    });
    return {
      conflictToken: answer.conflict_token,
      previousVersion: versionOf(answer.previous_version),
      previousPercentage: answer.previous_percentage,
    };
  }

  /** Delete a version that is neither current nor ramping, unpolled for 5 minutes and drained (`skipDrainage` forces the last). */
  async deleteVersion(version: WorkerDeploymentVersion, options: { skipDrainage?: boolean } = {}): Promise<void> {
    await this.connection.call('delete', '/api/v1/namespaces/{namespace}/worker-deployment-versions/{deployment_name}/{build_id}', {
      path: { namespace: this.namespace, deployment_name: version.deploymentName, build_id: version.buildId },
      query: { skip_drainage: options.skipDrainage ?? false },
    });
  }

  /**
   * Start a replay check of the version (Perdure's replay gate): its replay-capable workers
   * replay the histories of up to `sampleSize` (default 100) runs it would take, narrowed by
   * the list filter `query`. A check with nothing to replay has passed already. Until one
   * passes (within 24 hours), `setCurrentVersion` and `setRampingVersion` throw
   * `ReplayCheckRequiredError` or `ReplayCheckFailedError` unless `ignoreReplayCheck`.
   */
  async startReplayCheck(version: WorkerDeploymentVersion, options: { sampleSize?: number; query?: string } = {}): Promise<ReplayCheck> {
    return this.connection.call('post', '/api/v1/namespaces/{namespace}/worker-deployment-versions/{deployment_name}/{build_id}/replay-check', {
      path: { namespace: this.namespace, deployment_name: version.deploymentName, build_id: version.buildId },
      body: { sample_size: options.sampleSize ?? 100, query: options.query ?? null, identity: this.identity },
    });
  }

  /** A check of the version with its progress and failing runs. */
  async getReplayCheck(version: WorkerDeploymentVersion, checkId: string): Promise<ReplayCheck> {
    return this.connection.call('get', '/api/v1/namespaces/{namespace}/worker-deployment-versions/{deployment_name}/{build_id}/replay-checks/{check_id}', {
      path: { namespace: this.namespace, deployment_name: version.deploymentName, build_id: version.buildId, check_id: checkId },
    });
  }

  /** The version's checks, newest first, a page at a time (without their failing runs: `getReplayCheck` has them). */
  listReplayChecks(version: WorkerDeploymentVersion, options: { pageSize?: number } = {}): PagedList<ReplayCheck> {
    return new PagedList(async (token) => {
      const page = await this.connection.call('get', '/api/v1/namespaces/{namespace}/worker-deployment-versions/{deployment_name}/{build_id}/replay-checks', {
        path: { namespace: this.namespace, deployment_name: version.deploymentName, build_id: version.buildId },
        query: { page_size: options.pageSize ?? 100, next_page_token: token ?? null },
      });
      return { items: page.checks, next: page.next_page_token };
    });
  }

  private checks(options: RoutingChangeOptions): Omit<Schemas['SetCurrentVersion'], 'build_id'> {
    return {
      conflict_token: options.conflictToken ?? null,
      identity: options.identity ?? this.identity,
      allow_no_pollers: options.allowNoPollers ?? false,
      ignore_missing_task_queues: options.ignoreMissingTaskQueues ?? false,
      ignore_replay_check: options.ignoreReplayCheck ?? false,
    };
  }
}
