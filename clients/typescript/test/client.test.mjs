// The client against a real server: starts, handles, signals, queries, cancel, terminate,
// describe, history (with long-poll), signal-with-start, list/count, definitions, and the
// typed errors of problem answers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import {
  AlreadyExistsError,
  CancelledFailure,
  Client,
  Connection,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PayloadTooLargeError,
  PerdureError,
  QueryFailedError,
  TerminatedFailure,
  UnauthenticatedError,
  WorkflowContinuedAsNewError,
  WorkflowFailedError,
  ApplicationFailure,
  problemError,
  PROBLEM_CLASSES,
} from '../dist/index.js';
import { address, decideOnce, newTenant, raw, unique } from './helpers.mjs';

let tenant;
let client;
before(async () => {
  tenant = await newTenant();
  client = tenant.client;
  await client.definitions.put('echo', { StartAt: 'Echo', States: { Echo: { Type: 'Pass', End: true } } });
  await client.definitions.put('pause', { StartAt: 'Nap', States: { Nap: { Type: 'Wait', Seconds: 3600, End: true } } });
});

describe('connecting', () => {
  test('Connection.connect with a wrong key is an UnauthenticatedError', async () => {
    await assert.rejects(Connection.connect({ address, apiKey: 'pk_wrong' }), UnauthenticatedError);
  });

  test('Client.connect is the one-call form, host:port meaning http', async () => {
    const one = await Client.connect({ address: address.replace('http://', ''), apiKey: tenant.apiKey, namespace: tenant.namespace });
    assert.equal(one.connection.address, address);
    const result = await one.workflow.execute({ definition: 'echo' }, { workflowId: `one-${unique()}`, input: { via: 'connect' } });
    assert.deepEqual(result, { via: 'connect' });
  });
});

describe('stored definitions', () => {
  test('a started definition run completes with its output, and describe shows it', async () => {
    const workflowId = `echo-${unique()}`;
    const handle = await client.workflow.start({ definition: 'echo' }, { workflowId, args: [{ n: 1 }] });
    assert.equal(handle.workflowId, workflowId);
    assert.ok(handle.runId);
    assert.deepEqual(await handle.result(), { n: 1 });
    const description = await handle.describe();
    assert.equal(description.status, 'COMPLETED');
    assert.equal(description.runId, handle.runId);
    assert.equal(description.type, 'echo');
    assert.ok(description.closeTime instanceof Date);
    assert.deepEqual(description.raw.definition?.name, 'echo');
  });

  test('put, get (latest and a version), list and delete', async () => {
    const name = `d-${unique()}`;
    const first = await client.definitions.put(name, { StartAt: 'A', States: { A: { Type: 'Pass', End: true } } });
    const second = await client.definitions.put(name, { StartAt: 'B', States: { B: { Type: 'Pass', End: true } } });
    assert.deepEqual([first.version, second.version], [1, 2]);
    assert.equal((await client.definitions.get(name)).version, 2);
    assert.equal((await client.definitions.get(name, 1)).definition.StartAt, 'A');
    const names = (await client.definitions.list({ pageSize: 1 }).toArray()).map((d) => d.name);
    assert.ok(names.includes(name) && names.includes('echo'), names.join());
    await client.definitions.delete(name);
    await assert.rejects(client.definitions.get(name), NotFoundError);
  });

  test('an invalid definition is an InvalidArgumentError listing the problems', async () => {
    const err = await client.definitions.put(`bad-${unique()}`, { StartAt: 'Nowhere', States: {} }).catch((e) => e);
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.equal(err.status, 400);
    assert.ok(Array.isArray(err.problem.errors) && err.problem.errors.length > 0);
  });
});

