// Operator controls through the client against a real server: reset (to a type or an event,
// reapplying signals or not, deduplicated by request id), pause and unpause of a run (with
// the WorkflowPausedError of a query), the activity controls with a heartbeating TS worker,
// and batch jobs of those kinds.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  ApplicationFailure,
  FailedPreconditionError,
  IdempotencyKeyReusedError,
  InvalidArgumentError,
  NotFoundError,
  Worker,
  WorkflowPausedError,
  Context,
  CancelledFailure,
} from '../dist/index.js';
import { decideOnce, eventually, newTenant, unique } from './helpers.mjs';

let tenant;
let client;
before(async () => {
  tenant = await newTenant();
  client = tenant.client;
});

/** A code-first run whose first workflow task a decider completed (so it has a point to reset to). */
async function startedRun(type = 'Operated', commands = []) {
  const taskQueue = `q-${unique()}`;
  const handle = await client.workflow.start(type, { workflowId: `${type}-${unique()}`, taskQueue });
  const decided = await decideOnce(tenant, taskQueue, { commands });
  assert.ok(decided?.task, 'the first workflow task was handed out');
  return { handle, taskQueue };
}

/** The command scheduling activity `charge-1` on a queue no worker polls (so it stays pending). */
function scheduleCharge() {
  return {
    command_type: 'SCHEDULE_ACTIVITY_TASK',
    attributes: { activity_id: 'charge-1', activity_type: 'Charge', task_queue: `none-${unique()}`, start_to_close_timeout: 30 },
  };
}

const eventTypes = async (handle) => (await handle.fetchHistory()).events.map((e) => e.event_type);

describe('reset', () => {
  test('to the first workflow task: the old run is terminated, the new run gets the later signal, describe links them', async () => {
    const { handle } = await startedRun();
    await handle.signal('late', { n: 1 });
    const newRun = await handle.reset({ resetType: 'FirstWorkflowTask', reason: 'bad deploy' });
    assert.equal(newRun.workflowId, handle.workflowId);
    assert.ok(newRun.runId && newRun.runId !== handle.runId);

    const old = await handle.describe();
    assert.equal(old.status, 'TERMINATED');
    assert.equal(old.resetRunId, newRun.runId);
    const described = await newRun.describe();
    assert.equal(described.status, 'RUNNING');
    assert.equal(described.resetFromRunId, handle.runId);

    const events = (await newRun.fetchHistory()).events;
    const failed = events.find((e) => e.event_type === 'WORKFLOW_TASK_FAILED');
    assert.equal(failed.attributes.cause, 'RESET_WORKFLOW');
    const signaled = events.filter((e) => e.event_type === 'WORKFLOW_EXECUTION_SIGNALED');
    assert.deepEqual(signaled.map((e) => [e.attributes.signal_name, e.attributes.input]), [['late', { n: 1 }]]);
    // A handle on the workflow id now means the new run.
    assert.equal((await client.workflow.getHandle(handle.workflowId).describe()).runId, newRun.runId);
    await newRun.terminate();
  });

  test('to an event id, excluding signals: the later signal is not reapplied', async () => {
    const { handle } = await startedRun();
    await handle.signal('late');
    const completed = (await handle.fetchHistory()).events.find((e) => e.event_type === 'WORKFLOW_TASK_COMPLETED');
    const newRun = await handle.reset({ eventId: completed.event_id, reason: 'no signals', resetReapplyExcludeTypes: ['SIGNAL'] });
    assert.ok(!(await eventTypes(newRun)).includes('WORKFLOW_EXECUTION_SIGNALED'));
    await newRun.terminate();
  });

  test('a request id makes a retried reset answer the first new run; reused for another reset it is refused', async () => {
    const { handle } = await startedRun();
    const requestId = `reset-${unique()}`;
    const first = await handle.reset({ resetType: 'FirstWorkflowTask', reason: 'once', requestId });
    const again = await handle.reset({ resetType: 'FirstWorkflowTask', reason: 'once', requestId });
    assert.equal(again.runId, first.runId);
    await assert.rejects(handle.reset({ resetType: 'LastWorkflowTask', reason: 'other', requestId }), IdempotencyKeyReusedError);
    await first.terminate();
  });

  test('a point that is no workflow task, or no target, is an InvalidArgumentError; another tenant gets NotFoundError', async () => {
    const { handle } = await startedRun();
    const err = await handle.reset({ eventId: 1, reason: 'the start event' }).catch((e) => e);
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.equal(err.status, 400);
    await assert.rejects(handle.reset({ reason: 'nowhere' }), InvalidArgumentError);
    const other = await newTenant();
    await assert.rejects(
      other.client.workflow.getHandle(handle.workflowId).reset({ resetType: 'FirstWorkflowTask', reason: 'not mine' }),
      NotFoundError,
    );
    assert.equal((await handle.describe()).status, 'RUNNING');
    await handle.terminate();
  });

  test('a failed stored-definition run reset to its last workflow task is redriven (Step Functions RedriveExecution)', async () => {
    const taskQueue = `redrive-${unique()}`;
    const calls = [];
    let cardWorks = false;
    const worker = await Worker.create({
      connection: client.connection,
      namespace: client.namespace,
      taskQueue,
      activities: {
        async prepare() {
          calls.push('prepare');
          return { prepared: true };
        },
        async charge() {
          calls.push('charge');
          if (!cardWorks) throw ApplicationFailure.nonRetryable('card service down', 'CardDown');
          return { charged: true };
        },
      },
    });
    const name = `redrive-${unique()}`;
    await client.definitions.put(name, {
      StartAt: 'Prepare',
      States: {
        Prepare: { Type: 'Task', Resource: `perdure:activity:${taskQueue}:prepare`, Next: 'Charge' },
        Charge: { Type: 'Task', Resource: `perdure:activity:${taskQueue}:charge`, End: true },
      },
    });
    await worker.runUntil(async () => {
      const handle = await client.workflow.start({ definition: name }, { workflowId: `order-${unique()}` });
      await assert.rejects(handle.result());
      assert.equal((await handle.describe()).status, 'FAILED');
      cardWorks = true;
      const redriven = await handle.reset({ resetType: 'LastWorkflowTask', reason: 'the card service is back' });
      assert.deepEqual(await redriven.result(), { charged: true });
    });
    assert.deepEqual(calls, ['prepare', 'charge', 'charge']); // prepare is not repeated
  });
});

