// Schedules and batch operations through the client, against a real server.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from '../dist/index.js';
import { eventually, newTenant, unique } from './helpers.mjs';

let client;
before(async () => {
  ({ client } = await newTenant());
  await client.definitions.put('echo', { StartAt: 'Echo', States: { Echo: { Type: 'Pass', End: true } } });
});

describe('schedules', () => {
  const hourly = { intervals: [{ every: 3600 }] };
  const action = { start_workflow: { definition: { name: 'echo' }, input: { from: 'schedule' } } };

  test('create, describe, list, update, pause and unpause, delete', async () => {
    const scheduleId = `s-${unique()}`;
    const handle = await client.schedule.create({ scheduleId, spec: hourly, action, memo: { team: 'ts' } });
    await assert.rejects(client.schedule.create({ scheduleId, spec: hourly, action }), AlreadyExistsError);
    const described = await handle.describe();
    assert.equal(described.schedule_id, scheduleId);
    assert.deepEqual(described.schedule.spec.intervals.map((i) => i.every), [3600]);
    assert.deepEqual(described.memo, { team: 'ts' });
    const ids = (await client.schedule.list({ pageSize: 1 }).toArray()).map((s) => s.schedule_id);
    assert.ok(ids.includes(scheduleId));

    const updated = await handle.update((previous) => ({ ...previous.schedule, spec: { intervals: [{ every: 60 }] } }));
    assert.deepEqual(updated.schedule.spec.intervals.map((i) => i.every), [60]);
    assert.equal((await handle.pause('maintenance')).schedule.state.paused, true);
    const unpaused = await handle.unpause('back');
    assert.equal(unpaused.schedule.state.paused, false);
    assert.equal(unpaused.schedule.state.note, 'back');

    await handle.delete();
    await assert.rejects(handle.describe(), NotFoundError);
  });

  test('trigger starts a run now, and backfill takes the times of a past range', async () => {
    const scheduleId = `t-${unique()}`;
    const handle = await client.schedule.create({ scheduleId, spec: hourly, action, state: { paused: true } });
    await handle.trigger('ALLOW_ALL');
    const end = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    const start = new Date(end.getTime() - 2 * 3_600_000 + 1000);
    await handle.backfill({ start_at: start.toISOString(), end_at: end.toISOString(), overlap: 'ALLOW_ALL' });
    const info = await eventually(async () => {
      const d = await handle.describe();
      return d.info.recent_actions.length >= 2 ? d.info : null;
    });
    assert.deepEqual([...new Set(info.recent_actions.map((a) => a.origin))].sort(), ['backfill', 'trigger']);
    const runIds = info.recent_actions.map((a) => a.workflow_id);
    for (const workflowId of runIds) {
      assert.deepEqual(await client.workflow.getHandle(workflowId).result(), { from: 'schedule' });
    }
    await handle.delete();
  });
});

describe('batch operations', () => {
  test('a TERMINATE job ends every run the filter matches; describe and list show it; a finished job cannot be stopped', async () => {
    const type = `Batch${unique().replace(/-/g, '')}`;
    const taskQueue = `q-${unique()}`;
    const handles = [];
    for (let i = 0; i < 3; i++) handles.push(await client.workflow.start(type, { workflowId: `${type}-${i}`, taskQueue }));
    const jobId = `job-${unique()}`;
    const started = await client.batch.start({ jobId, operationType: 'TERMINATE', query: `WorkflowType = '${type}'`, reason: 'cleanup' });
    assert.equal(started.job_id, jobId);
    const done = await eventually(async () => {
      const job = await client.batch.describe(jobId);
      return job.state === 'COMPLETED' ? job : null;
    });
    assert.equal(done.complete_operation_count, 3);
    for (const h of handles) assert.equal((await h.describe()).status, 'TERMINATED');
    assert.ok((await client.batch.list().toArray()).some((j) => j.job_id === jobId));
    await assert.rejects(client.batch.stop(jobId), FailedPreconditionError);
    await assert.rejects(client.batch.start({ jobId, operationType: 'TERMINATE', query: `WorkflowType = '${type}'` }), AlreadyExistsError);
  });

  test('a SIGNAL job signals each run with the arguments', async () => {
    const type = `Signal${unique().replace(/-/g, '')}`;
    const taskQueue = `q-${unique()}`;
    const handle = await client.workflow.start(type, { workflowId: `${type}-0`, taskQueue });
    const jobId = `job-${unique()}`;
    await client.batch.start({ jobId, operationType: 'SIGNAL', query: `WorkflowType = '${type}'`, signalName: 'wake', signalArgs: [{ now: true }] });
    const signaled = await eventually(async () =>
      (await handle.fetchHistory()).events.find((e) => e.event_type === 'WORKFLOW_EXECUTION_SIGNALED'),
    );
    assert.equal(signaled.attributes.signal_name, 'wake');
    assert.deepEqual(signaled.attributes.input, { now: true });
    await handle.terminate();
  });

  test('stop ends a running job (and again changes nothing)', async () => {
    const type = `Slow${unique().replace(/-/g, '')}`;
    const taskQueue = `q-${unique()}`;
    for (let i = 0; i < 5; i++) await client.workflow.start(type, { workflowId: `${type}-${i}`, taskQueue });
    const jobId = `job-${unique()}`;
    await client.batch.start({ jobId, operationType: 'CANCEL', query: `WorkflowType = '${type}'`, maxOperationsPerSecond: 0.2 });
    const stopped = await client.batch.stop(jobId, 'enough');
    assert.equal(stopped.state, 'STOPPED');
    assert.equal(stopped.stop_reason, 'enough');
    assert.ok(stopped.complete_operation_count < 5);
    assert.equal((await client.batch.stop(jobId)).state, 'STOPPED');
  });
});