describe('workflow handle', () => {
  test('starting an id that runs is an AlreadyExistsError; a request id makes a retried start answer the first run', async () => {
    const workflowId = `dup-${unique()}`;
    const first = await client.workflow.start({ definition: 'pause' }, { workflowId, requestId: `req-${workflowId}` });
    const again = await client.workflow.start({ definition: 'pause' }, { workflowId, requestId: `req-${workflowId}` });
    assert.equal(again.runId, first.runId);
    const err = await client.workflow.start({ definition: 'pause' }, { workflowId }).catch((e) => e);
    assert.ok(err instanceof AlreadyExistsError, String(err));
    assert.equal(err.type, 'https://perdure.dev/problems/already-exists');
    await first.terminate('done');
  });

  test('cancel ends a definition run CANCELED: result() throws WorkflowFailedError caused by CancelledFailure', async () => {
    const handle = await client.workflow.start({ definition: 'pause' }, { workflowId: `cancel-${unique()}` });
    await handle.cancel('no longer wanted');
    const err = await handle.result().catch((e) => e);
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.equal(err.status, 'CANCELED');
    assert.ok(err.cause instanceof CancelledFailure, String(err.cause));
  });

  test('terminate ends the run TERMINATED with the reason, and signalling it then is a FailedPreconditionError', async () => {
    const handle = await client.workflow.start({ definition: 'pause' }, { workflowId: `term-${unique()}` });
    await handle.terminate('operator said so', { ticket: 7 });
    const err = await handle.result().catch((e) => e);
    assert.equal(err.status, 'TERMINATED');
    assert.ok(err.cause instanceof TerminatedFailure);
    assert.match(err.cause.message, /operator said so/);
    const late = await handle.signal('poke').catch((e) => e);
    assert.ok(late instanceof FailedPreconditionError || late instanceof NotFoundError, String(late));
  });

  test('signal is recorded with its arguments; history() reads the events oldest first', async () => {
    const handle = await client.workflow.start('CodeFirst', { workflowId: `sig-${unique()}`, taskQueue: `q-${unique()}` });
    await handle.signal('approve', { by: 'ana' }, 2);
    const history = await client.workflow.getHandle(handle.workflowId).fetchHistory();
    assert.equal(history.runId, handle.runId);
    const events = history.events;
    assert.equal(events[0].event_type, 'WORKFLOW_EXECUTION_STARTED');
    assert.deepEqual(events.map((e) => e.event_id), events.map((_, i) => i + 1));
    const signaled = events.find((e) => e.event_type === 'WORKFLOW_EXECUTION_SIGNALED');
    assert.equal(signaled.attributes.signal_name, 'approve');
    assert.deepEqual(signaled.attributes.input, [{ by: 'ana' }, 2]);
    await handle.terminate();
  });

  test('history({ follow: true }) long-polls for new events and ends when the run closes', async () => {
    const handle = await client.workflow.start('CodeFirst', { workflowId: `follow-${unique()}`, taskQueue: `q-${unique()}` });
    const seen = [];
    const following = (async () => {
      for await (const event of handle.history({ follow: true })) {
        seen.push(event.event_type);
        if (event.event_type === 'WORKFLOW_EXECUTION_STARTED') await handle.signal('one');
        if (event.event_type === 'WORKFLOW_EXECUTION_SIGNALED') await handle.terminate('seen');
      }
    })();
    await following;
    assert.deepEqual(seen.filter((t) => t.startsWith('WORKFLOW_EXECUTION')), [
      'WORKFLOW_EXECUTION_STARTED',
      'WORKFLOW_EXECUTION_SIGNALED',
      'WORKFLOW_EXECUTION_TERMINATED',
    ]);
  });

  test('query is answered by the workflow worker; a failed handler is a QueryFailedError', async () => {
    const queue = `q-${unique()}`;
    const handle = await client.workflow.start('CodeFirst', { workflowId: `query-${unique()}`, taskQueue: queue });
    const answered = [];
    const worker = (async () => {
      while (answered.length < 2) {
        const handled = await decideOnce(tenant, queue, {
          answer: (q) => (q.query_type === 'state' ? { answer: { asked: q.args } } : { error: { message: `no query ${q.query_type}` } }),
        });
        if (handled?.query) answered.push(handled.query.query_type);
      }
    })();
    assert.deepEqual(await handle.query('state', 'a', 1), { asked: ['a', 1] });
    const err = await handle.query('missing').catch((e) => e);
    assert.ok(err instanceof QueryFailedError, String(err));
    assert.match(err.message, /no query missing/);
    await worker;
    await handle.terminate();
  });

  test('a query no worker answers is a DeadlineExceededError after the timeout', async () => {
    const handle = await client.workflow.start('CodeFirst', { workflowId: `noquery-${unique()}`, taskQueue: `q-${unique()}` });
    const err = await handle.queryWithOptions('state', [], { timeout: '1s' }).catch((e) => e);
    assert.ok(err instanceof DeadlineExceededError, String(err));
    assert.equal(err.status, 504);
    await handle.terminate();
  });

  test('result() follows to the outcome a code-first worker completes the run with', async () => {
    const queue = `q-${unique()}`;
    const handle = await client.workflow.start('CodeFirst', { workflowId: `done-${unique()}`, taskQueue: queue, args: ['x'] });
    const waiting = handle.result();
    await decideOnce(tenant, queue, {
      commands: [{ command_type: 'COMPLETE_WORKFLOW_EXECUTION', attributes: { result: { ok: true } } }],
    });
    assert.deepEqual(await waiting, { ok: true });
  });

  test('getHandle on a run id reads that run; describe of an unknown id is a NotFoundError', async () => {
    const started = await client.workflow.start({ definition: 'echo' }, { workflowId: `h-${unique()}`, input: 5 });
    await started.result();
    const same = client.workflow.getHandle(started.workflowId, started.runId);
    assert.equal((await same.describe()).runId, started.runId);
    await assert.rejects(client.workflow.getHandle(`nobody-${unique()}`).describe(), NotFoundError);
  });

  test("another tenant's key sees NotFoundError for this tenant's workflow", async () => {
    const handle = await client.workflow.start({ definition: 'echo' }, { workflowId: `mine-${unique()}`, input: 1 });
    const other = await newTenant();
    const err = await other.client.workflow.getHandle(handle.workflowId).describe().catch((e) => e);
    assert.ok(err instanceof NotFoundError, String(err));
  });
});