describe('pause and unpause', () => {
  test('a paused run records signals but gets no workflow task, refuses queries, and resumes on unpause', async () => {
    const { handle, taskQueue } = await startedRun();
    await handle.pause({ reason: 'incident 42' });
    await handle.pause({ reason: 'again' }); // a paused run: nothing changes
    const paused = await handle.describe();
    assert.equal(paused.status, 'PAUSED');
    assert.equal(paused.pauseInfo.reason, 'incident 42');
    assert.equal(paused.pauseInfo.identity, 'ts-test');
    assert.ok(paused.pauseInfo.pauseTime instanceof Date);
    const listed = await client.workflow.list({ query: `WorkflowId = '${handle.workflowId}' AND ExecutionStatus = 'Paused'` }).toArray();
    assert.deepEqual(listed.map((r) => r.status), ['PAUSED']);

    const refused = await handle.query('state').catch((e) => e);
    assert.ok(refused instanceof WorkflowPausedError && refused instanceof FailedPreconditionError, String(refused));
    assert.equal(refused.status, 409);
    assert.equal(refused.type, 'https://perdure.dev/problems/workflow-paused');
    assert.equal(refused.problem.pause_reason, 'incident 42');

    await handle.signal('meanwhile', 7);
    // A running workflow with a new signal would get a workflow task now; a paused one does not.
    assert.equal(await decideOnce(tenant, taskQueue, { wait: 1 }), null);

    await handle.unpause({ reason: 'fixed' });
    const resumed = await handle.describe();
    assert.equal(resumed.status, 'RUNNING');
    assert.equal(resumed.pauseInfo, undefined);
    const decided = await decideOnce(tenant, taskQueue);
    const seen = decided.task.history.events.map((e) => e.event_type);
    assert.ok(seen.includes('WORKFLOW_EXECUTION_SIGNALED') && seen.includes('WORKFLOW_EXECUTION_UNPAUSED'), seen.join());
    await assert.rejects(handle.unpause(), (e) => e instanceof FailedPreconditionError && !(e instanceof WorkflowPausedError));
  });

  test('terminate acts at once on a paused run; pausing a closed run is a FailedPreconditionError', async () => {
    const { handle } = await startedRun();
    await handle.pause({ identity: 'oncall@example.com', requestId: `pause-${unique()}` });
    assert.equal((await handle.describe()).pauseInfo.identity, 'oncall@example.com');
    await handle.terminate('stop it');
    assert.equal((await handle.describe()).status, 'TERMINATED');
    assert.ok((await eventTypes(handle)).includes('WORKFLOW_EXECUTION_PAUSED'));
    await assert.rejects(handle.pause(), FailedPreconditionError);
  });
});

