/**
 * `client.schedule`: Temporal's schedules (create, describe, update, pause, unpause, trigger,
 * backfill, delete, list) over `/api/v1/namespaces/{namespace}/schedules…`. Specs, actions and
 * policies are the server's JSON (typed from openapi.json; the README's Schedules section).
 */
import { PagedList } from './common.js';
import type { components } from './generated/openapi.js';
import type { Connection } from './http.js';

type Schemas = components['schemas'];
export type Schedule = Schemas['Schedule'];
export type ScheduleDescription = Schemas['ScheduleDescription'];
export type ScheduleListEntry = Schemas['ScheduleListEntry'];
export type ScheduleBackfill = Schemas['ScheduleBackfill'];
export type ScheduleOverlapPolicy = Schemas['OverlapPolicy'];

export interface ScheduleCreateOptions extends Schedule {
  scheduleId: string;
  /** Take one action now, besides the spec's times. */
  triggerImmediately?: boolean;
  backfill?: ScheduleBackfill[];
  memo?: Record<string, unknown>;
  searchAttributes?: Record<string, unknown>;
}

export class ScheduleClient {
  constructor(
    readonly connection: Connection,
    readonly namespace: string,
  ) {}

  /** Create a schedule; `AlreadyExistsError` when the id is taken. */
  async create(options: ScheduleCreateOptions): Promise<ScheduleHandle> {
    const { scheduleId, triggerImmediately, backfill, memo, searchAttributes, ...schedule } = options;
    await this.connection.call('post', '/api/v1/namespaces/{namespace}/schedules/{schedule_id}', {
      path: { namespace: this.namespace, schedule_id: scheduleId },
      body: {
        schedule,
        trigger_immediately: triggerImmediately ?? false,
        backfill: backfill ?? [],
        memo: memo ?? null,
        search_attributes: searchAttributes ?? null,
      },
    });
    return this.getHandle(scheduleId);
  }

  getHandle(scheduleId: string): ScheduleHandle {
    return new ScheduleHandle(this, scheduleId);
  }

  /** The namespace's schedules by id, a page at a time. */
  list(options: { pageSize?: number } = {}): PagedList<ScheduleListEntry> {
    return new PagedList(async (token) => {
      const page = await this.connection.call('get', '/api/v1/namespaces/{namespace}/schedules', {
        path: { namespace: this.namespace },
        query: { page_size: options.pageSize ?? 100, next_page_token: token ?? null },
      });
      return { items: page.schedules, next: page.next_page_token };
    });
  }
}

export class ScheduleHandle {
  constructor(
    readonly client: ScheduleClient,
    readonly scheduleId: string,
  ) {}

  private get route(): { namespace: string; schedule_id: string } {
    return { namespace: this.client.namespace, schedule_id: this.scheduleId };
  }

  async describe(): Promise<ScheduleDescription> {
    return this.client.connection.call('get', '/api/v1/namespaces/{namespace}/schedules/{schedule_id}', { path: this.route });
  }

  /**
   * Replace the schedule with what `updateFn` makes of the current description (Temporal's
   * shape). The description's conflict token goes along: a concurrent change makes it 409.
   */
  async update(updateFn: (previous: ScheduleDescription) => Schedule): Promise<ScheduleDescription> {
    const previous = await this.describe();
    return this.client.connection.call('post', '/api/v1/namespaces/{namespace}/schedules/{schedule_id}/update', {
      path: this.route,
      body: { schedule: updateFn(previous), conflict_token: previous.conflict_token },
    });
  }

  async pause(note?: string): Promise<ScheduleDescription> {
    return this.client.connection.call('post', '/api/v1/namespaces/{namespace}/schedules/{schedule_id}/pause', {
      path: this.route,
      body: { note: note ?? null },
    });
  }

  async unpause(note?: string): Promise<ScheduleDescription> {
    return this.client.connection.call('post', '/api/v1/namespaces/{namespace}/schedules/{schedule_id}/unpause', {
      path: this.route,
      body: { note: note ?? null },
    });
  }

  /** Take the action now (overlap: the schedule's policy unless given). */
  async trigger(overlap?: ScheduleOverlapPolicy): Promise<Schemas['TriggerOutcome']> {
    return this.client.connection.call('post', '/api/v1/namespaces/{namespace}/schedules/{schedule_id}/trigger', {
      path: this.route,
      body: { overlap: overlap ?? null },
    });
  }

  /** Take the actions the spec would have taken in each range (start inclusive). */
  async backfill(...backfill: ScheduleBackfill[]): Promise<Schemas['BackfillOutcome']> {
    return this.client.connection.call('post', '/api/v1/namespaces/{namespace}/schedules/{schedule_id}/backfill', {
      path: this.route,
      body: { backfill },
    });
  }

  async delete(): Promise<void> {
    await this.client.connection.call('delete', '/api/v1/namespaces/{namespace}/schedules/{schedule_id}', { path: this.route });
  }
}
