/**
 * The client's way to the server: `Connection` (address, API key, headers) and one typed
 * `call` per route of `openapi.json`. A route renamed or reshaped on the server makes the
 * calls that use it fail to compile (the types come from src/generated/openapi.ts).
 */
import { problemError, PerdureError } from './errors.js';
import type { paths } from './generated/openapi.js';

export const DEFAULT_ADDRESS = 'http://127.0.0.1:8233';
/** About a minute of back-off for a read while the server is unreachable (as the Python SDK). */
const READ_RETRIES = 16;

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
export type Route = keyof paths;

type Operation<P extends Route, M extends Method> = NonNullable<paths[P][M]>;
type JsonOf<C> = C extends { content: { 'application/json': infer T } } ? T : undefined;
/** The JSON body of a route's success answer (200, 201 or 202; `undefined` for 204). */
export type Answer<P extends Route, M extends Method> =
  Operation<P, M> extends { responses: infer R }
    ? R extends { 200: infer A }
      ? JsonOf<A>
      : R extends { 201: infer A }
        ? JsonOf<A>
        : R extends { 202: infer A }
          ? JsonOf<A>
          : undefined
    : never;
/** The JSON request body of a route. */
export type Body<P extends Route, M extends Method> =
  Operation<P, M> extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;
type Params<P extends Route, M extends Method> =
  Operation<P, M> extends { parameters: infer X } ? X : never;
export type PathParams<P extends Route, M extends Method> =
  Params<P, M> extends { path: infer X } ? X : never;
export type QueryParams<P extends Route, M extends Method> =
  Params<P, M> extends { query?: infer X } ? NonNullable<X> : never;

export type CallOptions<P extends Route, M extends Method> = ([PathParams<P, M>] extends [never]
  ? { path?: undefined }
  : { path: PathParams<P, M> }) & {
  query?: QueryParams<P, M> | [string, string][];
  body?: Body<P, M>;
  headers?: Record<string, string>;
  /** Abort the call (a worker's shutdown ends its polls this way). */
  signal?: AbortSignal;
};

export interface ConnectionOptions {
  /** `http(s)://host:port`, or `host:port` meaning http. Default: env PERDURE_ADDRESS, then http://127.0.0.1:8233. */
  address?: string;
  /** Sent as `Authorization: Bearer <apiKey>`. Default: env PERDURE_API_KEY. */
  apiKey?: string;
  /** Extra HTTP headers sent with every call (Temporal's `metadata`). */
  metadata?: Record<string, string>;
  /** Another `fetch` (tests, proxies); default the platform's. */
  fetch?: typeof fetch;
}

/**
 * `encodeURIComponent`, plus a segment made only of dots spelled `%2E` (URL normalisation
 * would drop `.` and `..`); an empty id is refused here rather than hitting another route.
 */
export function segment(value: string): string {
  if (value === '') throw new TypeError('an id or name in a URL path must not be empty');
  if (/^\.+$/.test(value)) return '%2E'.repeat(value.length);
  return encodeURIComponent(value);
}

/** Where calls go and with which key: Temporal's `Connection`, over HTTP + JSON. */
export class Connection {
  readonly address: string;
  private readonly headers: Record<string, string>;
  private readonly fetchFn: typeof fetch;

  private constructor(options: ConnectionOptions) {
    let address = options.address ?? process.env.PERDURE_ADDRESS ?? DEFAULT_ADDRESS;
    if (!address.includes('://')) address = `http://${address}`;
    this.address = address.replace(/\/+$/, '');
    const apiKey = options.apiKey ?? process.env.PERDURE_API_KEY;
    this.headers = { ...(options.metadata ?? {}) };
    if (apiKey) this.headers.authorization = `Bearer ${apiKey}`;
    this.fetchFn = options.fetch ?? globalThis.fetch;
  }

  /**
   * A connection checked by one call to `GET /api/v1/me` (so a wrong address or key shows
   * here, as Temporal's `Connection.connect` fails on an unreachable server).
   * Throws `UnauthenticatedError` for a bad key, `TypeError` (fetch failed) when unreachable.
   */
  static async connect(options: ConnectionOptions = {}): Promise<Connection> {
    const connection = new Connection(options);
    await connection.call('get', '/api/v1/me', {});
    return connection;
  }

  /** A connection that checks nothing until its first call (Temporal's `Connection.lazy`). */
  static lazy(options: ConnectionOptions = {}): Connection {
    return new Connection(options);
  }

  /** Nothing to release: fetch keeps its own pool. Here for Temporal's shape. */
  async close(): Promise<void> {}

  /**
   * One call to a route of `openapi.json`: its success answer as JSON, or the typed problem
   * error (`errors.ts`) for any other status. Reads are retried while the server is
   * unreachable; writes are not (the caller decides, e.g. with a request id).
   */
  async call<P extends Route, M extends Method>(
    method: M,
    route: P,
    options: CallOptions<P, M>,
  ): Promise<Answer<P, M>> {
    const response = await this.send(method, route, options);
    if (!response.ok) throw await problemOf(response);
    if (response.status === 204) return undefined as Answer<P, M>;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as Answer<P, M>;
  }

  /** The raw `Response` of one call (any status): for routes that answer 204 on a timeout. */
  async send<P extends Route, M extends Method>(
    method: M,
    route: P,
    options: CallOptions<P, M>,
  ): Promise<Response> {
    const url = this.address + fillPath(route, options.path as Record<string, string> | undefined) + queryString(options.query);
    const headers: Record<string, string> = { ...this.headers, ...(options.headers ?? {}) };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const init: RequestInit = { method: method.toUpperCase(), headers, body, signal: options.signal };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.fetchFn(url, init);
      } catch (err) {
        if (method !== 'get' || attempt >= READ_RETRIES || options.signal?.aborted) throw err;
      }
      await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)), options.signal);
    }
  }
}

function fillPath(route: string, params: Record<string, string> | undefined): string {
  return route.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new TypeError(`missing path parameter ${name}`);
    return segment(String(value));
  });
}

function queryString(query: unknown): string {
  if (query === undefined) return '';
  const search = new URLSearchParams();
  const pairs = Array.isArray(query) ? query : Object.entries(query as Record<string, unknown>);
  for (const [name, value] of pairs as [string, unknown][]) {
    if (value === undefined || value === null) continue;
    for (const one of Array.isArray(value) ? value : [value]) search.append(name, String(one));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The typed error of a non-2xx answer (an RFC 9457 problem, or whatever the body was). */
export async function problemOf(response: Response): Promise<PerdureError> {
  const text = await response.text();
  let problem: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    problem = parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : { detail: text };
  } catch {
    problem = { detail: text || response.statusText };
  }
  const error = problemError(response.status, problem);
  const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
  if (Number.isFinite(retryAfter)) error.retryAfter = retryAfter;
  return error;
}

/** Wait `ms` milliseconds, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