describe('activity controls', () => {
  test('pause, update options, unpause and reset a heartbeating activity served by the TS worker', async () => {
    const taskQueue = `steer-${unique()}`;
    const attempts = [];
    const worker = await Worker.create({
      connection: client.connection,
      namespace: client.namespace,
      taskQueue,
      activities: {
        // The first two calls heartbeat until an operator stops them; the third returns.
        async crawl() {
          const ctx = Context.current();
          attempts.push({ attempt: ctx.info.attempt, resumedFrom: ctx.info.heartbeatDetails });
          if (attempts.length === 3) return { pages: attempts.length };
          try {
            for (let page = 1; ; page++) {
              ctx.heartbeat({ page });
              await ctx.sleep(50);
            }
          } catch (err) {
            assert.ok(err instanceof CancelledFailure);
            attempts.at(-1).why = ctx.cancellationDetails;
            throw err;
          }
        },
      },
    });
    const name = `crawl-${unique()}`;
    await client.definitions.put(name, {
      StartAt: 'Crawl',
      States: { Crawl: { Type: 'Task', Resource: `perdure:activity:${taskQueue}:crawl`, HeartbeatSeconds: 10, TimeoutSeconds: 120, End: true } },
    });
    await worker.runUntil(async () => {
      const handle = await client.workflow.start({ definition: name }, { workflowId: `crawl-${unique()}` });
      const pendingActivity = async () => (await handle.describe()).raw.pending_activities[0];
      const started = await eventually(async () => ((await pendingActivity())?.state === 'STARTED' ? await pendingActivity() : null));

      const [pausing] = await handle.pauseActivity({ activityType: 'crawl', reason: 'the site is down' });
      assert.equal(pausing.activity_id, started.activity_id);
      assert.equal(pausing.paused, true);
      // The attempt learns of it at its next heartbeat, is reported canceled, and the next waits.
      const waiting = await eventually(async () => ((await pendingActivity()).state === 'PAUSED' ? await pendingActivity() : null));
      assert.equal(waiting.attempt, 2);
      assert.equal(waiting.pause_info.reason, 'the site is down');
      assert.deepEqual(attempts[0].why, { cancelRequested: false, paused: true, reset: false, notFound: false, timedOut: false, workerShutdown: false });

      const [updated] = await handle.updateActivityOptions({ activityId: started.activity_id, activityOptions: { startToCloseTimeout: '2m', retry: { maximumAttempts: 9 } } });
      assert.equal(updated.start_to_close_timeout, 120);
      assert.equal(updated.retry_policy.maximum_attempts, 9);

      await handle.unpauseActivity({ activityId: started.activity_id });
      await eventually(() => attempts.length === 2);
      assert.equal(attempts[1].attempt, 2); // the count is kept
      await eventually(async () => (await pendingActivity()).heartbeat_details?.page >= 1);

      const [reset] = await handle.resetActivity({ matchAll: true });
      assert.equal(reset.activity_type, 'crawl');
      assert.deepEqual(await handle.result(), { pages: 3 });
    });
    assert.equal(attempts[1].why.reset, true);
    assert.equal(attempts[2].attempt, 1); // back to attempt 1, heartbeat details kept
    assert.ok(attempts[2].resumedFrom.page >= 1);
  });

  test('reset with keepPaused keeps a paused activity paused at attempt 1; unpause releases it', async () => {
    const { handle } = await startedRun('Held', [scheduleCharge()]);
    const [paused] = await handle.pauseActivity({ activityId: 'charge-1' });
    assert.equal(paused.state, 'PAUSED'); // not started: nothing under way to wait for
    const [reset] = await handle.resetActivity({ activityId: 'charge-1', keepPaused: true, clearHeartbeatDetails: true });
    assert.deepEqual([reset.state, reset.attempt, reset.paused], ['PAUSED', 1, true]);
    const [unpaused] = await handle.unpauseActivity({ activityType: 'Charge', resetAttempts: true, resetHeartbeat: true });
    assert.deepEqual([unpaused.paused, unpaused.attempt], [false, 1]);
    const [pending] = (await handle.describe()).raw.pending_activities;
    assert.equal(pending.state, 'SCHEDULED');
    await handle.terminate();
  });

  test('no target, or none pending, is refused; options that set nothing too', async () => {
    const { handle } = await startedRun('Idle', [scheduleCharge()]);
    await assert.rejects(handle.pauseActivity({}), InvalidArgumentError);
    await assert.rejects(handle.pauseActivity({ activityId: 'a', activityType: 'b' }), InvalidArgumentError);
    await assert.rejects(handle.pauseActivity({ activityId: 'nobody' }), NotFoundError);
    await assert.rejects(handle.updateActivityOptions({ matchAll: true, activityOptions: {} }), InvalidArgumentError);
    await handle.terminate();
  });
});

