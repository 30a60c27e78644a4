// Any language, for real: a Python SDK workflow, started and queried from TypeScript, calls
// an activity that the TypeScript worker serves (the same wire form of arguments both ways).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from '../dist/index.js';
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

async def main() -> None:
    client = await Client.connect(os.environ["PERDURE_ADDRESS"], api_key=os.environ["PERDURE_API_KEY"],
                                  namespace=os.environ["PERDURE_NAMESPACE"])
    worker = Worker(client, task_queue=os.environ["PY_QUEUE"], workflows=[Order])
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(worker.shutdown()))
    print("ready", flush=True)
    await worker.run()

asyncio.run(main())
`;

test('a Python workflow started from TypeScript runs a TypeScript activity, answers a query and a signal', { skip: !existsSync(python) && 'no .venv' }, async () => {
  const tenant = await newTenant();
  const pyQueue = `py-${unique()}`;
  const tsQueue = `ts-${unique()}`;
  const env = { ...process.env, PERDURE_ADDRESS: address, PERDURE_API_KEY: tenant.apiKey, PERDURE_NAMESPACE: tenant.namespace, PY_QUEUE: pyQueue, TS_QUEUE: tsQueue };
  const pythonWorker = spawn(python, ['-c', WORKFLOW], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((ok, fail) => {
      pythonWorker.stdout.on('data', (chunk) => String(chunk).includes('ready') && ok());
      pythonWorker.once('exit', (code) => fail(new Error(`python worker exited with ${code}`)));
    });
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
  } finally {
    const exited = new Promise((ok) => pythonWorker.once('exit', ok));
    pythonWorker.kill('SIGTERM');
    await exited;
  }
});
