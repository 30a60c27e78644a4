/**
 * `Context.current()` inside an activity: what the task is (`info`), `heartbeat(details)`
 * throttled as Temporal's SDKs throttle it, and cancellation (`cancellationSignal`,
 * `cancelled`, `sleep`, and why: `cancellationDetails`) learned from the heartbeat's answer.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CancelledFailure } from './errors.js';
import type { components } from './generated/openapi.js';
import { sleep as abortableSleep } from './http.js';

export type ActivityTask = components['schemas']['ActivityTask'];

/**
 * Without a heartbeat timeout, heartbeats are sent at most every 30 s (Temporal's
 * `defaultHeartbeatThrottleInterval`); with one, at most every 0.8 × that timeout (so one
 * always lands before the timeout), and never less often than every 60 s
 * (`maxHeartbeatThrottleInterval`).
 */
export const DEFAULT_HEARTBEAT_THROTTLE_MS = 30_000;
export const MAX_HEARTBEAT_THROTTLE_MS = 60_000;

export function heartbeatThrottleMs(heartbeatTimeoutSeconds: number | null | undefined): number {
  if (!heartbeatTimeoutSeconds) return DEFAULT_HEARTBEAT_THROTTLE_MS;
  return Math.min(0.8 * heartbeatTimeoutSeconds * 1000, MAX_HEARTBEAT_THROTTLE_MS);
}

/** What the worker tells the activity about its task (Temporal's `activity.Info`). */
export interface ActivityInfo {
  taskToken: string;
  activityId: string;
  activityType: string;
  taskQueue: string;
  workflowId: string;
  runId: string;
  workflowType: string;
  attempt: number;
  /** The details of the last heartbeat of an earlier attempt (resume from there). */
  heartbeatDetails: unknown;
  heartbeatTimeoutMs: number | undefined;
  startToCloseTimeoutMs: number | undefined;
  scheduleToCloseTimeoutMs: number | undefined;
  scheduledTime: Date | undefined;
  startedTime: Date | undefined;
}

/**
 * Why an activity was cancelled (Temporal's `ActivityCancellationDetails`), set once, when
 * it is: the workflow asked (`cancelRequested`), an operator paused (`paused`) or reset
 * (`reset`) the activity, the attempt is gone from the server (`notFound`: it timed out, or
 * its run closed or was reset), or the worker is shutting down (`workerShutdown`).
 */
export interface ActivityCancellationDetails {
  readonly cancelRequested: boolean;
  readonly paused: boolean;
  readonly reset: boolean;
  readonly notFound: boolean;
  readonly timedOut: boolean;
  readonly workerShutdown: boolean;
}

/** What a heartbeat's answer says (the server adds `activity_paused`/`activity_reset` only when true). */
export interface HeartbeatAnswer {
  cancelRequested: boolean;
  paused?: boolean;
  reset?: boolean;
}

/** How the worker sends a heartbeat. */
export type HeartbeatSender = (details: unknown) => Promise<HeartbeatAnswer>;

const NO_CANCELLATION: ActivityCancellationDetails = {
  cancelRequested: false,
  paused: false,
  reset: false,
  notFound: false,
  timedOut: false,
  workerShutdown: false,
};

const storage = new AsyncLocalStorage<Context>();

export class Context {
  readonly info: ActivityInfo;
  private readonly controller = new AbortController();
  private readonly send: HeartbeatSender;
  private readonly throttleMs: number;
  private sending = false;
  private timer: NodeJS.Timeout | undefined;
  private pending: { details: unknown } | undefined;
  private finished = false;
  /** The details of the latest `heartbeat()` call (sent with a failure as Temporal does). */
  lastHeartbeatDetails: unknown = undefined;
  /** Why the activity was cancelled; `undefined` until it is. */
  cancellationDetails: ActivityCancellationDetails | undefined = undefined;
  /** Rejects with the cancellation reason once the activity is cancelled (never resolves). */
  readonly cancelled: Promise<never>;

  constructor(info: ActivityInfo, send: HeartbeatSender) {
    this.info = info;
    this.send = send;
    this.throttleMs = heartbeatThrottleMs(info.heartbeatTimeoutMs === undefined ? undefined : info.heartbeatTimeoutMs / 1000);
    this.cancelled = new Promise<never>((_, reject) => {
      this.controller.signal.addEventListener('abort', () => reject(this.controller.signal.reason), { once: true });
    });
    // An activity that never awaits `cancelled` must not make an unhandled rejection of it.
    this.cancelled.catch(() => undefined);
  }

