// What every test file needs: a tenant of its own on the test server (so runs of earlier test
// runs on a reused PostgreSQL database never show up), a client on it, and a few raw calls.
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '../dist/index.js';

export const address = process.env.PERDURE_ADDRESS;

/** A fresh tenant (its admin key and `default` namespace), or a fresh namespace of PERDURE_API_KEY's tenant. */
export async function newTenant(options = {}) {
  let apiKey = process.env.PERDURE_API_KEY;
  let namespace;
  if (process.env.PERDURE_ADMIN_TOKEN) {
    const created = await raw('POST', '/api/v1/tenants', { name: `ts-${unique()}` }, process.env.PERDURE_ADMIN_TOKEN);
    apiKey = created.api_key.key;
    namespace = 'default';
  } else {
    namespace = `ts-${unique()}`;
    await raw('POST', '/api/v1/namespaces', { name: namespace }, apiKey);
  }
  // Webhook tests deliver to receivers on this machine.
  await raw('PATCH', `/api/v1/namespaces/${namespace}`, { settings: { allow_private_network_targets: true } }, apiKey);
  const connection = await Connection.connect({ address, apiKey, fetch: options.fetch });
  const client = new Client({ connection, namespace, identity: 'ts-test' });
  return { apiKey, namespace, connection, client };
}

export function unique() {
  return randomUUID().slice(0, 12);
}

/** One plain HTTP call (for what the client does not wrap, and to play a code-first worker). */
export async function raw(method, path, body, apiKey) {
  const response = await fetch(address + path, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** A one-Task stored definition: the activity `type` on `queue`, with optional Task fields. */
export function oneTask(queue, type, task = {}) {
  return { StartAt: 'Work', States: { Work: { Type: 'Task', Resource: `perdure:activity:${queue}:${type}`, End: true, ...task } } };
}

/**
 * Play a code-first workflow worker for one poll on `queue`: a query is answered with
 * `answer(query)` (an `{error}` to fail it), a workflow task is completed with `commands`.
 * Returns what was handled, or null when nothing came within `wait` seconds.
 */
export async function decideOnce(tenant, queue, { answer = () => ({ answer: null }), commands = [], wait = 10 } = {}) {
  const response = await fetch(`${address}/api/v1/namespaces/${tenant.namespace}/task-queues/${queue}/workflow-tasks/poll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ identity: 'ts-test-decider', wait }),
  });
  if (response.status === 204) return null;
  const task = await response.json();
  const ns = `/api/v1/namespaces/${tenant.namespace}`;
  if (task.query) {
    await raw('POST', `${ns}/workflow-tasks/respond-query`, { query_id: task.query.query_id, ...answer(task.query) }, tenant.apiKey);
    return { query: task.query };
  }
  await raw('POST', `${ns}/workflow-tasks/complete`, { task_token: task.task_token, commands }, tenant.apiKey);
  return { task };
}

/** Wait until `check()` is truthy (asked every 50 ms), at most `seconds`: for background jobs. */
export async function eventually(check, seconds = 20) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not true within ${seconds} s: ${check}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}
