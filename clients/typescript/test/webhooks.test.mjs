// Webhook activities: the server delivers signed tasks to a receiver built with the helper
// (node:http, Express, Fastify), which verifies, runs the activity and answers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import {
  ApplicationFailure,
  CompleteAsyncError,
  Context,
  expressWebhook,
  fastifyWebhook,
  webhookHandler,
  WorkflowFailedError,
} from '../dist/index.js';
import { newTenant, oneTask, raw, unique } from './helpers.mjs';

let tenant;
let client;
const closers = [];
before(async () => {
  tenant = await newTenant();
  client = tenant.client;
});
after(async () => {
  for (const close of closers) await close();
});

/** A signing secret in the Standard Webhooks form the server takes. */
function newSecret() {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A webhook endpoint of the namespace for `activityType` at `url`, signing with `secret`. */
async function bind(activityType, url, secret) {
  await raw(
    'POST',
    `/api/v1/namespaces/${tenant.namespace}/webhooks`,
    { name: `hook-${unique()}`, url, activity_types: [activityType], timeout: 10, secret },
    tenant.apiKey,
  );
}

/** A node:http server with `handler` on a free loopback port; its URL. */
async function listen(handler) {
  const server = createServer(handler);
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  closers.push(() => new Promise((ok) => server.close(ok)));
  return `http://127.0.0.1:${server.address().port}/perdure`;
}

async function runDefinition(activityType, input) {
  const queue = `hooks-${unique()}`;
  await client.definitions.put(`${activityType}-${queue}`, oneTask(queue, activityType, { TimeoutSeconds: 30 }));
  return client.workflow.start({ definition: `${activityType}-${queue}` }, { workflowId: `${activityType}-${unique()}`, input });
}

describe('node:http', () => {
  test('a delivery is verified, its activity run, and the answer completes it', async () => {
    const type = `Quote${unique()}`;
    const secret = newSecret();
    const url = await listen(
      webhookHandler({
        secret,
        activities: {
          [type]: (order) => ({ price: order.items * 3, attempt: Context.current().info.attempt }),
        },
      }),
    );
    await bind(type, url, secret);
    const handle = await runDefinition(type, { items: 4 });
    assert.deepEqual(await handle.result(), { price: 12, attempt: 1 });
  });

  test('a non-retryable failure fails the run; a wrong signature is answered 401', async () => {
    const type = `Refuse${unique()}`;
    const secret = newSecret();
    const url = await listen(
      webhookHandler({
        secret,
        activities: {
          [type]: () => {
            throw ApplicationFailure.nonRetryable('out of stock', 'OutOfStock');
          },
        },
      }),
    );
    await bind(type, url, secret);
    const err = await (await runDefinition(type, {})).result().catch((e) => e);
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.equal(err.status, 'FAILED');

    const forged = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,AAAA',
      },
      body: JSON.stringify({ activity_type: type, task_token: 'x' }),
    });
    assert.equal(forged.status, 401);
    assert.match((await forged.json()).detail, /not signed with this endpoint's secret/);
  });

  test('CompleteAsyncError answers 202; the activity is completed later by its task token', async () => {
    const type = `Later${unique()}`;
    const secret = newSecret();
    let token;
    const accepted = new Promise((ok) => (token = ok));
    const url = await listen(
      webhookHandler({
        secret,
        activities: {
          [type]: () => {
            token(Context.current().info.taskToken);
            throw new CompleteAsyncError();
          },
        },
      }),
    );
    await bind(type, url, secret);
    const handle = await runDefinition(type, {});
    await client.activity.complete(await accepted, { approvedBy: 'a human' });
    assert.deepEqual(await handle.result(), { approvedBy: 'a human' });
  });
});

describe('frameworks', () => {
  test('Express: the handler reads the raw body itself', async () => {
    const type = `Express${unique()}`;
    const secret = newSecret();
    const app = express();
    app.post('/perdure', expressWebhook({ secret, activities: { [type]: (x) => ({ doubled: x * 2 }) } }));
    const server = await new Promise((ok) => {
      const s = app.listen(0, '127.0.0.1', () => ok(s));
    });
    closers.push(() => new Promise((ok) => server.close(ok)));
    await bind(type, `http://127.0.0.1:${server.address().port}/perdure`, secret);
    assert.deepEqual(await (await runDefinition(type, 21)).result(), { doubled: 42 });
  });

  test('Express behind express.raw(): the Buffer body is verified', async () => {
    const type = `ExpressRaw${unique()}`;
    const secret = newSecret();
    const app = express();
    app.post('/perdure', express.raw({ type: 'application/json' }), expressWebhook({ secret, activities: { [type]: (x) => `got ${x.word}` } }));
    const server = await new Promise((ok) => {
      const s = app.listen(0, '127.0.0.1', () => ok(s));
    });
    closers.push(() => new Promise((ok) => server.close(ok)));
    await bind(type, `http://127.0.0.1:${server.address().port}/perdure`, secret);
    assert.equal(await (await runDefinition(type, { word: 'raw' })).result(), 'got raw');
  });

  test('Fastify: the plugin keeps JSON bodies raw in its own context', async () => {
    const type = `Fastify${unique()}`;
    const secret = newSecret();
    const app = Fastify();
    app.register(fastifyWebhook, { path: '/perdure', secret, activities: { [type]: (x) => ({ seen: x }) } });
    // Elsewhere in the app, JSON is still parsed as usual.
    app.post('/other', async (request) => ({ parsed: request.body }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
    const url = `http://127.0.0.1:${app.server.address().port}`;
    await bind(type, `${url}/perdure`, secret);
    assert.deepEqual(await (await runDefinition(type, { n: 1 })).result(), { seen: { n: 1 } });
    const other = await fetch(`${url}/other`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    assert.deepEqual(await other.json(), { parsed: { a: 1 } });
  });
});
