/**
 * The activity worker: long-polls a task queue with the batch poll route, runs the
 * activities (async functions) with a concurrency limit, answers successes together with the
 * batch complete route, and shuts down gracefully. Temporal's `Worker` for activities; the
 * workflows it serves are stored definitions run by the server, or code-first workflows of
 * another SDK (Python).
 */
import { defaultIdentity } from './client.js';
import { splitArgs, msOf, type Duration } from './common.js';
import { activityInfo, Context, type ActivityTask } from './context.js';
import {
  ApplicationFailure,
  CancelledFailure,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  toFailure,
  UnauthenticatedError,
} from './errors.js';
import { sleep, type Connection } from './http.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ActivityFunction = (...args: any[]) => Promise<unknown> | unknown;

export interface WorkerOptions {
  connection: Connection;
  /** Default: env PERDURE_NAMESPACE, then `default`. */
  namespace?: string;
  taskQueue: string;
  /** Activity functions by activity type (for a stored definition: the `<activity_type>` of `perdure:activity:<queue>:<type>`). */
  activities: Record<string, ActivityFunction>;
  /** Activities running at once (Temporal's `maxConcurrentActivityTaskExecutions`, default 100). */
  maxConcurrentActivityTaskExecutions?: number;
  /** Polls open at once (Temporal's `maxConcurrentActivityTaskPolls`; default 4, as the Python SDK). */
  maxConcurrentActivityTaskPolls?: number;
  /** After `shutdown()`, how long running activities may take before they are cancelled and failed (default 10 s). */
  shutdownGraceTime?: Duration;
  identity?: string;
}

export type WorkerState = 'INITIALIZED' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'FAILED';

/** The most tasks one poll asks for, and completions one batch carries (the routes' limits). */
const MAX_BATCH = 100;
/** How long a poll waits for the first task before answering an empty list (the route's maximum). */
const POLL_WAIT_SECONDS = 60;

interface Running {
  context: Context;
  /** Set once the worker answered for this task (it gave up on it at shutdown). */
  abandoned: boolean;
  /** Settles once the activity ended and was answered. */
  done: Promise<void>;
}

export class Worker {
  readonly options: Required<Omit<WorkerOptions, 'namespace' | 'identity' | 'shutdownGraceTime'>> & {
    namespace: string;
    identity: string;
    shutdownGraceMs: number;
  };
  private stateValue: WorkerState = 'INITIALIZED';
  private readonly running = new Map<string, Running>();
  /** Slots reserved by open polls (a poll asks only for tasks it has room for). */
  private reserved = 0;
  private readonly polls = new AbortController();
  private slotWaiters: (() => void)[] = [];
  private completions: { task_token: string; result: unknown }[] = [];
  /** A poll error no retry can mend (bad key, unknown namespace…): `run()` rejects with it. */
  private fatal: Error | undefined;
  private flushing: Promise<void> | undefined;

  private constructor(options: WorkerOptions) {
    this.options = {
      connection: options.connection,
      namespace: options.namespace ?? process.env.PERDURE_NAMESPACE ?? 'default',
      taskQueue: options.taskQueue,
      activities: options.activities,
      maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 100,
      maxConcurrentActivityTaskPolls: options.maxConcurrentActivityTaskPolls ?? 4,
      shutdownGraceMs: msOf(options.shutdownGraceTime ?? '10s'),
      identity: options.identity ?? defaultIdentity(),
    };
    if (this.options.maxConcurrentActivityTaskExecutions < 1) throw new RangeError('maxConcurrentActivityTaskExecutions must be at least 1');
  }

  /** A worker for `taskQueue` serving `activities` (nothing is polled until `run()`). */
  static async create(options: WorkerOptions): Promise<Worker> {
    return new Worker(options);
  }

  getState(): WorkerState {
    return this.stateValue;
  }

  /** Activities running now. */
  get inFlight(): number {
    return this.running.size;
  }

