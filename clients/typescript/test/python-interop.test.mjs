// Any language, for real: a Python SDK workflow, started and queried from TypeScript, calls
// an activity that the TypeScript worker serves (the same wire form of arguments both ways).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker, WorkflowClosedError, WorkflowPausedError, WorkflowUpdateFailedError } from '../dist/index.js';
import { address, eventually, newTenant, unique } from './helpers.mjs';

const python = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '.venv', 'bin', 'python');

const WORKFLOW = `
import asyncio, os, signal, sys
from datetime import timedelta
from perdure import workflow
from perdure.client import Client
from perdure.worker import Worker

@workflow.defn
class Order:
    def __init__(self) -> None:
        self.state = "started"

    @workflow.run
    async def run(self, order_id: int, items: list) -> dict:
        self.state = "charging"
        charged = await workflow.execute_activity(
            "charge", args=[order_id, items], task_queue=os.environ["TS_QUEUE"],
            start_to_close_timeout=timedelta(seconds=30))
        self.state = "charged"
        await workflow.wait_condition(lambda: self.state == "shipped")
        return {"order": order_id, "charged": charged}

    @workflow.signal
    def ship(self) -> None:
        self.state = "shipped"

    @workflow.query
    def status(self) -> str:
        return self.state

    @workflow.update
    def note(self, text: str, times: int) -> str:
        self.state = "shipped" if text == "ship" else self.state
        return text * times

    @note.validator
    def check_note(self, text: str, times: int) -> None:
        if not text:
            raise ValueError("a note needs text")

@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.items: list = []
        self.done = False

    @workflow.run
    async def run(self) -> list:
        await workflow.wait_condition(lambda: self.done)
        return self.items

    @workflow.update
    def add(self, sku: str) -> int:
        self.items.append(sku)
        return len(self.items)

    @workflow.signal
    def checkout(self) -> None:
        self.done = True

async def main() -> None:
    client = await Client.connect(os.environ["PERDURE_ADDRESS"], api_key=os.environ["PERDURE_API_KEY"],
                                  namespace=os.environ["PERDURE_NAMESPACE"])
    worker = Worker(client, task_queue=os.environ["PY_QUEUE"], workflows=[Order, Cart])
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(worker.shutdown()))
    print("ready", flush=True)
    await worker.run()

asyncio.run(main())
`;

let tenant;
let pythonWorker;
const pyQueue = `py-${unique()}`;
const tsQueue = `ts-${unique()}`;

before(async () => {
  tenant = await newTenant();
  const env = { ...process.env, PERDURE_ADDRESS: address, PERDURE_API_KEY: tenant.apiKey, PERDURE_NAMESPACE: tenant.namespace, PY_QUEUE: pyQueue, TS_QUEUE: tsQueue };
  pythonWorker = spawn(python, ['-c', WORKFLOW], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((ok, fail) => {
    pythonWorker.stdout.on('data', (chunk) => String(chunk).includes('ready') && ok());
    pythonWorker.once('exit', (code) => fail(new Error(`python worker exited with ${code}`)));
  });
});

after(async () => {
  if (!pythonWorker || pythonWorker.exitCode !== null) return;
  const exited = new Promise((ok) => pythonWorker.once('exit', ok));
  pythonWorker.kill('SIGTERM');
  await exited;
});

test('a Python workflow started from TypeScript runs a TypeScript activity, answers a query and a signal', async () => {
  const worker = await Worker.create({
    connection: tenant.connection,
    namespace: tenant.namespace,
    taskQueue: tsQueue,
    activities: { charge: (orderId, items) => ({ orderId, cents: items.reduce((sum, i) => sum + i.cents, 0) }) },
  });
  const result = await worker.runUntil(async () => {
    const handle = await tenant.client.workflow.start('Order', {
      workflowId: `order-${unique()}`,
      taskQueue: pyQueue,
      args: [7, [{ cents: 250 }, { cents: 100 }]],
    });
    await eventually(async () => (await handle.query('status')) === 'charged');
    await handle.signal('ship');
    return handle.result();
  });
  assert.deepEqual(result, { order: 7, charged: { orderId: 7, cents: 350 } });
});

test('executeUpdate answers the handler result; a validator rejection is a WorkflowUpdateFailedError; startUpdate gives a handle', async () => {
  const handle = await tenant.client.workflow.start('Order', { workflowId: `upd-${unique()}`, taskQueue: pyQueue, args: [1, []] });
  assert.equal(await handle.executeUpdate('note', { args: ['ab', 3], updateId: 'first' }), 'ababab');
  // The same update id again answers the same update, handled once.
  assert.equal(await handle.executeUpdate('note', { args: ['ignored', 1], updateId: 'first' }), 'ababab');
  const rejected = await handle.executeUpdate('note', { args: ['', 1] }).catch((e) => e);
  assert.ok(rejected instanceof WorkflowUpdateFailedError, String(rejected));
  assert.match(rejected.cause.message, /a note needs text/);
  const started = await handle.startUpdate('note', { args: ['x', 2], waitForStage: 'ACCEPTED' });
  assert.equal(started.workflowRunId, handle.runId);
  assert.equal(await started.result(), 'xx');
  assert.equal(await handle.getUpdateHandle(started.updateId).result(), 'xx');
  await handle.terminate();
  await assert.rejects(handle.executeUpdate('note', { args: ['late', 1] }), WorkflowClosedError);
});

test('update-with-start starts the workflow when needed and updates the running one otherwise', async () => {
  const workflowId = `cart-${unique()}`;
  const startWorkflowOperation = { workflowType: 'Cart', options: { workflowId, taskQueue: pyQueue, workflowIdConflictPolicy: 'USE_EXISTING' } };
  assert.equal(await tenant.client.workflow.executeUpdateWithStart('add', { startWorkflowOperation, args: ['apple'] }), 1);
  const { workflowHandle, updateHandle } = await tenant.client.workflow.startUpdateWithStart('add', {
    startWorkflowOperation,
    args: ['pear'],
    waitForStage: 'ACCEPTED',
  });
  assert.equal(await updateHandle.result(), 2);
  await workflowHandle.signal('checkout');
  assert.deepEqual(await workflowHandle.result(), ['apple', 'pear']);
});

test('a paused Python workflow refuses an update with WorkflowPausedError; a reset reapplies its earlier update to the new run', async () => {
  const handle = await tenant.client.workflow.start('Cart', { workflowId: `paused-${unique()}`, taskQueue: pyQueue });
  assert.equal(await handle.executeUpdate('add', { args: ['apple'] }), 1);
  await handle.pause({ reason: 'audit' });
  const refused = await handle.executeUpdate('add', { args: ['pear'] }).catch((e) => e);
  assert.ok(refused instanceof WorkflowPausedError, String(refused));
  await handle.unpause();
  // Back to the first workflow task: the update accepted after it is reapplied and handled again.
  const newRun = await handle.reset({ resetType: 'FirstWorkflowTask', reason: 'replay the cart' });
  await newRun.signal('checkout');
  assert.deepEqual(await newRun.result(), ['apple']);
  const admitted = (await newRun.fetchHistory()).events.filter((e) => e.event_type === 'WORKFLOW_EXECUTION_UPDATE_ADMITTED');
  assert.equal(admitted.length, 1);
});
