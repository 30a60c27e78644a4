// Worker Versioning through the client against a real server: deployments and versions made by
// versioned polls, listed and described; set current and ramping with the checks' errors and
// the conflict token; a run pinned at start and its override changed with handle.updateOptions.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { ConflictTokenMismatchError, FailedPreconditionError, NotFoundError, ReplayCheckRequiredError } from '../dist/index.js';
import { newTenant, raw, unique } from './helpers.mjs';

let tenant;
let client;
before(async () => {
  tenant = await newTenant();
  client = tenant.client;
});

/** One workflow-task poll of a versioned worker that waits for nothing: it makes the version exist. */
async function versionedPoll(deploymentName, buildId, queue) {
  const response = await fetch(`${process.env.PERDURE_ADDRESS}/api/v1/namespaces/${tenant.namespace}/task-queues/${queue}/workflow-tasks/poll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      identity: `worker-${buildId}`,
      wait: 0,
      deployment_options: { deployment_name: deploymentName, build_id: buildId, worker_versioning_mode: 'VERSIONED' },
    }),
  });
  assert.ok([200, 204].includes(response.status), await response.text());
}

describe('worker deployments', () => {
  test('versions made by polls are listed and described', async () => {
    const name = `orders-${unique()}`;
    const queue = `q-${unique()}`;
    await versionedPoll(name, 'b1', queue);

    const listed = await client.workerDeployment.list().toArray();
    const described = await client.workerDeployment.describe(name);
    const version = await client.workerDeployment.describeVersion({ deploymentName: name, buildId: 'b1' });

    assert.deepEqual(listed.map((d) => d.name), [name]);
    assert.equal(described.worker_deployment_info.routing_config.current_version.build_id, '');
    assert.deepEqual(described.worker_deployment_info.version_summaries.map((v) => v.version.build_id), ['b1']);
    assert.equal(version.worker_deployment_version_info.status, 'inactive');
    assert.deepEqual(version.worker_deployment_version_info.task_queue_infos.map((q) => q.name), [queue]);
    assert.deepEqual(version.open_runs, { PINNED: 0, AUTO_UPGRADE: 0 });
    await assert.rejects(client.workerDeployment.describe(`none-${unique()}`), NotFoundError);
  });

  test('set current, ramp and stop ramping; a stale conflict token is refused and changes nothing', async () => {
    const name = `billing-${unique()}`;
    const queue = `q-${unique()}`;
    await versionedPoll(name, 'b1', queue);
    await versionedPoll(name, 'b2', queue);
    const wd = client.workerDeployment;

    const first = await wd.setCurrentVersion(name, 'b1', { ignoreReplayCheck: true, identity: 'deploy-bot' });
    const ramp = await wd.setRampingVersion(name, 'b2', 25, { ignoreReplayCheck: true });
    const ramping = (await wd.describe(name)).worker_deployment_info;
    await assert.rejects(wd.setCurrentVersion(name, 'b2', { conflictToken: first.conflictToken, ignoreReplayCheck: true }), ConflictTokenMismatchError);
    await assert.rejects(wd.setRampingVersion(name, 'b1', 10, { ignoreReplayCheck: true }), FailedPreconditionError); // b1 is current
    const stopped = await wd.setRampingVersion(name, '', 0);
    const after = (await wd.describe(name)).worker_deployment_info.routing_config;

    assert.deepEqual(first.previousVersion, { deploymentName: name, buildId: '' });
    assert.equal(ramp.previousPercentage, 0);
    assert.equal(ramping.last_modifier_identity, 'ts-test');
    assert.equal(ramping.routing_config.current_version.build_id, 'b1');
    assert.deepEqual(ramping.routing_config.ramping_version, { deployment_name: name, build_id: 'b2' });
    assert.equal(ramping.routing_config.ramping_version_percentage, 25);
    assert.deepEqual(stopped.previousVersion, { deploymentName: name, buildId: 'b2' });
    assert.equal(after.ramping_version, null);
    assert.equal(after.current_version.build_id, 'b1');
  });

  test('the replay gate: refused without a check; a check with nothing to replay passes and opens it', async () => {
    const name = `gated-${unique()}`;
    const version = { deploymentName: name, buildId: 'v1' };
    await versionedPoll(name, 'v1', `q-${unique()}`);
    const wd = client.workerDeployment;

    await assert.rejects(wd.setCurrentVersion(name, 'v1'), ReplayCheckRequiredError);
    const check = await wd.startReplayCheck(version, { sampleSize: 10 });
    const again = await wd.getReplayCheck(version, check.check_id);
    const listed = await wd.listReplayChecks(version).toArray();
    const promoted = await wd.setCurrentVersion(name, 'v1');

    assert.equal(check.status, 'passed');
    assert.equal(check.progress.total, 0);
    assert.deepEqual(again.version, { deployment_name: name, build_id: 'v1' });
    assert.deepEqual(listed.map((c) => c.check_id), [check.check_id]);
    assert.deepEqual(promoted.previousVersion, { deploymentName: name, buildId: '' });
  });

  test('a polled version cannot be deleted; a deployment with versions cannot either', async () => {
    const name = `keep-${unique()}`;
    await versionedPoll(name, 'b1', `q-${unique()}`);

    await assert.rejects(client.workerDeployment.deleteVersion({ deploymentName: name, buildId: 'b1' }, { skipDrainage: true }), FailedPreconditionError);
    await assert.rejects(client.workerDeployment.delete(name), FailedPreconditionError);
    const described = await client.workerDeployment.describe(name);
    assert.equal(described.worker_deployment_info.version_summaries.length, 1);
  });
});

describe('a run\'s versioning override', () => {
  test('pinned at start, then auto-upgrade, then removed with updateOptions; describe shows it', async () => {
    const taskQueue = `q-${unique()}`;
    const pinned = { deploymentName: 'shop', buildId: 'b7' };
    const handle = await client.workflow.start('Versioned', {
      workflowId: `versioned-${unique()}`,
      taskQueue,
      versioningOverride: { pinned },
    });

    const atStart = (await handle.describe()).versioningInfo;
    const upgraded = await handle.updateOptions({ versioningOverride: { autoUpgrade: true } });
    const auto = (await handle.describe()).versioningInfo;
    const removed = await handle.updateOptions({ versioningOverride: null });
    const plain = (await handle.describe()).versioningInfo;
    const history = await raw('GET', `/api/v1/namespaces/${tenant.namespace}/workflows/${handle.workflowId}/history`, undefined, tenant.apiKey);

    assert.equal(atStart.behavior, 'PINNED');
    assert.deepEqual(atStart.deploymentVersion, pinned);
    assert.deepEqual(atStart.versioningOverride, { pinned });
    assert.deepEqual(upgraded.versioning_override, { auto_upgrade: true });
    assert.equal(auto.behavior, 'AUTO_UPGRADE');
    assert.deepEqual(auto.versioningOverride, { autoUpgrade: true });
    assert.equal(removed.versioning_override, null);
    assert.equal(plain?.versioningOverride, undefined);
    const started = history.events[0].attributes;
    assert.deepEqual(started.versioning_override.pinned.version, { deployment_name: 'shop', build_id: 'b7' });
  });
});