  /**
   * Poll and run activities until `shutdown()` (or SIGINT/SIGTERM when `shutdownSignals`
   * is left on), then finish: resolves once every running activity has been answered.
   */
  async run(options: { shutdownSignals?: NodeJS.Signals[] } = {}): Promise<void> {
    if (this.stateValue !== 'INITIALIZED') throw new Error(`worker already ${this.stateValue.toLowerCase()}`);
    this.stateValue = 'RUNNING';
    const signals = options.shutdownSignals ?? [];
    const onSignal = (): void => this.shutdown();
    for (const s of signals) process.once(s, onSignal);
    try {
      const pollers = Array.from({ length: this.options.maxConcurrentActivityTaskPolls }, () => this.pollLoop());
      await Promise.all(pollers);
      await this.drain();
      if (this.fatal) throw this.fatal;
      this.stateValue = 'STOPPED';
    } catch (err) {
      this.stateValue = 'FAILED';
      this.polls.abort();
      throw err;
    } finally {
      for (const s of signals) process.off(s, onSignal);
    }
  }

  /**
   * Run the worker while `work` runs (a promise, or a function returning one), then shut it
   * down gracefully: the value of `work`, once the worker has stopped. Temporal's `runUntil`.
   */
  async runUntil<T>(work: Promise<T> | (() => Promise<T>)): Promise<T> {
    const running = this.run();
    try {
      return await (typeof work === 'function' ? work() : work);
    } finally {
      this.shutdown();
      await running;
    }
  }

  /**
   * Stop polling at once (open polls are ended), let running activities finish within the
   * grace time, then cancel and fail those still running; `run()` resolves when done.
   */
  shutdown(): void {
    if (this.stateValue !== 'RUNNING') return;
    this.stateValue = 'STOPPING';
    this.polls.abort();
    this.wakePollers();
  }

  private free(): number {
    return this.options.maxConcurrentActivityTaskExecutions - this.running.size - this.reserved;
  }

