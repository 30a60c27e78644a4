// The activity worker against a real server: stored definitions whose Tasks it serves,
// its concurrency limit, failures, heartbeats (throttling, details), cancellation and
// graceful shutdown.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  ApplicationFailure,
  CancelledFailure,
  Connection,
  Context,
  heartbeatThrottleMs,
  NotFoundError,
  Worker,
  WorkflowFailedError,
} from '../dist/index.js';
import { address, decideOnce, eventually, newTenant, oneTask, unique } from './helpers.mjs';

let tenant;
let client;
/** Every request the worker connection made, as `METHOD /path` (the real fetch does the work). */
let requests;
let workerConnection;
before(async () => {
  tenant = await newTenant();
  client = tenant.client;
  requests = [];
  workerConnection = await Connection.connect({
    address,
    apiKey: tenant.apiKey,
    fetch: (url, init) => {
      requests.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}`);
      return fetch(url, init);
    },
  });
});

function newWorker(taskQueue, activities, options = {}) {
  return Worker.create({ connection: workerConnection, namespace: tenant.namespace, taskQueue, activities, ...options });
}

/** Run `worker` while `body` runs, then shut it down and wait for it to stop. */
function withWorker(worker, body) {
  return worker.runUntil(body);
}

describe('serving a stored definition', () => {
  test("the worker runs the Task's activity with the state input; the run completes with its result", async () => {
    const queue = `q-${unique()}`;
    await client.definitions.put(`greet-${queue}`, oneTask(queue, 'Greet'));
    const worker = await newWorker(queue, {
      async Greet(input) {
        const { info } = Context.current();
        return { greeting: `Hello, ${input.name}`, activityType: info.activityType, attempt: info.attempt };
      },
    });
    const before = requests.length;
    const result = await withWorker(worker, () =>
      client.workflow.execute({ definition: `greet-${queue}` }, { workflowId: `greet-${unique()}`, input: { name: 'Ada' } }),
    );
    assert.deepEqual(result, { greeting: 'Hello, Ada', activityType: 'Greet', attempt: 1 });
    assert.equal(worker.getState(), 'STOPPED');
    const used = requests.slice(before);
    assert.ok(used.some((r) => r.endsWith(`/task-queues/${queue}/activity-tasks/poll-batch`)), used.join('\n'));
    assert.ok(used.some((r) => r.endsWith('/activity-tasks/complete-batch')), used.join('\n'));
  });

  test('no more activities run at once than maxConcurrentActivityTaskExecutions', async () => {
    const queue = `q-${unique()}`;
    await client.definitions.put(`limit-${queue}`, oneTask(queue, 'Count'));
    const handles = [];
    for (let i = 0; i < 5; i++) {
      handles.push(await client.workflow.start({ definition: `limit-${queue}` }, { workflowId: `limit-${i}-${unique()}`, input: i }));
    }
    let running = 0;
    let most = 0;
    const worker = await newWorker(
      queue,
      {
        async Count(i) {
          running++;
          most = Math.max(most, running);
          await new Promise((ok) => setTimeout(ok, 50)); // the activity's work
          running--;
          return i * 10;
        },
      },
      { maxConcurrentActivityTaskExecutions: 2 },
    );
    const results = await withWorker(worker, () => Promise.all(handles.map((h) => h.result())));
    assert.deepEqual(results, [0, 10, 20, 30, 40]);
    assert.equal(most, 2);
  });

  test("ApplicationFailure.nonRetryable ends the activity at once, whatever its retry policy; a retryable error is retried with the last heartbeat's details", async () => {
    // A code-first workflow (played here over raw HTTP) schedules activities with Temporal's
    // retry policy: the policy is the activity's own, unlike a stored definition's Retry.
    const workflowQueue = `wq-${unique()}`;
    const queue = `q-${unique()}`;
    const schedule = (activityId, activityType) => ({
      command_type: 'SCHEDULE_ACTIVITY_TASK',
      attributes: {
        activity_id: activityId,
        activity_type: activityType,
        task_queue: queue,
        input: { order: 7 },
        start_to_close_timeout: 10,
        retry_policy: { initial_interval: 0.1, maximum_attempts: 3 },
      },
    });
    const handle = await client.workflow.start('Charger', { workflowId: `charge-${unique()}`, taskQueue: workflowQueue });
    await decideOnce(tenant, workflowQueue, { commands: [schedule('declined', 'Charge'), schedule('flaky', 'Flaky')] });
    const calls = { Charge: 0, Flaky: [] };
    const worker = await newWorker(queue, {
      Charge(input) {
        calls.Charge++;
        throw ApplicationFailure.nonRetryable(`card declined for order ${input.order}`, 'CardDeclined', { code: 51 });
      },
      Flaky() {
        const ctx = Context.current();
        calls.Flaky.push({ attempt: ctx.info.attempt, details: ctx.info.heartbeatDetails });
        ctx.heartbeat({ progress: ctx.info.attempt });
        if (ctx.info.attempt === 1) throw new RangeError('not yet');
        return 'second time lucky';
      },
    });
    const events = await withWorker(worker, () =>
      eventually(async () => {
        const all = (await handle.fetchHistory()).events;
        const ended = all.filter((e) => ['ACTIVITY_TASK_FAILED', 'ACTIVITY_TASK_COMPLETED'].includes(e.event_type));
        return ended.length === 2 ? all : null;
      }),
    );
    const failed = events.find((e) => e.event_type === 'ACTIVITY_TASK_FAILED').attributes;
    assert.equal(failed.failure.type, 'CardDeclined');
    assert.equal(failed.failure.message, 'card declined for order 7');
    assert.equal(failed.failure.non_retryable, true);
    assert.deepEqual(failed.failure.details, [{ code: 51 }]);
    assert.equal(calls.Charge, 1);
    assert.deepEqual(events.find((e) => e.event_type === 'ACTIVITY_TASK_COMPLETED').attributes.result, 'second time lucky');
    assert.deepEqual(calls.Flaky, [
      { attempt: 1, details: null },
      { attempt: 2, details: { progress: 1 } },
    ]);
    await handle.terminate();
  });

  test("a thrown Error's class name is the error a stored definition's Retry matches", async () => {
    const queue = `q-${unique()}`;
    await client.definitions.put(`retry-${queue}`, {
      StartAt: 'Flaky',
      States: {
        Flaky: {
          Type: 'Task',
          Resource: `perdure:activity:${queue}:Flaky`,
          Retry: [{ ErrorEquals: ['RangeError'], MaxAttempts: 2, IntervalSeconds: 1, BackoffRate: 1 }],
          End: true,
        },
      },
    });
    let calls = 0;
    const worker = await newWorker(queue, {
      Flaky() {
        calls++;
        if (calls === 1) throw new RangeError('not yet');
        return 'second time lucky';
      },
    });
    const result = await withWorker(worker, () =>
      client.workflow.execute({ definition: `retry-${queue}` }, { workflowId: `retry-${unique()}`, input: {} }),
    );
    assert.equal(result, 'second time lucky');
    assert.equal(calls, 2);
  });

  test('an activity type the worker does not serve fails with a message naming what it serves', async () => {
    const queue = `q-${unique()}`;
    await client.definitions.put(`unknown-${queue}`, oneTask(queue, 'Missing'));
    const worker = await newWorker(queue, { Present: () => 1 });
    const err = await withWorker(worker, () =>
      client.workflow.execute({ definition: `unknown-${queue}` }, { workflowId: `unknown-${unique()}`, input: {} }).catch((e) => e),
    );
    assert.match(err.cause.message, /Missing is not registered on this worker \(it serves Present\)/);
  });

  test('Context.current() outside an activity throws', () => {
    assert.throws(() => Context.current(), /only available inside an activity/);
  });
});

describe('heartbeats', () => {
  test('the throttle interval is 0.8 x the heartbeat timeout, 30 s without one, at most 60 s', () => {
    assert.equal(heartbeatThrottleMs(10), 8000);
    assert.equal(heartbeatThrottleMs(undefined), 30_000);
    assert.equal(heartbeatThrottleMs(600), 60_000);
  });

  test('many heartbeats within the interval send the first at once and the latest at its end', async () => {
    const queue = `q-${unique()}`;
    await client.definitions.put(`beat-${queue}`, oneTask(queue, 'Beat', { HeartbeatSeconds: 1, TimeoutSeconds: 30 }));
    let describedAfterFirst;
    let describedLater;
    let handle;
    const worker = await newWorker(queue, {
      async Beat() {
        const ctx = Context.current();
        assert.equal(ctx.info.heartbeatTimeoutMs, 1000);
        for (let i = 1; i <= 20; i++) ctx.heartbeat({ step: i });
        // The first call went out at once; the other 19 wait for the 0.8 s interval to end.
        describedAfterFirst = await eventually(async () => {
          const pending = (await handle.describe()).raw.pending_activities[0];
          return pending?.heartbeat_details ? pending : null;
        });
        // ...and the latest details go out when it ends.
        describedLater = await eventually(async () => {
          const pending = (await handle.describe()).raw.pending_activities[0];
          return pending?.heartbeat_details?.step === 20 ? pending : null;
        }, 5);
        return 'done';
      },
    });
    const sent = () => requests.filter((r) => r.endsWith('/activity-tasks/heartbeat')).length;
    const before = sent();
    await withWorker(worker, async () => {
      handle = await client.workflow.start({ definition: `beat-${queue}` }, { workflowId: `beat-${unique()}`, input: {} });
      assert.equal(await handle.result(), 'done');
    });
    assert.deepEqual(describedAfterFirst.heartbeat_details, { step: 1 });
    assert.ok(describedLater.last_heartbeat_time > describedAfterFirst.last_heartbeat_time);
    assert.equal(sent() - before, 2);
  });

  test('a cancellation request reaches the activity through the heartbeat answer; it reports itself canceled', async () => {
    const queue = `q-${unique()}`;
    // A Parallel whose other branch fails: the interpreter requests cancellation of the
    // abandoned activity while the run goes on (into the Catch).
    await client.definitions.put(`cancel-${queue}`, {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          Branches: [
            { StartAt: 'Long', States: { Long: { Type: 'Task', Resource: `perdure:activity:${queue}:Long`, HeartbeatSeconds: 1, End: true } } },
            { StartAt: 'Break', States: { Break: { Type: 'Task', Resource: `perdure:activity:${queue}:Break`, End: true } } },
          ],
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
          Next: 'Caught',
        },
        Caught: { Type: 'Task', Resource: `perdure:activity:${queue}:AfterCancel`, End: true },
      },
    });
    let longStarted;
    const started = new Promise((ok) => (longStarted = ok));
    let reason;
    let details;
    const worker = await newWorker(queue, {
      async Long() {
        const ctx = Context.current();
        longStarted();
        while (!ctx.cancellationSignal.aborted) {
          ctx.heartbeat('working');
          await ctx.sleep(100).catch(() => undefined);
        }
        reason = ctx.cancellationSignal.reason;
        details = ctx.cancellationDetails;
        throw reason;
      },
      async Break() {
        await started;
        throw ApplicationFailure.nonRetryable('broken', 'Broken');
      },
      // Keeps the run open until the canceled activity's report is in its history.
      async AfterCancel() {
        await eventually(async () => (await handle.fetchHistory()).events.some((e) => e.event_type === 'ACTIVITY_TASK_CANCELED'));
        return 'caught';
      },
    });
    const handle = await client.workflow.start({ definition: `cancel-${queue}` }, { workflowId: `cancel-${unique()}`, input: {} });
    const result = await withWorker(worker, () => handle.result());
    assert.equal(result, 'caught');
    assert.ok(reason instanceof CancelledFailure, String(reason));
    assert.match(reason.message, /cancellation requested/);
    assert.equal(details.cancelRequested, true);
    assert.equal(details.paused || details.reset || details.notFound || details.workerShutdown, false);
    const types = (await handle.fetchHistory()).events.map((e) => e.event_type);
    assert.ok(types.includes('ACTIVITY_TASK_CANCEL_REQUESTED'));
  });

  test('when the run closes, the next heartbeat cancels the activity (cancellationSignal aborts)', async () => {
    const queue = `q-${unique()}`;
    await client.definitions.put(`closed-${queue}`, oneTask(queue, 'Long', { HeartbeatSeconds: 1 }));
    let aborted;
    const gotAborted = new Promise((ok) => (aborted = ok));
    let running;
    const isRunning = new Promise((ok) => (running = ok));
    const worker = await newWorker(queue, {
      async Long() {
        const ctx = Context.current();
        ctx.cancellationSignal.addEventListener('abort', () => aborted([ctx.cancellationSignal.reason, ctx.cancellationDetails]));
        running();
        for (;;) {
          ctx.heartbeat();
          try {
            await ctx.sleep(100);
          } catch (err) {
            return 'stopped';
          }
        }
      },
    });
    await withWorker(worker, async () => {
      const handle = await client.workflow.start({ definition: `closed-${queue}` }, { workflowId: `closed-${unique()}`, input: {} });
      await isRunning;
      await handle.cancel();
      const [reason, details] = await gotAborted;
      assert.ok(reason instanceof CancelledFailure);
      assert.match(reason.message, /heartbeat refused/);
      assert.equal(details.notFound, true); // the attempt is gone from the server
    });
  });
});

describe('shutdown', () => {
  test('shutdown stops polling at once and lets a running activity finish and complete', async () => {
    const queue = `q-${unique()}`;
    await client.definitions.put(`drain-${queue}`, oneTask(queue, 'Slow'));
    let release;
    const released = new Promise((ok) => (release = ok));
    let entered;
    const inside = new Promise((ok) => (entered = ok));
    const worker = await newWorker(queue, {
      async Slow() {
        entered();
        await released;
        return 'finished during shutdown';
      },
    });
    const running = worker.run();
    const first = await client.workflow.start({ definition: `drain-${queue}` }, { workflowId: `drain-${unique()}`, input: {} });
    await inside;
    assert.equal(worker.inFlight, 1);
    worker.shutdown();
    assert.equal(worker.getState(), 'STOPPING');
    const later = await client.workflow.start({ definition: `drain-${queue}` }, { workflowId: `later-${unique()}`, input: {} });
    release();
    await running;
    assert.equal(worker.getState(), 'STOPPED');
    assert.equal(await first.result(), 'finished during shutdown');
    // Nothing polls any more: the run started after shutdown waits with its activity unstarted.
    const pending = (await later.describe()).raw.pending_activities;
    assert.equal(pending.length, 1);
    assert.equal(pending[0].state, 'SCHEDULED');
    await later.terminate();
  });

  test('an activity still running after the grace time is cancelled and failed as retryable; another worker then completes it', async () => {
    const queue = `q-${unique()}`;
    await client.definitions.put(`grace-${queue}`, oneTask(queue, 'Stubborn', {
      Retry: [{ ErrorEquals: ['WorkerShutdown'], MaxAttempts: 1, IntervalSeconds: 1 }],
    }));
    let entered;
    const inside = new Promise((ok) => (entered = ok));
    let sawCancel;
    let sawDetails;
    const first = await newWorker(
      queue,
      {
        async Stubborn() {
          entered();
          const ctx = Context.current();
          await new Promise((ok) => ctx.cancellationSignal.addEventListener('abort', ok));
          sawCancel = ctx.cancellationSignal.reason;
          sawDetails = ctx.cancellationDetails;
          return 'too late: not sent';
        },
      },
      { shutdownGraceTime: '200ms' },
    );
    const handle = await client.workflow.start({ definition: `grace-${queue}` }, { workflowId: `grace-${unique()}`, input: {} });
    const running = first.run();
    await inside;
    first.shutdown();
    await running;
    assert.match(sawCancel.message, /worker shutting down/);
    assert.equal(sawDetails.workerShutdown, true);
    const second = await newWorker(queue, { Stubborn: () => 'second worker' });
    assert.equal(await withWorker(second, () => handle.result()), 'second worker');
    const failed = (await handle.fetchHistory()).events.find((e) => e.event_type === 'ACTIVITY_TASK_FAILED');
    assert.equal(failed.attributes.failure.type, 'WorkerShutdown');
  });

  test('a poll refused for good (unknown namespace) makes run() reject with it; the worker is FAILED', async () => {
    const worker = await Worker.create({ connection: workerConnection, namespace: `nowhere-${unique()}`, taskQueue: 'q', activities: {} });
    await assert.rejects(worker.run(), NotFoundError);
    assert.equal(worker.getState(), 'FAILED');
  });

  test('run() twice is refused; shutdown before run() changes nothing', async () => {
    const worker = await newWorker(`q-${unique()}`, {});
    worker.shutdown();
    assert.equal(worker.getState(), 'INITIALIZED');
    const running = worker.run();
    await assert.rejects(worker.run(), /already running/);
    worker.shutdown();
    await running;
    assert.equal(worker.getState(), 'STOPPED');
  });
});