describe('result across runs', () => {
  test('result() follows continue-as-new to the last run; with followRuns: false it throws WorkflowContinuedAsNewError', async () => {
    const queue = `q-${unique()}`;
    const handle = await client.workflow.start('CodeFirst', { workflowId: `can-${unique()}`, taskQueue: queue });
    await decideOnce(tenant, queue, { commands: [{ command_type: 'CONTINUE_AS_NEW_WORKFLOW_EXECUTION', attributes: { input: ['again'] } }] });
    const err = await handle.result({ followRuns: false }).catch((e) => e);
    assert.ok(err instanceof WorkflowContinuedAsNewError, String(err));
    assert.ok(err.newExecutionRunId && err.newExecutionRunId !== handle.runId);
    const following = handle.result();
    await decideOnce(tenant, queue, { commands: [{ command_type: 'COMPLETE_WORKFLOW_EXECUTION', attributes: { result: 'second run' } }] });
    assert.equal(await following, 'second run');
  });
});

describe('completing an activity by task token (client.activity)', () => {
  /** Start a one-Task definition and take its activity task as a raw worker would. */
  async function takeTask() {
    const queue = `q-${unique()}`;
    await client.definitions.put(`manual-${queue}`, { StartAt: 'Manual', States: { Manual: { Type: 'Task', Resource: `perdure:activity:${queue}:Manual`, HeartbeatSeconds: 30, End: true } } });
    const handle = await client.workflow.start({ definition: `manual-${queue}` }, { workflowId: `manual-${unique()}`, input: {} });
    const task = await raw('POST', `/api/v1/namespaces/${tenant.namespace}/task-queues/${queue}/activity-tasks/poll`, { identity: 'by-hand', wait: 10 }, tenant.apiKey);
    return { handle, token: task.task_token };
  }

  test('heartbeat records details; fail ends the attempt with the error', async () => {
    const { handle, token } = await takeTask();
    await client.activity.heartbeat(token, { progress: 50 });
    assert.deepEqual((await handle.describe()).raw.pending_activities[0].heartbeat_details, { progress: 50 });
    await client.activity.fail(token, ApplicationFailure.nonRetryable('gave up', 'GaveUp'));
    const err = await handle.result().catch((e) => e);
    assert.equal(err.status, 'FAILED');
    assert.equal(err.cause.type, 'GaveUp');
  });

  test('heartbeat throws CancelledFailure once cancellation is requested; reportCancellation records it', async () => {
    const workflowQueue = `wq-${unique()}`;
    const queue = `q-${unique()}`;
    const handle = await client.workflow.start('CodeFirst', { workflowId: `acancel-${unique()}`, taskQueue: workflowQueue });
    await decideOnce(tenant, workflowQueue, {
      commands: [{ command_type: 'SCHEDULE_ACTIVITY_TASK', attributes: { activity_id: 'a1', activity_type: 'Manual', task_queue: queue, start_to_close_timeout: 60 } }],
    });
    const task = await raw('POST', `/api/v1/namespaces/${tenant.namespace}/task-queues/${queue}/activity-tasks/poll`, { identity: 'by-hand', wait: 10 }, tenant.apiKey);
    await handle.signal('stop');
    const scheduled = (await handle.fetchHistory()).events.find((e) => e.event_type === 'ACTIVITY_TASK_SCHEDULED');
    await decideOnce(tenant, workflowQueue, {
      commands: [{ command_type: 'REQUEST_CANCEL_ACTIVITY_TASK', attributes: { scheduled_event_id: scheduled.event_id } }],
    });
    await assert.rejects(client.activity.heartbeat(task.task_token), CancelledFailure);
    await client.activity.reportCancellation(task.task_token, 'cleaned up');
    const types = (await handle.fetchHistory()).events.map((e) => e.event_type);
    assert.ok(types.includes('ACTIVITY_TASK_CANCELED'), types.join());
    await handle.terminate();
  });

  test('complete finishes the activity with the result', async () => {
    const { handle, token } = await takeTask();
    await client.activity.complete(token, { done: 'by hand' });
    assert.deepEqual(await handle.result(), { done: 'by hand' });
  });
});

