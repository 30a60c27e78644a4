/**
 * Webhook activities: the server POSTs an activity task signed per Standard Webhooks; the
 * receiver verifies the signature on the raw body (the `standardwebhooks` package), runs the
 * activity and answers with its result. Adapters for node:http, Express and Fastify.
 *
 * Answers (the README's "Webhook activities"): 200 + JSON completes the activity; 202 means
 * "accepted, completed later by task token" (the activity threw `CompleteAsyncError`); 422 a
 * non-retryable failure; 500 a failure retried by the activity's retry policy; 401 a bad
 * signature; 404 an activity type this receiver does not serve.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { splitArgs } from './common.js';
import { activityInfo, Context, type ActivityTask } from './context.js';
import { ApplicationFailure, toFailure } from './errors.js';
import type { Connection } from './http.js';
import type { ActivityFunction } from './worker.js';

/** Thrown by an activity to answer 202: it will be completed later with its task token (`client.activity.complete`). */
export class CompleteAsyncError extends Error {
  constructor() {
    super('the activity will be completed asynchronously');
    this.name = 'CompleteAsyncError';
  }
}

export interface WebhookReceiverOptions {
  /** The endpoint's signing secret (`whsec_…`, shown once when the webhook was created or rotated). */
  secret: string;
  activities: Record<string, ActivityFunction>;
  /** Lets `Context.current().heartbeat()` reach the server; without it heartbeats are not sent. */
  connection?: Connection;
}

/** What to answer: a status, headers and a body. */
export interface WebhookAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The framework-free receiver: raw body and headers in, answer out. */
export class WebhookReceiver {
  private readonly webhook: Webhook;
  constructor(readonly options: WebhookReceiverOptions) {
    this.webhook = new Webhook(options.secret);
  }

  /** Verify the delivery, run its activity, and say what to answer. Never throws. */
  async handle(rawBody: string | Uint8Array, headers: Record<string, string | string[] | undefined>): Promise<WebhookAnswer> {
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    let task: ActivityTask & { namespace?: string };
    try {
      task = this.webhook.verify(rawBody, flat) as ActivityTask & { namespace?: string };
    } catch (err) {
      const detail = err instanceof WebhookVerificationError ? err.message : 'the body is not JSON';
      return problem(401, 'the delivery is not signed with this endpoint\'s secret: ' + detail);
    }
    const fn = this.options.activities[task.activity_type ?? ''];
    if (!fn) return problem(404, `activity type ${task.activity_type} is not served by this receiver`);
    const connection = this.options.connection;
    const context = new Context(activityInfo(task), async (details) => {
      if (!connection) return { cancelRequested: false };
      const answer = await connection.call('post', '/api/v1/namespaces/{namespace}/activity-tasks/heartbeat', {
        path: { namespace: task.namespace ?? 'default' },
        body: { task_token: task.task_token ?? '', details: details ?? null },
      });
      return { cancelRequested: answer.cancel_requested };
    });
    try {
      const result = await context.run(async () => fn(...splitArgs(task.input)));
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(result ?? null) };
    } catch (err) {
      if (err instanceof CompleteAsyncError) return { status: 202, headers: {}, body: '' };
      const failure = toFailure(err);
      const status = err instanceof ApplicationFailure && err.nonRetryable ? 422 : 500;
      return problem(status, String(failure.message), { failure });
    } finally {
      context.finish();
    }
  }
}

function problem(status: number, detail: string, extra: Record<string, unknown> = {}): WebhookAnswer {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: JSON.stringify({ title: 'Activity not completed', status, detail, ...extra }),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, answer: WebhookAnswer): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/** A `node:http` request listener: `http.createServer(webhookHandler({ secret, activities }))`. */
export function webhookHandler(options: WebhookReceiverOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const receiver = new WebhookReceiver(options);
  return (req, res) => {
    void readBody(req).then(
      async (body) => send(res, await receiver.handle(body, req.headers)),
      () => send(res, problem(400, 'the request body could not be read')),
    );
  };
}

/**
 * An Express handler: `app.post('/perdure', expressWebhook({ secret, activities }))`. It
 * reads the raw body itself; behind `express.raw()` it uses that Buffer. (A JSON body parser
 * in front of it would have re-serialised the body and broken the signature.)
 */
export function expressWebhook(
  options: WebhookReceiverOptions,
): (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: (err?: unknown) => void) => void {
  const receiver = new WebhookReceiver(options);
  return (req, res, next) => {
    const body = Buffer.isBuffer(req.body) ? Promise.resolve(req.body) : readBody(req);
    body.then(async (raw) => send(res, await receiver.handle(raw, req.headers)), next);
  };
}

/** The little of Fastify's instance the plugin uses (Fastify itself is not a dependency). */
interface FastifyLike {
  addContentTypeParser(
    type: string,
    options: { parseAs: 'buffer' },
    parser: (req: unknown, body: Buffer, done: (err: Error | null, body?: unknown) => void) => void,
  ): void;
  post(
    path: string,
    handler: (
      request: { body: unknown; headers: Record<string, string | string[] | undefined> },
      reply: { code(status: number): unknown; headers(h: Record<string, string>): unknown; send(body: string): unknown },
    ) => Promise<unknown>,
  ): void;
}

/**
 * A Fastify plugin: `app.register(fastifyWebhook, { path: '/perdure', secret, activities })`.
 * It keeps JSON bodies raw inside its own encapsulated context only.
 */
export async function fastifyWebhook(fastify: FastifyLike, options: WebhookReceiverOptions & { path?: string }): Promise<void> {
  const receiver = new WebhookReceiver(options);
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  fastify.post(options.path ?? '/', async (request, reply) => {
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.from('');
    const answer = await receiver.handle(raw, request.headers);
    reply.code(answer.status);
    reply.headers(answer.headers);
    return reply.send(answer.body);
  });
}
