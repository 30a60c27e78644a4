/**
 * Small shared pieces: durations (Temporal's `Duration`: milliseconds or a string such as
 * '30s'), the wire form of positional arguments (the Python SDK's, so both interoperate),
 * retry policies, and the paged async iterables that lists return.
 */

/** Milliseconds, or a string of a number and a unit: '250ms', '30s', '5m', '2h', '1d'. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A `Duration` in milliseconds; `TypeError` for a string that is none. */
export function msOf(duration: Duration): number {
  if (typeof duration === 'number') return duration;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(duration);
  if (!match) throw new TypeError(`not a duration: ${JSON.stringify(duration)} (write e.g. '30s', '5m', 1500)`);
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

/** A `Duration` in the seconds the REST API takes; `undefined` stays `undefined`. */
export function secondsOf(duration: Duration | undefined): number | undefined {
  return duration === undefined ? undefined : msOf(duration) / 1000;
}

/**
 * The payload of positional arguments: nothing is `null`, one argument that is neither null
 * nor an array is itself, anything else is the array (the Python SDK's `encode_args`).
 */
export function encodeArgs(args: readonly unknown[]): unknown {
  if (args.length === 0) return null;
  const [first] = args;
  if (args.length === 1 && first !== null && first !== undefined && !Array.isArray(first)) return first;
  return args.map((a) => (a === undefined ? null : a));
}

/** The positional arguments a payload holds (the inverse of `encodeArgs`). */
export function splitArgs(payload: unknown): unknown[] {
  if (payload === null || payload === undefined) return [];
  return Array.isArray(payload) ? payload : [payload];
}

/** Temporal's RetryPolicy (durations as `Duration`). */
export interface RetryPolicy {
  initialInterval?: Duration;
  backoffCoefficient?: number;
  maximumInterval?: Duration;
  maximumAttempts?: number;
  nonRetryableErrorTypes?: string[];
}

/** The REST form of a retry policy (seconds, snake_case). */
export function retryPolicyJson(policy: RetryPolicy): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  if (policy.initialInterval !== undefined) json.initial_interval = secondsOf(policy.initialInterval);
  if (policy.backoffCoefficient !== undefined) json.backoff_coefficient = policy.backoffCoefficient;
  if (policy.maximumInterval !== undefined) json.maximum_interval = secondsOf(policy.maximumInterval);
  if (policy.maximumAttempts !== undefined) json.maximum_attempts = policy.maximumAttempts;
  if (policy.nonRetryableErrorTypes !== undefined) json.non_retryable_error_types = policy.nonRetryableErrorTypes;
  return json;
}

/**
 * A list that is read a page at a time: `for await (const item of list)` walks every item,
 * fetching the next page only when the previous one is used up; `pages()` yields whole pages.
 */
export class PagedList<T> implements AsyncIterable<T> {
  constructor(private readonly fetchPage: (token: string | undefined) => Promise<{ items: T[]; next: string | null | undefined }>) {}

  async *pages(): AsyncGenerator<T[], void, undefined> {
    let token: string | undefined;
    do {
      const page = await this.fetchPage(token);
      yield page.items;
      token = page.next ?? undefined;
    } while (token);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page;
  }

  /** Every item in one array (reads every page). */
  async toArray(): Promise<T[]> {
    const all: T[] = [];
    for await (const item of this) all.push(item);
    return all;
  }
}

/** A `Date` of an RFC 3339 string from the server; `undefined` for null. */
export function dateOf(value: string | null | undefined): Date | undefined {
  return value ? new Date(value) : undefined;
}
