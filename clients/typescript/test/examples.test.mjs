// The README's five commands: examples/worker.mjs serves, examples/start.mjs starts a run and prints its result.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { address, newTenant } from './helpers.mjs';

const examples = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples');

test('the example worker serves the example definition started by the example client, and stops on SIGTERM', async () => {
  const tenant = await newTenant();
  const env = { ...process.env, PERDURE_ADDRESS: address, PERDURE_API_KEY: tenant.apiKey, PERDURE_NAMESPACE: tenant.namespace };
  const worker = spawn(process.execPath, [join(examples, 'worker.mjs')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [join(examples, 'start.mjs'), 'Ada'], { env });
    assert.deepEqual(JSON.parse(stdout), { greeting: 'Hello, Ada!' });
  } finally {
    const exited = new Promise((ok) => worker.once('exit', (code, signal) => ok({ code, signal })));
    worker.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null });
  }
});