  private wakePollers(): void {
    const waiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const wake of waiters) wake();
  }

  private async pollLoop(): Promise<void> {
    const { connection, namespace, taskQueue, identity } = this.options;
    let failures = 0;
    while (this.stateValue === 'RUNNING') {
      // Each poll asks for its share of the slots, so the other polls stay open too: a task
      // that arrives while one poll is on its way back is handed to another at once.
      const share = Math.max(1, Math.floor(this.options.maxConcurrentActivityTaskExecutions / this.options.maxConcurrentActivityTaskPolls));
      const room = Math.min(this.free(), share, MAX_BATCH);
      if (room <= 0) {
        await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
        continue;
      }
      this.reserved += room;
      let tasks: ActivityTask[] = [];
      try {
        const answer = await connection.call('post', '/api/v1/namespaces/{namespace}/task-queues/{task_queue}/activity-tasks/poll-batch', {
          path: { namespace, task_queue: taskQueue },
          body: { identity, max_tasks: room, wait: POLL_WAIT_SECONDS },
          signal: this.polls.signal,
        });
        tasks = answer.tasks ?? [];
        failures = 0;
      } catch (err) {
        if (this.polls.signal.aborted) break;
        if (isFatal(err)) {
          // As Temporal's workers do on a bad namespace or credentials: stop, and say why.
          this.fatal ??= err as Error;
          this.shutdown();
          break;
        }
        // The server is restarting, briefly unreachable or busy (429, 503): back off (0.1 s
        // doubling to 5 s) and poll again; a worker outlives its server's restarts.
        failures++;
        const retryAfterMs = ((err as { retryAfter?: number }).retryAfter ?? 0) * 1000;
        await sleep(Math.max(retryAfterMs, Math.min(5000, 100 * 2 ** Math.min(failures, 6))), this.polls.signal);
        continue;
      } finally {
        this.reserved -= room;
      }
      for (const task of tasks) this.start(task);
    }
  }

  private start(task: ActivityTask): void {
    const info = activityInfo(task);
    const { connection, namespace } = this.options;
    const context = new Context(info, async (details) => {
      const answer = await connection.call('post', '/api/v1/namespaces/{namespace}/activity-tasks/heartbeat', {
        path: { namespace },
        body: { task_token: info.taskToken, details: details ?? null },
      });
      return { cancelRequested: answer.cancel_requested, paused: answer.activity_paused, reset: answer.activity_reset };
    });
    const entry: Running = { context, abandoned: false, done: Promise.resolve() };
    this.running.set(info.taskToken, entry);
    entry.done = this.execute(task, entry).finally(() => {
      this.running.delete(info.taskToken);
      this.wakePollers();
    });
  }

  private async execute(task: ActivityTask, entry: Running): Promise<void> {
    const { context } = entry;
    const fn = this.options.activities[context.info.activityType];
    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
    if (!fn) {
      outcome = {
        ok: false,
        error: ApplicationFailure.nonRetryable(
          `activity type ${context.info.activityType} is not registered on this worker (it serves ${Object.keys(this.options.activities).join(', ') || 'none'})`,
          'NotFoundError',
        ),
      };
    } else {
      try {
        outcome = { ok: true, result: await context.run(async () => fn(...splitArgs(task.input))) };
      } catch (error) {
        outcome = { ok: false, error };
      }
    }
    context.finish();
    if (entry.abandoned) return;
    try {
      await this.answer(context, outcome);
    } catch {
      // The attempt is gone (timed out, its run closed, or a newer attempt took over): the
      // server retries or has moved on, and nothing this worker says would count.
    }
  }

  private async answer(context: Context, outcome: { ok: true; result: unknown } | { ok: false; error: unknown }): Promise<void> {
    const { connection, namespace, identity } = this.options;
    const taskToken = context.info.taskToken;
    if (outcome.ok) {
      await this.complete(taskToken, outcome.result === undefined ? null : outcome.result);
      return;
    }
    const error = outcome.error;
    // Cancelled, and the activity gave up because of it: its own CancelledFailure, the
    // signal's reason rethrown, or the AbortError of a fetch it passed the signal to.
    const signal = context.cancellationSignal;
    if (signal.aborted && (error instanceof CancelledFailure || error === signal.reason || (error as Error)?.name === 'AbortError')) {
      const details = error instanceof CancelledFailure ? error.details : [];
      await connection.call('post', '/api/v1/namespaces/{namespace}/activity-tasks/canceled', {
        path: { namespace },
        body: { task_token: taskToken, details: details.length ? details : null, identity },
      });
      return;
    }
    await connection.call('post', '/api/v1/namespaces/{namespace}/activity-tasks/fail', {
      path: { namespace },
      body: {
        task_token: taskToken,
        failure: toFailure(error) as never,
        last_heartbeat_details: context.lastHeartbeatDetails ?? null,
        identity,
      },
    });
  }

  /**
   * Completions wait for the batch in flight and then go together (up to 100 a request),
   * so N activities finishing at once cost about one request, not N.
   */
  private async complete(taskToken: string, result: unknown): Promise<void> {
    const { connection, namespace, identity } = this.options;
    this.completions.push({ task_token: taskToken, result });
    while (this.completions.some((c) => c.task_token === taskToken)) {
      if (this.flushing) {
        await this.flushing;
        continue;
      }
      const batch = this.completions.splice(0, MAX_BATCH);
      this.flushing = connection
        .call('post', '/api/v1/namespaces/{namespace}/activity-tasks/complete-batch', {
          path: { namespace },
          body: { completions: batch, identity },
        })
        .then(
          () => undefined,
          () => undefined, // a whole batch refused (e.g. the server restarting): the attempts time out and are retried
        )
        .finally(() => (this.flushing = undefined));
      await this.flushing;
    }
  }

  /** After polling stopped: wait for running activities up to the grace time, then cancel and fail the rest. */
  private async drain(): Promise<void> {
    if (this.running.size > 0) {
      const grace = new AbortController();
      await Promise.race([
        Promise.allSettled([...this.running.values()].map((r) => r.done)),
        sleep(this.options.shutdownGraceMs, grace.signal),
      ]);
      grace.abort();
    }
    const { connection, namespace, identity } = this.options;
    await Promise.allSettled(
      [...this.running.entries()].map(async ([taskToken, entry]) => {
        // Answered here, as a retryable failure, so another worker takes the task now rather
        // than after its timeout; whatever the activity does later is not sent.
        entry.abandoned = true;
        entry.context.cancel(new CancelledFailure('worker shutting down'), { workerShutdown: true });
        entry.context.finish();
        await connection.call('post', '/api/v1/namespaces/{namespace}/activity-tasks/fail', {
          path: { namespace },
          body: {
            task_token: taskToken,
            failure: { message: 'the worker shut down before the activity finished', type: 'WorkerShutdown', non_retryable: false },
            last_heartbeat_details: entry.context.lastHeartbeatDetails ?? null,
            identity,
          },
        });
      }),
    );
    while (this.flushing) await this.flushing;
  }
}

/** Errors of a poll that retrying cannot mend. */
function isFatal(err: unknown): boolean {
  return (
    err instanceof UnauthenticatedError ||
    err instanceof PermissionDeniedError ||
    err instanceof NotFoundError ||
    err instanceof InvalidArgumentError
  );
}