describe('batch operator jobs', () => {
  const done = (jobId) =>
    eventually(async () => {
      const job = await client.batch.describe(jobId);
      return job.state === 'COMPLETED' ? job : null;
    });

  test('PAUSE, UNPAUSE and RESET jobs act on every run the filter matches', async () => {
    const type = `Fleet${unique().replace(/-/g, '')}`;
    const runs = [(await startedRun(type)).handle, (await startedRun(type)).handle];
    const query = `WorkflowType = '${type}'`;

    const pause = await client.batch.start({ operationType: 'PAUSE', query, reason: 'maintenance' });
    assert.equal((await done(pause.job_id)).complete_operation_count, 2);
    for (const h of runs) assert.equal((await h.describe()).pauseInfo.reason, 'maintenance');

    const unpause = await client.batch.start({ operationType: 'UNPAUSE', query });
    assert.equal((await done(unpause.job_id)).complete_operation_count, 2);
    for (const h of runs) assert.equal((await h.describe()).status, 'RUNNING');

    const reset = await client.batch.start({
      operationType: 'RESET',
      query: `${query} AND ExecutionStatus = 'Running'`,
      reason: 'roll back',
      resetOptions: { resetType: 'FirstWorkflowTask', resetReapplyExcludeTypes: ['SIGNAL', 'UPDATE'] },
    });
    assert.equal((await done(reset.job_id)).complete_operation_count, 2);
    for (const h of runs) {
      const old = await h.describe();
      assert.equal(old.status, 'TERMINATED');
      assert.ok(old.resetRunId);
      await client.workflow.getHandle(h.workflowId, old.resetRunId).terminate();
    }
  });

  test('PAUSE_ACTIVITY, UPDATE_ACTIVITY_OPTIONS, RESET_ACTIVITY and UNPAUSE_ACTIVITY jobs steer the pending activities of each run', async () => {
    const type = `Steer${unique().replace(/-/g, '')}`;
    const runs = [(await startedRun(type, [scheduleCharge()])).handle, (await startedRun(type, [scheduleCharge()])).handle];
    const query = `WorkflowType = '${type}'`;

    const pause = await client.batch.start({ operationType: 'PAUSE_ACTIVITY', query, activity: { activityType: 'Charge', reason: 'card service down' } });
    assert.equal((await done(pause.job_id)).complete_operation_count, 2);
    const options = await client.batch.start({
      operationType: 'UPDATE_ACTIVITY_OPTIONS',
      query,
      activity: { activityId: 'charge-1', activityOptions: { scheduleToCloseTimeout: '1h' } },
    });
    assert.equal((await done(options.job_id)).complete_operation_count, 2);
    for (const h of runs) {
      const [pending] = (await h.describe()).raw.pending_activities;
      assert.equal(pending.paused, true);
      assert.equal(pending.pause_info.reason, 'card service down');
    }

    const keep = await client.batch.start({ operationType: 'RESET_ACTIVITY', query, activity: { matchAll: true, keepPaused: true } });
    assert.equal((await done(keep.job_id)).complete_operation_count, 2);
    for (const h of runs) assert.equal((await h.describe()).raw.pending_activities[0].paused, true);
    const unpause = await client.batch.start({ operationType: 'UNPAUSE_ACTIVITY', query, activity: { activityType: 'Charge', resetAttempts: true } });
    assert.equal((await done(unpause.job_id)).complete_operation_count, 2);
    for (const h of runs) {
      const [controlled] = await h.resetActivity({ activityId: 'charge-1' });
      assert.deepEqual([controlled.paused, controlled.schedule_to_close_timeout], [false, 3600]);
      await h.terminate();
    }
  });
});