describe('signalWithStart', () => {
  test('starts the workflow when it is not running, and only signals it when it is', async () => {
    const workflowId = `sws-${unique()}`;
    const taskQueue = `q-${unique()}`;
    const first = await client.workflow.signalWithStart('CodeFirst', { workflowId, taskQueue, signal: 'add', signalArgs: [1] });
    const second = await client.workflow.signalWithStart('CodeFirst', { workflowId, taskQueue, signal: 'add', signalArgs: [2] });
    assert.equal(second.runId, first.runId);
    const signals = (await first.fetchHistory()).events.filter((e) => e.event_type === 'WORKFLOW_EXECUTION_SIGNALED');
    assert.deepEqual(signals.map((e) => e.attributes.input), [1, 2]);
    await first.terminate();
  });
});

describe('list and count', () => {
  test('list walks every page of the list filter; count counts and groups', async () => {
    const type = `Listed${unique().replace(/-/g, '')}`;
    const taskQueue = `q-${unique()}`;
    const handles = [];
    for (let i = 0; i < 3; i++) handles.push(await client.workflow.start(type, { workflowId: `${type}-${i}`, taskQueue }));
    await handles[0].terminate();
    const query = `WorkflowType = '${type}'`;
    const pages = [];
    for await (const page of client.workflow.list({ query, pageSize: 2 }).pages()) pages.push(page.length);
    assert.deepEqual(pages, [2, 1]);
    const listed = await client.workflow.list({ query, pageSize: 2 }).toArray();
    assert.deepEqual(listed.map((w) => w.workflowId).sort(), handles.map((h) => h.workflowId).sort());
    assert.ok(listed.every((w) => w.type === type && w.startTime instanceof Date));
    assert.equal((await client.workflow.count(query)).count, 3);
    assert.equal((await client.workflow.count(`${query} AND ExecutionStatus = 'Running'`)).count, 2);
    const grouped = await client.workflow.count(`${query} GROUP BY ExecutionStatus`);
    const byStatus = Object.fromEntries(grouped.groups.map((g) => [g.groupValues[0], g.count]));
    assert.deepEqual(byStatus, { Running: 2, Terminated: 1 });
    for (const h of handles.slice(1)) await h.terminate();
  });

  test('a malformed list filter is an InvalidArgumentError', async () => {
    await assert.rejects(client.workflow.count("WorkflowType = = 'x'"), InvalidArgumentError);
  });
});

describe('problem types', () => {
  test("every problem kind of the server's error tree has its class", () => {
    // Read as text (the client imports nothing of app/): each `kind` of app/errors.py.
    const source = readFileSync(new URL('../../../app/errors.py', import.meta.url), 'utf8');
    const kinds = [...source.matchAll(/kind, title = (?:\d+, )?"([a-z-]+)"/g)].map((m) => m[1]);
    assert.ok(kinds.length >= 16, kinds.join());
    for (const kind of kinds) {
      const error = problemError(409, { type: `https://perdure.dev/problems/${kind}`, detail: 'x' });
      assert.ok(PROBLEM_CLASSES[kind], `no class for ${kind}`);
      assert.equal(error.constructor, PROBLEM_CLASSES[kind]);
    }
  });

  test('a payload past 2 MiB is a PayloadTooLargeError', async () => {
    const handle = await client.workflow.start('CodeFirst', { workflowId: `big-${unique()}`, taskQueue: `q-${unique()}` });
    const err = await handle.signal('big', 'x'.repeat(2 * 1024 * 1024 + 10)).catch((e) => e);
    assert.ok(err instanceof PayloadTooLargeError, String(err));
    assert.equal(err.status, 413);
    await handle.terminate();
  });

  test('every error of an answer is a PerdureError with the problem body', async () => {
    const err = await client.workflow.getHandle(`nobody-${unique()}`).cancel().catch((e) => e);
    assert.ok(err instanceof PerdureError && err instanceof NotFoundError);
    assert.equal(err.problem.status, 404);
    assert.equal(typeof err.problem.detail, 'string');
  });
});