  /** The context of the activity this code runs in; throws outside an activity. */
  static current(): Context {
    const context = storage.getStore();
    if (!context) throw new Error('Context.current() is only available inside an activity');
    return context;
  }

  /** Run `fn` with this context as `Context.current()`. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return storage.run(this, fn);
  }

  /** Aborts when cancellation was requested, the run closed, or the worker is shutting down; `reason` says which. */
  get cancellationSignal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Record progress (`details` become `info.heartbeatDetails` of the next attempt) and learn
   * of cancellation. Throttled: the first call is sent at once, later calls within the
   * throttle interval only remember their details, and the latest is sent when it ends.
   */
  heartbeat(details?: unknown): void {
    this.lastHeartbeatDetails = details;
    this.pending = { details };
    if (this.sending || this.timer || this.finished) return;
    void this.flush();
  }

  /** Wait `ms` milliseconds; rejects with the reason when the activity is cancelled first. */
  async sleep(ms: number): Promise<void> {
    await abortableSleep(ms, this.controller.signal);
    if (this.controller.signal.aborted) throw this.controller.signal.reason;
  }

  /**
   * Cancel the activity (the worker calls this; the reason is what `cancelled` rejects with,
   * `why` what `cancellationDetails` says). The first cancellation wins.
   */
  cancel(reason: Error, why: Partial<ActivityCancellationDetails> = { cancelRequested: true }): void {
    if (this.controller.signal.aborted) return;
    this.cancellationDetails = { ...NO_CANCELLATION, ...why };
    this.controller.abort(reason);
  }

  /** The activity ended: send no more heartbeats. */
  finish(): void {
    this.finished = true;
    this.pending = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async flush(): Promise<void> {
    const pending = this.pending;
    if (!pending || this.finished) return;
    this.pending = undefined;
    this.sending = true;
    const sentAt = Date.now();
    try {
      const answer = await this.send(pending.details);
      if (answer.cancelRequested) this.cancel(new CancelledFailure('activity cancellation requested'), { cancelRequested: true });
      // An operator paused or reset the activity (Temporal 1.28+): this attempt stops and,
      // reported canceled, is followed by one after unpause, or by attempt 1.
      else if (answer.paused) this.cancel(new CancelledFailure('activity paused'), { paused: true });
      else if (answer.reset) this.cancel(new CancelledFailure('activity reset'), { reset: true });
    } catch (err) {
      // The attempt is gone (completed elsewhere, timed out, or its run closed): nothing the
      // activity does now counts, so it is cancelled, as Temporal's SDKs do on NOT_FOUND.
      this.cancel(new CancelledFailure(`heartbeat refused: ${(err as Error).message}`), { notFound: true });
    } finally {
      this.sending = false;
    }
    if (this.finished) return;
    // The interval runs from when this heartbeat was sent, not from its answer: a slow answer
    // must not stretch the time between heartbeats past the heartbeat timeout.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, Math.max(0, this.throttleMs - (Date.now() - sentAt)));
    this.timer.unref();
  }
}

/** The `ActivityInfo` of a task as the poll answers it. */
export function activityInfo(task: ActivityTask): ActivityInfo {
  const ms = (seconds: number | null | undefined) => (seconds ? seconds * 1000 : undefined);
  return {
    taskToken: task.task_token ?? '',
    activityId: task.activity_id ?? '',
    activityType: task.activity_type ?? '',
    taskQueue: task.task_queue ?? '',
    workflowId: task.workflow_id ?? '',
    runId: task.run_id ?? '',
    workflowType: task.workflow_type ?? '',
    attempt: task.attempt ?? 1,
    heartbeatDetails: task.heartbeat_details,
    heartbeatTimeoutMs: ms(task.heartbeat_timeout),
    startToCloseTimeoutMs: ms(task.start_to_close_timeout),
    scheduleToCloseTimeoutMs: ms(task.schedule_to_close_timeout),
    scheduledTime: task.scheduled_time ? new Date(task.scheduled_time) : undefined,
    startedTime: task.started_time ? new Date(task.started_time) : undefined,
  };
}
